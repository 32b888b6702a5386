"""Keep-matrices: which reference model trains on which sample of the population.

Models come in rounds of F (``[bank] folds``): each round splits the population into F random
folds, and its model j leaves out fold F - 1 - j. So every model keeps exactly N (F - 1) / F
samples (the many-models trainer needs equal subsets), and every sample is OUT for exactly one
model of each round. F = 2 is the complementary-pair design (mia.training.bank explains both).

A shadow bank ([bank] population = "attacker") keeps only the attacker's own samples, in pairs
of disjoint draws of one size (``attacker_keep``): no shadow model trains on a target member.
"""
from __future__ import annotations

import numpy as np

from .errors import UserError

_SEED_TAG = 0xB4A1  # separates the bank's random streams from the target's


def model_seeds(seed: int, k: int) -> np.ndarray:
    """K uint32 seeds for the bank's models, derived from the experiment's seed."""
    return np.random.SeedSequence([seed, _SEED_TAG, 1]).generate_state(k).astype(np.uint32)


def fold_keep(k: int, n: int, folds: int, seed: int) -> np.ndarray:
    """(K, N) bool keep-matrix in rounds of ``folds`` models: each round draws a random
    permutation of the N samples, cuts it into ``folds`` equal folds, and its model j leaves
    out fold folds - 1 - j. K a multiple of ``folds``, N too. For folds = 2, rows 2j and 2j+1
    are complementary halves, model 2j keeping the permutation's first half."""
    if folds < 2 or k < folds or k % folds:
        raise UserError(f"a bank needs a positive multiple of folds ({folds}) models, got {k}")
    if n % folds:
        raise UserError(f"a bank's population must split into {folds} equal folds, got {n} samples")
    rng = np.random.default_rng(np.random.SeedSequence([seed, _SEED_TAG, 2]))
    keep = np.ones((k, n), dtype=bool)
    for r in range(k // folds):
        parts = rng.permutation(n).reshape(folds, n // folds)
        for j in range(folds):
            row, left_out = r * folds + j, parts[folds - 1 - j]
            # not mutated: assigning None to a bool array assigns False (an equivalent mutant)
            keep[row, left_out] = False  # pragma: no mutate
    return keep


def shadow_size(n_members: int, n_attacker: int) -> int:
    """The images each shadow model keeps: the target's training-set size, or half the
    attacker's images when they are fewer than twice that (a round's pair needs 2 s)."""
    return min(n_members, n_attacker // 2)


def attacker_keep(k: int, n: int, attacker: range, size: int, seed: int) -> np.ndarray:
    """(K, N) keep-matrix of shadow models on the attacker's data alone (``attacker``: its
    indices in the population): in rounds of 2, each round draws 2 ``size`` of the attacker's
    samples at random without replacement, and its model 2j keeps the first ``size``, model
    2j + 1 the other ``size``. Every other sample (the target's members, the evaluated
    non-members) is kept by no model. Each model's OUT rows among the attacker's data include
    its partner's kept ones: the IN and OUT examples of Shokri et al.'s attack training set."""
    if k < 2 or k % 2:
        raise UserError(f"a shadow bank needs a positive even number of models, got {k}")
    if not 1 <= size <= len(attacker) // 2:
        raise UserError(f"a shadow pair keeps 2 x {size} of the attacker's {len(attacker)} images: "
                        f"too few images")
    rng = np.random.default_rng(np.random.SeedSequence([seed, _SEED_TAG, 3]))
    keep = np.zeros((k, n), dtype=bool)
    first = attacker.start
    for r in range(k // 2):
        drawn = first + rng.permutation(len(attacker))[:2 * size]
        keep[2 * r, drawn[:size]] = True
        keep[2 * r + 1, drawn[size:]] = True
    return keep


def check_attacker_keep(keep: np.ndarray, k: int, n: int, attacker: range, size: int,
                        where: str) -> None:
    """One line naming what is wrong if ``keep`` is not an ``attacker_keep`` of that shape."""
    if keep.dtype != bool or keep.shape != (k, n):
        raise UserError(f"{where}: keep-matrix has shape {keep.shape} ({keep.dtype}), but the bank "
                        f"has {k} models over {n} samples")
    outside = np.ones(n, bool)
    outside[attacker.start:attacker.stop] = False
    if keep[:, outside].any():
        bad = int(np.flatnonzero(keep[:, outside].any(0))[0])
        raise UserError(f"{where}: a shadow model keeps sample {int(np.flatnonzero(outside)[bad])}, "
                        f"which is not the attacker's (a target member or an evaluated non-member)")
    rows = keep.sum(1)
    if (rows != size).any():
        bad = int(np.flatnonzero(rows != size)[0])
        raise UserError(f"{where}: shadow model {bad} keeps {int(rows[bad])} samples, expected {size}")
    if (keep[0::2] & keep[1::2]).any():
        raise UserError(f"{where}: the two shadow models of a round share a sample")


def paired_keep(k: int, n: int, seed: int) -> np.ndarray:
    """The folds = 2 design: complementary halves."""
    return fold_keep(k, n, 2, seed)


def round_of(model: int, folds: int) -> list[int]:
    """The models of ``model``'s round (itself included): together they leave out every
    sample exactly once."""
    first = model // folds * folds
    return list(range(first, first + folds))


def partner(model: int) -> int:
    """The model that keeps the complement of ``model``'s half (folds = 2)."""
    return model ^ 1


def check_keep(keep: np.ndarray, k: int, n: int, where: str, folds: int = 2) -> None:
    """One line naming what is wrong if ``keep`` is not a (K, N) keep-matrix of rounds of
    ``folds`` models (each keeping N (F - 1)/F samples, each sample IN for K (F - 1)/F)."""
    if keep.dtype != bool or keep.shape != (k, n):
        raise UserError(f"{where}: keep-matrix has shape {keep.shape} ({keep.dtype}), but the bank "
                        f"has {k} models over {n} samples")
    rows, cols = keep.sum(1), keep.sum(0)
    per_model, per_sample = n * (folds - 1) // folds, k * (folds - 1) // folds
    if (rows != per_model).any():
        bad = int(np.flatnonzero(rows != per_model)[0])
        raise UserError(f"{where}: model {bad} keeps {int(rows[bad])} samples, expected {per_model}")
    if (cols != per_sample).any():
        bad = int(np.flatnonzero(cols != per_sample)[0])
        raise UserError(f"{where}: sample {bad} is IN for {int(cols[bad])} models, expected "
                        f"{per_sample}")


