"""Assemble the deck: every section's facts (``mia.deck.sections``), then ``slides/deck.md.j2``,
which includes the sections' templates (``slides/sections/<section>.md.j2``) in the order the
study file lists them. Nothing here chooses a sentence."""
from __future__ import annotations

import os
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ..errors import UserError
from ..io import write_text
from ..studies import Study
from .results import FORMULA, PRETTY, REPO, SCORES, SLIDES, Deck, fmt, pct, thousands
from .sections import SECTIONS, study_of

TEMPLATE = "deck.md.j2"
SHARED = ("r", "scores", "pretty", "formula", "img", "fig", "study", "sections", "not_made",
          "parts")


def template_of(section: str) -> str:
    return f"sections/{section}.md.j2"


def check(study: Study, others: dict | None = None) -> None:
    """The study's sections can make a deck: each has its template, the roles it needs (of
    the study it presents: ``others``, name -> Study, for another study's) and the sections
    whose facts its template reads."""
    others = others or {}
    for i, name in enumerate(study.sections):
        module = SECTIONS[name]
        presented = study_of(name, study.name)
        if presented != study.name and presented not in others:
            raise UserError(f"section {name!r} presents study {presented!r}, which was not loaded")
        owner = others.get(presented, study)
        if not (SLIDES / template_of(name)).is_file():
            raise UserError(f"section {name!r} has no template {SLIDES / template_of(name)}")
        if name in SHARED:
            raise UserError(f"section {name!r}: the name is taken by the templates' shared "
                            f"context ({', '.join(SHARED)})")
        for role in module.ROLES:
            if role not in owner.roles:
                raise UserError(f"section {name!r} needs the role {role!r}, which study "
                                f"{owner.name!r} ({owner.path}) does not name")
        for used in module.USES:
            if used not in study.sections:
                raise UserError(f"section {name!r} reads section {used!r}, which study "
                                f"{study.name!r} ({study.path}) does not list")


def required_roles(study: Study, sections: tuple[str, ...] | None = None,
                   deck_study: str | None = None) -> tuple[str, ...]:
    """The roles of ``study`` whose results the sections presenting it cannot do without:
    its own sections, or, for another study shown in the deck of ``deck_study``, the deck's
    sections whose ``STUDY`` it is."""
    deck_study = deck_study or study.name
    sections = study.sections if sections is None else sections
    needed = {role for name in sections if study_of(name, deck_study) == study.name
              for role in SECTIONS[name].ROLES}
    return tuple(role for role in study.roles if role in needed)


def context(deck: Deck) -> dict:
    """What the templates see: the shared names (``SHARED``) and each section's facts under
    its name."""
    ctx = {"r": deck.r, "scores": SCORES, "pretty": PRETTY, "formula": FORMULA,
           "study": deck.study,
           "sections": [{"name": s, "template": template_of(s)} for s in deck.study.sections]}
    ctx["not_made"] = []
    for name in deck.study.sections:
        presented = study_of(name, deck.study.name)
        found = SECTIONS[name].facts(deck if presented == deck.study.name else deck.others[presented])
        # what a legal config leaves out (no loss row, one bank round, no bank): the deck's
        # last slide and the log name each comparison that could not be made
        ctx["not_made"] += found.pop("not_made", [])
        ctx[name] = found
    # the agenda: each section's PART, in order, where it has something to show
    ctx["parts"] = [SECTIONS[name].PART for name in deck.study.sections
                    if getattr(SECTIONS[name], "PART", "") and ctx[name]]
    return ctx


def render(deck: Deck, md_path: Path, image_root: Path | None = None, log=None) -> Path:
    """Write the deck's Markdown to ``md_path``; images are linked relative to ``image_root``.
    ``log``: told each comparison the results could not make (the deck's last slide lists them)."""
    check(deck.study, {name: d.study for name, d in deck.others.items()})
    image_root = image_root or md_path.parent
    ctx = context(deck)
    for line in ctx["not_made"] if log else ():
        log(f"not in the deck: {line}")

    def img(path: str | Path) -> str:
        """Relative link from the deck to a file, which must exist."""
        target = Path(path)
        if not target.is_absolute():
            target = REPO / target
        if not target.is_file():
            raise UserError(f"the deck needs {target}, which does not exist")
        return os.path.relpath(target, image_root).replace(os.sep, "/")

    def fig(role: str, name: str) -> str:
        if role not in deck.r:
            raise UserError(f"the deck needs a figure of role {role!r} of study "
                            f"{deck.study.name!r}, which has no results in {deck.root}")
        return img(Path(deck.r[role]["dir"]) / "figures" / name)

    env = Environment(loader=FileSystemLoader(SLIDES), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(fmt=fmt, pct=pct, thousands=thousands)
    text = env.get_template(TEMPLATE).render(img=img, fig=fig, **ctx)
    write_text(md_path, text)
    return md_path
