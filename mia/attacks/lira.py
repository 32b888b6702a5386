"""LiRA, the likelihood-ratio attack of Carlini et al. (S&P 2022), online and offline.

For a sample x with label y, each model's signal is the logit-scaled confidence
phi = log(p_y / (1 - p_y)). Over the reference models that trained on x (IN) and those that
did not (OUT), phi is modelled as Gaussian:

    online:   score = log N(phi_t; mu_in, s_in^2) - log N(phi_t; mu_out, s_out^2)
    offline:  score = -log Pr[phi_OUT >= phi_t] = -log(1 - Phi((phi_t - mu_out) / s_out))

(phi_t: the target's signal; the offline test is one-sided, as in the paper: a member's
phi is high). Means are medians over the models, as in the reference code
(tensorflow/privacy research/mi_lira_2021/plot.py). With test-time augmentation the score
is the mean over augmentations of the per-augmentation score, each with its own statistics.

Variance:
- ``per_sample``: s^2 of each sample's own IN (or OUT) signals. Needs several models per
  side; with one model there is no variance at all.
- ``global``: one s^2 per side for all samples, the pooled within-sample variance (the mean
  over samples of each sample's variance around its own mean); with a single model per side
  it falls back to the variance of all that side's signals around their common mean.
- ``fixed``: online, the reference code's ``fix_variance``: one s for both sides, the
  standard deviation of every IN signal of all models, samples and augmentations around
  their common mean (``np.std(dat_in)``, used for s_in and s_out alike). It counts the
  spread between samples as variance, so it is wider than ``global``. (The reference code
  truncates every sample's models to the smallest count; a bank in complementary pairs has
  equal counts, so nothing is truncated here.) Offline, the standard deviation of every OUT
  signal, in this module's one-sided test; the reference code's offline score is the
  two-sided -log N(phi_t; mu_out, s_out), so this is not its offline curve. Any one s for
  all samples ranks one target's samples alike, so offline ``fixed`` and ``global`` differ
  only where several targets' scores are pooled.
- ``auto``: ``per_sample`` when every sample has at least ``PER_SAMPLE_MIN_MODELS`` models
  on each side it uses, ``global`` otherwise. The paper: "when we train fewer than 64
  shadow models, we find it is better to use a global variance" (Sec. VI-A; 64 models are 32
  per side).
"""
from __future__ import annotations

import numpy as np
from scipy.stats import norm

from .base import Attack, TargetView, logit_confidence

PER_SAMPLE_MIN_MODELS = 32
VARIANCES = ("auto", "per_sample", "global", "fixed")
_TINY = 1e-30  # as the reference code: keeps a zero variance from dividing by zero


def side_statistics(phi: np.ndarray, mask: np.ndarray, variance: str) -> tuple[np.ndarray, np.ndarray]:
    """Median and standard deviation over models of ``phi`` (R, A, n) where ``mask`` (R, n).

    Returns (A, n) medians and (A, n) standard deviations (broadcast from (A, 1) for the
    global variance). ``variance`` is "per_sample" or "global"."""
    if variance not in ("per_sample", "global"):
        raise ValueError(f"side statistics take a per_sample or global variance, got {variance!r}")
    counts = mask.sum(0)
    if (counts < 1).any():
        raise ValueError(f"sample {int(np.flatnonzero(counts < 1)[0])} has no model on this side")
    masked = np.where(mask[:, None, :], phi, np.nan)
    mu = np.nanmedian(masked, axis=0)
    if variance == "per_sample":
        if counts.min() < 2:
            raise ValueError(f"per-sample variance needs >= 2 models per side; sample "
                             f"{int(np.argmin(counts))} has {int(counts.min())}")
        return mu, np.nanstd(masked, axis=0)
    if counts.min() >= 2:  # pooled within-sample variance
        within = np.nanmean((masked - np.nanmean(masked, axis=0)) ** 2, axis=0)  # (A, n)
        return mu, np.sqrt(within.mean(axis=1, keepdims=True))
    return mu, np.nanstd(masked, axis=(0, 2))[:, None]


def fixed_deviation(phi: np.ndarray, mask: np.ndarray) -> float:
    """The standard deviation of every signal of ``phi`` (R, A, n) where ``mask`` (R, n), over
    models, augmentations and samples together (the reference code's ``np.std(dat_in)``)."""
    return float(np.std(phi.transpose(1, 0, 2)[:, mask]))


def choose_variance(variance: str, mask: np.ndarray, sides: tuple[bool, ...]) -> str:
    """``auto`` resolved: per_sample if every sample has PER_SAMPLE_MIN_MODELS on each side used."""
    if variance != "auto":
        return variance
    counts = [mask.sum(0) if side else (~mask).sum(0) for side in sides]
    return "per_sample" if min(int(c.min()) for c in counts) >= PER_SAMPLE_MIN_MODELS else "global"


class _Lira(Attack):
    needs_references = True
    options = ("variance",)  # a row key's options, in order: "lira_online/global"
    fitted = {"variance": "resolved_variance"}
    online: bool

    def __init__(self, variance: str = "auto"):
        if variance not in VARIANCES:
            raise ValueError(f"unknown LiRA variance {variance!r} ({', '.join(VARIANCES)})")
        self.variance = variance

    def fit(self, view: TargetView) -> "_Lira":
        """Resolve ``auto`` from how many references each sample has on each side."""
        self.resolved_variance = choose_variance(self.variance, view.ref_keep,
                                                 (True, False) if self.online else (False,))
        return self

    def score(self, view: TargetView) -> np.ndarray:
        variance = self.resolved_variance
        phi_t = logit_confidence(view.target_logits, view.labels)            # (A, n)
        phi = logit_confidence(view.ref_logits, view.labels)                 # (R, A, n)
        side = variance if variance != "fixed" else "global"  # fixed: medians as global
        mu_out, s_out = side_statistics(phi, ~view.ref_keep, side)
        if self.online:
            mu_in, s_in = side_statistics(phi, view.ref_keep, side)
            if variance == "fixed":  # one s for both sides: every IN signal's spread
                s_in = s_out = fixed_deviation(phi, view.ref_keep)
            per_aug = (norm.logpdf(phi_t, mu_in, s_in + _TINY)
                       - norm.logpdf(phi_t, mu_out, s_out + _TINY))
        else:
            if variance == "fixed":  # every OUT signal's spread
                s_out = fixed_deviation(phi, ~view.ref_keep)
            per_aug = -norm.logsf(phi_t, mu_out, s_out + _TINY)
        return per_aug.mean(axis=0)


class LiraOnline(_Lira):
    """Online LiRA: IN and OUT Gaussians per sample; every sample needs >= 1 model on each side."""
    name = "lira_online"
    online = True


class LiraOffline(_Lira):
    """Offline LiRA: only the OUT Gaussian, one-sided test."""
    name = "lira_offline"
    online = False
    out_only = True
