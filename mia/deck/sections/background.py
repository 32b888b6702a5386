"""Background: what a membership inference attack is, the research it rests on and the four
earlier studies (``shared/reference/``); also the sentences about why the loss reveals
membership (the undefended target's generalisation gap) and the threshold rule the fits
actually used, which the method's pages read."""
from __future__ import annotations

from ..results import Deck, points

ROLES = ("undefended", "defended")
USES: tuple[str, ...] = ()  # no other section's facts
PART = "Background: membership inference, and four earlier studies"
# Train minus test accuracy of the undefended target: above MEMORISED it "has memorised a good
# part of its training set", above MODERATE "a moderate generalisation gap", else it
# "generalises well".
MEMORISED_GAP = 0.15
MODERATE_GAP = 0.05


def overfitting(target: dict) -> str:
    gap = target["train_accuracy"] - target["test_accuracy"]
    return (f"The undefended model is {points(gap)} more accurate on its training images than on "
            f"unseen ones: " + ("it has memorised a good part of its training set." if gap > MEMORISED_GAP
                                else "a moderate generalisation gap." if gap > MODERATE_GAP
                                else "it generalises well."))


def threshold_methods(experiments: list[dict]) -> dict[str, int]:
    """How often each rule of the KDE threshold chose the threshold, over every fit."""
    methods = [rep["threshold_method"] for e in experiments
               for by_p in e["metrics"]["attack"]["results"].values()
               for c in by_p.values() for rep in c["repeats"]]
    return {m: methods.count(m) for m in sorted(set(methods))}


def facts(deck: Deck) -> dict:
    methods = threshold_methods([deck.r[role] for role in ROLES])
    return {"overfitting": overfitting(deck.r["undefended"]["metrics"]["target"]),
            "methods": methods, "n_fits": sum(methods.values())}
