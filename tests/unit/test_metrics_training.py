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
