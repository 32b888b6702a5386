"""Study 000 in the study deck: one global loss threshold against an MNIST LeNet-5, fitted on
the attacker's sample and judged on a disjoint balanced set, beside the oracle (the best
threshold on the evaluation set itself), and the output confidence as the signal. Empty
without the ``mnist`` role's results (``mnist-loss-threshold``). A second page, with the
``cifar_protocol`` role's results (``mnist-baseline``: the same target), attacks it as the
CIFAR-10 study does: the KDE threshold, and the calibrated attacks with reference models."""
from __future__ import annotations

from ..results import CALIBRATED_TABLE, PRETTY_ROWS, Deck, pct_ci
from .calibrated import HEADLINE_ROW, operating_point, strongest_sentence, table

STUDY = "loss-threshold-mnist"
ROLES: tuple[str, ...] = ()  # optional: the slide is left out without its results
USES: tuple[str, ...] = ()
PART = "Earlier studies: the loss threshold on MNIST (000)"
LOSS, CONFIDENCE = "cross_entropy", "confidence_loss"
# the headline says "at chance" when the fitted threshold's accuracy is within this many
# points of 50% (the spread of one repeat's accuracy on 10,000 samples is about 0.5 points)
CHANCE_POINTS = 1.0


PROTOCOL_ROLE = "cifar_protocol"
# the page's rows (every row: results/mnist-baseline/calibrated.md)
PROTOCOL_ROWS = ("loss", "shokri", "ml_leaks", "lira_offline/global", "lira_online/global",
                 "rmia_offline", "rmia_online")


def protocol_facts(deck: Deck) -> dict:
    """The second page: the KDE threshold's accuracy, and the calibrated attacks' table and
    headline row (``calibrated.HEADLINE_ROW``, chosen before the results: not the highest)."""
    exp = deck.r.get(PROTOCOL_ROLE)
    if exp is None or exp.get("calibrated") is None:
        return {"not_made": ["study 000 with the CIFAR-10 study's attacks: no calibrated results "
                             "for mnist-baseline"]}
    study = exp["calibrated"]["protocols"]["study"]
    rows = study["rows"]
    key, fpr = operating_point(rows)
    head = HEADLINE_ROW if rows.get(HEADLINE_ROW, {}).get(key) is not None else None
    results = exp["metrics"]["attack"]["results"]
    kde = None
    if LOSS in results:
        p = max(results[LOSS], key=float)
        s = results[LOSS][p]["summary"]
        kde = {"p": p, "accuracy": s["accuracy"]["mean"], "std": s["accuracy"]["std"],
               "n_eval": results[LOSS][p]["n_eval_per_class"]}
    shown = {CALIBRATED_TABLE[k] for k in PROTOCOL_ROWS}
    population = exp["metrics"]["target"]["n_train"] + exp["metrics"]["target"]["n_test"]
    return {"experiment": exp["experiment"],
            "table": [row for row in table(deck.r, PROTOCOL_ROLE) if row["name"] in shown],
            "references": study["references"], "n_members": study["n_members"],
            "n_nonmembers": study["n_nonmembers"], "fpr": fpr,
            "head_name": PRETTY_ROWS.get(head, head) if head else None,
            "head_tpr": pct_ci(rows[head], key) if head else None,
            "head_tpr_short": f"{100 * rows[head][key]:.2f}%" if head else None,
            "head_auc": rows[head]["auc"] if head else None,
            "strongest": strongest_sentence(study, key, fpr), "kde": kde,
            # each reference's training images (bank.keeps_per_model, the default population:
            # every training and test image)
            "population": population,
            "keeps": population * (study["folds"] - 1) // study["folds"]}


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
    protocol = protocol_facts(deck)
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
        "protocol": protocol, "not_made": protocol.get("not_made", []),
        # the Discussion's sentence (conclusion.md.j2)
        "discussion": (f"an MNIST LeNet-5 with a {100 * (m['target']['train_accuracy'] - m['target']['test_accuracy']):.1f}-point "
                       f"train − test gap: the fitted loss threshold {100 * loss['fitted']:.1f}%, "
                       f"AUC {loss['auc']:.3f}"
                       + (f", and with {protocol['references']} reference models "
                          f"{protocol['head_name']} finds {protocol['head_tpr']} of members at "
                          f"{protocol['fpr']} FPR" if protocol.get("head_name") else "")
                       + " (000)"),
    }
