"""The deck's answer, first: does the undefended model leak, how much by the headline
calibrated attack at low FPR (its interval, against chance and, paired, against the loss
threshold), how little the loss threshold itself finds there, and what L2 changes (matched:
the same attacks with as many references) at what cost in utility.

The headline attack is ``calibrated.HEADLINE_ROW`` (LiRA online), fixed before the results:
quoting the highest of the rows would report a maximum without accounting for the choice.
Empty (and said in "Not in this deck") when the undefended target has no calibrated results.
"""
from __future__ import annotations

from ..results import SCORES, Deck, mean, pct_ci, representative_percentage
from .calibrated import HEADLINE_ROW, has_loss, operating_point, paired_text
from .defended_calibrated import CHANCE, judgements as defended_judgements

ROLES = ("undefended",)
USES: tuple[str, ...] = ()  # no other section's facts (the defences line reads its own, if
# the deck has that section: the template guards it)


def _times(value: float, chance: float) -> str:
    """'10×' (one significant figure below 10×, whole numbers above)."""
    ratio = value / chance
    return f"{ratio:.0f}×" if ratio >= 10 else f"{ratio:.1f}×"


def headline(calibrated: dict, undefended: dict) -> dict:
    """The headline row against chance and the loss threshold, on the study protocol."""
    study = calibrated["protocols"]["study"]
    rows = study["rows"]
    key, fpr = operating_point(rows)
    chance = CHANCE[key]
    row = rows[HEADLINE_ROW]
    lo, hi = row["ci95"][key]
    out = {"name": "LiRA online", "fpr": fpr, "value": pct_ci(row, key),
           "n_members": study["n_members"], "n_nonmembers": study["n_nonmembers"],
           "references": study["references"],
           "leaks": lo > chance,
           "times": (f"{_times(row[key], chance)} chance ({100 * chance:g}%), interval "
                     f"{_times(lo, chance)} to {_times(hi, chance)}" if lo > 0 else
                     f"{_times(row[key], chance)} chance ({100 * chance:g}%)")}
    versus = (study["strongest"][key].get("versus_baseline", {}).get("rows", {})
              .get(HEADLINE_ROW))
    if has_loss(rows) and versus:
        out["loss"] = pct_ci(rows["loss"], key)
        out["versus_loss"] = paired_text(versus, key)
        out["loss_1pct"] = pct_ci(rows["loss"], "tpr_at_1pct_fpr")
        out["loss_below_chance_1pct"] = rows["loss"]["tpr_at_1pct_fpr"] < 0.01
        # the loss threshold's accuracy at the setting fixed in advance (first score, p = 16%)
        p = representative_percentage(undefended)
        out["loss_accuracy"] = mean(undefended, SCORES[0], p, "accuracy")
    return out


def defence(deck: Deck) -> dict | None:
    """What L2 changes with as many references (leave-one-out where measured, else the study
    protocol), and its utility: test accuracy undefended and defended."""
    if "defended" not in deck.r or deck.r["defended"].get("calibrated") is None:
        return None
    judged = defended_judgements(deck.r["undefended"]["calibrated"], deck.r["defended"]["calibrated"])
    if "matched_table" not in judged:
        return None
    undefended, defended = (deck.r[role]["metrics"]["target"] for role in ("undefended", "defended"))
    gain = defended["test_accuracy"] - undefended["test_accuracy"]
    return {"sentence": judged["answer_line"],
            "test_verb": "rises" if gain >= 0 else "falls",
            "test_undefended": undefended["test_accuracy"], "test_defended": defended["test_accuracy"],
            "train_undefended": undefended["train_accuracy"],
            "train_defended": defended["train_accuracy"]}


def facts(deck: Deck) -> dict:
    calibrated = deck.r["undefended"].get("calibrated")
    if calibrated is None:
        return {}  # the calibrated section says why, once
    if HEADLINE_ROW not in calibrated["protocols"]["study"]["rows"]:
        return {"not_made": ["the answer slide: the undefended target has no calibrated "
                             f"results with {HEADLINE_ROW}"]}
    head = headline(calibrated, deck.r["undefended"])
    return {"head": head, "defence": defence(deck),
            "title": ("The undefended model leaks membership" if head["leaks"] else
                      "No leak detected at low false-positive rates")}
