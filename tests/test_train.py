import numpy as np
import pytest
import torch

import torch.nn.functional as F

from mia import config
from mia import datasets as data_mod
from mia.training import engine as train
from mia.config import TrainConfig
from mia.errors import UserError
from mia.architectures.lenet5 import LeNet5


def tiny_tensors(n=256, m=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n + m, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (n + m,), generator=g)
    return x[:n], y[:n], x[n:], y[n:]


class Interrupt(Exception):
    pass


def test_lenet5_shapes_and_size():
    model = LeNet5()
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert sum(p.numel() for p in model.parameters()) == 62006


def test_lenet5_computes_relu_and_max_pooling():
    """The forward pass equals LeNet-5 written out with the same weights: ReLU (not tanh),
    max pooling (not average)."""
    torch.manual_seed(0)
    model = LeNet5().double()
    x = torch.randn(4, 3, 32, 32, dtype=torch.float64)
    c1, c2 = model.features[0], model.features[3]
    f1, f2, f3 = model.classifier[1], model.classifier[3], model.classifier[5]
    h = F.max_pool2d(F.relu(F.conv2d(x, c1.weight, c1.bias)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, c2.weight, c2.bias)), 2)
    h = F.relu(F.linear(h.flatten(1), f1.weight, f1.bias))
    h = F.relu(F.linear(h, f2.weight, f2.bias))
    assert torch.allclose(model(x), F.linear(h, f3.weight, f3.bias), rtol=0, atol=1e-12)


def _relu_then_pool(model, x):
    """LeNet-5 in the textbook order conv -> ReLU -> pool, with ``model``'s weights."""
    c1, c2 = model.features[0], model.features[3]
    h = F.max_pool2d(F.relu(F.conv2d(x, c1.weight, c1.bias)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, c2.weight, c2.bias)), 2)
    return model.classifier(h)


def test_pooling_before_relu_is_bitwise_the_textbook_order_forward_and_gradient():
    """max(relu(a)) = relu(max(a)) and the gradient reaches the same element, so the reorder
    in LeNet5 changes no output and no gradient, float32, including windows of ties (all
    negative: ReLU makes them tie at 0; equal positive values)."""
    torch.manual_seed(0)
    model = LeNet5()
    x = torch.randn(16, 3, 32, 32)
    x[:4] = -x[:4].abs() * 5  # strongly negative images: many all-negative windows
    x[4:6] = 0.5  # flat images: equal values in every window
    for p in model.parameters():
        p.grad = None
    ours = model(x)
    g_ours = torch.autograd.grad(F.cross_entropy(ours, torch.arange(16) % 10), list(model.parameters()))
    textbook = _relu_then_pool(model, x)
    g_text = torch.autograd.grad(F.cross_entropy(textbook, torch.arange(16) % 10), list(model.parameters()))
    assert torch.equal(ours, textbook)
    assert all(torch.equal(a, b) for a, b in zip(g_ours, g_text))
    assert [n for n, _ in model.named_parameters()][:4] == [
        "features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias"]


def test_cpu_memory_format_sets_the_layout_and_keeps_the_math_float64():
    """channels_last (the default) stores the conv weights and feeds each batch NHWC; after 12
    steps in float64 the weights equal those of the contiguous layout up to rounding, and
    differ from a different seed's by far more."""
    x, y = (t.double() if t.is_floating_point() else t for t in tiny_tensors(n=300)[:2])
    nhwc = TrainConfig(batch_size=50)
    nchw = TrainConfig(batch_size=50, cpu_memory_format="contiguous")
    model, opt = train.init_model(nhwc, 0, x.device)
    assert train.memory_format_of(model) == torch.channels_last
    assert model.features[0].weight.is_contiguous(memory_format=torch.channels_last)
    step = train.make_step(model, opt, x, y, 50, cuda_graph=False)
    assert step.batch(torch.arange(4))[0].is_contiguous(memory_format=torch.channels_last)
    assert train.memory_format_of(train.init_model(nchw, 0, x.device)[0]) == torch.contiguous_format

    def weights(cfg, seed=3):
        model, opt = train.init_model(cfg, seed, x.device)
        model.double()
        opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate, fused=True)
        step = train.make_step(model, opt, x, y, cfg.batch_size, cuda_graph=False)
        train.run_epoch(step, train.epoch_permutation(seed, 1, len(x), x.device), cfg.batch_size)
        return torch.cat([p.detach().flatten() for p in model.parameters()])
    a, b = weights(nhwc), weights(nchw)
    assert torch.allclose(a, b, rtol=0, atol=1e-10)
    assert (a - weights(nhwc, seed=4)).abs().max() > 1e-3


