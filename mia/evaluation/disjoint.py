"""A shadow bank's evaluation (study 001, ``[bank] population = "attacker"``): Shokri et
al.'s setting, where the shadow models trained on the attacker's own images alone.

The study's target is attacked on a balanced set (every member, or as many as there are test
images, and as many test images: ``disjoint_split``), with the attacker's images as the
population z; every row gets the study protocol's metrics, intervals and paired comparisons
(``calibrated.table``), the classifiers their own decisions' accuracy, precision, recall and
F1 (``at_decision``), and every row the seconds its fit and scoring took.
"""
from __future__ import annotations

import time

import numpy as np

from .. import metrics
from ..attacks import row_key
from .calibrated import (BOOTSTRAP, DISJOINT_ROWS, RESAMPLED, StudySplit, score_rows, study_view,
                         table)
from .roc import FPRS

# The decision of an attack whose score is a probability of IN (the classifiers): member when
# it exceeds one half, as the attack model's own prediction.
DECISION_THRESHOLD = 0.5
DISJOINT_DESCRIPTION = ("the study's target: members its training images, non-members as many "
                        "test images; shadow models trained on the attacker's own images alone "
                        "(the training images outside the members), which the classifiers "
                        "learn IN and OUT from")
DISJOINT_STREAM = 0x5D0


def disjoint_split(n_members: int, n_test: int, n_population: int, seed: int) -> StudySplit:
    """A shadow bank's split of its population (members 0..n_members-1, then the test images,
    then the attacker's images): every member and as many test images, drawn at random, are
    evaluated (a balanced set: accuracy and precision read as in the original study), or every
    test image and as many members when the members are more; z is the attacker's images."""
    k = min(n_members, n_test)
    rng = np.random.default_rng(np.random.SeedSequence([seed, DISJOINT_STREAM]))
    members = np.sort(rng.choice(n_members, k, replace=False))  # pragma: no mutate (replace=None is False too)
    nonmembers = n_members + np.sort(rng.choice(n_test, k, replace=False))  # pragma: no mutate
    return StudySplit(np.arange(n_members + n_test, n_population), members, nonmembers)


def at_decision(truth: np.ndarray, score: np.ndarray) -> dict:
    """The attack's own decisions (member when its probability of IN exceeds one half):
    accuracy, precision, recall and F1 (``metrics.thresholded``), the original study's table."""
    found = metrics.thresholded(truth, np.asarray(score) > DECISION_THRESHOLD)
    return {k: found[k] for k in ("accuracy", "precision", "recall", "f1")}


def evaluate_disjoint(target_logits: np.ndarray, labels: np.ndarray, n_members: int, n_test: int,
                      bank_logits: np.ndarray, keep: np.ndarray, seed: int,
                      rows=DISJOINT_ROWS) -> dict:
    """calibrated.json for a shadow bank: the study protocol on a balanced evaluation set
    (``disjoint_split``), the attacker's images as the population, every row's metrics with
    intervals and paired comparisons (``table``); for the classifiers, their decisions' metrics
    (``at_decision``); for every row, the seconds its fit and scoring took (``attack_seconds``,
    this machine's: not judged by ``invoke verify``). No leave-one-out and no power curve: a
    shadow model's members are the attacker's images, not the study's."""
    split = disjoint_split(n_members, n_test, len(labels), seed)
    if (keep[:, :n_members + n_test]).any():
        raise ValueError("a shadow model trained on a target member or an evaluated non-member")
    view, truth = study_view(target_logits, labels, bank_logits, keep, split)
    scored, seconds = {}, {}
    for row in rows:
        t0 = time.perf_counter()
        scored.update(score_rows(view, [row]))
        seconds[row_key(*row)] = round(time.perf_counter() - t0, 3)
    study, best = table(truth, scored, BOOTSTRAP["study"], seed)
    for key, entry in study.items():
        if "auc" in entry:
            entry["attack_seconds"] = seconds[key]
        if key.split("/")[0] in PROBABILITY_ROWS and "auc" in entry:
            entry["at_decision"] = at_decision(truth, scored[key]["score"])
    protocols = {"study": {
        "description": DISJOINT_DESCRIPTION, "references": len(keep), "folds": 2,
        "population_z": len(split.population), "shadow_keeps": int(keep[0].sum()),
        "n_members": len(split.eval_members), "n_nonmembers": len(split.eval_nonmembers),
        "resampled": RESAMPLED["study"], "rows": study, "strongest": best,
        "decision_threshold": DECISION_THRESHOLD}}
    reason = "a shadow bank: its models' members are the attacker's images, not the study's"
    return {"protocols": protocols, "rows": [row_key(*r) for r in rows], "fprs": FPRS,
            "not_computed": {"leave_one_out": reason, "power_vs_references": reason}}


# the attacks whose score is a probability of IN (their own decision: above one half)
PROBABILITY_ROWS = ("shokri", "ml_leaks")
