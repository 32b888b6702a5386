"""The defences frontier (``mia.frontier``) against its inputs: synthetic results of a study of
three settings (one with 2 seeds, one private with an audit), every number of the table traced
to the file it came from, the precision at 1% prevalence, the Pareto front and its sentence."""
import json

import pytest

from mia import frontier, frontier_figure, plots, studies, study_results
from mia.errors import UserError

SETTINGS = {  # experiment: (test accuracy, train accuracy, AUC, TPR@0.1%, its CI, TPR@1%, eps, eps-hat)
    "none-seed0": (0.57, 0.92, 0.70, 0.010, [0.006, 0.016], 0.05, None, 0.31),
    "none-seed1": (0.56, 0.93, 0.71, 0.012, [0.008, 0.018], 0.06, None, 0.35),
    "l2": (0.64, 0.70, 0.60, 0.004, [0.002, 0.007], 0.02, None, None),
    "dp": (0.45, 0.46, 0.51, 0.0011, [0.0003, 0.002], 0.011, {"rdp": 4.0, "prv": 3.5}, 0.02),
    "worse": (0.55, 0.90, 0.69, 0.011, [0.007, 0.016], 0.05, None, None),  # dominated by none
}


def write_results(root, name, values, references=4):
    test, train, auc, tpr, ci, tpr1, eps, hat = values
    d = root / name
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps({
        "experiment": name, "target": {"train_accuracy": train, "test_accuracy": test,
                                       "train_loss": 0.1, "test_loss": 1.0, "n_train": 49000,
                                       "n_test": 10000},
        "all_samples": {}, "attack": {"results": {}, "repeats": 1}}))
    (d / "calibrated.json").write_text(json.dumps({
        "protocols": {"study": {"rows": {"rmia_online": {
            "auc": auc, "tpr_at_0.1pct_fpr": tpr, "tpr_at_1pct_fpr": tpr1,
            "ci95": {"auc": [auc - 0.01, auc + 0.01], "tpr_at_0.1pct_fpr": ci,
                     "tpr_at_1pct_fpr": [tpr1 - 0.005, tpr1 + 0.005]}}},
            "strongest": {}, "n_members": 7500, "n_nonmembers": 7500, "references": references,
            "folds": 2}}, "not_computed": {}}))
    seed = int(name.rsplit("-seed", 1)[1]) if "-seed" in name else 0
    manifest = {"config": {"seed": seed, "title": name.split("-")[0]}}
    if eps:
        manifest["privacy"] = {"epsilon": eps, "target_epsilon": 4.0, "delta": 1e-5}
    (d / "manifest.json").write_text(json.dumps(manifest))
    if hat is not None:
        (d / "audit.json").write_text(json.dumps({"epsilon_lower_bound": hat, "attack": "rmia_online",
                                                  "m": 1000, "delta": 1e-5, "confidence": 0.95,
                                                  "guesses": []}))


@pytest.fixture(autouse=True)
def fewer_resamples(monkeypatch):
    monkeypatch.setattr(frontier, "BOOTSTRAP", 400)  # enough for Holm over 2 at 0.05


@pytest.fixture
def study(tmp_path):
    exp = tmp_path / "experiments"
    exp.mkdir()
    (exp / "none.toml").write_text("seeds = [0, 1]\n")
    for name in ("l2", "dp", "worse"):
        (exp / f"{name}.toml").write_text("")
    (exp / "studies").mkdir()
    path = exp / "studies" / "defences.toml"
    path.write_text('description = "d"\n[experiments]\nundefended = "none"\nl2 = "l2"\n'
                    'dp = "dp"\nworse = "worse"\n[frontier]\nattack = "rmia_online"\n'
                    'baseline = "undefended"\n')
    results = tmp_path / "results"
    for name, values in SETTINGS.items():
        write_results(results, name, values)
    # per-sample scores on one evaluation set: the undefended target separates members well,
    # L2 less, DP not at all; "worse" has none
    import numpy as np
    rng = np.random.default_rng(0)
    member = np.r_[np.ones(3000, bool), np.zeros(3000, bool)]
    noise = rng.normal(size=member.size)
    for name, shift in (("none-seed0", 1.0), ("l2", 0.4), ("dp", 0.0)):
        np.savez(results / name / "attack_scores.npz", population_index=np.arange(member.size),
                 is_member=member, label=np.zeros(member.size, np.int64),
                 rmia_online=noise + shift * member)
    return studies.load(path), results


