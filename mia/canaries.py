"""Canaries: the training images of a one-run privacy audit (Steinke, Nasr and Jagielski,
"Privacy auditing with one (1) training run", NeurIPS 2023).

``[data] canaries = m`` draws m of the experiment's training images (its members) and flips an
independent fair coin for each: heads, the target trains on it; tails, it does not. The draw
and the coins come from ``[data] canary_seed`` alone, not from the experiment's seed, so every
experiment with the same data and canary settings (every defence setting, every training
seed) has the same canaries and evaluates membership on the same members and non-members: its
comparisons are paired.

The canaries are left out of the membership-inference evaluation: its members are the
training images that are not canaries (all of them trained on), its non-members the test
images, as without canaries. The reference bank does not depend on them (its models train on
random halves of every training and test image, canaries included, whatever the target kept:
``bank_config``), so a frontier experiment shares the bank of its recipe.

    draw(config, n_train) -> Canaries | None
    trained(dataset, canaries) -> the images the target trains on
    evaluated(dataset, canaries) -> the members and non-members of the evaluation
    evaluated_columns(canaries, n_population) -> the same, as a mask over the bank's population
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .config import ExperimentConfig
from .datasets import Dataset
from .errors import UserError

# A stream of the canary seed of its own (numpy SeedSequence words), so that no other draw of
# the study shares its numbers.
CANARY_STREAM = 0xCA7A


@dataclass(frozen=True)
class Canaries:
    index: np.ndarray     # (m,) int64, sorted: positions in the experiment's training images
    included: np.ndarray  # (m,) bool: whether the target trains on canary i (a fair coin each)

    @property
    def m(self) -> int:
        return len(self.index)

    def trained_mask(self, n_train: int) -> np.ndarray:
        """(n_train,) bool: the training images the target trains on (every non-canary and the
        included canaries)."""
        mask = np.ones(n_train, bool)
        mask[self.index[~self.included]] = False
        return mask

    def evaluated_mask(self, n_train: int) -> np.ndarray:
        """(n_train,) bool: the training images that are members of the evaluation (no canary)."""
        mask = np.ones(n_train, bool)
        mask[self.index] = False
        return mask


def draw(config: ExperimentConfig, n_train: int) -> Canaries | None:
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


def trained_count(canaries: Canaries | None, n_train: int) -> int:
    """How many of ``n_train`` training images the target trains on."""
    return n_train if canaries is None else n_train - int((~canaries.included).sum())


def _keep_training(dataset: Dataset, mask: np.ndarray) -> Dataset:
    return dataclasses.replace(dataset, x_train=dataset.x_train[mask], y_train=dataset.y_train[mask])


def trained(dataset: Dataset, canaries: Canaries | None) -> Dataset:
    """``dataset`` with only the training images the target trains on."""
    if canaries is None:
        return dataset
    return _keep_training(dataset, canaries.trained_mask(len(dataset.y_train)))


def evaluated(dataset: Dataset, canaries: Canaries | None) -> Dataset:
    """``dataset`` with only the members of the evaluation as its training images."""
    if canaries is None:
        return dataset
    return _keep_training(dataset, canaries.evaluated_mask(len(dataset.y_train)))


def evaluated_columns(canaries: Canaries | None, n_train: int, n_population: int) -> np.ndarray:
    """(n_population,) bool over the bank's population (training images, then the rest): the
    samples of the evaluation, every one but the canaries."""
    mask = np.ones(n_population, bool)
    if canaries is not None:
        mask[:n_train] = canaries.evaluated_mask(n_train)
    return mask


def canary_columns(canaries: Canaries) -> np.ndarray:
    """The canaries' positions in the bank's population (the training images come first)."""
    return canaries.index


def bank_config(config: ExperimentConfig) -> ExperimentConfig:
    """``config`` as its bank sees it: without canaries, which change what the target trains on
    and not what the references train on, so the bank's key is that of the same recipe
    without them."""
    if not config.data.canaries:
        return config
    return dataclasses.replace(config, data=dataclasses.replace(config.data, canaries=0,
                                                                canary_seed=0))
