"""The many-models trainer gives each model the weights the single-model trainer would."""
import pytest
import torch

from mia.config import TrainConfig
from mia.training import many_models
from mia.training.many_models import subsets_from_keep, train_many
from mia.training.engine import CpuWorkers, epoch_permutation, init_model, make_step, run_epoch

CFG = TrainConfig(epochs=1, batch_size=32, weight_decay=0.01)


def pool(n=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


def keep_matrix(k, n, seed=0):
    """Each model keeps a random half of the pool (as in LiRA)."""
    g = torch.Generator().manual_seed(seed)
    keep = torch.zeros(k, n, dtype=torch.bool)
    for row in keep:
        row[torch.randperm(n, generator=g)[: n // 2]] = True
    return keep


def single_model(seed, x, y, steps):
    model, opt = init_model(CFG, seed, x.device)
    step = make_step(model, opt, x, y, CFG.batch_size, cuda_graph=False,
                     cpu_shards=CFG.cpu_shards)
    run_epoch(step, epoch_permutation(seed, 1, len(x), x.device)[: steps * CFG.batch_size],
              CFG.batch_size)
    return model.state_dict()


def relative_error(a, b):
    return float((a - b).norm() / b.norm())


@pytest.fixture
def float64():
    """In float64 the engines must agree to rounding: it proves they compute the same thing."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def max_relative_error(strategy, k=3):
    x, y = pool(1280)
    x = x.to(torch.get_default_dtype())
    keep = keep_matrix(k, 1280)
    seeds = [11, 12, 13][:k]
    many = train_many(CFG, seeds, keep, x, y, strategy=strategy, max_steps=20, progress=False)
    if k > 1:  # the models really differ from one another
        assert not torch.allclose(many[0]["features.0.weight"], many[1]["features.0.weight"])
    return max(relative_error(many[k][name], want)
               for k, idx in enumerate(subsets_from_keep(keep))
               for name, want in single_model(seeds[k], x[idx], y[idx], steps=20).items())


@pytest.mark.parametrize("strategy", ["vmap", "loop", "grouped"])
def test_each_model_matches_the_single_model_trainer_after_20_steps_float64(strategy, float64):
    assert max_relative_error(strategy) < 1e-12


def test_loop_is_bitwise_the_single_model_trainer():
    assert max_relative_error("loop") == 0.0


def test_loop_with_fewer_models_than_cpu_workers_is_bitwise_the_single_model_trainer(monkeypatch):
    """Then the workers share each model's shards instead of taking a model each."""
    monkeypatch.setattr(many_models, "cpu_workers", lambda: CpuWorkers(3))
    assert max_relative_error("loop", k=2) == 0.0


def test_vmap_float32_stays_within_rounding_of_the_single_model_trainer():
    """In float32, vmap's batched convolutions round differently; Adam divides each gradient by
    its own running magnitude, which amplifies that rounding for near-zero gradients. After 20
    steps the weights still agree to 1e-3 relative (norm of the difference / norm)."""
    assert max_relative_error("vmap") < 1e-3


def test_grouped_network_gives_each_model_its_own_logits_float64(float64):
    """GroupedLeNet5's logits for model k are LeNet5's with model k's weights, on model k's batch."""
    models = [init_model(CFG, s, torch.device("cpu"))[0].double() for s in (1, 2, 3)]
    net = many_models.GroupedLeNet5([{k: v.contiguous() for k, v in m.state_dict().items()}
                                     for m in models])
    xb = torch.randn(3, 5, 3, 32, 32)
    out = net(xb)
    for k, m in enumerate(models):
        assert torch.allclose(out[k], m(xb[k]), rtol=0, atol=1e-12)
    for got, m in zip(net.state_dicts(), models):
        assert all(torch.equal(got[name], v) for name, v in m.state_dict().items())


def test_unequal_subsets_are_refused():
    keep = torch.zeros(2, 10, dtype=torch.bool)
    keep[0, :5] = True
    keep[1, :4] = True
    with pytest.raises(ValueError, match="same number of samples"):
        subsets_from_keep(keep)


@pytest.mark.parametrize("change, x_shape, classes, message", [
    ({"dropout": 0.5}, (3, 32, 32), 10, "lenet5 without dropout"),
    ({}, (1, 28, 28), 10, "not 1x28x28 in 10"),
    ({}, (3, 32, 32), 100, "not 3x32x32 in 100"),
])
def test_the_grouped_strategy_refuses_what_its_network_cannot_train(change, x_shape, classes, message):
    """GroupedLeNet5 is CIFAR-10's LeNet-5 without dropout: another input, class count or
    dropout would train a different model silently, so it is an error."""
    import dataclasses

    x = torch.zeros(8, *x_shape)
    with pytest.raises(ValueError, match=message):
        train_many(dataclasses.replace(CFG, **change), [0], torch.ones(1, 8, dtype=torch.bool), x,
                   torch.zeros(8, dtype=torch.long), strategy="grouped", max_steps=1,
                   progress=False, num_classes=classes)