def test_every_number_of_the_table_is_its_inputs(study):
    s, results = study
    out = frontier.frontier(s, results, "rmia_online", "undefended")
    by_name = {r["experiment"]: r for r in out["seeds"]}
    assert list(by_name) == ["none-seed0", "none-seed1", "l2", "dp", "worse"]
    for name, (test, train, auc, tpr, ci, tpr1, eps, hat) in SETTINGS.items():
        r = by_name[name]
        assert (r["test_accuracy"], r["train_accuracy"], r["auc"], r["tpr_at_0.1pct_fpr"],
                r["tpr_at_0.1pct_fpr_ci95"], r["tpr_at_1pct_fpr"]) == (test, train, auc, tpr, ci, tpr1)
        assert r["epsilon"] == eps and r["epsilon_audited"] == hat and r["references"] == 4
    # the undefended setting over its two seeds: mean and range
    none = next(x for x in out["settings"] if x["role"] == "undefended")
    assert none["seeds"] == 2
    assert none["tpr_at_0.1pct_fpr"] == pytest.approx({"mean": 0.011, "min": 0.010, "max": 0.012})
    assert none["test_accuracy"]["mean"] == pytest.approx(0.565)


def test_precision_at_one_percent_prevalence():
    """1% members, TPR 1% at FPR 0.1%: 0.01*0.01 / (0.01*0.01 + 0.99*0.001) = 9.17%."""
    assert frontier.precision(0.01, 0.001) == pytest.approx(0.0001 / (0.0001 + 0.00099))
    assert frontier.precision(0.0, 0.001) == 0.0 and frontier.precision(None, 0.01) is None
    # chance (TPR = FPR) gives the prevalence itself
    assert frontier.precision(0.01, 0.01) == pytest.approx(0.01)


def test_the_precision_interval_follows_the_tprs(study):
    s, results = study
    r = frontier.frontier(s, results, "rmia_online", "undefended")["seeds"][0]
    low, high = r["precision_tpr_at_0.1pct_fpr_ci95"]
    assert low == pytest.approx(frontier.precision(0.006, 0.001))
    assert high == pytest.approx(frontier.precision(0.016, 0.001))
    assert low < r["precision_tpr_at_0.1pct_fpr"] < high


def test_the_pareto_front_and_its_sentence(study):
    s, results = study
    out = frontier.frontier(s, results, "rmia_online", "undefended")
    # worse (55%, 1.1%) is beaten by none (56.5%, 1.1%)... and by l2; dp is the least
    # attackable, l2 the most accurate: both on the front, the undefended not (l2 beats it)
    assert out["pareto_front"] == ["dp", "l2"]
    assert "the least attackable setting at least as accurate as none is l2" in out["sentence"]
    md = frontier.markdown(out)
    assert "| l2 | 0 | 70.0% / 64.0% | 0.600 [0.590, 0.610] | 0.40% [0.20, 0.70]" in md
    assert "4.00 / 3.50" in md and "0.02" in md  # the accountants' epsilon and the audited one
    assert frontier.csv_text(out).count("\n") == 1 + len(SETTINGS)


def test_mixed_reference_counts_and_a_missing_attack_are_one_line(study, tmp_path):
    s, results = study
    with pytest.raises(UserError, match="'lira_online/global' is not in"):
        frontier.frontier(s, results, "lira_online/global", "undefended")
    (results / "l2" / "calibrated.json").write_text(
        (results / "l2" / "calibrated.json").read_text().replace('"references": 4', '"references": 8'))
    with pytest.raises(UserError, match="use 4, 8 references"):
        frontier.frontier(s, results, "rmia_online", "undefended")


def test_the_study_folder_gets_the_frontier_and_its_figure(study):
    s, results = study
    final = study_results.write(s, results, log=lambda *_: None)
    for name in ("frontier.json", "frontier.csv", "frontier.md", "frontier.png", "frontier.pdf"):
        assert (final / name).is_file(), name
    manifest = json.loads((final / "manifest.json").read_text())
    assert "frontier.json" in manifest["files"]


@pytest.mark.parametrize("table, message", [
    ('[frontier]\nattack = "nope"\nbaseline = "undefended"\n', r"\[frontier\] attack in .*unknown attack"),
    ('[frontier]\nattack = "rmia_online"\nbaseline = "other"\n', r"\[frontier\] baseline in .* got 'other'"),
    ('[frontier]\nattack = "rmia_online"\nbaseline = "undefended"\nmore = 1\n', r"unknown key 'more' in \[frontier\]"),
])
def test_a_bad_frontier_table_is_one_line(study, table, message):
    s, _ = study
    text = s.path.read_text().split("[frontier]")[0] + table
    s.path.write_text(text)
    with pytest.raises(UserError, match=message):
        studies.load(s.path)


