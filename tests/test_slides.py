"""The deck built from a --quick run: links resolve, numbers match metrics.json, HTML renders."""
import json
import re

import pytest

from conftest import invoke
from mia import studies
from mia.deck import build, make, results
from mia.deck.sections import loss_attack, reference_size

STUDY = studies.load_named("baseline-vs-defended")
ROLES = ("undefended", "defended")  # the summary tables' column pairs


@pytest.fixture(scope="module")
def deck(quick_results, tmp_path_factory):
    out = tmp_path_factory.mktemp("deck")
    outputs = make.main(results_dir=quick_results, out_dir=out, pdf=False,
                        check_overflow=build.find_chromium() is not None, log=lambda *_: None)
    return {"md": out / "deck.md", "html": outputs["html"], "results": quick_results,
            "outputs": outputs}


def test_every_image_link_resolves(deck):
    text = deck["md"].read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) >= 15
    for link in links:
        assert (deck["md"].parent / link).resolve().is_file(), link


def test_summary_tables_equal_metrics_json(deck):
    text = deck["md"].read_text()
    metrics = {role: json.loads((deck["results"] / STUDY.experiment(role) / "metrics.json").read_text())
               for role in ROLES}
    checked = 0
    for score in results.SCORES:
        section = text.split(f"## Backup: summary, {results.PRETTY[score].lower()}")[1].split("\n---")[0]
        rows = [line for line in section.splitlines() if re.match(r"\| \d", line)]
        assert len(rows) == len(metrics["undefended"]["attack"]["results"][score])
        for row in rows:
            cells = [c.strip() for c in row.strip("|").split("|")]
            p = cells[0]
            cell = {e: metrics[e]["attack"]["results"][score][p]["summary"] for e in ROLES}
            expected = [
                f"{cell['undefended']['accuracy']['mean']:.3f} ± {cell['undefended']['accuracy']['std']:.3f}",
                f"{cell['defended']['accuracy']['mean']:.3f} ± {cell['defended']['accuracy']['std']:.3f}",
            ]
            for m in ("f1", "auc", "tpr_at_1pct_fpr"):
                expected += [f"{cell[e][m]['mean']:.3f}" for e in ROLES]
            assert cells[1:] == expected
            checked += 1
    assert checked == 3 * 2


def test_target_accuracy_on_the_deck_is_the_measured_one(deck):
    text = deck["md"].read_text()
    target = json.loads((deck["results"] / STUDY.experiment("undefended") / "metrics.json").read_text())["target"]
    assert (f"Train **{100 * target['train_accuracy']:.1f}%**, test "
            f"**{100 * target['test_accuracy']:.1f}%**") in text


def test_html_renders(deck):
    html = deck["html"].read_text()
    assert html.count("<section") >= 25
    assert "Membership Inference Attacks" in html


def test_no_slide_overflows_in_chromium(deck):
    chromium = build.find_chromium()
    if chromium is None:
        pytest.skip("no Chromium on this machine (CI installs it)")
    report = build.overflow_report(deck["html"], chromium)
    assert report["slides"] >= 25
    assert report["overflow"] == []


def test_judgements_follow_the_numbers(deck):
    r = results.load(STUDY, deck["results"], ROLES)
    for name in ROLES:  # make every attack exactly chance...
        for by_p in r[name]["metrics"]["attack"]["results"].values():
            for c in by_p.values():
                c["summary"]["accuracy"] = {"mean": 0.5, "std": 0.0}
    j = loss_attack.judgements(r, "50")
    assert "close to chance" in j["leak"] and "close to chance" in j["defense"]
    for c in r["undefended"]["metrics"]["attack"]["results"]["cross_entropy"].values():
        c["summary"]["accuracy"] = {"mean": 0.7, "std": 0.01}  # ...then one strong one
    j = loss_attack.judgements(r, "50")
    assert "70.0%" in j["leak"] and "falls from 70.0% to 50.0%" in j["defense"]


