"""Evaluate the attacks of ``mia.attacks`` on a target, with a bank of references.

Two protocols, both reported:

(a) ``study``: the study's own target. Members are its training images, non-members the test
    images. The bank's population holds every image, so the references were trained on about
    half of the evaluated samples, members and non-members alike: the online attacker's
    standard assumption (it can train models on the candidate samples). RMIA's population
    samples z must be known non-members of the target, which only the test images are, and
    the evaluated non-members are test images too, so the test images are split once, by a
    seeded permutation: ``population`` of them for the attacks, the rest for evaluation,
    with as many members drawn at random. Every attack sees the same split.
(b) ``leave_one_out``: the protocol of the LiRA and RMIA papers. Each bank model in turn is
    the target (its members: the samples it kept), and the references are the models of the
    other rounds (``bank``: for paired banks, every model but the target and its
    complementary partner). Dropping the target's round keeps every sample IN for exactly as
    many references, members and non-members of the target alike, so no statistic can read
    the target's membership from how many references hold a sample; ``leak_check`` measures
    what that count would give if the round were kept. z: a fixed random ``population`` of
    the samples, used where the target left them out; the rest is evaluated. Scores of all
    targets are pooled into one ROC. A bank of one round has no leave-one-out references.

Metrics of a membership score (higher = member) on an evaluation set: AUC, the best balanced
accuracy over thresholds (an upper bound: the threshold is chosen on the evaluation set),
TPR at 1%, 0.1% and 0.01% FPR (each only where at least 1/FPR non-members are evaluated),
and the number of members found at zero false positives; with 95% bootstrap intervals
(members and non-members resampled separately) on AUC and every TPR.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import metrics
from ..attacks import TargetView, build, parse_row, row_key
from ..keep import round_of
from .roc import FPRS, roc_points, score_metrics

# (name, options, augmentations) of every row of the comparison when [calibrated] attacks is
# empty: 1 = the image as it is, 2 = also flipped left-right (test-time augmentation). The
# study's models train without augmentation, so the plain image is the default; the flip is
# measured for LiRA online and RMIA online (both ways).
DEFAULT_ROWS = (
    ("loss", {}, 1),
    ("shokri", {}, 1),
    ("ml_leaks", {}, 1),
    ("lira_offline", {"variance": "global"}, 1),
    ("lira_offline", {"variance": "per_sample"}, 1),
    ("lira_online", {"variance": "global"}, 1),
    ("lira_online", {"variance": "per_sample"}, 1),
    ("lira_online", {"variance": "global"}, 2),
    ("rmia_offline", {}, 1),
    ("rmia_online", {}, 1),
    ("rmia_online", {}, 2),
)
DEFAULT_POWER = (("lira_offline", {"variance": "auto"}, 1), ("lira_online", {"variance": "auto"}, 1),
                 ("rmia_offline", {}, 1), ("rmia_online", {}, 1))


@dataclass(frozen=True)
class StudySplit:
    """Protocol (a): indices into the population (training images 0..n_train-1, then test)."""

    population: np.ndarray        # test images used as RMIA's z (known non-members)
    eval_members: np.ndarray      # training images evaluated
    eval_nonmembers: np.ndarray   # the other test images


def study_split(n_train: int, n_test: int, population: int, seed: int) -> StudySplit:
    if not 0 < population < n_test:
        raise ValueError(f"population must be between 1 and {n_test - 1} test images, got {population}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xCA1B]))
    test = n_train + rng.permutation(n_test)
    nonmembers = np.sort(test[population:])
    members = np.sort(rng.choice(n_train, len(nonmembers), replace=False))
    return StudySplit(np.sort(test[:population]), members, nonmembers)


def _view(target_logits, labels, ref_logits, keep, attacked, z) -> TargetView:
    return TargetView(target_logits[:, attacked], labels[attacked], ref_logits[:, :, attacked],
                      keep[:, attacked], target_logits[:, z], labels[z], ref_logits[:, :, z], keep[:, z])


def study_view(target_logits: np.ndarray, labels: np.ndarray, bank_logits: np.ndarray,
               keep: np.ndarray, split: StudySplit) -> tuple[TargetView, np.ndarray]:
    """The attacker's view of the study's target, and the truth (True = member)."""
    attacked = np.concatenate([split.eval_members, split.eval_nonmembers])
    truth = np.r_[np.ones(len(split.eval_members), bool), np.zeros(len(split.eval_nonmembers), bool)]
    return _view(target_logits, labels, bank_logits, keep, attacked, split.population), truth


def loo_population(n: int, population: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x100]))
    return np.sort(rng.permutation(n)[:population])


def loo_view(t: int, bank_logits: np.ndarray, keep: np.ndarray, labels: np.ndarray,
             z_pool: np.ndarray, folds: int = 2, keep_round: bool = False
             ) -> tuple[TargetView, np.ndarray, np.ndarray]:
    """Protocol (b) with bank model ``t`` as the target: (view, truth, references used).

    References: every model outside ``t``'s round (``keep_round``: every model but ``t``, the
    leaky variant that ``leak_check`` measures). Attacked: every sample outside the z pool;
    z: the pool's samples that ``t`` did not train on."""
    dropped = {t} if keep_round else set(round_of(t, folds))
    refs = np.array([r for r in range(len(keep)) if r not in dropped])
    attacked = np.setdiff1d(np.arange(keep.shape[1]), z_pool)
    z = z_pool[~keep[t, z_pool]]
    view = _view(bank_logits[t], labels, bank_logits[refs], keep[refs], attacked, z)
    return view, keep[t, attacked], refs


