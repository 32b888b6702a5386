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
and the number of members found at zero false positives; with 95% bootstrap intervals on
AUC and every TPR. Every row of a protocol is measured on the same resamples
(``paired.replicates``): members and non-members resampled separately in protocol (a); whole
images, each with its rows under every target, in protocol (b), whose pooled rows repeat
every image once per target. Which attack is strongest is read from paired differences on
those resamples, with Holm's adjustment (``paired.strongest_of``), never from two marginal
intervals.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..attacks import TargetView, build, parse_row, row_key
from ..keep import round_of
from . import paired, power as power_mod
from .power import DEFAULT_POWER, distinct_subsets, power_curve
from .roc import FPRS, roc_points, score_metrics

# (name, options, augmentations) of every row of the comparison when [calibrated] attacks is
# empty: 1 = the image as it is, 2 = also flipped left-right (test-time augmentation). The
# study's models train without augmentation, so the plain image is the default; the flip is
# measured for LiRA online and RMIA online (both ways).
# LiRA's variances: global (pooled within-sample, per side), fixed (online: the reference
# code's one variance of all IN signals, for both sides) and per sample. Offline, any one
# variance for all samples ranks a target's samples as global does, so offline has no fixed
# row. The gap attack (correct = member) is the baseline every loss-based number is read
# against.
DEFAULT_ROWS = (
    ("loss", {}, 1),
    ("gap", {}, 1),
    ("shokri", {}, 1),
    ("ml_leaks", {}, 1),
    ("lira_offline", {"variance": "global"}, 1),
    ("lira_offline", {"variance": "per_sample"}, 1),
    ("lira_online", {"variance": "global"}, 1),
    ("lira_online", {"variance": "fixed"}, 1),
    ("lira_online", {"variance": "per_sample"}, 1),
    ("lira_online", {"variance": "global"}, 2),
    ("rmia_offline", {}, 1),
    ("rmia_online", {}, 1),
    ("rmia_online", {}, 2),
)
# The rows of a shadow bank ([bank] population = "attacker", mia.evaluation.disjoint) when
# [calibrated] attacks is empty: the attacks that read only references that never trained on
# the attacked samples. Every
# reference of a shadow bank is OUT on every attacked sample, so the online attacks and the
# classifiers trained on the attacked samples ("shokri", "ml_leaks") would learn nothing.
DISJOINT_ROWS = (
    ("loss", {}, 1),
    ("gap", {}, 1),
    ("shokri", {"train_on": "population"}, 1),
    ("ml_leaks", {"train_on": "population"}, 1),
    ("lira_offline", {"variance": "global"}, 1),
    ("rmia_offline", {}, 1),
)
# The rows of leave-one-out with fewer references per target ([calibrated]
# leave_one_out_references): matched comparisons with a smaller bank (same attack, as many
# references). The classifier attacks are left out: they cost minutes per target.
MATCHED_ROWS = (("lira_offline", {"variance": "global"}, 1), ("lira_online", {"variance": "global"}, 1),
                ("rmia_offline", {}, 1), ("rmia_online", {}, 1))


@dataclass(frozen=True)
class StudySplit:
    """Protocol (a): indices into the population (training images 0..n_train-1, then test)."""

    population: np.ndarray        # test images used as RMIA's z (known non-members)
    eval_members: np.ndarray      # training images evaluated
    eval_nonmembers: np.ndarray   # the other test images


# Streams of the experiment's seed of their own: the study split, leave-one-out's z pool, the
# matched leave-one-out's subsets.
STUDY_SPLIT_STREAM, LOO_POPULATION_STREAM, MATCHED_STREAM = 0xCA1B, 0x100, 0x3A7C