def test_each_setting_is_compared_with_the_baseline_on_the_same_samples(study):
    """Baseline minus setting, paired: the undefended target's power is above L2's and DP's,
    with intervals that exclude zero after Holm; a setting without per-sample scores, or whose
    samples differ, is not compared, and says why."""
    s, results = study
    out = frontier.frontier(s, results, "rmia_online", "undefended")
    paired = {c["experiment"]: c for c in out["paired"]["comparisons"]}
    assert set(paired) == {"l2", "dp"}
    for name in ("l2", "dp"):
        auc = paired[name]["auc"]
        assert auc["difference"] > 0 and auc["ci95"][0] > 0 and auc["lower"] and auc["p_holm"] < 0.05
    assert paired["dp"]["auc"]["difference"] > paired["l2"]["auc"]["difference"]
    assert {x["experiment"]: x["why"] for x in out["paired"]["not_compared"]} == {
        "worse": "no per-sample scores of rmia_online"}
    assert "| l2 | 0 | none | +0." in frontier.markdown(out)
    # other samples: refused, not compared
    import numpy as np
    with np.load(results / "l2" / "attack_scores.npz") as f:
        arrays = dict(f)
    arrays["population_index"] = arrays["population_index"] + 1
    np.savez(results / "l2" / "attack_scores.npz", **arrays)
    out = frontier.frontier(s, results, "rmia_online", "undefended")
    assert {"experiment": "l2", "why": "evaluated on other samples"} in out["paired"]["not_compared"]


def test_the_paired_comparisons_are_kept_while_their_inputs_are(study, monkeypatch):
    s, results = study
    first = frontier.frontier(s, results, "rmia_online", "undefended")
    monkeypatch.setattr(frontier, "paired", lambda *a, **k: pytest.fail("recomputed"))
    again = frontier.frontier(s, results, "rmia_online", "undefended", previous=first)
    assert again["paired"] == first["paired"] and again["read"] == first["read"]
    import numpy as np
    np.savez(results / "dp" / "attack_scores.npz", population_index=np.arange(6000),
             is_member=np.r_[np.ones(3000, bool), np.zeros(3000, bool)],
             label=np.zeros(6000, np.int64), rmia_online=np.zeros(6000))
    with pytest.raises(pytest.fail.Exception, match="recomputed"):
        frontier.frontier(s, results, "rmia_online", "undefended", previous=first)


@pytest.mark.parametrize("name, content, message", [
    ("audit.json", b"{not json", "not valid JSON"),
    ("audit.json", b'{"attack": "rmia_online"}', "epsilon_lower_bound is missing"),
    ("attack_scores.npz", b"\x00" * 40, "not a readable .npz"),
    ("manifest.json", b"[]", "corrupt results file"),
])
def test_a_corrupt_input_is_one_line(study, name, content, message):
    from mia.errors import UserError
    s, results = study
    (results / "none-seed0" / name).write_bytes(content)
    with pytest.raises(UserError, match=message):
        frontier.frontier(s, results, "rmia_online", "undefended")


def test_the_decks_sentences_follow_the_paired_comparisons(study):
    """The deck's title and answer name the settings whose every paired comparison lowers the
    attack's TPR at 0.1% FPR (Holm), with their change in test accuracy; none, when none does."""
    from mia.deck.sections import defences
    s, results = study
    out = dict(frontier.frontier(s, results, "rmia_online", "undefended"), attack_name="RMIA online")
    found = defences.verdicts(out)
    lowering = {r for r, v in found.items() if v["lowers"]}
    title = defences.headline(out, out["settings"], short=False)
    answer = defences.answer_line(out, out["settings"])
    if lowering:
        assert all(next(x["title"] for x in out["settings"] if x["role"] == r) in title for r in lowering)
        assert "points" in answer
    for c in out["paired"]["comparisons"]:  # only 1% FPR and AUC: the claim says so
        c["tpr_at_0.1pct_fpr"]["p_holm"] = 1.0
    assert "lowers RMIA online's TPR at 1% FPR on the 1 seed (at 0.1% FPR: 0 of 1)" in \
        defences.headline(out, out["settings"], short=False)
    assert defences.headline(out, out["settings"]).endswith("TPR at 1% FPR on 1/1 seeds")
    for c in out["paired"]["comparisons"]:  # every comparison a tie: no setting lowers it
        for key in ("tpr_at_1pct_fpr", "auc"):
            c[key]["p_holm"] = 1.0
    assert defences.headline(out, out["settings"]).startswith("No defence lowers RMIA online")
    assert defences.answer_line(out, out["settings"]).startswith(
        "DP-SGD at ε = 4: 0 of 1 lower its TPR at 0.1% FPR, test accuracy -11.5 points")
    no_private = [x for x in out["settings"] if not x["target_epsilon"]]
    assert defences.answer_line(out, no_private).startswith("no setting lowers")