def score_rows(view: TargetView, rows=DEFAULT_ROWS) -> dict[str, dict]:
    """Each row's scores on ``view``, with what the attack resolved (variance, a)."""
    out = {}
    for name, options, augmentations in rows:
        v = view.augmentations(augmentations)
        try:
            attack = build(name, **options).fit(v)
            entry = {"score": attack.score(v)}
        except ValueError as e:  # too few references for this variant: say so, in the table
            out[row_key(name, options, augmentations)] = {"not_computed": str(e)}
            continue
        out[row_key(name, options, augmentations)] = {**entry, **attack.fitted_values()}
    return out


# ---------------------------------------------------------------- which attack is strongest
def strongest(table: dict[str, dict], key: str = "tpr_at_0.1pct_fpr") -> dict:
    """The attack with the highest ``key`` if its interval lies above every other's, else
    the attacks whose intervals overlap the top one's (a tie)."""
    rows = [(k, v) for k, v in table.items() if v.get(key) is not None and "ci95" in v]
    if not rows:
        return {"metric": key, "strongest": None, "top": None, "tied_with_top": [],
                "unresolved": f"no attack has {key} on this evaluation set (too few non-members)"}
    rows.sort(key=lambda kv: kv[1][key], reverse=True)
    top, top_v = rows[0]
    lo = top_v["ci95"][key][0]
    tied = [k for k, v in rows[1:] if v["ci95"][key][1] >= lo]
    return {"metric": key, "strongest": top if not tied else None, "top": top,
            "tied_with_top": tied}


