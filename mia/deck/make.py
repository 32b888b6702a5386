"""``invoke slides``: the study's results -> ``slides/deck.md`` -> ``slides/build/deck.html``
(and ``.pdf``), with the readability and overflow checks."""
from __future__ import annotations

import time
from pathlib import Path

from .. import studies
from ..errors import UserError
from ..io import read_toml
from .illustrations import draw_all
from .legibility import MIN_TEXT_PX, SLIDE, figures, too_small
from .build import build, find_chromium, overflow_report
from .render import render, required_roles
from .sections import study_of
from .results import REPO, SLIDES, Deck, load

SETTINGS = SLIDES / "deck.toml"
SETTINGS_KEYS = ("study", "presenter", "date")
IMG = REPO / "img"


def settings(path: Path = SETTINGS) -> dict:
    """``slides/deck.toml``: the study the deck presents and the title slide's lines."""
    if not path.is_file():
        return {}
    found = read_toml(path, "deck settings file")
    unknown = sorted(set(found) - set(SETTINGS_KEYS))
    if unknown:
        raise UserError(f"unknown key {unknown[0]!r} in {path} (known: {', '.join(SETTINGS_KEYS)})")
    return found


def prepare(results_root: Path, study: str | None = None, presenter: str | None = None,
            date: str | None = None, settings_path: Path = SETTINGS,
            studies_dir: Path = studies.STUDIES_DIR) -> Deck:
    """Read the study (``study``, else ``slides/deck.toml``'s) and its results: a ``Deck``, or
    a UserError before anything is written. Title lines: ``presenter``/``date``, else
    ``slides/deck.toml``'s (else the date the results were made)."""
    given = settings(settings_path)
    name = study or given.get("study")
    if not name:
        raise UserError(f"which study does the deck present? Set study = \"<name>\" in "
                        f"{settings_path} (known: {', '.join(studies.available(studies_dir))})")
    chosen = studies.load_named(name, studies_dir)
    r = load(chosen, results_root, required_roles(chosen))
    others = {}
    for other in sorted({study_of(s, chosen.name) for s in chosen.sections} - {chosen.name}):
        study = studies.load_named(other, studies_dir)
        others[other] = Deck(study=study, root=results_root,
                             r=load(study, results_root, required_roles(study, chosen.sections,
                                                                        chosen.name)))
    return Deck(study=chosen, root=results_root, r=r,
                presenter=presenter or given.get("presenter", ""),
                date=date or given.get("date") or "", others=others)


def main(quick: bool = False, results_dir: Path | None = None, pdf: bool = True,
         check_overflow: bool = True, out_dir: Path | None = None, presenter: str | None = None,
         date: str | None = None, study: str | None = None, log=print) -> dict:
    """``invoke slides``: render, draw the illustrations, check that every figure's text is
    readable, build, check for overflow."""
    t0 = time.perf_counter()
    default = REPO / "results" / "quick" if quick else REPO / "results"
    results_root = (results_dir or default).resolve()
    if out_dir is not None:
        md_path = out_dir / "deck.md"
        build_dir = out_dir
    elif quick or results_dir is not None and results_root != (REPO / "results").resolve():
        md_path = SLIDES / "build" / results_root.name / "deck.md"
        build_dir = md_path.parent
    else:
        md_path, build_dir = SLIDES / "deck.md", SLIDES / "build"
    deck = prepare(results_root, study, presenter, date)  # fail early, before anything is written
    draw_all(IMG)
    render(deck, md_path, log=log)
    found = figures(md_path)
    small = too_small(found)
    if small:
        raise UserError(f"figure text too small on a {SLIDE[0]}x{SLIDE[1]} "
                        f"slide (minimum {MIN_TEXT_PX} px): "
                        + "; ".join(f"{f['image']} {f['text_px']:.1f} px" for f in small))
    log(f"readability check: {len(found)} figures, smallest text "
        f"{min((f['text_px'] for f in found), default=float('nan')):.1f} px")
    build_md = build_dir / "deck.md"
    if build_md != md_path:  # the built HTML lives in build/: links must be relative to it
        render(deck, build_md)
    outputs = build(build_md, build_dir, pdf=pdf, log=log)
    if build_md != md_path:
        build_md.unlink()
    chromium = find_chromium()
    if check_overflow and chromium:
        rep = overflow_report(outputs["html"], chromium)
        outputs["slides"] = rep["slides"]
        if rep["overflow"]:
            raise UserError(f"content cut off on slides {[o['slide'] for o in rep['overflow']]}: "
                            f"{rep['overflow']}")
        log(f"overflow check: {rep['slides']} slides, none cut off")
    elif check_overflow:
        log("overflow check skipped: no Chromium found")
    outputs["markdown"] = md_path
    log(f"wrote {md_path}, " + ", ".join(str(outputs[k]) for k in ("html", "pdf") if k in outputs)
        + f" in {time.perf_counter() - t0:.1f} s")
    return outputs