def test_the_title_names_the_best_backed_claim_not_the_first_in_the_study():
    """More seeds first, then the lower FPR, then the higher accuracy: a claim on 1 seed at
    AUC listed first in the study does not take the title from one replicated on 3 seeds."""
    from mia.deck.sections import defences

    def comparison(role, lowered):  # lowered: the metrics whose Holm p is below alpha
        return {"role": role, **{key: {"p_holm": 0.001 if key in lowered else 0.5,
                                       "difference": 0.01} for key, _ in defences.METRICS}}
    settings = [{"role": r, "title": t, "test_accuracy": {"mean": a}} for r, t, a in (
        ("weak", "L2 1e-3", 0.60), ("replicated", "L2 1e-2", 0.65), ("single", "dropout", 0.64),
        ("single_auc", "other", 0.70))]
    result = {"attack_name": "RMIA online", "paired": {"comparisons": [
        comparison("weak", {"auc"}), *[comparison("replicated", {"auc"})] * 3,
        comparison("single", {"tpr_at_0.1pct_fpr", "auc"}), comparison("single_auc", {"auc"})]}}
    assert defences.headline(result, settings) == "L2 1e-2 lowers RMIA online's AUC on 3/3 seeds"
    del result["paired"]["comparisons"][1:4]  # without the replicated one: the lowest FPR wins
    assert defences.headline(result, settings).startswith("dropout lowers RMIA online's TPR at 0.1%")
    del result["paired"]["comparisons"][1]  # two claims at AUC on 1 seed: the more accurate
    assert defences.headline(result, settings).startswith("other lowers")


def test_a_setting_is_compared_with_its_matched_comparison_when_the_study_names_one(study):
    s, results = study
    out = frontier.frontier(s, results, "rmia_online", "undefended", matched={"dp": "l2"})
    paired = {c["experiment"]: c for c in out["paired"]["comparisons"]}
    assert paired["dp"]["against"] == "l2" and paired["dp"]["baseline"] == "l2"
    assert paired["l2"]["against"] == "undefended"
    # l2 scores separate members more than dp's: l2 minus dp is positive
    assert paired["dp"]["auc"]["difference"] > 0
    text = s.path.read_text() + 'matched = { dp = "nope" }\n'
    s.path.write_text(text)
    with pytest.raises(UserError, match=r"\[frontier\] matched in .*dp = 'nope' must pair two"):
        studies.load(s.path)


def test_the_dp_page_lists_each_private_setting_with_both_epsilons_and_its_audit(study):
    """The deck's DP-SGD page: each setting with a target epsilon, its accountants' epsilon,
    the audited epsilon-hat of each seed, and the search's choice when tuning.json is given."""
    from mia.deck.sections import defences
    s, results = study
    out = frontier.frontier(s, results, "rmia_online", "undefended")
    facts = defences.private_facts(out, None)
    assert [r["title"] for r in facts["rows"]] == ["dp"]
    row = facts["rows"][0]
    assert (row["target"], row["rdp"], row["prv"], row["audited"]) == (4.0, 4.0, 3.5, [0.02])
    assert row["accuracy"]["mean"] == pytest.approx(0.45)
    assert facts["audited_max"] == 0.02 and facts["delta"] == 1e-5 and facts["tuning"] is None
    def run(lr, batch, epochs):
        return {"learning_rate": lr, "max_grad_norm": 1.0, "batch_size": batch, "epochs": epochs,
                "validation_accuracy": 0.4}
    chosen = dict(run(4e-3, 1024, 20), validation_accuracy=0.53)
    tuning = {"epsilon": 4.0, "n_validation": 5000, "chosen": chosen,
              "stage1": [run(1e-3, 512, 10), run(4e-3, 1024, 10)], "stage2": [chosen]}
    found = defences.private_facts(out, tuning)["tuning"]
    assert found["runs"] == 3
    assert found["at_edge"] == ["learning rate", "epochs", "batch size"]
    tuning["stage1"].append(run(8e-3, 2048, 10))
    assert defences.private_facts(out, tuning)["tuning"]["at_edge"] == ["epochs"]
    no_private = dict(out, settings=[x for x in out["settings"] if not x["target_epsilon"]])
    assert defences.private_facts(no_private, None) == {}


