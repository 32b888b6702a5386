"""Train K independent models at once (shadow / reference models for stronger attacks).

Model k starts from ``seeds[k]`` (as ``engine.init_model`` would), trains on the samples
where ``keep[k]`` is True (a boolean keep-matrix as in the LiRA code), and shuffles them
with its own seeded permutation per epoch: exactly what the single-model trainer does with
the same seed and subset, so results never depend on which engine trained a model.

Two strategies:
- ``vmap``: the K parameter sets stacked along a leading model axis, one forward/backward
  through ``torch.func.vmap(functional_call)``, one Adam over the stacked tensors (Adam and
  its L2 term are element-wise, so this equals K independent Adams).
- ``loop``: the single-model trainer, model by model; on CPU each worker thread trains its
  own model (its shards then run one after another, which gives the same weights as the
  single-model trainer: see ``engine.ShardedStep``).
- ``grouped`` (LeNet-5 only): the K models as one network. The convolutions are grouped
  convolutions (``groups=K``: model k's channels see only model k's input channels), the
  fully connected layers batched matrix products (``baddbmm``) over a leading model axis,
  and one Adam over the stacked tensors, as for vmap. On CUDA the whole step can be captured
  in a CUDA graph (``cuda_graph``) and run under bfloat16 autocast (``bf16``); see
  ``GroupedLeNet5``.
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

from ..config import TrainConfig
from ..recipes import get as recipe_of
from . import early_stopping, private
from .engine import SERIAL, cpu_workers, epoch_permutation, init_model, make_step, run_batches


def subsets_from_keep(keep: torch.Tensor) -> torch.Tensor:
    """(K, N) bool keep-matrix -> (K, n) index matrix; every model must keep n samples."""
    counts = keep.sum(1)
    if not torch.all(counts == counts[0]):
        raise ValueError(f"every model must keep the same number of samples, got {counts.tolist()}")
    return torch.stack([torch.nonzero(row).squeeze(1) for row in keep])


VMAP_MIN_MODELS = 16


STRATEGIES = ("auto", "vmap", "loop", "grouped")


def choose_strategy(strategy: str, device: torch.device, k: int) -> str:
    if strategy == "auto":
        return "vmap" if device.type == "cuda" and k >= VMAP_MIN_MODELS else "loop"
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r} ({', '.join(STRATEGIES)})")
    return strategy


def train_many(cfg: TrainConfig, seeds: list[int], keep: torch.Tensor, x: torch.Tensor,
               y: torch.Tensor, strategy: str = "auto", max_steps: int | None = None,
               progress: bool = True, cuda_graph: bool = False, bf16: bool = False,
               num_classes: int = 10) -> list[dict[str, torch.Tensor]]:
    """Train len(seeds) models for cfg.epochs (or ``max_steps`` steps); return their state dicts.

    ``x`` (N,3,32,32) and ``y`` (N,) hold the whole pool on the device; ``keep`` is (K, N).
    ``cuda_graph`` and ``bf16`` apply to the grouped strategy on CUDA only.
    """
    strategy = choose_strategy(strategy, x.device, len(seeds))
    if strategy in ("vmap", "grouped") and (cfg.recipe != "adam" or cfg.early_stopping_holdout):
        raise ValueError(f"the {strategy} strategy stacks Adam's state over whole runs; recipe "
                         f"{cfg.recipe!r} or early stopping trains with the loop strategy")
    subsets = subsets_from_keep(keep.to(x.device))
    if strategy == "loop":
        trained = _loop(cfg, seeds, subsets, [None] * len(seeds), x, y, max_steps, num_classes)
        return [end["model"] for end in tqdm(trained, total=len(seeds),
                                             desc=f"train {len(seeds)} models", unit="model",
                                             disable=not progress)]
    if strategy == "grouped":
        return _train_grouped(cfg, seeds, subsets, x, y, max_steps, progress, cuda_graph, bf16,
                              num_classes)
    return _train_vmap(cfg, seeds, subsets, x, y, max_steps, progress, num_classes)


def _steps_per_epoch(n: int, batch_size: int) -> int:
    return -(-n // batch_size)


def train_many_from(cfg: TrainConfig, seeds: list[int], keep: torch.Tensor, x: torch.Tensor,
                    y: torch.Tensor, starts: list[dict | None], num_classes: int = 10
                    ) -> list[dict]:
    """``train_many``'s loop strategy, model k starting from ``starts[k]``: a snapshot
    ``{"epoch", "model", "optimizer"}`` that an earlier call left for the same seed, subset and
    recipe at an earlier epoch (None: from its seed). Returns each model's snapshot at
    ``cfg.epochs``.

    For a recipe whose epochs are prefixes (``Recipe.epochs_are_prefixes``: Adam, whose epoch
    e's batches and dropout masks depend on (seed, e) only), the model resumed at epoch 20 and
    trained to 50 equals, bitwise, the model trained 50 epochs from its seed; the caller
    checks the recipe (``bank_training.snapshot_dir_for``)."""
    if len(starts) != len(seeds):
        raise ValueError(f"{len(starts)} starting snapshots for {len(seeds)} models")
    return list(_loop(cfg, seeds, subsets_from_keep(keep.to(x.device)), starts, x, y, None,
                      num_classes))


def _loop(cfg, seeds, subsets, starts, x, y, max_steps, num_classes):
    """The loop strategy: ``_train_one`` per model, yielding each model's end snapshot in order.
    CPU: a model per worker; with fewer models than workers, the workers share each model's
    shards instead. The weights are the same either way."""
    pool = cpu_workers() if x.device.type == "cpu" else SERIAL
    across_models = len(seeds) >= pool.n
    return (pool if across_models else SERIAL).imap(
        lambda job: _train_one(cfg, job[0], job[1], x, y, max_steps,
                               SERIAL if across_models else pool, num_classes, start=job[2]),
        list(zip(seeds, subsets, starts)))


def _train_one(cfg, seed, subset, x, y, max_steps, workers, num_classes=10, start=None) -> dict:
    """The single-model trainer on x[subset], indexing the shared pool instead of copying it;
    from ``start`` (a snapshot of this model at an earlier epoch) if given. Returns the
    snapshot at the end: ``{"epoch", "model", "optimizer"}``."""
    if recipe_of(cfg.recipe).per_sample_gradients:  # DP-SGD: its own loop, from the seed
        if start is not None or max_steps is not None:
            raise ValueError(f"recipe {cfg.recipe!r} trains whole runs from the seed")
        return private.train_subset(cfg, seed, subset, x, y, num_classes)
    cuda = x.device.type == "cuda"
    model, optimizer = init_model(cfg, seed, x.device, capturable=cuda,
                                  input_shape=tuple(x.shape[1:]), num_classes=num_classes)
    stopper = None
    if cfg.early_stopping_holdout:  # the target's recipe: hold out a share of its own images
        subset, held = early_stopping.holdout_split(subset, cfg.early_stopping_holdout, seed)
        if cfg.early_stopping_patience:
            if start is not None or max_steps is not None:
                raise ValueError("an early-stopped model trains from its seed, to the end")
            stopper = early_stopping.ModelStopper(cfg, x, y, held)
    n, bs = len(subset), cfg.batch_size
    done, epoch = 0, 0
    if start is not None:
        if max_steps is not None or not 0 < int(start["epoch"]) <= cfg.epochs:
            raise ValueError(f"a snapshot at epoch {start['epoch']} cannot start a run of "
                             f"{cfg.epochs} epochs" + (" cut at max_steps" if max_steps else ""))
        model.load_state_dict(start["model"])
        optimizer.load_state_dict(start["optimizer"])
        epoch = int(start["epoch"])
        done = epoch * _steps_per_epoch(n, bs)
    step = make_step(model, optimizer, x, y, cfg.batch_size, cuda_graph=cuda,
                     cpu_shards=cfg.cpu_shards, workers=workers, mask_seed=seed)
    recipe = recipe_of(cfg.recipe)
    total = max_steps if max_steps is not None else cfg.epochs * _steps_per_epoch(n, bs)
    while done < total:
        epoch += 1
        batches = [subset[b] for b in recipe.epoch_batches(seed, epoch, n, bs, x.device)]
        batches = batches[: total - done]
        step.epoch = epoch  # the dropout masks' stream, as engine.train's
        run_batches(step, batches)
        done += len(batches)
        if stopper is not None and stopper.after_epoch(epoch, model, optimizer):
            break
    if stopper is not None:  # the best epoch's weights
        return {"epoch": stopper.best_epoch, **stopper.best}
    return {"epoch": epoch, "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "optimizer": copy.deepcopy(optimizer.state_dict())}


def _stacked_batches(cfg, seeds, subsets, max_steps, progress, desc):
    """The (K, B) index batches of the stacked strategies: each epoch, model k's own seeded
    permutation of its own subset, cut into batches; ``cfg.epochs`` epochs or ``max_steps``."""
    K, n = subsets.shape
    bs = cfg.batch_size
    total = max_steps if max_steps is not None else cfg.epochs * _steps_per_epoch(n, bs)
    done, epoch = 0, 0
    with tqdm(total=total, desc=desc, unit="step", disable=not progress) as bar:
        while done < total:
            epoch += 1
            order = torch.stack([subsets[k][epoch_permutation(seeds[k], epoch, n, subsets.device)]
                                 for k in range(K)])
            for i in range(0, n, bs):
                if done >= total:
                    return
                yield order[:, i:i + bs]
                done += 1
                bar.update(1)


def _train_vmap(cfg, seeds, subsets, x, y, max_steps, progress, num_classes=10
                ) -> list[dict[str, torch.Tensor]]:
    device = x.device
    models = [init_model(cfg, s, device, input_shape=tuple(x.shape[1:]),
                         num_classes=num_classes)[0] for s in seeds]
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    optimizer = torch.optim.Adam(list(params.values()), lr=cfg.learning_rate,
                                 weight_decay=cfg.weight_decay,
                                 **({"fused": True} if device.type == "cpu" else {}))

    def logits_one(p, b, xb):
        return functional_call(base, (p, b), (xb,))

    batched_logits = vmap(logits_one, randomness="different")
    for idx in _stacked_batches(cfg, seeds, subsets, max_steps, progress, f"train {len(seeds)} models"):
        logits = batched_logits(params, buffers, x[idx])  # (K, B, C)
        per_model = F.cross_entropy(logits.flatten(0, 1), y[idx].flatten(),
                                    reduction="none").view(idx.shape).mean(1)
        optimizer.zero_grad(set_to_none=False)
        per_model.sum().backward()  # model k's gradient is that of its own mean loss
        optimizer.step()
    return [{name: t[k].detach().clone() for name, t in {**params, **buffers}.items()}
            for k in range(len(seeds))]


class GroupedLeNet5(torch.nn.Module):
    """K LeNet-5s (``architectures.lenet5.LeNet5``) as one network, on a batch of shape (K, B, 3, 32, 32).

    Parameters are the K models' stacked along the output channels (convolutions: model k
    owns channels [6k, 6k+6) and [16k, 16k+16)) or along a leading model axis (linear layers:
    (K, out, in)). Model k's logits depend only on model k's parameters and batch, so the
    gradient of the sum of the K mean losses gives each model its own gradient.
    """

    def __init__(self, states: list[dict[str, torch.Tensor]]):
        super().__init__()
        self.k = len(states)

        def cat(name):
            return torch.nn.Parameter(torch.cat([s[name] for s in states]).contiguous())

        def stack(name):
            return torch.nn.Parameter(torch.stack([s[name] for s in states]).contiguous())
        self.c1w, self.c1b = cat("features.0.weight"), cat("features.0.bias")
        self.c2w, self.c2b = cat("features.3.weight"), cat("features.3.bias")
        self.f1w, self.f1b = stack("classifier.1.weight"), stack("classifier.1.bias")
        self.f2w, self.f2b = stack("classifier.3.weight"), stack("classifier.3.bias")
        self.f3w, self.f3b = stack("classifier.5.weight"), stack("classifier.5.bias")

    def forward(self, xb: torch.Tensor) -> torch.Tensor:
        k, b = xb.shape[:2]
        h = xb.transpose(0, 1).reshape(b, k * 3, 32, 32)          # model k: channels 3k..3k+2
        h = F.relu(F.max_pool2d(F.conv2d(h, self.c1w, self.c1b, groups=k), 2))
        h = F.relu(F.max_pool2d(F.conv2d(h, self.c2w, self.c2b, groups=k), 2))
        h = h.reshape(b, k, 400).transpose(0, 1)                  # (K, B, 16*5*5)
        h = F.relu(torch.baddbmm(self.f1b.unsqueeze(1), h, self.f1w.transpose(1, 2)))
        h = F.relu(torch.baddbmm(self.f2b.unsqueeze(1), h, self.f2w.transpose(1, 2)))
        return torch.baddbmm(self.f3b.unsqueeze(1), h, self.f3w.transpose(1, 2))  # (K, B, C)

    def state_dicts(self) -> list[dict[str, torch.Tensor]]:
        """The K models' state dicts, in ``architectures.lenet5.LeNet5``'s names."""
        c1, c2 = self.c1w.shape[0] // self.k, self.c2w.shape[0] // self.k
        return [{"features.0.weight": self.c1w[i * c1:(i + 1) * c1].detach().clone(),
                 "features.0.bias": self.c1b[i * c1:(i + 1) * c1].detach().clone(),
                 "features.3.weight": self.c2w[i * c2:(i + 1) * c2].detach().clone(),
                 "features.3.bias": self.c2b[i * c2:(i + 1) * c2].detach().clone(),
                 "classifier.1.weight": self.f1w[i].detach().clone(),
                 "classifier.1.bias": self.f1b[i].detach().clone(),
                 "classifier.3.weight": self.f2w[i].detach().clone(),
                 "classifier.3.bias": self.f2b[i].detach().clone(),
                 "classifier.5.weight": self.f3w[i].detach().clone(),
                 "classifier.5.bias": self.f3b[i].detach().clone()} for i in range(self.k)]


class _GroupedStep:
    """One Adam step of the grouped network on ``x[idx], y[idx]`` for idx of shape (K, B);
    optionally under bf16 autocast, and replayed from a CUDA graph for full-size batches."""

    def __init__(self, net, optimizer, x, y, batch_size, cuda_graph, bf16):
        self.net, self.optimizer, self.x, self.y, self.bf16 = net, optimizer, x, y, bf16
        self.graph = None
        if cuda_graph:
            self.idx = torch.zeros(net.k, batch_size, dtype=torch.long, device=x.device)
            saved = [p.detach().clone() for p in net.parameters()]
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(3):
                    self.eager(self.idx)
            torch.cuda.current_stream().wait_stream(stream)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.eager(self.idx)
            with torch.no_grad():  # undo the warm-up in place (the graph holds these tensors)
                for p, s in zip(net.parameters(), saved):
                    p.copy_(s)
                for state in optimizer.state.values():
                    for v in state.values():
                        if torch.is_tensor(v):
                            v.zero_()

    def eager(self, idx):
        with torch.autocast(self.x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits = self.net(self.x[idx])
        if self.bf16:
            logits = logits.float()  # the loss in float32
        per_model = F.cross_entropy(logits.flatten(0, 1), self.y[idx].flatten(),
                                    reduction="none").view(idx.shape).mean(1)
        self.optimizer.zero_grad(set_to_none=False)
        per_model.sum().backward()
        self.optimizer.step()

    def __call__(self, idx):
        if self.graph is not None and idx.shape == self.idx.shape:
            self.idx.copy_(idx)
            self.graph.replay()
        else:
            self.eager(idx)


def _train_grouped(cfg, seeds, subsets, x, y, max_steps, progress, cuda_graph, bf16,
                   num_classes=10):
    # GroupedLeNet5 is CIFAR-10's LeNet-5 without dropout: refuse anything it would not train
    if cfg.architecture != "lenet5" or cfg.dropout:
        raise ValueError(f"the grouped strategy is written for lenet5 without dropout, not "
                         f"{cfg.architecture!r} with dropout {cfg.dropout}")
    if tuple(x.shape[1:]) != (3, 32, 32) or num_classes != 10:
        raise ValueError(f"the grouped strategy is written for 3x32x32 images in 10 classes, not "
                         f"{'x'.join(map(str, x.shape[1:]))} in {num_classes}")
    device = x.device
    cuda = device.type == "cuda"
    states = []
    for s in seeds:
        model = init_model(cfg, s, device)[0]
        states.append({k: v.contiguous() for k, v in model.state_dict().items()})
    net = GroupedLeNet5(states).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay,
                                 capturable=cuda and cuda_graph,
                                 **({"fused": True} if device.type == "cpu" else {}))
    step = _GroupedStep(net, optimizer, x, y, cfg.batch_size, cuda and cuda_graph, cuda and bf16)
    for idx in _stacked_batches(cfg, seeds, subsets, max_steps, progress,
                                f"train {len(seeds)} models (grouped)"):
        step(idx)
    return net.state_dicts()
