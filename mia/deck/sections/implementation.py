"""The method: the data, the undefended target and its training (its early peak in test
accuracy, and how it compares with the original study's), the loss threshold's settings, and
the calibrated attacks' bank and protocols."""
from __future__ import annotations

from ..results import Deck, percentages, points

ROLES = ("undefended", "defended")
USES = ("background",)  # the threshold rule's counts and the overfitting sentence (notes)
PART = "Method: the target, the attacks, the protocols"
# A test-accuracy peak this far above the final value is worth saying: early stopping would
# have given a better model to compare with.
PEAK_WORTH_SAYING = 0.02


def peak_sentence(history: list[dict]) -> str:
    last, best = history[-1], max(history, key=lambda h: h["test_acc"])
    if best["test_acc"] - last["test_acc"] < PEAK_WORTH_SAYING:
        return f"test accuracy is at its highest near the end ({best['test_acc']:.1%})."
    return (f"test accuracy peaks at **{best['test_acc']:.1%} (epoch {best['epoch']})**: an "
            f"early stop would be a fair comparison point.")


def versus_original(target: dict) -> str:
    """How the target's test accuracy compares with the original study's, and what is open."""
    ref = target.get("reference")
    if not ref:
        return ""
    diff = target["test_accuracy"] - ref["test_accuracy"]
    return (f"Ours is {points(abs(diff))} {'higher' if diff > 0 else 'lower'} on test; the data "
            f"copy and seed differ and its preprocessing is unpublished: the cause is open.")


def facts(deck: Deck) -> dict:
    undefended = deck.r["undefended"]
    manifest = undefended["manifest"]
    return {"data": manifest["data"], "train": manifest["config"]["train"],
            "attack": manifest["config"]["attack"], "percentages": percentages(undefended),
            "peak": peak_sentence(undefended["history"]),
            "versus_original": versus_original(undefended["metrics"]["target"])}