def test_slides_without_results_says_what_to_run(tmp_path):
    proc = invoke("slides", "--results-dir", str(tmp_path / "empty"))
    assert proc.returncode == 2
    assert "run `invoke experiments` first" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_truncated_metrics_is_one_line(quick_results, tmp_path):
    import shutil
    results = tmp_path / "results"
    shutil.copytree(quick_results, results)
    metrics = results / "baseline" / "metrics.json"
    metrics.write_text(metrics.read_text()[:100])
    proc = invoke("slides", "--results-dir", str(results), "--no-pdf")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "corrupt results file" in proc.stderr and str(metrics) in proc.stderr


def test_deck_words_points_and_cites_the_original_study(deck):
    text = deck["md"].read_text()
    assert "percentage points more accurate" in text
    assert "Best attack" not in text and "best score" not in text.lower()
    assert "study-deck.md" in text and "original study" in text
    assert "sha256" not in text
    assert "The mia-study maintainers" in text  # the presenter line from slides/deck.toml


def test_judgements_name_a_lone_top_setting_and_a_stronger_defended_attack(deck):
    r = results.load(STUDY, deck["results"], ROLES)
    for name, value in (("undefended", 0.6), ("defended", 0.8)):
        for by_p in r[name]["metrics"]["attack"]["results"].values():
            for c in by_p.values():
                c["summary"]["accuracy"] = {"mean": value, "std": 0.001}
    r["undefended"]["metrics"]["attack"]["results"]["cross_entropy"]["50"]["summary"]["accuracy"] = \
        {"mean": 0.7, "std": 0.001}
    j = loss_attack.judgements(r, "50")
    assert j["tied"].startswith("The highest setting (cross-entropy, p = 50%: 70.0%)")
    assert "next: 60.0%" in j["tied"]
    assert "makes this attack stronger" in j["defense"] and "70.0% without, 80.0% with" in j["defense"]
    # the headline is the setting fixed in advance, not the highest of the 21
    assert "(cross-entropy, p = 50%, fixed in advance)" in j["leak"]
    assert "up to" not in j["leak"]


def test_reference_size_verdict_needs_the_spread_and_the_interval_to_agree():
    """The 50,000-image bank's value is "beyond the spread" only outside the 30,000 bank's
    mean ± 2 std and with that mean outside its own interval."""
    def power(mean, std):
        cell = {"tpr_at_0.1pct_fpr": {"mean": mean, "std": std}, "auc": {"mean": 0.6, "std": 0.01},
                "subsets": 5}
        return {"2": {"lira_offline/auto": cell, "rmia_offline": cell}, "4": {}}

    def large(v, lo, hi):
        row = {"tpr_at_0.1pct_fpr": v, "auc": 0.65, "ci95": {"tpr_at_0.1pct_fpr": [lo, hi],
                                                              "auc": [0.64, 0.66]}}
        return {"protocols": {"study": {"folds": 6, "references": 6, "n_members": 7500,
                                        "rows": {"lira_offline/global": row, "rmia_offline": row}}}}

    def r(p, lg):
        return {"undefended": {"calibrated": {"protocols": {"study": {"power_vs_references": p,
                                                                       "n_members": 7500}}}},
                "large_references": {"calibrated": lg, "manifest": {"wall_seconds": {
                    "bank": {"keeps": 50000, "seconds": 2040}}}}}
    out = reference_size.comparison(r(power(0.004, 0.001), large(0.008, 0.006, 0.010)))
    assert [x["verdict"] for x in out["rows"]] == [
        "TPR at 0.1% FPR higher beyond the spread, AUC higher beyond the spread"] * 2
    assert out["rows"][0]["small"] == "0.40% ± 0.10 pp" and out["rows"][0]["large"] == "0.80% [0.60, 1.00]"
    assert out["minutes"] == 34 and out["keeps"] == 50000 and out["pairs"] == 5
    assert out["message"] == ("At 0.1% FPR: the 50,000-image references differ beyond the spread. "
                              "AUC: +0.050 to +0.050 with the 50,000-image references, beyond "
                              "the spread.")
    # outside mean ± 2 std, but the mean inside the large bank's interval: within the spread
    out = reference_size.comparison(r(power(0.004, 0.001), large(0.0065, 0.003, 0.010)))
    assert not out["any_beyond"] and out["rows"][0]["verdict"].startswith("TPR at 0.1% FPR within the spread,")
    assert out["message"].startswith("At 0.1% FPR: no difference detectable (within the spread).")
    # inside mean ± 2 std: within the spread
    out = reference_size.comparison(r(power(0.004, 0.002), large(0.0075, 0.0070, 0.0080)))
    assert out["rows"][0]["verdict"].startswith("TPR at 0.1% FPR within the spread,")
    out = reference_size.comparison(r(power(0.004, 0.0002), large(0.001, 0.0005, 0.002)))
    assert out["rows"][0]["verdict"].startswith("TPR at 0.1% FPR lower beyond the spread,")
    assert reference_size.comparison({"undefended": {}}) == {}


