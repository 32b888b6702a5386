"""Shadow-model attacks: a classifier learns membership from reference models' outputs.

- ``shokri`` (Shokri et al., S&P 2017): one attack classifier per class, on the full
  prediction vector softmax(z) of the sample's true class's samples. Its training set is
  every reference ("shadow") model's output on the attacked samples, labelled IN when that
  reference trained on the sample, OUT otherwise: the attacker trained the shadows and knows
  their membership, never the target's.
- ``ml_leaks`` (Salem et al., NDSS 2019, "ML-Leaks", adversary 1): one classifier for all
  classes on the prediction vector sorted in decreasing order (the paper keeps the top 3;
  here all C, sorted, which contains them).

Both take one option, ``train_on``: which shadow outputs the classifier learns from.

- ``attacked`` (the default): the references' outputs on the attacked samples themselves,
  which the bank's references trained on about half of (the online attacker's setting of
  the calibrated protocols);
- ``population``: the references' outputs on the population samples z, the attacker's own
  data, with their keep (``TargetView.population_refs``, ``population_keep``). With a shadow
  bank ([bank] population = "attacker") this is Shokri et al.'s original setting: the shadows
  trained on attacker data disjoint from the target's members, and the classifier learns
  their IN and OUT outputs there before it classifies the target's outputs. The row key is
  "shokri/population".

The classifier is scikit-learn's HistGradientBoostingClassifier with early stopping (the
papers used small neural networks; a boosted tree ensemble is the well-kept, fast learner
for a few dense features, and it is invariant to monotone transforms of each feature, so
probabilities and log-probabilities are the same input to it). Its training rows are subsampled to ``max_rows`` per classifier, balanced IN/OUT,
from a seeded generator. The score is the classifier's probability of IN on the target's
prediction vector (first augmentation: the image as it is).
"""
from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from .base import Attack, TargetView, softmax64


def balanced_rows(member: np.ndarray, max_rows: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of as many IN rows as OUT rows, min(max_rows // 2, #IN, #OUT) of each, drawn
    without replacement (the IN rows first); none where every row is IN or every row OUT."""
    half = max_rows // 2
    ins, outs = np.flatnonzero(member), np.flatnonzero(~member)
    take = min(half, len(ins), len(outs))
    # without replacement; `replace=None` is falsy too, so those two mutants are equivalent
    in_rows = rng.choice(ins, take, replace=False)  # pragma: no mutate
    out_rows = rng.choice(outs, take, replace=False)  # pragma: no mutate
    return np.concatenate([in_rows, out_rows])


def fit_classifier(features: np.ndarray, member: np.ndarray, max_rows: int, seed: int):
    """The attack classifier fitted on balanced rows of (features, member), or None where
    the rows are all IN or all OUT (nothing to learn). Seeded: the rows and the ensemble."""
    rng = np.random.default_rng(seed)
    rows = balanced_rows(member, max_rows, rng)
    if not len(rows):  # all IN or all OUT (balanced rows hold both, or none)
        return None
    # Early stopping on a held-out tenth: where membership leaves no trace in the outputs, the
    # ensemble stops after a few trees instead of fitting 100 to noise. (At most 100 trees and
    # a validation tenth are scikit-learn's defaults; tests/test_attack_arithmetic.py pins
    # every setting, those included.)
    return HistGradientBoostingClassifier(early_stopping=True, n_iter_no_change=5,
                                          random_state=seed).fit(features[rows], member[rows])


TRAIN_ON = ("attacked", "population")


class _Shadow(Attack):
    needs_references = True
    options = ("train_on",)  # a row key's options, in order: "shokri/population"

    def __init__(self, train_on: str = "attacked", max_rows: int = 20_000, seed: int = 0):
        if train_on not in TRAIN_ON:
            raise ValueError(f"train_on must be one of {', '.join(TRAIN_ON)}, got {train_on!r}")
        self.train_on, self.max_rows, self.seed = train_on, max_rows, seed

    @staticmethod
    def features(probs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _training_set(self, view: TargetView):
        """Rows (R * n, C) of shadow outputs, their IN labels, and their samples' classes: on
        the attacked samples, or on the population's (``train_on``)."""
        if self.train_on == "population":
            logits, keep, labels = view.population_refs, view.population_keep, view.population_labels
        else:
            logits, keep, labels = view.ref_logits, view.ref_keep, view.labels
        probs = softmax64(logits[:, 0])   # (R, n, C)
        r, n, c = probs.shape
        return self.features(probs.reshape(r * n, c)), keep.reshape(r * n), np.tile(labels, r)

    def _target_features(self, view: TargetView) -> np.ndarray:
        return self.features(softmax64(view.target_logits[0]))


class Shokri(_Shadow):
    """One attack classifier per class, fitted on the references' outputs (IN vs OUT)."""

    name = "shokri"

    @staticmethod
    def features(probs: np.ndarray) -> np.ndarray:
        return probs

    def fit(self, view: TargetView) -> "Shokri":
        """``classifiers[c]``: class c's classifier (None where its rows are all IN or all OUT)."""
        x, member, cls = self._training_set(view)
        self.classifiers = {int(c): fit_classifier(x[cls == c], member[cls == c], self.max_rows,
                                         self.seed + int(c))
                            for c in np.unique(view.labels)}
        return self

    def score(self, view: TargetView) -> np.ndarray:
        target = self._target_features(view)
        out = np.full(len(view.labels), 0.5)
        for c in np.unique(view.labels):
            clf = self.classifiers.get(int(c))
            if clf is not None:
                rows = view.labels == c
                out[rows] = clf.predict_proba(target[rows])[:, 1]
        return out


class MlLeaks(_Shadow):
    """One attack classifier on the sorted output vector, fitted on the references' outputs."""

    name = "ml_leaks"

    @staticmethod
    def features(probs: np.ndarray) -> np.ndarray:
        return -np.sort(-probs)  # np.sort sorts the last axis: each row, decreasing

    def fit(self, view: TargetView) -> "MlLeaks":
        """``classifier``: None where the rows are all IN or all OUT."""
        x, member, _ = self._training_set(view)
        self.classifier = fit_classifier(x, member, self.max_rows, self.seed)
        return self

    def score(self, view: TargetView) -> np.ndarray:
        if self.classifier is None:
            return np.full(len(view.labels), 0.5)
        return self.classifier.predict_proba(self._target_features(view))[:, 1]
