"""The agenda: the deck's parts in order, each section's ``PART`` (``render.context`` gathers
them as ``parts``, leaving out a section with nothing to show)."""
from __future__ import annotations

from ..results import Deck

ROLES: tuple[str, ...] = ()
USES: tuple[str, ...] = ()  # no other section's facts


def facts(deck: Deck) -> dict:
    return {}
