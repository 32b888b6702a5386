"""References: the papers cited and the original study, with its published accuracies
(``metrics.json``'s ``target.reference``, which its template reads)."""
from __future__ import annotations

from ..results import Deck

ROLES = ("undefended",)
USES: tuple[str, ...] = ()  # no other section's facts


def facts(deck: Deck) -> dict:
    return {}
