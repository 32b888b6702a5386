"""Discussion and conclusion: the calibrated attacks first (what they find, what they cost,
what they assume), then the loss threshold; the sentences are those the results sections
chose (its template reads ``loss_attack``, ``calibrated`` and ``defended_calibrated``); this
module adds what the discussion counts."""
from __future__ import annotations

from ..results import SCORES, Deck, percentages
from .calibrated import HEADLINE_ROW, operating_point

ROLES = ("undefended",)
USES = ("loss_attack", "calibrated", "defended_calibrated")
# the earlier studies' sections whose headlines the conclusion gathers, where the deck has them
EARLIER = ("mnist_loss_threshold", "normalized_confidence", "shadow_models", "architecture")
PART = "Discussion and conclusion"


def found_members(calibrated: dict) -> str:
    """How many members the headline attack's TPR is, out of how many: the count behind the
    rate, which says how wide its interval must be."""
    study = calibrated["protocols"]["study"]
    key, fpr = operating_point(study["rows"])
    row = study["rows"].get(HEADLINE_ROW, {})
    if row.get(key) is None:
        return ""
    n = study["n_members"]
    return (f"At {fpr} FPR, LiRA online's {100 * row[key]:.2f}% is about {round(row[key] * n)} of "
            f"{n:,} members, against about {round(float(fpr.rstrip('%')) / 100 * n)} by chance.")


def facts(deck: Deck) -> dict:
    undefended = deck.r["undefended"]
    repeats = undefended["metrics"]["attack"]["repeats"]
    out = {"attacks_per_model": repeats * len(percentages(undefended)) * len(SCORES),
           "attack_time": undefended["manifest"]["wall_seconds"]["attack"],
           "found_members": "", "bank": ""}
    calibrated = undefended.get("calibrated")
    if calibrated is not None:
        out["found_members"] = found_members(calibrated)
        bank = undefended["manifest"]["wall_seconds"].get("bank", {})
        refs = calibrated["protocols"]["study"]["references"]
        device = (bank.get("device") or "cpu").upper()
        out["bank"] = (f"{refs} LeNet-5s, {bank['seconds'] / 60:.0f} min on {device}"
                       if bank.get("seconds") else f"{refs} LeNet-5s")
    return out
