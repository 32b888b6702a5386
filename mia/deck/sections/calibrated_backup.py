"""Backup slide of the calibrated attacks: RMIA offline with its parameter a tuned or fixed,
against the number of references. Its template reads ``calibrated``'s facts."""
from __future__ import annotations

from ..results import Deck

ROLES = ("undefended",)
USES = ("calibrated",)


def facts(deck: Deck) -> dict:
    return {}
