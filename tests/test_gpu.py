"""CUDA-only checks of the training engine (run on a GPU machine; skipped on CPU-only CI)."""
import pytest
import torch

from mia.config import TrainConfig
from mia.training.many_models import train_many
from mia.training.engine import epoch_permutation, init_model, make_step, run_epoch, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
CUDA = torch.device("cuda")


def data(n, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 3, 32, 32, generator=g).to(CUDA, dtype),
            torch.randint(0, 10, (n,), generator=g).to(CUDA))


def rel(a, b):
    return float((a - b).norm() / b.norm())


def weights_after(graph: bool, x, y, cfg, epochs=2):
    model, opt = init_model(cfg, 5, CUDA, capturable=graph)
    step = make_step(model, opt, x, y, cfg.batch_size, graph)
    for e in range(1, epochs + 1):
        run_epoch(step, epoch_permutation(5, e, len(x), CUDA), cfg.batch_size)
    return model.state_dict()


@pytest.fixture
def float64():
    """float64 rules out TF32 and rounding noise (which Adam amplifies), so equal algorithms
    must agree to ~1e-12; in float32 cuDNN may pick other kernels inside a graph."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def test_cuda_graph_step_equals_eager_step(float64):
    cfg = TrainConfig(batch_size=32, weight_decay=0.01)
    x, y = data(20 * 32 + 10, dtype=torch.float64)  # each epoch's last batch is smaller: eager
    graphed, eager = weights_after(True, x, y, cfg), weights_after(False, x, y, cfg)
    assert max(rel(graphed[k], eager[k]) for k in eager) < 1e-10


def test_graphed_training_resumes(tmp_path):
    cfg = TrainConfig(epochs=3, batch_size=32)
    x, y = data(320)
    xt, yt = data(64, seed=1)
    full, _ = train(cfg, 1, x, y, xt, yt, tmp_path / "a", progress=False)

    class Stop(Exception):
        pass

    def stop(epoch):
        if epoch == 1:
            raise Stop
    with pytest.raises(Stop):
        train(cfg, 1, x, y, xt, yt, tmp_path / "b", on_epoch_end=stop, progress=False)
    resumed, _ = train(cfg, 1, x, y, xt, yt, tmp_path / "b", progress=False)
    a, b = full.state_dict(), resumed.state_dict()
    assert max(rel(a[k], b[k]) for k in a) < 1e-4


def test_vmap_on_cuda_matches_single_models_in_float64(float64):
    cfg = TrainConfig(batch_size=32)
    x, y = data(640, dtype=torch.float64)
    keep = torch.zeros(4, 640, dtype=torch.bool)
    g = torch.Generator().manual_seed(0)
    for row in keep:
        row[torch.randperm(640, generator=g)[:320]] = True
    many = train_many(cfg, [1, 2, 3, 4], keep, x, y, strategy="vmap", max_steps=10, progress=False)
    loop = train_many(cfg, [1, 2, 3, 4], keep, x, y, strategy="loop", max_steps=10, progress=False)
    for a, b in zip(many, loop):
        assert max(rel(a[k], b[k]) for k in a) < 1e-8
