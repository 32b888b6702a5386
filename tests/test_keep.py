"""Keep-matrices and the bank's seeds (mia.keep): the committed banks were trained from exactly
these, so any change to how they are derived is caught here, and every malformed matrix is
refused with one line saying what is wrong. Fast: mutation testing runs this file."""
import json

import numpy as np
import pytest

from conftest import ROOT
from mia import keep
from mia.errors import UserError

COMMITTED = {"baseline": (16, 2), "defended": (8, 2), "baseline-refs50k": (6, 6)}


@pytest.mark.parametrize("name", sorted(COMMITTED))
def test_the_committed_banks_keep_matrices_and_seeds_are_derived_from_the_seed(name):
    k, folds = COMMITTED[name]
    bank = ROOT / "results" / name / "bank"
    with np.load(bank / "keep.npz") as f:
        committed_keep, committed_seeds = f["keep"], f["seeds"]
    np.testing.assert_array_equal(keep.fold_keep(k, 60_000, folds, 0), committed_keep)
    np.testing.assert_array_equal(keep.model_seeds(0, k), committed_seeds)
    assert json.loads((bank / "bank.json").read_text())["seeds"] == committed_seeds.tolist()
    assert keep.model_seeds(0, k).dtype == np.uint32


def test_rounds_leave_out_every_sample_once():
    m = keep.fold_keep(9, 12, 3, seed=5)
    assert m.shape == (9, 12) and m.dtype == bool
    assert (m.sum(1) == 8).all()                      # each model keeps 2/3
    for r in range(3):
        rows = m[3 * r:3 * r + 3]
        assert ((~rows).sum(0) == 1).all()            # each sample OUT for one model per round
    assert not np.array_equal(m[:3], m[3:6])          # rounds draw their own permutations
    pairs = keep.paired_keep(4, 10, seed=1)
    assert (pairs[0] ^ pairs[1]).all() and (pairs[2] ^ pairs[3]).all()
    np.testing.assert_array_equal(pairs, keep.fold_keep(4, 10, 2, 1))
    assert not np.array_equal(keep.fold_keep(4, 10, 2, 1), keep.fold_keep(4, 10, 2, 2))
    assert not np.array_equal(keep.model_seeds(0, 4), keep.model_seeds(1, 4))


def test_model_2j_keeps_the_first_half_of_its_permutation():
    """Rows 2j and 2j+1: model 2j leaves out the second half of the round's permutation."""
    m = keep.fold_keep(2, 6, 2, seed=3)
    from numpy.random import SeedSequence, default_rng
    perm = default_rng(SeedSequence([3, 0xB4A1, 2])).permutation(6)
    assert m[0, perm[:3]].all() and not m[0, perm[3:]].any()
    assert m[1, perm[3:]].all() and not m[1, perm[:3]].any()


@pytest.mark.parametrize("k, n, folds, message", [
    (3, 10, 2, "a positive multiple of folds (2) models, got 3"),
    (0, 10, 2, "a positive multiple of folds (2) models, got 0"),
    (4, 10, 1, "a positive multiple of folds (1) models, got 4"),
    (4, 9, 2, "must split into 2 equal folds, got 9 samples"),
])
def test_a_bank_of_partial_rounds_is_refused(k, n, folds, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        keep.fold_keep(k, n, folds, 0)


def test_round_and_partner():
    assert keep.round_of(4, 2) == [4, 5] and keep.round_of(5, 2) == [4, 5]
    assert keep.round_of(7, 3) == [6, 7, 8] and keep.round_of(0, 6) == [0, 1, 2, 3, 4, 5]
    assert [keep.partner(m) for m in range(4)] == [1, 0, 3, 2]


def test_check_keep_names_what_is_wrong():
    good = keep.fold_keep(6, 12, 3, 0)
    keep.check_keep(good, 6, 12, "bank", folds=3)  # no error
    with pytest.raises(UserError, match=r"^bank: keep-matrix has shape \(6, 12\) \(bool\), but the bank has 4 models over 12 samples$"):
        keep.check_keep(good, 4, 12, "bank", folds=3)
    with pytest.raises(UserError, match=r"keep-matrix has shape \(6, 12\) \(int64\)"):
        keep.check_keep(good.astype(np.int64), 6, 12, "bank", folds=3)
    bad = good.copy()
    bad[2, np.flatnonzero(~bad[2])[0]] = True        # model 2 keeps one sample too many
    with pytest.raises(UserError, match="^x: model 2 keeps 9 samples, expected 8$"):
        keep.check_keep(bad, 6, 12, "x", folds=3)
    swapped = good.copy()
    i, j = np.flatnonzero(good[0])[0], np.flatnonzero(~good[0])[0]
    swapped[0, i], swapped[0, j] = False, True       # same count per model, sample i now IN for 3
    first = min(i, j)
    with pytest.raises(UserError, match=f"^x: sample {first} is IN for "):
        keep.check_keep(swapped, 6, 12, "x", folds=3)
    with pytest.raises(UserError, match="expected 4$"):
        keep.check_keep(swapped, 6, 12, "x", folds=3)
