"""Figures a report can cite: the committed PDFs embed TrueType fonts (not Type 3) and carry
their caption, config hash and commit; the report sizes are the sizes they claim, with no
text under 8 pt; every committed figure is in the figure index (results/figures.md and
figures.json) and in its folder's manifest checksums."""
from __future__ import annotations

import json
import subprocess

import matplotlib.pyplot as plt
import pypdf
import pytest

from mia import plots
from mia.figure_index import figure_pngs
from mia.io import sha256_file
from mia.locations import REPO

RESULTS = REPO / "results"


def committed(suffix: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", "results"], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout.split()
    return [p for p in out if p.endswith(suffix) and "/bench/" not in p]


def fonts(reader: pypdf.PdfReader) -> list[tuple[str, str]]:
    """(subtype, base font) of every font of every page, inside form XObjects too."""
    found, seen = [], set()

    def walk(resources):
        resources = resources.get_object() if resources is not None else {}
        for font in (resources.get("/Font") or {}).values():
            font = font.get_object()
            found.append((str(font.get("/Subtype")), str(font.get("/BaseFont"))))
        for xobject in (resources.get("/XObject") or {}).values():
            if id(xobject.get_object()) not in seen:
                seen.add(id(xobject.get_object()))
                walk(xobject.get_object().get("/Resources"))
    for page in reader.pages:
        walk(page.get("/Resources"))
    return found


PDFS = committed(".pdf")


def test_there_are_committed_figures():
    assert len(PDFS) > 20 and len(committed(".png")) > 20


@pytest.mark.parametrize("path", PDFS)
def test_no_type3_font_and_the_metadata_to_cite_it(path):
    reader = pypdf.PdfReader(REPO / path)
    found = fonts(reader)
    assert found, f"{path}: no fonts found (is the reader looking in the right place?)"
    assert not [f for f in found if f[0] == "/Type3"], f"{path}: Type 3 fonts {found}"
    meta = reader.metadata
    assert meta.subject and len(meta.subject) > 60, f"{path}: no caption in its metadata"
    keywords = dict(part.split("=", 1) for part in meta.keywords.split("; "))
    assert len(keywords["config_hash"]) == 64 and len(keywords["commit"].split("+")[0]) == 40
    assert "CreationDate" not in str(meta)


REPORT = [p for p in PDFS if "/report/" in p]
WIDTH_IN = {layout.name: layout.width for layout in plots.REPORT_LAYOUTS}


def test_the_report_figures_exist_in_both_sizes():
    """At least the ROC comparison, the power curve, the defence comparison (the study's
    figure) and the loss distributions, each one and two columns wide."""
    for stem in ("baseline/figures/report/calibrated_roc", "baseline/figures/report/power_vs_references",
                 "studies/baseline-vs-defended/report/tpr_at_low_fpr",
                 "baseline/figures/report/cross_entropy_densities_p16"):
        for layout in WIDTH_IN:
            assert f"results/{stem}_{layout}.pdf" in REPORT, f"{stem}_{layout}.pdf"


@pytest.mark.parametrize("path", REPORT)
def test_a_report_figure_has_its_width_and_no_text_under_8_pt(path):
    reader = pypdf.PdfReader(REPO / path)
    layout = next(name for name in WIDTH_IN if path.endswith(f"_{name}.pdf"))
    width = float(reader.pages[0].mediabox.width) / 72
    assert width == pytest.approx(WIDTH_IN[layout], abs=0.01)
    keywords = dict(part.split("=", 1) for part in reader.metadata.keywords.split("; "))
    assert float(keywords["min_font_pt"]) >= plots.REPORT_MIN_FONT_PT


def test_a_report_figure_with_small_text_is_refused(tmp_path):
    layout = plots.REPORT_LAYOUTS[0]
    fig, ax = plt.subplots(figsize=(layout.width, 2))
    ax.set_title("readable", fontsize=9)
    ax.tick_params(labelsize=6)
    with pytest.raises(ValueError, match="6 pt text in a report figure"):
        plots.save(fig, tmp_path / "small", layout=layout)
    assert not list(tmp_path.iterdir())


def test_every_committed_figure_is_in_the_index_and_every_entry_is_committed():
    index = json.loads((RESULTS / "figures.json").read_text())["figures"]
    listed = {e["png"] for e in index} | {e["pdf"] for e in index}
    files = {p.removeprefix("results/") for p in committed(".png") + committed(".pdf")}
    assert files == listed
    assert [e["png"] for e in index] == [p.relative_to(RESULTS).as_posix()
                                         for p in figure_pngs(RESULTS)]
    markdown = (RESULTS / "figures.md").read_text()
    for e in index:
        assert e["caption"] and e["commit"] and e["config_hash"], e["png"]
        assert f"[PNG]({e['png']})" in markdown and e["caption"] in markdown


def test_figures_are_in_their_manifests_checksums():
    for png in committed(".png") + committed(".pdf"):
        rel = png.removeprefix("results/")
        folder = RESULTS / (rel.split("/figures/")[0] if "/figures/" in rel
                            else "/".join(rel.split("/")[:2]))
        inner = (REPO / png).relative_to(folder).as_posix()
        recorded = json.loads((folder / "manifest.json").read_text())["files"]
        assert recorded.get(inner) == sha256_file(REPO / png), png


def test_log_ticks_are_plain_text_at_full_size():
    """Rates in percent, other decades as plain numbers, tiny and huge ones as 1eK: no 10^k,
    whose exponent matplotlib draws at about 70% of the tick font."""
    from mia.plots.base import decade_label
    assert [decade_label(v, percent=True) for v in (1e-6, 1e-4, 1e-3, 0.01, 1)] == [
        "0.0001%", "0.01%", "0.1%", "1%", "100%"]
    assert [decade_label(v) for v in (1e-12, 1e-6, 1e-4, 0.01, 1, 1e4, 1e5)] == [
        "1e-12", "1e-6", "0.0001", "0.01", "1", "10000", "1e5"]


def test_captions_name_the_attack_s_threshold(tmp_path):
    """A global threshold's figures do not say KDE threshold (the attack is named)."""
    import numpy as np
    from PIL import Image

    from mia.plots import loss_threshold
    rng = np.random.default_rng(0)
    scores = {"cross_entropy": np.r_[rng.exponential(0.5, 300), rng.exponential(1.0, 300)],
              "is_member": np.r_[np.ones(300, bool), np.zeros(300, bool)]}
    cm = {"mean_counts": [[200.0, 70.0], [90.0, 180.0]], "mean_normalized": [[0.74, 0.26], [0.33, 0.67]]}
    result = {"repeats": [{"threshold": 0.4}], "confusion_matrix": cm}
    loss_threshold.score_figures("cross_entropy", 10, "10", scores, 0, result, tmp_path,
                                 attack="global_threshold")
    for name in ("confusion_matrix_p10", "densities_p10", "losses_sample_p10"):
        caption = Image.open(tmp_path / f"{name}.png").text["Caption"]
        assert "global threshold (the best on the attacker's sample)" in caption, name
        assert "KDE" not in caption, name