def test_the_advice_follows_the_numbers(study):
    """The Conclusion's advice: the non-private setting that lowers the attack's power on every
    seed without costing accuracy; DP's accuracy; what the undefended audit rules out."""
    from mia.deck.sections import defences
    s, results = study
    out = dict(frontier.frontier(s, results, "rmia_online", "undefended"), attack_name="RMIA online")
    parts = defences.advice(out, out["settings"])
    assert parts["free"].startswith("l2 lowers RMIA online's")
    assert parts["private"] == "DP-SGD reaches ε = 4: 45.0% test accuracy, against 56.5% undefended"
    assert parts["audit"].startswith("the undefended target's one-run audit rules out any privacy "
                                     "claim below ε = 0.31")
    for c in out["paired"]["comparisons"]:  # no comparison says anything: no free setting
        for key, _ in defences.METRICS:
            c[key]["p_holm"] = 1.0
    assert "free" not in defences.advice(out, out["settings"])


def test_a_setting_whose_attack_finds_no_member_is_drawn_at_half_a_member(study, tmp_path, monkeypatch):
    """A TPR of 0 at 0.1% FPR has no place on the log axis: it is drawn at half a member (▼),
    not dropped."""
    import matplotlib.axes
    s, results = study
    path = results / "dp" / "calibrated.json"
    data = json.loads(path.read_text())
    row = data["protocols"]["study"]["rows"]["rmia_online"]
    row["tpr_at_0.1pct_fpr"], row["ci95"]["tpr_at_0.1pct_fpr"] = 0.0, [0.0, 0.0004]
    path.write_text(json.dumps(data))
    drawn = []
    original = matplotlib.axes.Axes.errorbar
    monkeypatch.setattr(matplotlib.axes.Axes, "errorbar", lambda ax, x, y, *a, **k: (
        drawn.append((y[0], k.get("fmt"))), original(ax, x, y, *a, **k))[1])
    out = frontier.frontier(s, results, "rmia_online", "undefended")
    frontier_figure.figure(dict(out, study="defences"), tmp_path / "f", source=plots.UNNAMED)
    assert drawn.count((0.5 / 7500, "v")) == 1  # the TPR panel's; the AUC panel's is a diamond
    private = {x["role"] for x in out["settings"] if x["target_epsilon"]}
    assert private == {"dp"}
    # every other point: a circle, or a diamond for the private setting (its AUC)
    assert sorted(fmt for y, fmt in drawn if y != 0.5 / 7500) == ["D"] + ["o"] * (len(drawn) - 2)


def test_a_setting_at_chance_accuracy_is_named_under_the_figure_not_drawn(study, tmp_path, monkeypatch):
    """A setting that did not learn (its test accuracy interval reaches a guess's) would
    squeeze the accuracy axis: it is named under the panels instead of drawn."""
    import matplotlib.axes
    import matplotlib.figure
    s, results = study
    out = frontier.frontier(s, results, "rmia_online", "undefended")
    assert {r["chance_accuracy"] for r in out["seeds"]} == {0.1}  # CIFAR-10: a guess's
    dp = next(r for r in out["seeds"] if r["role"] == "dp")
    dp["test_accuracy"], dp["test_accuracy_ci95"] = 0.1, [0.094, 0.106]
    next(x for x in out["settings"] if x["role"] == "dp")["test_accuracy"]["mean"] = 0.1
    drawn, named = [], []
    original, label = matplotlib.axes.Axes.errorbar, matplotlib.figure.Figure.supxlabel
    monkeypatch.setattr(matplotlib.axes.Axes, "errorbar", lambda ax, x, y, *a, **k: (
        drawn.append(k.get("label")), original(ax, x, y, *a, **k))[1])
    monkeypatch.setattr(matplotlib.figure.Figure, "supxlabel", lambda fig, text, **k: (
        named.append(text), label(fig, text, **k))[1])
    frontier_figure.figure(dict(out, study="defences"), tmp_path / "f", source=plots.UNNAMED)
    title = next(x["title"] for x in out["settings"] if x["role"] == "dp")
    assert not any(lbl and lbl.startswith(title) for lbl in drawn)
    assert len(drawn) == 2 * (len(out["seeds"]) - 1)  # every other seed, in both panels
    assert named == [f"not drawn, test accuracy at chance (did not learn): {title} 10.0%"]
