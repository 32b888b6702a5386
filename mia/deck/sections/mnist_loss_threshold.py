"""Study 000 in the study deck: one global loss threshold against an MNIST LeNet-5, fitted on
the attacker's sample and judged on a disjoint balanced set, beside the oracle (the best
threshold on the evaluation set itself), and the output confidence as the signal. Empty
without the ``mnist`` role's results (``mnist-loss-threshold``)."""
from __future__ import annotations

from ..results import Deck

STUDY = "loss-threshold-mnist"
ROLES: tuple[str, ...] = ()  # optional: the slide is left out without its results
USES: tuple[str, ...] = ()
PART = "Earlier studies: the loss threshold on MNIST (000)"
LOSS, CONFIDENCE = "cross_entropy", "confidence_loss"
# the headline says "at chance" when the fitted threshold's accuracy is within this many
# points of 50% (the spread of one repeat's accuracy on 10,000 samples is about 0.5 points)
CHANCE_POINTS = 1.0


def facts(deck: Deck) -> dict:
    exp = deck.r.get("mnist")
    if exp is None:
        return {"not_made": ["study 000 (the loss threshold on MNIST): no results for "
                             "mnist-loss-threshold"]}
    m = exp["metrics"]
    results = m["attack"]["results"]
    if LOSS not in results or CONFIDENCE not in results:
        return {"not_made": [f"study 000: {exp['experiment']} lacks the {LOSS} or "
                             f"{CONFIDENCE} score"]}
    p = max(results[LOSS], key=float)

    def cell(score: str) -> dict:
        s = results[score][p]["summary"]
        return {"fitted": s["accuracy"]["mean"], "fitted_std": s["accuracy"]["std"],
                "oracle": s["best_accuracy"]["mean"], "oracle_std": s["best_accuracy"]["std"],
                "auc": m["all_samples"][score]["auc"]}
    loss, conf = cell(LOSS), cell(CONFIDENCE)
    at_chance = abs(100 * (loss["fitted"] - 0.5)) < CHANCE_POINTS
    return {
        "experiment": exp["experiment"], "p": p, "n_eval": results[LOSS][p]["n_eval_per_class"],
        "repeats": m["attack"]["repeats"], "train": m["target"]["train_accuracy"],
        "test": m["target"]["test_accuracy"], "loss": loss, "confidence": conf,
        "n_members": m["all_samples"][LOSS].get("n_members") or m["target"]["n_train"],
        "n_nonmembers": m["all_samples"][LOSS].get("n_nonmembers") or m["target"]["n_test"],
        "headline": ("loss threshold at chance" if at_chance else
                     "loss threshold above chance"),
        "figure": f"{exp['dir']}/figures/accuracy_vs_threshold.png",
    }
