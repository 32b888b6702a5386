import numpy as np
import pytest
import torch

from mia import train
from mia.config import TrainConfig
from mia.errors import UserError
from mia.models import LeNet5


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


def test_to_tensor_normalises_per_channel():
    images = np.full((2, 32, 32, 3), 255, np.uint8)
    x = train.to_tensor(images, torch.device("cpu"))
    assert x.shape == (2, 3, 32, 32)
    assert x[0, 0, 0, 0].item() == pytest.approx((1 - 0.4914) / 0.2470, rel=1e-5)