def test_two_scores_metrics_are_the_same_up_to_rounding_not_to_the_bit():
    """Cross-entropy and probability loss rank alike; their AUCs once differed in the last bit
    of a sum (0.657351658 against 0.6573516580000001), which must not change the deck's words."""
    assert loss_attack._same(0.657351658, 0.6573516580000001)
    assert loss_attack._same(None, None) and loss_attack._same(0.00084, 0.00084)
    assert not loss_attack._same(0.6573, 0.6574) and not loss_attack._same(None, 0.1)


# ------------------------------------------------------------ what a legal config leaves out
def _degraded(quick_results, tmp_path, edit):
    """A copy of the quick results with ``edit(results)`` applied, rendered: (deck text, log)."""
    import shutil

    from mia.deck import render
    results = tmp_path / "results"
    shutil.copytree(quick_results, results)
    edit(results)
    logs = []
    md = render.render(make.prepare(results), tmp_path / "deck.md", log=logs.append)
    # the quick results hold none of the earlier studies' experiments, nor the defences
    # study's: their sections say so, whatever the edit (tests/test_study_sections.py and
    # tests/test_frontier.py cover them)
    return md.read_text(), [line for line in logs if not line.startswith(EARLIER_STUDIES)]


EARLIER_STUDIES = (*(f"not in the deck: study {n}" for n in ("000", "001", "003", "004")),
                   "not in the deck: the defences study")


def _calibrated(results, name, change):
    path = results / name / "calibrated.json"
    c = json.loads(path.read_text())
    change(c)
    path.write_text(json.dumps(c))


def _without_loss(c):
    for proto in c["protocols"].values():
        proto["rows"].pop("loss", None)
        for st in proto.get("strongest", {}).values():
            st.pop("versus_baseline", None)


def _one_round(c):
    c["protocols"].pop("leave_one_out")
    c["not_computed"]["leave_one_out"] = "the bank is one round of 2 models"
    c["protocols"]["study"]["power_vs_references"] = {}
    c["protocols"]["study"]["power_comparisons"] = {}


def test_without_a_loss_row_the_deck_says_it_did_not_compare_with_it(quick_results, tmp_path):
    text, logs = _degraded(quick_results, tmp_path,
                           lambda r: _calibrated(r, "baseline", _without_loss))
    assert "not compared with the loss threshold, which the [calibrated] attacks leave out" in text
    assert "| Loss threshold |" not in text  # the comparison table leaves the row out
    said = ("the calibrated attacks against the loss threshold (paired): the undefended "
            "experiment's [calibrated] attacks leave out the loss row")
    assert logs[0] == f"not in the deck: {said}"
    assert "## Not in this deck" in text and f"- T{said[1:]}." in text


def test_a_bank_of_one_round_leaves_out_leave_one_out_and_the_power_curve(quick_results, tmp_path):
    def edit(r):
        for name in ("baseline", "defended"):
            _calibrated(r, name, _one_round)
    text, logs = _degraded(quick_results, tmp_path, edit)
    assert "## The papers' protocol: leave-one-out" not in text
    assert "## Attack power vs number of reference models" not in text
    assert "Leave-one-out: undefended bank subsampled" not in text
    assert logs == ["not in the deck: the leave-one-out protocol: the bank is one round of 2 models",
                    "not in the deck: attack power against the number of references: the bank "
                    "has one round, so there is no smaller subset of whole rounds to compare",
                    "not in the deck: the L2-defended target on the leave-one-out protocol, "
                    "matched with the undefended: the bank is one round of 2 models",
                    "not in the deck: the references' training-set size: the undefended bank has "
                    "one round, so no pair of it to set against the large bank's round"]


