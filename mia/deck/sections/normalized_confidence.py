"""Study 003 in the study deck: its normalized confidence-vector rule (the non-members' mean
statistic as the threshold) against the CIFAR-10 and the MNIST LeNet-5, beside the same rule on
the loss and both signals' AUC, and the original's 53%. Empty without either role's results."""
from __future__ import annotations

from ..results import Deck

STUDY = "normalized-confidence"
ROLES: tuple[str, ...] = ()  # optional: the slide is left out without its results
USES: tuple[str, ...] = ()
PART = "Earlier studies: normalized confidence vectors (003)"
STATISTIC, LOSS = "normalized_confidence_loss", "cross_entropy"
DATASETS = {"cifar10": "CIFAR-10", "mnist": "MNIST"}
# "near chance" in the headline: every target's rule within this many points of 50%
NEAR_CHANCE_POINTS = 3.0
# the original's reported number (../shared/reference/normalized-confidence.md)
ORIGINAL = {"accuracy": 0.53, "target_accuracy": 0.90}


def facts(deck: Deck) -> dict:
    rows = []
    for role, dataset in DATASETS.items():
        exp = deck.r.get(role)
        if exp is None:
            continue
        m = exp["metrics"]
        results = m["attack"]["results"]
        if STATISTIC not in results or LOSS not in results:
            continue
        p = max(results[STATISTIC], key=float)

        def summary(score: str) -> dict:
            return results[score][p]["summary"]
        stat, loss = summary(STATISTIC), summary(LOSS)
        rows.append({
            "dataset": dataset, "experiment": exp["experiment"], "p": p,
            "n_eval": results[STATISTIC][p]["n_eval_per_class"],
            "train": m["target"]["train_accuracy"], "test": m["target"]["test_accuracy"],
            "rule": stat["accuracy"]["mean"], "rule_std": stat["accuracy"]["std"],
            "recall": stat["recall"]["mean"], "precision": stat["precision"]["mean"],
            "rule_on_loss": loss["accuracy"]["mean"], "rule_on_loss_std": loss["accuracy"]["std"],
            "auc": m["all_samples"][STATISTIC]["auc"], "loss_auc": m["all_samples"][LOSS]["auc"]})
    if not rows:
        return {"not_made": ["study 003 (normalized confidence vectors): no results for "
                             "normalized-confidence-cifar10 or -mnist"]}
    near = all(abs(100 * (row["rule"] - 0.5)) < NEAR_CHANCE_POINTS for row in rows)
    return {"rows": rows, "original": ORIGINAL,
            "headline": "is near chance" if near else "finds members above chance",
            "repeats": deck.r[next(role for role in DATASETS if role in deck.r)]
            ["metrics"]["attack"]["repeats"]}
