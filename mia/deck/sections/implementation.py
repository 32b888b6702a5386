"""Implementation: the data, the undefended target and its training, the attack's settings,
and the defended target (its generalisation gap against the undefended one's)."""
from __future__ import annotations

from ..results import Deck, percentages

ROLES = ("undefended", "defended")
USES: tuple[str, ...] = ()  # no other section's facts


def facts(deck: Deck) -> dict:
    undefended, defended = deck.r["undefended"], deck.r["defended"]
    manifest = undefended["manifest"]
    target = defended["metrics"]["target"]
    return {"data": manifest["data"], "train": manifest["config"]["train"],
            "attack": manifest["config"]["attack"], "percentages": percentages(undefended),
            "gap_defended": target["train_accuracy"] - target["test_accuracy"]}
