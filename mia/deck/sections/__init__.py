"""The deck's sections: each module here is one, with one template,
``slides/sections/<module>.md.j2``. A study file lists the sections of its deck, in order
(``sections = [...]``, ``mia.studies``); nothing else names them.

A section module defines

- ``ROLES``: the study's roles whose results it needs (``invoke slides`` stops with one line
  when one has no results);
- ``USES`` (optional): other sections whose facts its template reads; the study must list them;
- ``facts(deck: mia.deck.results.Deck) -> dict``: the numbers and the sentences chosen from
  them. Every threshold that chooses wording is a named module-level constant.

Its template sees its facts under the section's name (``{{ loss_attack.leak }}``), the facts
of every other section of the deck likewise, and what ``mia.deck.render`` shares: ``r`` (role
-> results), ``scores``, ``pretty``, ``formula``, ``img(path)``, ``fig(role, name)``.
"""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def _members() -> dict[str, ModuleType]:
    found = {}
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            found[info.name] = importlib.import_module(f"{__name__}.{info.name}")
    return dict(sorted(found.items()))


SECTIONS: dict[str, ModuleType] = _members()
