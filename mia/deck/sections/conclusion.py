"""Discussion and conclusion: the pros and cons of the loss threshold and the deck's findings.
The sentences are those the results sections chose (its template reads ``loss_attack``,
``calibrated`` and ``defended_calibrated``); this module adds what the discussion counts."""
from __future__ import annotations

from ..results import SCORES, Deck, percentages

ROLES = ("undefended",)
USES = ("loss_attack", "calibrated", "defended_calibrated")


def facts(deck: Deck) -> dict:
    undefended = deck.r["undefended"]
    repeats = undefended["metrics"]["attack"]["repeats"]
    return {"attacks_per_model": repeats * len(percentages(undefended)) * len(SCORES),
            "attack_time": undefended["manifest"]["wall_seconds"]["attack"]}
