"""The study's sampling protocol: the attacker is given p% of the members and p% of the
non-members (drawn at random), fits its attack on their losses, and is evaluated on a balanced
set disjoint from them, for every score, sampling percentage and repeat (``attack_stage``).

Members are the target's training images, non-members its test images; every score sees the
same samples for a given (percentage, repeat) (``split_seed``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

from .. import attacks, metrics
from ..attacks import SignalView
from ..errors import UserError
from ..parallel import process_map

if TYPE_CHECKING:
    from ..config import ExperimentConfig


def percentage_key(p: float) -> str:
    """'16' for 16, '0.5' for 0.5: used in metrics.json keys and figure names (p16.png)."""
    return f"{p:g}"


@dataclass
class Split:
    """Indices into the member and non-member arrays for one repeat of the attack."""

    attacker_members: np.ndarray
    attacker_nonmembers: np.ndarray
    eval_members: np.ndarray
    eval_nonmembers: np.ndarray


def attacker_counts(n_members: int, n_nonmembers: int, percentage: float) -> tuple[int, int]:
    k_m = int(round(n_members * percentage / 100))
    k_n = int(round(n_nonmembers * percentage / 100))
    if min(k_m, k_n) < 2:
        raise UserError(f"sampling percentage {percentage:g} gives the attacker {min(k_m, k_n)} "
                        f"samples of a class; need at least 2")
    return k_m, k_n


def sample_split(n_members: int, n_nonmembers: int, percentage: float,
                 rng: np.random.Generator) -> Split:
    """Draw the attacker's p% of each class, then a balanced evaluation set from the rest.

    The evaluation set holds all remaining non-members and as many remaining members
    (fewer of both only if fewer members than non-members remain).
    """
    k_m, k_n = attacker_counts(n_members, n_nonmembers, percentage)
    members, nonmembers = rng.permutation(n_members), rng.permutation(n_nonmembers)
    n_eval = min(n_members - k_m, n_nonmembers - k_n)
    if n_eval < 1:
        raise UserError(f"sampling percentage {percentage:g} leaves no samples to evaluate on")
    return Split(np.sort(members[:k_m]), np.sort(nonmembers[:k_n]),
                 np.sort(members[k_m:k_m + n_eval]), np.sort(nonmembers[k_n:k_n + n_eval]))


def accuracy_curve(members: np.ndarray, nonmembers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(thresholds, balanced accuracies) of "member iff loss < t" at every distinct t that
    changes a decision: each observed loss, and one float above the largest (everyone a
    member). Balanced accuracy = (TPR + TNR) / 2: chance is 0.5 whatever the class sizes. The
    curve's maximum on the samples it is measured on is an oracle's accuracy, not an attack's."""
    m, n = np.sort(np.asarray(members, float)), np.sort(np.asarray(nonmembers, float))
    values = np.unique(np.concatenate([m, n]))
    thresholds = np.append(values, np.nextafter(values[-1], np.inf))
    tpr = np.searchsorted(m, thresholds, side="left") / len(m)  # members strictly below t
    tnr = 1.0 - np.searchsorted(n, thresholds, side="left") / len(n)
    return thresholds, (tpr + tnr) / 2


def split_seed(seed: int, percentage: float, repeat: int) -> list[int]:
    """RNG seed of one (percentage, repeat): shared by all scores, so they see the same samples."""
    return [seed, int(round(percentage * 1000)), repeat]


def run_once(name: str, options: dict, attacker_members: np.ndarray,
             attacker_nonmembers: np.ndarray, eval_members: np.ndarray,
             eval_nonmembers: np.ndarray) -> dict:
    """One repeat: fit attack ``name`` on the attacker's losses, evaluate it on the balanced set.

    Returns what the attack fitted (the threshold and how it was found), the thresholded
    metrics of its decisions (``metrics.thresholded``) and the threshold-free ones of the
    losses (``metrics.loss_metrics``: membership score -loss, thresholds on the loss scale).
    """
    scores = np.concatenate([eval_members, eval_nonmembers])
    truth = np.r_[np.ones(len(eval_members), bool), np.zeros(len(eval_nonmembers), bool)]  # pragma: no mutate (any dtype: the same 0/1)
    view = SignalView(attacker_members, attacker_nonmembers, scores)
    attack = attacks.build(name, **options).fit(view)
    run = attack.fitted_values()
    run.update(metrics.thresholded(truth, attack.predict(view)))
    run.update(metrics.loss_metrics(truth, scores))
    return run


