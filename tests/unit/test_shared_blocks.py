"""The shared blocks: training schedules, batched MLP ensembles, bundled data, generic metrics."""

import math

import numpy as np
import pytest
import torch

from theorylab import data, ensembles, metrics, training


def test_lr_factor_schedules():
    assert training.lr_factor(5, 100) == 1.0
    assert training.lr_factor(0, 100, "cosine") == 1.0 and abs(training.lr_factor(100, 100, "cosine")) < 1e-12
    assert training.lr_factor(0, 100, "warmup_cosine", warmup=0.1) == pytest.approx(0.1)
    assert training.lr_factor(9, 100, "warmup_cosine", warmup=0.1) == pytest.approx(
        0.5 * (1 + math.cos(math.pi * 0.09))
    )
    with pytest.raises(ValueError, match="schedule must be one of"):
        training.lr_factor(0, 10, "linear")


def test_train_fits_least_squares_with_a_schedule_and_clipping():
    g = torch.Generator().manual_seed(0)
    X, w = torch.randn(64, 3, generator=g), torch.tensor([1.0, -2.0, 0.5])
    p = torch.zeros(3, requires_grad=True)
    hist = training.train(
        [p],
        lambda s: ((X @ p - X @ w) ** 2).mean(),
        300,
        lr=0.1,
        schedule="warmup_cosine",
        clip_norm=10.0,
        log_every=50,
    )
    assert hist.loss[-1] < 1e-3 * hist.loss[0]
    assert torch.allclose(p.detach(), w, atol=1e-2)


def test_ensemble_members_are_independent_mlps():
    g = torch.Generator().manual_seed(0)
    params = ensembles.init_mlps(3, [4, 8, 2], g)
    x = torch.randn(3, 5, 4, generator=g)
    out = ensembles.mlp_forward(params, x)
    assert out.shape == (3, 5, 2)
    W1, b1, W2, b2 = params
    one = torch.relu(x[1] @ W1[1] + b1[1]) @ W2[1] + b2[1]
    assert torch.allclose(out[1], one, atol=1e-6)


def test_gaussian_init_has_the_asked_scale_and_zero_biases():
    params = ensembles.init_mlps(4, [100, 200, 50], torch.Generator().manual_seed(0), init_std=0.03)
    assert all(q.requires_grad for q in params)
    for W, b in zip(params[::2], params[1::2]):
        W, b = W.detach(), b.detach()
        assert abs(float(W.std()) - 0.03) < 1e-3 and abs(float(W.mean())) < 1e-3 and float(b.abs().max()) == 0.0


def test_digits_split_is_seeded_and_disjoint():
    a = data.load_digits(torch.Generator().manual_seed(1), 100, 50)
    b = data.load_digits(torch.Generator().manual_seed(1), 100, 50)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert a[0].shape == (100, 64) and a[2].shape == (50, 64) and float(a[0].max()) <= 1.0
    with pytest.raises(ValueError, match="n_train"):
        data.load_digits(torch.Generator(), 1700, 200)


def test_generic_metrics():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    assert metrics.loglog_slope(x, 3 * x**-2) == pytest.approx(-2.0)
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    assert torch.allclose(
        metrics.rowwise_cosine(a, torch.tensor([[2.0, 0.0], [0.0, 1.0]])), torch.tensor([1.0, 2**-0.5])
    )
    logits, y = torch.tensor([[2.0, 0.0]]), torch.tensor([0])
    assert float(metrics.cross_entropy(logits, y)) == pytest.approx(math.log(1 + math.exp(-2.0)))


def test_uniform_inputs_and_multi_query_tokens():
    from theorylab import prompts

    b = prompts.sample_linear(4, 6, 3, torch.Generator().manual_seed(0), inputs="uniform")
    assert float(b.x.abs().max()) <= 3**0.5 and torch.allclose(b.y, torch.einsum("bnd,bd->bn", b.x, b.params))
    tok = prompts.labelled_tokens(b.x, b.y, 4)
    assert tok.shape == (4, 6, 4) and torch.equal(tok[:, :4, -1], b.y[:, :4]) and not tok[:, 4:, -1].any()
    with pytest.raises(ValueError, match="inputs must be one of"):
        prompts.sample_linear(1, 1, 1, torch.Generator(), inputs="laplace")


def test_epoch_batches_walk_each_models_own_order_once_per_epoch():
    g = torch.Generator().manual_seed(3)
    batches = data.EpochBatches(10, 3, 2, g)
    assert batches.per_epoch == 3
    epoch = torch.cat([batches(t) for t in range(3)], 1)  # (models, 9): no repeats within an epoch
    assert all(len(set(row.tolist())) == 9 for row in epoch) and not torch.equal(epoch[0], epoch[1])
    assert not torch.equal(torch.cat([batches(t) for t in range(3, 6)], 1), epoch)  # a new order next epoch
    g2 = torch.Generator().manual_seed(3)  # the same draws as a loop that shuffles at each epoch's start
    order = torch.stack([torch.randperm(10, generator=g2) for _ in range(2)])
    assert torch.equal(epoch, order[:, :9])
    assert torch.equal(batches(5), batches(5))  # asking again draws nothing
    with pytest.raises(ValueError, match="in order"):
        batches(12)
    with pytest.raises(ValueError, match="batch"):
        data.EpochBatches(10, 11, 2, g)