def test_without_a_bank_the_deck_has_no_calibrated_slides_and_says_so(quick_results, tmp_path):
    def edit(r):
        for d in r.iterdir():
            if (d / "calibrated.json").is_file():
                (d / "calibrated.json").unlink()
                m = json.loads((d / "manifest.json").read_text())
                m["config"]["bank"]["models"] = 0
                (d / "manifest.json").write_text(json.dumps(m))
    text, logs = _degraded(quick_results, tmp_path, edit)
    assert "Calibrated attacks" not in text and "## The L2-defended target" not in text
    assert logs == ["not in the deck: the calibrated attacks: baseline has no [bank], so no "
                    "reference models"]


@pytest.mark.parametrize("content, problem", [
    ("{}", "protocols is missing"),
    ('{"protocols": {"study": {}}, "not_computed": {}}', "protocols.study.rows is missing"),
    (None, "is missing"),
])
def test_a_calibrated_json_the_deck_cannot_read_is_one_line(quick_results, tmp_path, content,
                                                            problem):
    import shutil
    results = tmp_path / "results"
    shutil.copytree(quick_results, results)
    path = results / "baseline" / "calibrated.json"
    path.unlink() if content is None else path.write_text(content)
    proc = invoke("slides", "--results-dir", str(results), "--no-pdf")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert str(path) in proc.stderr and problem in proc.stderr
    assert "(baseline has a [bank] of" in proc.stderr


def test_quick_and_full_results_never_mix_in_one_deck(quick_results, tmp_path):
    import shutil
    results = tmp_path / "results"
    shutil.copytree(quick_results, results)
    m = json.loads((results / "defended" / "metrics.json").read_text())
    for score, by_p in m["attack"]["results"].items():  # as a full run: other percentages
        m["attack"]["results"][score] = {("16" if p == "10" else p): v for p, v in by_p.items()}
    (results / "defended" / "metrics.json").write_text(json.dumps(m))
    proc = invoke("slides", "--results-dir", str(results), "--no-pdf")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "were run with different sampling percentages" in proc.stderr
    assert "--quick and full results mixed?" in proc.stderr


def test_the_deck_opens_with_its_answer_and_keeps_the_detail_for_the_backup(deck):
    text = deck["md"].read_text()
    pages = [p for p in re.split(r"^---\s*$", text, flags=re.M)[2:] if p.strip()]
    titles = [m.group(1) for p in pages for m in [re.search(r"^#{1,2} (.+)$", p, re.M)] if m]
    assert titles[1] in ("The undefended model leaks membership",
                         "No leak detected at low false-positive rates")
    assert "LiRA online" in pages[1] and "chance" in pages[1] and "loss threshold" in pages[1]
    assert titles[2] == "Agenda" and "Discussion and conclusion" in pages[2]
    backup = titles.index("Backup")
    assert titles.index("Discussion") < titles.index("Conclusion") < backup
    assert backup <= 23, f"{backup} pages before the backup: {titles[:backup]}"
    assert all(t.startswith("Backup") for t in titles[backup:]
               if t not in ("Backup", "Not in this deck"))


def test_a_diagram_whose_text_runs_past_its_box_stops_the_build(tmp_path):
    from mia.deck import illustrations
    from mia.errors import UserError
    fig, ax = illustrations._canvas(4, 2)
    illustrations._box(ax, 0.5, 0.5, 0.1, 0.2, "a label far too long for its box", "data", 14)
    with pytest.raises(UserError, match="runs past its box"):
        illustrations.check_fits(fig, "example")
    fig, ax = illustrations._canvas(4, 2)
    illustrations._box(ax, 0.5, 0.5, 0.9, 0.5, "fits", "data", 14)
    illustrations.check_fits(fig, "example")