def study_split(n_train: int, n_test: int, population: int, seed: int) -> StudySplit:
    """Protocol (a)'s split of images 0..n_train-1 (training) and n_train.. (test): a seeded
    permutation of the test images, its first ``population`` RMIA's z, the rest the evaluated
    non-members, and as many training images drawn without replacement as the members."""
    if not 0 < population < n_test:
        raise ValueError(f"population must be between 1 and {n_test - 1} test images, got {population}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, STUDY_SPLIT_STREAM]))
    test = n_train + rng.permutation(n_test)
    nonmembers = np.sort(test[population:])
    drawn = rng.choice(n_train, len(nonmembers), replace=False)  # pragma: no mutate (replace=None is False too)
    members = np.sort(drawn)
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
    rng = np.random.default_rng(np.random.SeedSequence([seed, LOO_POPULATION_STREAM]))
    return np.sort(rng.permutation(n)[:population])


def loo_view(t: int, bank_logits: np.ndarray, keep: np.ndarray, labels: np.ndarray,
             z_pool: np.ndarray, folds: int) -> tuple[TargetView, np.ndarray, np.ndarray]:
    """Protocol (b) with bank model ``t`` as the target: (view, truth, references used).

    References: every model outside ``t``'s round of ``folds`` (``folds`` = 1: every model but
    ``t``, the leaky variant that ``leak_check`` measures). Attacked: every sample outside the
    z pool; z: the pool's samples that ``t`` did not train on."""
    dropped = set(round_of(t, folds))
    refs = np.array([r for r in range(len(keep)) if r not in dropped])
    attacked = np.setdiff1d(np.arange(keep.shape[1]), z_pool)
    z = z_pool[~keep[t, z_pool]]
    view = _view(bank_logits[t], labels, bank_logits[refs], keep[refs], attacked, z)
    return view, keep[t, attacked], refs


def score_rows(view: TargetView, rows) -> dict[str, dict]:
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
        if attack.out_only:  # how many OUT references each sample's statistics rest on
            entry["out_references"] = out_references(v)
        out[row_key(name, options, augmentations)] = {**entry, **attack.fitted_values()}
    return out


def out_references(view: TargetView) -> dict:
    """Mean and minimum over the attacked samples of how many references left each out."""
    counts = (~view.ref_keep).sum(0)
    return {"mean": float(counts.mean()), "min": int(counts.min())}


# ---------------------------------------------------------------- the whole evaluation
# RMIA's z: a quarter of the test images in protocol (a) (2,500 of CIFAR-10's 10,000, leaving
# 7,500 non-members to evaluate), a twelfth of the population in protocol (b) (5,000 of 60,000).
STUDY_POPULATION_FRACTION = 4
LOO_POPULATION_FRACTION = 12
# Resamples of each protocol's bootstrap (intervals and paired differences alike), of the
# matched leave-one-out and of the leak check. A paired p-value from B resamples is at least
# 2 / (B + 1), and Holm multiplies the smallest of m by m: 12 comparisons at alpha = 0.05
# need B > 479, so the tables resample 2,000 and 1,000 times; the matched leave-one-out
# (4 rows, 3 comparisons, 4.4 million rows) 200; the power curve: power.BOOTSTRAP.
BOOTSTRAP = {"study": 2000, "leave_one_out": 1000, "matched": 200, "leak_check": 200}
# Distinct subsets of the other rounds per target of the matched leave-one-out.
MATCHED_DRAWS = 5
# The metrics "strongest" is judged on: the operating points and AUC.
STRONGEST_METRICS = ("tpr_at_0.1pct_fpr", "tpr_at_1pct_fpr", "auc")
# Every row is also compared with this one (which attacks find more than the loss threshold?),
# a second family of paired comparisons with its own Holm adjustment.
BASELINE_ROW = "loss"
# Rows whose score takes two values (correct or not): compared at AUC only.
SEGMENT_ONLY = ("gap",)
INTERVAL_METRICS = ("auc", *FPRS)


def table(truth: np.ndarray, scored: dict[str, dict], bootstrap: int, seed: int,
          groups: np.ndarray | None = None, curves: bool = True) -> tuple[dict, dict]:
    """(rows, strongest) of scored rows (``score_rows``' entries) on one evaluation set: each
    row's metrics on all samples, 95% intervals from one shared bootstrap (``groups``: an image
    id per row, resampled whole), what its attack resolved, and its thinned ROC (``curves``);
    for a row with test-time augmentation ("/flip") and its plain row, ``vs_plain``: the
    paired difference flipped minus plain; and, with a bootstrap, per metric of
    STRONGEST_METRICS, the strongest row by paired differences with Holm."""
    scores = {key: e["score"] for key, e in scored.items() if "score" in e}
    reps = paired.replicates(truth, scores, bootstrap, seed, groups)  # none without a bootstrap
    rows = {}
    for key, entry in scored.items():
        if "score" not in entry:
            rows[key] = entry
            continue
        m = score_metrics(truth, entry["score"])  # the point estimates
        if bootstrap:
            m["ci95"] = {k: paired.interval(reps[key][k]) for k in INTERVAL_METRICS}
            m["bootstrap"] = bootstrap
        m.update({k: v for k, v in entry.items() if k != "score"})
        if curves:
            m["roc"] = roc_points(truth, entry["score"])
        rows[key] = m
    if bootstrap:  # test-time augmentation, paired: the flipped row minus the plain one
        for key in scores:
            plain = key.removesuffix("/flip")
            if key != plain and plain in scores:
                rows[key]["vs_plain"] = {
                    metric: paired.differences({key: rows[key][metric], plain: rows[plain][metric]},
                                               {key: reps[key][metric], plain: reps[plain][metric]},
                                               key)[plain]
                    for metric in STRONGEST_METRICS if rows[key][metric] is not None}
    best = {}
    if bootstrap:
        for metric in STRONGEST_METRICS:
            # a score of two values has one ROC segment: its TPR at a low FPR is that line's,
            # not members it singles out, so it takes no part in the low-FPR comparisons
            ranked = [key for key in scores if metric == "auc" or key not in SEGMENT_ONLY]
            points = {key: rows[key][metric] for key in ranked}
            values = {key: reps[key][metric] for key in ranked}
            best[metric] = paired.strongest_of(points, values, metric, bootstrap, groups is not None)
            if BASELINE_ROW in scores and points[BASELINE_ROW] is not None:
                best[metric]["versus_baseline"] = paired.versus(points, values, BASELINE_ROW,
                                                               bootstrap, groups is not None)
    return rows, best


# What each protocol's "description" says.
STUDY_DESCRIPTION = ("the study's target: members its training images, non-members test images; "
                     "references trained on random parts of all images")
LOO_DESCRIPTION = ("each bank model the target in turn, the models of the other rounds the "
                   "references; pooled")
LEAK_CHECK_DESCRIPTION = ("scores that can read membership from how many references trained on "
                          "a sample: minus that count, and RMIA online (unlabelled mean over "
                          "references); round_dropped is the protocol, round_kept keeps the "
                          "target's round (its partner) among the references")
RESAMPLED = {"study": "members and non-members separately",
             "leave_one_out": "whole images, each with its rows under every target",
             "matched": "whole images, each with its rows under every target and subset"}

# Bump when a change to the attacks or the evaluation changes calibrated.json: a cached
# evaluation (pipeline.stages.calibrated_stage) is reused only under the same version and settings.
VERSION = 8


def configured_rows(calibrated_config, population: str = "all") -> tuple[tuple, tuple]:
    """(rows, power rows) of a ``config.CalibratedConfig``: its lists, or the defaults (a
    shadow bank's, ``population`` = "attacker": ``DISJOINT_ROWS``)."""
    default = DISJOINT_ROWS if population == "attacker" else DEFAULT_ROWS
    rows = tuple(parse_row(r)[:3] for r in calibrated_config.attacks) or default
    power = tuple(parse_row(r)[:3] for r in calibrated_config.power_attacks) or DEFAULT_POWER
    return rows, power


def settings(rows=DEFAULT_ROWS, power_rows=DEFAULT_POWER, folds: int = 2,
             loo_references: tuple[int, ...] = ()) -> dict:
    """Everything that determines ``evaluate``'s output besides its arrays and seed."""
    return {"version": VERSION, "rows": [list(r) for r in rows],
            "power": [list(r) for r in power_rows], "folds": folds, "fprs": FPRS,
            "bootstrap": BOOTSTRAP, "power_bootstrap": power_mod.BOOTSTRAP,
            "power_repeats": power_mod.POWER_REPEATS,
            "study_population_fraction": STUDY_POPULATION_FRACTION,
            "loo_population_fraction": LOO_POPULATION_FRACTION,
            "strongest_metrics": STRONGEST_METRICS, "alpha": paired.ALPHA,
            "baseline_row": BASELINE_ROW, "segment_only": SEGMENT_ONLY,
            "matched": {"references": list(loo_references), "rows": [list(r) for r in MATCHED_ROWS],
                        "draws": MATCHED_DRAWS}}


def in_count_probe(view: TargetView) -> np.ndarray:
    """A score that reads only the keep-matrix: minus the number of references that trained on
    each sample. It separates members from non-members exactly when their IN counts differ
    (a leave-one-out target's members are IN for one reference fewer when its round stays)."""
    return -view.ref_keep.sum(0, dtype=np.float64)


def evaluate(target_logits: np.ndarray, labels: np.ndarray, n_train: int, bank_logits: np.ndarray,
             keep: np.ndarray, seed: int, folds: int, rows=DEFAULT_ROWS,
             power_rows=DEFAULT_POWER, *, progress: bool,
             model_seconds: np.ndarray | None = None, loo_references: tuple[int, ...] = ()) -> dict:
    """Both protocols, every row, the power curve: the content of ``calibrated.json``.
    ``model_seconds``: each bank model's training seconds (the power curve's cost);
    ``loo_references``: smaller numbers of references per target at which leave-one-out is
    also measured (``matched_leave_one_out``)."""
    n = len(labels)
    k = len(keep)
    split = study_split(n_train, n - n_train, (n - n_train) // STUDY_POPULATION_FRACTION, seed)
    view, truth = study_view(target_logits, labels, bank_logits, keep, split)
    study, best = table(truth, score_rows(view, rows), BOOTSTRAP["study"], seed)
    power, power_tests = power_curve(view, truth, k, seed, folds, rows=power_rows,
                                     model_seconds=model_seconds)
    protocols = {
        "study": {"description": STUDY_DESCRIPTION,
                  "references": k, "folds": folds, "population_z": len(split.population),
                  "n_members": len(split.eval_members), "n_nonmembers": len(split.eval_nonmembers),
                  "resampled": RESAMPLED["study"],
                  "rows": study, "strongest": best, "power_vs_references": power,
                  "power_comparisons": power_tests},
    }
    out = {"protocols": protocols, "rows": [row_key(*r) for r in rows], "fprs": FPRS,
           "not_computed": {}}
    if k < 2 * folds:
        out["not_computed"]["leave_one_out"] = (
            f"the bank is one round of {folds} models: leaving out a target's round leaves no "
            f"references")
        return out
    protocols["leave_one_out"] = leave_one_out(bank_logits, keep, labels, seed, folds, rows,
                                               progress=progress,  # pragma: no mutate (display)
                                               loo_references=loo_references)
    return out


def leave_one_out(bank_logits: np.ndarray, keep: np.ndarray, labels: np.ndarray, seed: int,
                  folds: int, rows=DEFAULT_ROWS, *, progress: bool,
                  loo_references: tuple[int, ...] = ()) -> dict:
    """Protocol (b), pooled over every target, and its ``leak_check``: the keep-matrix-only
    probe and RMIA online (whose p(x) averages over all references, IN and OUT, without
    their labels) with the target's round dropped (the protocol) and kept (the leak).
    Intervals and paired differences resample whole images (each with its row under every
    target). ``loo_references``: also ``matched_leave_one_out`` at each of these counts."""
    from tqdm.auto import tqdm

    n, k = len(labels), len(keep)
    z_pool = loo_population(n, n // LOO_POPULATION_FRACTION, seed)
    pooled: dict[str, list] = {}
    probes: dict[str, list] = {}
    truths, images = [], []
    attacked = np.setdiff1d(np.arange(n), z_pool)
    bar = tqdm(range(k), desc="leave-one-out", unit="target", disable=not progress)  # pragma: no mutate (display)
    for t in bar:
        v, tr, _ = loo_view(t, bank_logits, keep, labels, z_pool, folds)
        truths.append(tr)
        images.append(attacked)
        for key, entry in score_rows(v, rows).items():
            pooled.setdefault(key, []).append(entry)
        leaky, _, _ = loo_view(t, bank_logits, keep, labels, z_pool, 1)  # only t dropped
        for name, view in (("round_dropped", v), ("round_kept", leaky)):
            probes.setdefault(f"in_count/{name}", []).append({"score": in_count_probe(view)})
            rmia = score_rows(view, (("rmia_online", {}, 1),))["rmia_online"]  # the plain image
            probes.setdefault(f"rmia_online/{name}", []).append({"score": rmia["score"]})
    truth, groups = np.concatenate(truths), np.concatenate(images)
    loo, best = table(truth, _pool(pooled), BOOTSTRAP["leave_one_out"], seed, groups)
    leak, _ = table(truth, _pool(probes), BOOTSTRAP["leak_check"], seed, groups,
                    curves=False,  # pragma: no mutate (curves=None is falsy too: equivalent)
                    )
    out = {"description": LOO_DESCRIPTION,
           "targets": k, "references_per_target": k - folds, "folds": folds,
           "population_z_pool": len(z_pool),
           "n_members": int(truth.sum()), "n_nonmembers": int((~truth).sum()),
           "n_images": len(attacked), "resampled": RESAMPLED["leave_one_out"],
           "rows": loo, "strongest": best,
           "leak_check": {"description": LEAK_CHECK_DESCRIPTION, "rows": leak}}
    if loo_references:
        out["matched"] = {str(r): matched_leave_one_out(bank_logits, keep, labels, seed, folds, r,
                                                        progress=progress,  # pragma: no mutate (display)
                                                        )
                          for r in loo_references}
    return out


def _pool(per_target: dict[str, list[dict]]) -> dict[str, dict]:
    """Entries of ``score_rows`` per target pooled into one per row: scores concatenated,
    OUT counts over all targets, RMIA's a per target; a row any target could not compute is
    not computed."""
    out = {}
    for key, entries in per_target.items():
        missing = next((e["not_computed"] for e in entries if "score" not in e), None)
        if missing is not None:
            out[key] = {"not_computed": missing}
            continue
        entry = {"score": np.concatenate([e["score"] for e in entries])}
        if "out_references" in entries[0]:
            entry["out_references"] = {
                "mean": float(np.mean([e["out_references"]["mean"] for e in entries])),
                "min": min(e["out_references"]["min"] for e in entries)}
        for label in ("variance", "a"):
            values = [e[label] for e in entries if label in e]
            if values:
                entry[label] = values if label == "a" else sorted(set(values))
        out[key] = entry
    return out


def matched_leave_one_out(bank_logits: np.ndarray, keep: np.ndarray, labels: np.ndarray,
                          seed: int, folds: int, references: int, *, progress: bool) -> dict:
    """Leave-one-out with ``references`` references per target (whole rounds), for a matched
    comparison with a bank that has only that many: for each target, distinct subsets of the
    other rounds (every one where there are at most MATCHED_DRAWS, else MATCHED_DRAWS at
    random), each scored by MATCHED_ROWS; all (target, subset) rows pooled, intervals from
    whole images."""
    from tqdm.auto import tqdm

    n, k = len(labels), len(keep)
    if references % folds or not folds <= references <= k - 2 * folds:
        raise ValueError(f"leave-one-out references must be a multiple of {folds} between "
                         f"{folds} and {k - 2 * folds} for a bank of {k}, got {references}")
    z_pool = loo_population(n, n // LOO_POPULATION_FRACTION, seed)
    attacked = np.setdiff1d(np.arange(n), z_pool)
    rng = np.random.default_rng(np.random.SeedSequence([seed, MATCHED_STREAM, references]))
    pooled: dict[str, list] = {}
    truths, images, draws = [], [], []
    bar = tqdm(range(k), desc=f"leave-one-out, {references} references", unit="target", disable=not progress)  # pragma: no mutate (display)
    for t in bar:
        v, tr, refs = loo_view(t, bank_logits, keep, labels, z_pool, folds)
        rounds = len(refs) // folds  # refs: whole rounds, in order
        subsets = distinct_subsets(rounds, references // folds, MATCHED_DRAWS, rng)
        draws.append(len(subsets))
        for c in subsets:
            idx = np.concatenate([np.arange(folds * j, folds * (j + 1)) for j in c])
            truths.append(tr)
            images.append(attacked)
            for key, entry in score_rows(v.references_subset(idx), MATCHED_ROWS).items():
                pooled.setdefault(key, []).append(entry)
    truth, groups = np.concatenate(truths), np.concatenate(images)
    rows, best = table(truth, _pool(pooled), BOOTSTRAP["matched"], seed, groups,
                       curves=False,  # pragma: no mutate (curves=None is falsy too: equivalent)
                       )
    return {"description": f"leave-one-out with {references} references per target: distinct "
                           f"subsets of the other rounds per target, pooled",
            "references_per_target": references, "targets": k,
            "subsets_per_target": sorted(set(draws)),
            "n_members": int(truth.sum()), "n_nonmembers": int((~truth).sum()),
            "n_images": len(attacked), "resampled": RESAMPLED["matched"],
            "rows": rows, "strongest": best}
