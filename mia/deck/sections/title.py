"""Title slide (and the deck's front matter): the question, the presenter and the date."""
from __future__ import annotations

from ..results import Deck

ROLES = ("undefended",)
USES: tuple[str, ...] = ()  # no other section's facts


def facts(deck: Deck) -> dict:
    """The date, when not given (``--date``, ``slides/deck.toml``), is when the results were
    made: the day the last of the deck's experiments finished."""
    undefended = deck.r["undefended"]
    finished = max(e["manifest"].get("finished", "") for e in deck.r.values())[:10]
    return {"presenter": deck.presenter, "date": deck.date or finished,
            "repeats": undefended["metrics"]["attack"]["repeats"],
            "commit": (undefended["manifest"]["git"].get("commit") or "unknown")[:10]}
