import math

import numpy as np
import pytest
import torch

from theorylab import metrics
from theorylab.training import train


def test_cosine_rel_gap_r2():
    assert metrics.cosine([1, 0], [2, 0]) == pytest.approx(1.0)
    assert metrics.cosine(torch.tensor([1.0, 0.0]), [0, 1]) == pytest.approx(0.0)
    assert math.isnan(metrics.cosine([0, 0], [1, 1]))
    assert metrics.rel_gap(1.05, 1.0) == pytest.approx(0.05)
    y = np.linspace(0, 1, 50)
    assert metrics.r2(y, y) == pytest.approx(1.0)
    assert metrics.r2(y, np.full_like(y, y.mean())) == pytest.approx(0.0)


def test_first_crossing_interpolates():
    t = np.arange(5.0)
    c = np.array([0, 1, 2, 3, 4.0])
    assert metrics.first_crossing(t, c, 2.5) == pytest.approx(2.5)
    assert metrics.first_crossing(t, c[::-1], 1.5, rising=False) == pytest.approx(2.5)
    assert math.isnan(metrics.first_crossing(t, c, 10))


def test_train_minimises_a_quadratic_and_logs():
    w = torch.zeros(3, requires_grad=True)
    target = torch.tensor([1.0, -2.0, 0.5])
    hist = train(
        [w],
        lambda step: ((w - target) ** 2).sum(),
        steps=200,
        optimizer="sgd",
        lr=0.1,
        log_every=50,
        evaluate=lambda step: {"dist": float((w - target).norm())},
    )
    arr = hist.as_arrays()
    assert list(arr["steps"]) == [0, 50, 100, 150, 200]
    assert arr["loss"][-1] < 1e-10 and arr["dist"][-1] < 1e-5
    with pytest.raises(ValueError, match="optimizer must be one of"):
        train([w], lambda s: w.sum(), steps=1, optimizer="lbfgs")


def test_train_callable_schedule_checkpoints_and_no_logging_equal_a_plain_loop():
    """A schedule given as a function, kept weights and log_every=None: the same numbers as a hand-written loop,
    with loss_fn called exactly `steps` times (a random loss leaves its generator where a plain loop would)."""
    sched = lambda t, steps: 1.0 if t < steps // 2 else 0.1  # noqa: E731

    def run(use_train):
        g = torch.Generator().manual_seed(0)
        w = torch.zeros(3, requires_grad=True)
        calls = []

        def loss(step):
            calls.append(step)
            x = torch.randn(8, 3, generator=g)
            return ((x @ w - x.sum(1)) ** 2).mean()

        if use_train:
            hist = train([w], loss, 10, optimizer="sgd", lr=0.1, schedule=sched, log_every=None, checkpoints=(0, 4, 10))
        else:
            opt = torch.optim.SGD([w], lr=0.1)
            lam = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: sched(t, 10))
            hist = None
            for t in range(10):
                opt.zero_grad()
                loss(t).backward()
                opt.step()
                lam.step()
        return w.detach(), calls, torch.rand(1, generator=g), hist

    w1, calls1, next1, hist = run(True)
    w0, calls0, next0, _ = run(False)
    assert torch.equal(w1, w0) and calls1 == calls0 == list(range(10)) and torch.equal(next1, next0)
    assert hist.steps == [] and sorted(hist.checkpoints) == [0, 4, 10]
    assert torch.equal(hist.checkpoints[10][0], w1) and torch.equal(hist.checkpoints[0][0], torch.zeros(3))
    w = torch.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match="log_every"):
        train([w], lambda s: w.sum(), steps=1, log_every=0)
