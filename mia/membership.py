"""Which of an experiment's training images play which role (``Membership``): the members the
target trains on and the evaluation reads; the one-run audit's canaries; and the images held out
for early stopping.

*Canaries* (Steinke, Nasr and Jagielski, "Privacy auditing with one (1) training run", NeurIPS
2023): ``[data] canaries = m`` draws m of the experiment's training images and flips an
independent fair coin for each: heads, the target trains on it; tails, it does not. The draw and
the coins come from ``[data] canary_seed`` alone, not from the experiment's seed, so every
experiment with the same data and canary settings (every defence setting, every training seed)
has the same canaries and evaluates membership on the same members and non-members: its
comparisons are paired.

*Held out* (``[train] early_stopping_holdout``, a share of the training images other than the
canaries, drawn from the experiment's seed): never trained on; the validation images whose
accuracy early stopping follows (``mia.training.early_stopping``).

Neither canaries nor held-out images are in the membership-inference evaluation: its members
are the images the target trained on that are not canaries, its non-members the test images, as
without them. The reference bank does not depend on them (its models train on random halves of
every training and test image, whatever the target kept: ``bank_config``; each reference holds
out its own share for early stopping), so an experiment shares the bank of its recipe.

    membership_of(config, n_train) -> Membership
    trained(dataset, membership) -> the images the target trains on
    evaluated(dataset, membership) -> the members and non-members of the evaluation
    evaluated_columns(membership, n_population) -> the same, as a mask over the bank's population
    held_out(dataset, membership) -> early stopping's images
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .config import ExperimentConfig
from .datasets import Dataset
from .errors import UserError

# Streams of their seeds of their own (numpy SeedSequence words), so that no other draw of the
# study shares their numbers: the canaries' (of the canary seed), the held-out images' (of the
# experiment's seed).
CANARY_STREAM, HOLDOUT_STREAM = 0xCA7A, 0x401D


@dataclass(frozen=True)
class Canaries:
    index: np.ndarray     # (m,) int64, sorted: positions in the experiment's training images
    included: np.ndarray  # (m,) bool: whether the target trains on canary i (a fair coin each)

    @property
    def m(self) -> int:
        return len(self.index)


def draw_canaries(config: ExperimentConfig, n_train: int) -> Canaries | None:
    """The experiment's canaries among its ``n_train`` training images; None without any."""
    m = config.data.canaries
    if not m:
        return None
    if m > n_train // 2:
        raise UserError(f"[data] canaries = {m}: more than half of the experiment's {n_train} "
                        f"training images; the members of the evaluation are the rest")
    rng = np.random.default_rng([config.data.canary_seed, CANARY_STREAM])
    index = np.sort(rng.choice(n_train, size=m, replace=False)).astype(np.int64)
    included = rng.integers(0, 2, size=m).astype(bool)
    return Canaries(index, included)


@dataclass(frozen=True)
class Membership:
    """The roles of an experiment's ``n_train`` training images."""
    n_train: int
    canaries: Canaries | None = None
    holdout: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # sorted positions

    def trained_mask(self) -> np.ndarray:
        """(n_train,) bool: what the target trains on (every image but the canaries left out
        and the held-out ones)."""
        mask = np.ones(self.n_train, bool)
        if self.canaries is not None:
            mask[self.canaries.index[~self.canaries.included]] = False
        mask[self.holdout] = False
        return mask

    def evaluated_mask(self) -> np.ndarray:
        """(n_train,) bool: the members of the evaluation (trained on, no canary)."""
        mask = np.ones(self.n_train, bool)
        if self.canaries is not None:
            mask[self.canaries.index] = False
        mask[self.holdout] = False
        return mask

    @property
    def n_trained(self) -> int:
        return int(self.trained_mask().sum())

    @property
    def plain(self) -> bool:
        """Every training image is a member: no canary, nothing held out."""
        return self.canaries is None and not len(self.holdout)


def holdout_size(fraction: float, n: int) -> int:
    """How many of n images a share ``fraction`` holds out (at least 1 when it is positive)."""
    return max(1, int(round(fraction * n))) if fraction else 0


def membership_of(config: ExperimentConfig, n_train: int) -> Membership:
    """The experiment's canaries, then its held-out images among the others."""
    canaries = draw_canaries(config, n_train)
    fraction = config.train.early_stopping_holdout
    if not fraction:
        return Membership(n_train, canaries)
    candidates = np.setdiff1d(np.arange(n_train), canaries.index if canaries else [])
    rng = np.random.default_rng([config.seed, HOLDOUT_STREAM])
    holdout = rng.choice(candidates, size=holdout_size(fraction, len(candidates)), replace=False)
    return Membership(n_train, canaries, np.sort(holdout).astype(np.int64))


def _keep_training(dataset: Dataset, mask: np.ndarray) -> Dataset:
    return dataclasses.replace(dataset, x_train=dataset.x_train[mask], y_train=dataset.y_train[mask])


def trained(dataset: Dataset, membership: Membership) -> Dataset:
    """``dataset`` with only the training images the target trains on."""
    return dataset if membership.plain else _keep_training(dataset, membership.trained_mask())


def evaluated(dataset: Dataset, membership: Membership) -> Dataset:
    """``dataset`` with only the members of the evaluation as its training images."""
    return dataset if membership.plain else _keep_training(dataset, membership.evaluated_mask())


def held_out(dataset: Dataset, membership: Membership) -> tuple[np.ndarray, np.ndarray]:
    """Early stopping's images and labels (empty without any)."""
    return dataset.x_train[membership.holdout], dataset.y_train[membership.holdout]


def evaluated_columns(membership: Membership, n_population: int) -> np.ndarray:
    """(n_population,) bool over the bank's population (training images, then the rest): the
    samples of the evaluation, every one but the canaries and the held-out images."""
    mask = np.ones(n_population, bool)
    mask[:membership.n_train] = membership.evaluated_mask()
    return mask


def bank_config(config: ExperimentConfig) -> ExperimentConfig:
    """``config`` as its bank sees it: without canaries, which change what the target trains on
    and not what the references train on, so the bank's key is that of the same recipe
    without them."""
    if not config.data.canaries:
        return config
    return dataclasses.replace(config, data=dataclasses.replace(config.data, canaries=0,
                                                                canary_seed=0))