# The defaults say how many processes and the progress bar's label: no result depends on them
# (tests/test_parallel.py), so the signature stays on the one line the pragma exempts.
def attack_stage(config: ExperimentConfig, scores: dict[str, np.ndarray], progress: bool, workers: int = 1, label: str = "attack") -> dict:  # pragma: no mutate
    """Run the attack for every score, sampling percentage and repeat; aggregate the metrics.

    The fits run on ``workers`` processes; the metrics do not depend on how many.
    """
    a = config.attack
    is_member = scores["is_member"]
    # the [attack] settings this attack takes (the global threshold has none)
    options = {k: v for k, v in {"grid_points": a.kde_grid_points}.items()
               if k in attacks.ATTACKS[a.attack].options}
    splits = {p: [sample_split(int(is_member.sum()), int((~is_member).sum()), p,
                                       np.random.default_rng(split_seed(config.seed, p, r)))
                  for r in range(a.repeats)]
              for p in a.sampling_percentages}
    jobs, keys = [], []
    for p in a.sampling_percentages:
        for s in a.scores:
            member_scores, nonmember_scores = scores[s][is_member], scores[s][~is_member]
            for r, split in enumerate(splits[p]):
                jobs.append((a.attack, options,
                             member_scores[split.attacker_members],
                             nonmember_scores[split.attacker_nonmembers],
                             member_scores[split.eval_members],
                             nonmember_scores[split.eval_nonmembers]))
                keys.append((s, p, r))
    # Not mutated: the progress bar and the worker count change no result (tests/test_parallel.py).
    with tqdm(total=len(jobs), desc=label, unit="fit", disable=not progress) as bar:  # pragma: no mutate
        done = process_map(run_once, jobs, workers, on_done=bar.update)  # pragma: no mutate
    runs: dict = {}
    for (s, p, r), run in zip(keys, done):
        runs.setdefault((s, p), []).append({"repeat": r, **run})
    # any repeat's split gives the cell's sample sizes (they depend only on p): not mutated
    sizes = {p: splits[p][0] for p in a.sampling_percentages}  # pragma: no mutate
    results = {s: {percentage_key(p): _aggregate(p, sizes[p], runs[s, p])
                   for p in a.sampling_percentages}
               for s in a.scores}
    out = {"name": a.attack, "repeats": a.repeats, "positive_class": "member",
           "prediction": "member when score < threshold",
           "confusion_matrix_labels": list(metrics.CONFUSION_LABELS), "results": results}
    if "correct" in scores:
        out[GAP] = gap_on_splits(scores["correct"], is_member, splits)
    return out


def gap_on_splits(correct: np.ndarray, is_member: np.ndarray, splits: dict) -> dict:
    """The gap attack (member iff correctly classified) on every repeat's evaluation set: its
    balanced accuracy (the mean of its recall on members and its specificity on non-members),
    per sampling percentage, mean ± std over repeats. It needs no attacker samples, so it
    is the reference each threshold is read against on exactly the samples it was scored on."""
    right_m, right_n = correct[is_member], correct[~is_member]
    out = {}
    for p, by_repeat in splits.items():
        accuracy = [float((right_m[s.eval_members].mean() + 1 - right_n[s.eval_nonmembers].mean()) / 2)
                    for s in by_repeat]
        out[percentage_key(p)] = {"accuracy": metrics.mean_std(accuracy), "repeats": accuracy}
    return out


def _aggregate(p: float, split: Split, runs: list[dict]) -> dict:
    """One (score, p) cell of metrics.json: the attacker's sample sizes, then the repeats."""
    return {
        "sampling_percentage": p,
        "n_attacker_members": len(split.attacker_members),
        "n_attacker_nonmembers": len(split.attacker_nonmembers),
        "n_eval_per_class": len(split.eval_members),
        **metrics.summarize_repeats(runs),
        "repeats": runs,
    }


# all_samples' key of the gap attack (member iff correctly classified; Yeom et al., CSF 2018)
GAP = "gap"


def full_roc_stage(config: ExperimentConfig, scores: dict[str, np.ndarray]) -> dict:
    """Threshold-free metrics over all samples (all members vs all non-members), thresholds
    on the loss scale like every repeat's; and the gap attack's (member iff correctly
    classified: the loss 1 - correct), whose best_accuracy is (train accuracy + 1 - test
    accuracy) / 2, the line every loss threshold is read against."""
    y = scores["is_member"]
    out = {s: metrics.loss_metrics(y, scores[s]) for s in config.attack.scores}
    if "correct" in scores:
        out[GAP] = metrics.loss_metrics(y, 1.0 - scores["correct"])  # float64: 1.0 - 0/1
    return out