def power_subsets(k: int, sizes: list[int], repeats: int, seed: int,
                  folds: int = 2) -> dict[int, list[np.ndarray]]:
    """Random subsets of whole rounds of a bank of k models (so that every sample has a model
    on each side); ``repeats`` draws per size, 1 for the whole bank."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x90E4]))
    out = {}
    for size in sizes:
        if size % folds or not folds <= size <= k:
            raise ValueError(f"subset sizes must be multiples of {folds}, between {folds} and {k}, "
                             f"got {size}")
        draws = 1 if size == k else repeats
        out[size] = [np.sort(np.concatenate([round_of(folds * j, folds) for j in
                                             rng.choice(k // folds, size // folds, replace=False)]))
                     for _ in range(draws)]
    return out


# ---------------------------------------------------------------- the whole evaluation
# RMIA's z: a quarter of the test images in protocol (a) (2,500 of CIFAR-10's 10,000, leaving
# 7,500 non-members to evaluate), a twelfth of the population in protocol (b) (5,000 of 60,000).
STUDY_POPULATION_FRACTION = 4
LOO_POPULATION_FRACTION = 12
BOOTSTRAP = {"study": 1000, "leave_one_out": 200}
POWER_REPEATS = 5


def _evaluate_rows(view: TargetView, truth: np.ndarray, bootstrap: int, seed: int,
                   rows=DEFAULT_ROWS) -> dict:
    out = {}
    for key, entry in score_rows(view, rows).items():
        if "score" not in entry:
            out[key] = entry
            continue
        m = score_metrics(truth, entry["score"], bootstrap, seed)
        m.update({k: v for k, v in entry.items() if k != "score"})
        m["roc"] = roc_points(truth, entry["score"])
        out[key] = m
    return out


def power_curve(view: TargetView, truth: np.ndarray, k: int, seed: int,
                repeats: int = POWER_REPEATS, folds: int = 2, rows=DEFAULT_POWER) -> dict:
    """TPR@0.1%FPR and AUC of ``rows`` against the number of references (one round, two,
    four, ..., k models), mean and sample std over random subsets of the bank. Subsets are
    whole rounds, so every sample has a model on each side (for pairs: as many IN as OUT);
    the smallest is one round (a single model would leave some samples without an OUT
    model, which even offline LiRA needs). Empty for a bank of one round."""
    if k // folds < 2:
        return {}
    sizes = [folds * 2 ** i for i in range(9) if folds * 2 ** i < k] + [k]
    out = {}
    for size, subsets in power_subsets(k, sizes, repeats, seed, folds).items():
        cell = {}
        for name, options, aug in rows:
            values = {"tpr_at_0.1pct_fpr": [], "auc": []}
            variants, a_used = set(), []
            for idx in subsets:
                v = view.references_subset(idx).augmentations(aug)
                attack = build(name, **options).fit(v)
                m = score_metrics(truth, attack.score(v), bootstrap=0)
                for key in values:
                    values[key].append(m[key])
                fitted = attack.fitted_values()
                if "variance" in fitted:  # LiRA's variance, resolved on each subset
                    variants.add(fitted["variance"])
                if "a" in attack.tuned:  # RMIA offline's a, tuned on each subset
                    a_used.append(fitted["a"])
            cell[row_key(name, options, aug)] = {
                **{key: metrics.mean_std(v) for key, v in values.items()},
                "subsets": len(subsets), **({"variance": sorted(variants)} if variants else {}),
                **({"a": a_used} if a_used else {})}
        out[str(size)] = cell
    return out


# Bump when a change to the attacks or the evaluation changes calibrated.json: a cached
# evaluation (pipeline.stages.calibrated_stage) is reused only under the same version and settings.
VERSION = 4


def configured_rows(calibrated_config) -> tuple[tuple, tuple]:
    """(rows, power rows) of a ``config.CalibratedConfig``: its lists, or the defaults."""
    rows = tuple(parse_row(r)[:3] for r in calibrated_config.attacks) or DEFAULT_ROWS
    power = tuple(parse_row(r)[:3] for r in calibrated_config.power_attacks) or DEFAULT_POWER
    return rows, power


def settings(rows=DEFAULT_ROWS, power_rows=DEFAULT_POWER, folds: int = 2) -> dict:
    """Everything that determines ``evaluate``'s output besides its arrays and seed."""
    return {"version": VERSION, "rows": [list(r) for r in rows],
            "power": [list(r) for r in power_rows], "folds": folds, "fprs": FPRS,
            "bootstrap": BOOTSTRAP, "power_repeats": POWER_REPEATS,
            "study_population_fraction": STUDY_POPULATION_FRACTION,
            "loo_population_fraction": LOO_POPULATION_FRACTION}


def in_count_probe(view: TargetView) -> np.ndarray:
    """A score that reads only the keep-matrix: minus the number of references that trained on
    each sample. It separates members from non-members exactly when their IN counts differ
    (a leave-one-out target's members are IN for one reference fewer when its round stays)."""
    return -view.ref_keep.sum(0).astype(np.float64)


