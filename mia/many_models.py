"""Train K independent models at once (shadow / reference models for stronger attacks).

Model k starts from ``seeds[k]`` (as ``train.init_model`` would), trains on the samples
where ``keep[k]`` is True (a boolean keep-matrix as in the LiRA code), and shuffles them
with its own seeded permutation per epoch: exactly what the single-model trainer does with
the same seed and subset, so results never depend on which engine trained a model.

Two strategies:
- ``vmap``: the K parameter sets stacked along a leading model axis, one forward/backward
  through ``torch.func.vmap(functional_call)``, one Adam over the stacked tensors (Adam and
  its L2 term are element-wise, so this equals K independent Adams).
- ``loop``: the single-model trainer, model by model; on CPU each worker thread trains its
  own model (its shards then run one after another, which gives the same weights as the
  single-model trainer: see ``train.ShardedStep``).
``auto`` picks ``vmap`` on CUDA from K = 16 models up and ``loop`` otherwise: measured
(``invoke bench``, results/bench/), vmap ran at 0.4-0.5x the loop's speed on CPU and for
K = 4 on an H200, and at 2.4x (K = 16) and 4.6x (K = 64) on the H200.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap
from tqdm.auto import tqdm

from .config import TrainConfig
from .train import SERIAL, cpu_workers, epoch_permutation, init_model, make_step, run_epoch


def subsets_from_keep(keep: torch.Tensor) -> torch.Tensor:
    """(K, N) bool keep-matrix -> (K, n) index matrix; every model must keep n samples."""
    counts = keep.sum(1)
    if not torch.all(counts == counts[0]):
        raise ValueError(f"every model must keep the same number of samples, got {counts.tolist()}")
    return torch.stack([torch.nonzero(row).squeeze(1) for row in keep])


VMAP_MIN_MODELS = 16


def choose_strategy(strategy: str, device: torch.device, k: int) -> str:
    if strategy == "auto":
        return "vmap" if device.type == "cuda" and k >= VMAP_MIN_MODELS else "loop"
    if strategy not in ("vmap", "loop"):
        raise ValueError(f"unknown strategy {strategy!r} (auto, vmap or loop)")
    return strategy


def train_many(cfg: TrainConfig, seeds: list[int], keep: torch.Tensor, x: torch.Tensor,
               y: torch.Tensor, strategy: str = "auto", max_steps: int | None = None,
               progress: bool = True) -> list[dict[str, torch.Tensor]]:
    """Train len(seeds) models for cfg.epochs (or ``max_steps`` steps); return their state dicts.

    ``x`` (N,3,32,32) and ``y`` (N,) hold the whole pool on the device; ``keep`` is (K, N).
    """
    strategy = choose_strategy(strategy, x.device, len(seeds))
    subsets = subsets_from_keep(keep.to(x.device))
    if strategy == "loop":
        # CPU: a model per worker; with fewer models than workers, the workers share each
        # model's shards instead. The weights are the same either way.
        pool = cpu_workers() if x.device.type == "cpu" else SERIAL
        across_models = len(seeds) >= pool.n
        trained = (pool if across_models else SERIAL).imap(
            lambda job: _train_one(cfg, *job, x, y, max_steps, SERIAL if across_models else pool),
            list(zip(seeds, subsets)))
        return list(tqdm(trained, total=len(seeds), desc=f"train {len(seeds)} models",
                         unit="model", disable=not progress))
    return _train_vmap(cfg, seeds, subsets, x, y, max_steps, progress)


def _steps_per_epoch(n: int, batch_size: int) -> int:
    return -(-n // batch_size)


def _train_one(cfg, seed, subset, x, y, max_steps, workers) -> dict[str, torch.Tensor]:
    """The single-model trainer on x[subset], indexing the shared pool instead of copying it."""
    cuda = x.device.type == "cuda"
    model, optimizer = init_model(cfg, seed, x.device, capturable=cuda)
    step = make_step(model, optimizer, x, y, cfg.batch_size, cuda_graph=cuda,
                     cpu_shards=cfg.cpu_shards, workers=workers)
    n, bs = len(subset), cfg.batch_size
    total = max_steps if max_steps is not None else cfg.epochs * _steps_per_epoch(n, bs)
    done, epoch = 0, 0
    while done < total:
        epoch += 1
        perm = subset[epoch_permutation(seed, epoch, n, x.device)][: (total - done) * bs]
        run_epoch(step, perm, bs)
        done += _steps_per_epoch(len(perm), bs)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _train_vmap(cfg, seeds, subsets, x, y, max_steps, progress) -> list[dict[str, torch.Tensor]]:
    device = x.device
    models = [init_model(cfg, s, device)[0] for s in seeds]
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    optimizer = torch.optim.Adam(list(params.values()), lr=cfg.learning_rate,
                                 weight_decay=cfg.weight_decay,
                                 **({"fused": True} if device.type == "cpu" else {}))

    def logits_one(p, b, xb):
        return functional_call(base, (p, b), (xb,))

    batched_logits = vmap(logits_one, randomness="different")
    K, n = subsets.shape
    bs = cfg.batch_size
    total = max_steps if max_steps is not None else cfg.epochs * _steps_per_epoch(n, bs)
    bar = tqdm(total=total, desc=f"train {K} models", unit="step", disable=not progress)
    done, epoch = 0, 0
    while done < total:
        epoch += 1
        # (K, n) global indices: model k's own permutation of its own subset.
        order = torch.stack([subsets[k][epoch_permutation(seeds[k], epoch, n, device)]
                             for k in range(K)])
        for i in range(0, n, bs):
            if done >= total:
                break
            idx = order[:, i:i + bs]                      # (K, B)
            logits = batched_logits(params, buffers, x[idx])  # (K, B, C)
            per_model = F.cross_entropy(logits.flatten(0, 1), y[idx].flatten(),
                                        reduction="none").view(idx.shape).mean(1)
            optimizer.zero_grad(set_to_none=False)
            per_model.sum().backward()  # model k's gradient is that of its own mean loss
            optimizer.step()
            done += 1
            bar.update(1)
    bar.close()
    return [{name: t[k].detach().clone() for name, t in {**params, **buffers}.items()}
            for k in range(K)]
