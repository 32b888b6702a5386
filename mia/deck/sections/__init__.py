"""The deck's sections: each module here is one, with one template,
``slides/sections/<module>.md.j2``. A study file lists the sections of its deck, in order
(``sections = [...]``, ``mia.studies``); nothing else names them.

A section module defines

- ``ROLES``: the study's roles whose results it needs (``invoke slides`` stops with one line
  when one has no results);
- ``USES``: other sections whose facts its template reads (``()``: none); the study must list
  them;
- ``facts(deck: mia.deck.results.Deck) -> dict``: the numbers and the sentences chosen from
  them. Every threshold that chooses wording is a named module-level constant;
- optionally ``PART``: its line on the agenda page (shown where its facts are not empty);
- optionally ``STUDY``: the study it presents, when not the deck's own (an earlier study's
  section in the study deck): its ``ROLES`` are that study's, and ``facts`` gets that study's
  ``Deck`` (``Deck.others``).

Its template sees its facts under the section's name (``{{ loss_attack.leak }}``), the facts
of every other section of the deck likewise, and what ``mia.deck.render`` shares: ``r`` (role
-> results), ``scores``, ``pretty``, ``formula``, ``img(path)``, ``fig(role, name)``.
"""
from __future__ import annotations

from types import ModuleType

from ...discovery import members

# section name (its module's) -> module
SECTIONS: dict[str, ModuleType] = members(
    __name__, __path__, lambda module: [(module.__name__.rsplit(".", 1)[1], module)])


def study_of(section: str, own: str) -> str:
    """The study whose results ``section`` presents: its ``STUDY``, else the deck's (``own``)."""
    return getattr(SECTIONS[section], "STUDY", own)