def evaluate(target_logits: np.ndarray, labels: np.ndarray, n_train: int, bank_logits: np.ndarray,
             keep: np.ndarray, seed: int, folds: int = 2, rows=DEFAULT_ROWS,
             power_rows=DEFAULT_POWER, progress: bool = True) -> dict:
    """Both protocols, every row, the power curve: the content of ``calibrated.json``."""
    n = len(labels)
    k = len(keep)
    split = study_split(n_train, n - n_train, (n - n_train) // STUDY_POPULATION_FRACTION, seed)
    view, truth = study_view(target_logits, labels, bank_logits, keep, split)
    study = _evaluate_rows(view, truth, BOOTSTRAP["study"], seed, rows)
    power = power_curve(view, truth, k, seed, folds=folds, rows=power_rows)
    protocols = {
        "study": {"description": "the study's target: members its training images, non-members "
                                 "test images; references trained on random parts of all images",
                  "references": k, "folds": folds, "population_z": len(split.population),
                  "n_members": len(split.eval_members), "n_nonmembers": len(split.eval_nonmembers),
                  "rows": study, "strongest": strongest(study), "power_vs_references": power},
    }
    out = {"protocols": protocols, "rows": [row_key(*r) for r in rows], "fprs": FPRS,
           "not_computed": {}}
    if k // folds < 2:
        out["not_computed"]["leave_one_out"] = (
            f"the bank is one round of {folds} models: leaving out a target's round leaves no "
            f"references")
        return out
    protocols["leave_one_out"] = leave_one_out(bank_logits, keep, labels, seed, folds, rows, progress)
    return out


def leave_one_out(bank_logits: np.ndarray, keep: np.ndarray, labels: np.ndarray, seed: int,
                  folds: int, rows=DEFAULT_ROWS, progress: bool = True) -> dict:
    """Protocol (b), pooled over every target, and its ``leak_check``: the keep-matrix-only
    probe and RMIA online (whose p(x) averages over all references, IN and OUT, without
    their labels) with the target's round dropped (the protocol) and kept (the leak)."""
    from tqdm.auto import tqdm

    n, k = len(labels), len(keep)
    z_pool = loo_population(n, n // LOO_POPULATION_FRACTION, seed)
    pooled: dict[str, list] = {}
    probes: dict[str, list] = {}
    truths = []
    for t in tqdm(range(k), desc="leave-one-out", unit="target", disable=not progress):
        v, tr, _ = loo_view(t, bank_logits, keep, labels, z_pool, folds)
        truths.append(tr)
        for key, entry in score_rows(v, rows).items():
            pooled.setdefault(key, []).append(entry.get("score", entry.get("not_computed")))
        leaky, _, _ = loo_view(t, bank_logits, keep, labels, z_pool, folds, keep_round=True)
        for name, view in (("round_dropped", v.augmentations(1)), ("round_kept", leaky.augmentations(1))):
            probes.setdefault(f"in_count/{name}", []).append(in_count_probe(view))
            probes.setdefault(f"rmia_online/{name}", []).append(
                build("rmia_online").fit(view).score(view))
    truth = np.concatenate(truths)
    loo = {}
    for key, scores in pooled.items():
        if any(isinstance(x, str) for x in scores):
            loo[key] = {"not_computed": next(x for x in scores if isinstance(x, str))}
            continue
        s = np.concatenate(scores)
        loo[key] = {**score_metrics(truth, s, BOOTSTRAP["leave_one_out"], seed),
                    "roc": roc_points(truth, s)}
    leak = {key: score_metrics(truth, np.concatenate(s), BOOTSTRAP["leave_one_out"], seed)
            for key, s in probes.items()}
    return {"description": "each bank model the target in turn, the models of the other rounds "
                           "the references; pooled",
            "targets": k, "references_per_target": k - folds, "folds": folds,
            "population_z_pool": len(z_pool),
            "n_members": int(truth.sum()), "n_nonmembers": int((~truth).sum()),
            "rows": loo, "strongest": strongest(loo),
            "leak_check": {"description": "scores that can read membership from how many "
                                          "references trained on a sample: minus that count, "
                                          "and RMIA online (unlabelled mean over references); "
                                          "round_dropped is the protocol, round_kept keeps the "
                                          "target's round (its partner) among the references",
                           "rows": leak}}
