"""Backup slides of the loss threshold: the attacker's samples, the densities of the other
scores, the confusion matrices, the three summary tables and the defended target's panel.
Its template reads ``loss_attack``'s facts; this module adds none."""
from __future__ import annotations

from ..results import Deck

ROLES = ("undefended", "defended")
USES = ("loss_attack",)


def facts(deck: Deck) -> dict:
    return {}