def test_resume_after_interruption_gives_identical_weights(tmp_path):
    cfg = TrainConfig(epochs=4, batch_size=32)
    data = tiny_tensors()
    full, full_history = train.train(cfg, 7, *data, tmp_path / "full", progress=False)

    def stop_after_two(epoch):
        if epoch == 2:
            raise Interrupt
    with pytest.raises(Interrupt):
        train.train(cfg, 7, *data, tmp_path / "resumed", on_epoch_end=stop_after_two,
                    progress=False)
    # A fresh process would start from a different global RNG state: make sure it does not matter.
    torch.manual_seed(12345)
    resumed, resumed_history = train.train(cfg, 7, *data, tmp_path / "resumed", progress=False)
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    strip = [{k: v for k, v in h.items() if k != "seconds"} for h in full_history]
    assert strip == [{k: v for k, v in h.items() if k != "seconds"} for h in resumed_history]
    assert [h["epoch"] for h in resumed_history] == [1, 2, 3, 4]


def test_same_seed_same_weights_different_seed_different_weights(tmp_path):
    cfg = TrainConfig(epochs=1, batch_size=64)
    data = tiny_tensors()
    a, _ = train.train(cfg, 1, *data, tmp_path / "a", progress=False)
    b, _ = train.train(cfg, 1, *data, tmp_path / "b", progress=False)
    c, _ = train.train(cfg, 2, *data, tmp_path / "c", progress=False)
    wa, wb, wc = (next(m.parameters()) for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_corrupt_checkpoint_is_one_clear_error(tmp_path):
    (tmp_path / train.CHECKPOINT).write_bytes(b"this is not a checkpoint")
    with pytest.raises(UserError, match="corrupt checkpoint"):
        train.train(TrainConfig(epochs=1), 0, *tiny_tensors(), tmp_path, progress=False)


def test_weight_decay_shrinks_weights(tmp_path):
    data = tiny_tensors()
    plain, _ = train.train(TrainConfig(epochs=2, batch_size=32), 0, *data, tmp_path / "a",
                           progress=False)
    decayed, _ = train.train(TrainConfig(epochs=2, batch_size=32, weight_decay=0.5), 0, *data,
                             tmp_path / "b", progress=False)
    norm = lambda m: sum(float(p.detach().norm() ** 2) for p in m.parameters())  # noqa: E731
    assert norm(decayed) < norm(plain)


def test_weight_decay_is_adams_coupled_l2_penalty_not_adamw():
    """With weight decay wd, a step of the project's optimizer equals plain Adam on the loss
    plus the L2 penalty wd/2 * |w|^2 (gradient g + wd * w), not AdamW's decoupled
    w -= lr * wd * w. Three steps in float64, so that rounding cannot hide the difference."""
    wd, lr = 0.1, 0.01
    model, opt = train.init_model(TrainConfig(weight_decay=wd, learning_rate=lr), 0, torch.device("cpu"))
    reference, _ = train.init_model(TrainConfig(learning_rate=lr), 0, torch.device("cpu"))
    model.double(), reference.double()
    ref_opt = torch.optim.Adam(reference.parameters(), lr=lr)
    x, y = tiny_tensors()[:2]
    x = x.double()
    for i in range(3):
        for m, o, penalty in ((model, opt, 0.0), (reference, ref_opt, wd)):
            loss = F.cross_entropy(m(x[32 * i:32 * (i + 1)]), y[32 * i:32 * (i + 1)])
            loss = loss + penalty / 2 * sum((p ** 2).sum() for p in m.parameters())
            o.zero_grad()
            loss.backward()
            o.step()
    for a, b in zip(model.parameters(), reference.parameters()):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


def test_to_tensor_normalises_per_channel():
    images = np.full((2, 32, 32, 3), 255, np.uint8)
    x = train.to_tensor(images, torch.device("cpu"), data_mod.CIFAR10)
    assert x.shape == (2, 3, 32, 32)
    assert x[0, 0, 0, 0].item() == pytest.approx((1 - 0.4914) / 0.2470, rel=1e-5)


def test_to_tensor_moves_channels_and_keeps_rows_and_columns():
    """Pixel (row 3, column 7) of channel c in HWC lands at [c, 3, 7] in CHW."""
    images = np.zeros((1, 32, 32, 3), np.uint8)
    images[0, 3, 7] = [255, 0, 51]
    x = train.to_tensor(images, torch.device("cpu"), data_mod.CIFAR10)
    zero = [(0 - m) / s for m, s in zip(data_mod.CIFAR10.mean, data_mod.CIFAR10.std)]
    assert x[0, 0, 3, 7].item() == pytest.approx((1 - data_mod.CIFAR10.mean[0]) / data_mod.CIFAR10.std[0])
    assert x[0, 2, 3, 7].item() == pytest.approx((0.2 - data_mod.CIFAR10.mean[2]) / data_mod.CIFAR10.std[2])
    assert x[0, 0, 7, 3].item() == pytest.approx(zero[0])  # not transposed
    assert x[0, 1, 3, 7].item() == pytest.approx(zero[1])


def train_steps(cfg, workers, data, steps=12, seed=3):
    """``steps`` training steps of the CPU engine with the given worker pool; the weights."""
    x, y = data[0], data[1]
    model, opt = train.init_model(cfg, seed, x.device)
    step = train.make_step(model, opt, x, y, cfg.batch_size, cuda_graph=False,
                           cpu_shards=cfg.cpu_shards, workers=workers)
    train.run_epoch(step, train.epoch_permutation(seed, 1, len(x), x.device)[: steps * cfg.batch_size],
                    cfg.batch_size)
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("shards", [2, 3])
def test_weights_do_not_depend_on_how_many_cpu_workers_share_the_shards(shards):
    cfg = TrainConfig(batch_size=48, cpu_shards=shards)
    data = tiny_tensors(n=600)
    one = train_steps(cfg, train.SERIAL, data)
    for n in (2, 3):
        many = train_steps(cfg, train.CpuWorkers(n), data)
        assert all(torch.equal(a, b) for a, b in zip(one, many)), n
    # the shard count, unlike the worker count, is part of the computation
    other = train_steps(TrainConfig(batch_size=48, cpu_shards=1), train.SERIAL, data)
    assert not all(torch.equal(a, b) for a, b in zip(one, other))


def test_sharded_step_is_the_batch_gradient_float64():
    """Summing shard gradients is the batch's mean-loss gradient, up to float64 rounding."""
    x, y = (t[:40] for t in tiny_tensors()[:2])
    x = x.double()
    torch.manual_seed(0)
    model = LeNet5().double()
    full = torch.autograd.grad(torch.nn.functional.cross_entropy(model(x), y),
                               list(model.parameters()))
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # leaves .grad for inspection
    step = train.ShardedStep(model, opt, x, y, shards=3, workers=train.CpuWorkers(2))
    step(torch.arange(40))
    for p, g in zip(model.parameters(), full):
        assert torch.allclose(p.grad, g, rtol=1e-12, atol=1e-15)
    assert step.correct.item() == (model(x).argmax(1) == y).sum().item()


def test_sharded_step_refuses_dropout_without_per_shard_masks():
    """torch's own Dropout, or SeededDropout without a mask seed, would draw from the global
    generator in whichever order the threads run: refused with more than one shard."""
    from mia.architectures.base import SeededDropout
    x, y = tiny_tensors()[:2]
    for dropout, seed in ((torch.nn.Dropout(0.5), 0), (SeededDropout(0.5), None)):
        model = torch.nn.Sequential(torch.nn.Flatten(), dropout, torch.nn.Linear(3072, 10))
        opt = torch.optim.Adam(model.parameters())
        with pytest.raises(ValueError, match="Dropout .*per-shard masks"):
            train.ShardedStep(model, opt, x, y, shards=2, workers=train.SERIAL, mask_seed=seed)


def _dropout_weights(workers, shards=2, seed=3, epochs=2, dropout=0.5):
    x, y = tiny_tensors()[:2]
    torch.manual_seed(0)
    model = LeNet5(dropout=dropout)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    step = train.ShardedStep(model, opt, x, y, shards=shards, workers=workers, mask_seed=seed)
    model.train()
    for epoch in (1, 2)[:epochs]:
        step.epoch = epoch
        train.run_batches(step, torch.arange(len(x)).split(64))
    return [p.detach().clone() for p in model.parameters()]


def test_dropout_masks_are_per_shard_so_the_weights_do_not_depend_on_the_workers():
    """LeNet-5 with dropout 0.5, two shards, two epochs: one worker and three give the same
    weights bit for bit; another mask seed gives other weights (the masks are used), and so
    does no dropout."""
    serial = _dropout_weights(train.SERIAL)
    parallel = _dropout_weights(train.CpuWorkers(3))
    assert all(torch.equal(a, b) for a, b in zip(serial, parallel))
    assert not all(torch.equal(a, b) for a, b in zip(serial, _dropout_weights(train.SERIAL, seed=4)))
    assert not all(torch.equal(a, b) for a, b in zip(serial, _dropout_weights(train.SERIAL, dropout=0.0)))


def test_seeded_dropout_keeps_units_with_probability_one_minus_p_and_rescales():
    from mia.architectures.base import SeededDropout, dropout_masks_from
    layer = SeededDropout(0.25).train()
    x = torch.ones(200_000)
    with dropout_masks_from(torch.Generator().manual_seed(1)):
        out = layer(x)
    with dropout_masks_from(torch.Generator().manual_seed(1)):
        again = layer(x)
    assert torch.equal(out, again)  # the generator decides the masks
    kept = out != 0
    assert abs(kept.float().mean().item() - 0.75) < 0.005
    assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / 0.75))
    assert torch.equal(layer.eval()(x), x)  # no dropout in evaluation


def test_predicted_logits_do_not_depend_on_cpu_workers(monkeypatch):
    x = tiny_tensors()[0]
    model = LeNet5()
    monkeypatch.setattr(train, "cpu_workers", lambda: train.SERIAL)
    serial = train.predict_logits(model, x, batch_size=50)
    monkeypatch.setattr(train, "cpu_workers", lambda: train.CpuWorkers(3))
    parallel = train.predict_logits(model, x, batch_size=50)
    assert torch.equal(serial, parallel) and serial.shape == (256, 10)
    assert not serial.requires_grad


@pytest.mark.parametrize("shards", [0, 129])
def test_cpu_shards_outside_one_to_batch_size_is_refused(shards):
    with pytest.raises(UserError, match=rf"cpu_shards must be between 1 and batch_size \(128\), got {shards}"):
        config.from_dict({"train": {"cpu_shards": shards}}, "t")


def test_unknown_cpu_memory_format_is_refused():
    with pytest.raises(UserError, match=r"cpu_memory_format must be one of channels_last, "
                                        r"contiguous, got 'nhwc'"):
        config.from_dict({"train": {"cpu_memory_format": "nhwc"}}, "t")
