"""DP-SGD's private gradient with Adam's update (``[train] recipe = "dp_adam"``), through Opacus.

Each step (Abadi et al. 2016, "Deep learning with differential privacy"):

    B ~ Poisson(q):  every one of the n samples joins the batch independently with
                     probability q = batch_size / n (so a batch's size varies)
    g_i = grad loss(x_i)                        each sample's own gradient (Opacus's
                                                GradSampleModule)
    g_i <- g_i * min(1, C / ||g_i||)            clipped to norm C = dp_max_grad_norm
    g   = (sum_i g_i + N(0, sigma^2 C^2 I)) / batch_size     (Opacus's DPOptimizer)
    w  <- Adam(w, g)                            any update of g is post-processing

n / batch_size steps make an epoch; ``epochs`` epochs make T steps. The noise multiplier sigma
is the smallest that keeps the whole run (epsilon, delta)-DP, epsilon = dp_epsilon and
delta = dp_delta, by the ``dp_accountant`` (Opacus's RDP accountant, Mironov 2017, or its PRV
accountant, Gopi et al. 2021) for T steps of sampling rate q. After training the manifest
records the epsilon both accountants give for the steps taken (``privacy``).

Batches and noise are functions of (seed, epoch), so a run resumed at any epoch takes the steps
an uninterrupted one would. The noise comes from a seeded generator: reproducible, and not the
cryptographically secure noise a deployment would need (Opacus's ``secure_mode``). The
hyperparameters were chosen on the study's own data, which the accountant does not count
(Papernot and Steinke 2022): the epsilons are those of one training run.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from .base import Recipe

# Streams of the training seed of their own (numpy SeedSequence words): the Poisson batches
# and the Gaussian noise of each epoch.
BATCH_STREAM, NOISE_STREAM = 0xB47C, 0x4015E


def _generator(*words: int) -> torch.Generator:
    a, b = np.random.SeedSequence(list(words)).generate_state(2)
    return torch.Generator().manual_seed(int(a) << 32 | int(b))


def sample_rate(batch_size: int, n: int) -> float:
    """q: each sample's chance of joining a batch; batch_size is the expected batch size."""
    return min(1.0, batch_size / n)


def steps_per_epoch(batch_size: int, n: int) -> int:
    return max(1, round(n / batch_size))


def epsilon(accountant: str, noise: float, q: float, steps: int, delta: float) -> float:
    """The epsilon at ``delta`` of ``steps`` Poisson-subsampled Gaussian steps by Opacus's
    ``accountant`` ("rdp" or "prv")."""
    from opacus.accountants import create_accountant
    acct = create_accountant(mechanism=accountant)
    acct.history = [(noise, q, steps)]
    with warnings.catch_warnings():
        # RDP's optimum at its largest order: the bound is valid and could only be tighter
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        return float(acct.get_epsilon(delta=delta))


class DpAdam(Recipe):
    name = "dp_adam"
    fixed_batch_size = False     # Poisson sampling
    per_sample_gradients = True  # each sample's gradient is clipped
    # epochs_are_prefixes stays False: the noise is calibrated to the whole run's length
    # DP steps of LeNet-5 on 2 CPU threads, per-sample gradients by torch.func: 2,000-2,300
    # images a second alone (/tmp bench of one step at batch 512 and 1024), 1,800-1,900 in
    # `invoke dp-tuning`'s runs beside the test suite; the plan counts 14,000 for the sharded
    # Adam engine.
    relative_cpu_cost = 7.0

    def optimizer(self, params, cfg, device: torch.device, capturable: bool = False
                  ) -> torch.optim.Optimizer:
        """The update of the private gradient (the DP training loop, mia.training.private,
        wraps it in Opacus's DPOptimizer)."""
        return torch.optim.Adam(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)

    def epoch_batches(self, seed: int, epoch: int, n: int, batch_size: int,
                      device: torch.device) -> list[torch.Tensor]:
        """``steps_per_epoch`` Poisson batches: sample i joins each batch with probability q."""
        g = _generator(seed, BATCH_STREAM, epoch)
        q = sample_rate(batch_size, n)
        return [torch.nonzero(torch.rand(n, generator=g) < q).squeeze(1).to(device)
                for _ in range(steps_per_epoch(batch_size, n))]

    def noise_generator(self, seed: int, epoch: int) -> torch.Generator:
        """The generator of epoch ``epoch``'s Gaussian noise."""
        return _generator(seed, NOISE_STREAM, epoch)

    def noise_multiplier(self, cfg, n: int) -> float:
        """sigma: the smallest noise for which the whole run is (dp_epsilon, dp_delta)-DP by the
        ``dp_accountant`` (Opacus's ``get_noise_multiplier``, to within 0.01 in epsilon)."""
        from opacus.accountants.utils import get_noise_multiplier
        return float(get_noise_multiplier(
            target_epsilon=cfg.dp_epsilon, target_delta=cfg.dp_delta,
            sample_rate=sample_rate(cfg.batch_size, n),
            steps=cfg.epochs * steps_per_epoch(cfg.batch_size, n), accountant=cfg.dp_accountant))

    def privacy(self, cfg, n: int) -> dict:
        """What the manifest records: the settings, sigma, and the epsilon of the run by both of
        Opacus's accountants (they must agree within the target's tolerance)."""
        q, steps = sample_rate(cfg.batch_size, n), cfg.epochs * steps_per_epoch(cfg.batch_size, n)
        sigma = self.noise_multiplier(cfg, n)
        return {"mechanism": "DP-SGD (Poisson sampling, per-sample clipping, Gaussian noise; "
                             "Opacus), Adam update",
                "target_epsilon": cfg.dp_epsilon, "delta": cfg.dp_delta,
                "calibrated_with": cfg.dp_accountant, "noise_multiplier": sigma,
                "max_grad_norm": cfg.dp_max_grad_norm, "sample_rate": q, "steps": steps,
                "n": n, "expected_batch_size": cfg.batch_size,
                "epsilon": {a: epsilon(a, sigma, q, steps, cfg.dp_delta) for a in ("rdp", "prv")},
                "noise": "seeded (reproducible), not Opacus's secure_mode"}
