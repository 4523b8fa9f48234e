import math

import pytest
import torch

from theorylab import patches


def test_sample_shapes_signal_and_projected_noise():
    g = torch.Generator().manual_seed(0)
    d = patches.sample(50, 30, mu_norm=3.0, generator=g, batch=(4,))
    assert d.X.shape == (4, 50, 2, 30) and d.y.shape == (4, 50) and d.xi.shape == (4, 50, 30)
    assert set(d.y.unique().tolist()) == {-1.0, 1.0}
    # signal patch is y * mu; the noise has no component along mu
    assert torch.allclose(d.signal, d.y.unsqueeze(-1) * d.mu[0])
    assert d.xi[..., 0].abs().max() < 1e-12
    o = patches.sample(20, 10, mu_norm=2.0, signal="orthogonal", generator=g)
    assert float(o.mu[0] @ o.mu[1]) == 0.0 and o.xi[..., :2].abs().max() < 1e-12
    with pytest.raises(ValueError, match="signal must be one of"):
        patches.sample(2, 3, 1.0, signal="other")


def test_sampling_is_deterministic_and_labels_can_be_fixed():
    a = patches.sample(10, 8, 1.0, generator=torch.Generator().manual_seed(3))
    b = patches.sample(10, 8, 1.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a.X, b.X)
    c = patches.sample(10, 8, 1.0, generator=torch.Generator().manual_seed(4), y=a.y)
    assert torch.equal(c.y, a.y) and not torch.equal(c.xi, a.xi)


def test_snr_and_noise_scale():
    assert patches.snr_to_mu_norm(0.5, 100, 2.0) == pytest.approx(10.0)
    d = patches.sample(4000, 50, 1.0, sigma_p=2.0, project_noise=False, generator=torch.Generator().manual_seed(1))
    assert float(d.xi.pow(2).mean()) == pytest.approx(4.0, rel=0.03)


def test_forward_matches_a_loop_and_batches():
    g = torch.Generator().manual_seed(2)
    data = patches.sample(7, 6, 2.0, generator=g)
    W = torch.randn(3, 4, 6, generator=g, dtype=torch.float64)
    a = torch.randn(3, 4, generator=g, dtype=torch.float64)
    f = patches.forward(W, a, data.X)  # (3, 7): three configurations at once
    for b in range(3):
        for i in range(7):
            ref = sum(a[b, r] * sum(torch.relu(W[b, r] @ data.X[i, p]) for p in range(2)) for r in range(4))
            assert float(f[b, i]) == pytest.approx(float(ref), abs=1e-12)
    fq = patches.forward(W, a, data.X, act="relu_q", q=3)
    assert torch.allclose(fq[0, 0], sum(a[0, r] * torch.relu(data.X[0] @ W[0, r]).pow(3).sum() for r in range(4)))
    with pytest.raises(ValueError, match="act must be one of"):
        patches.forward(W, a, data.X, act="tanh")


def test_fixed_output_weights_and_losses():
    a = patches.fixed_output_weights(5)
    assert a.shape == (10,) and float(a.sum()) == pytest.approx(0.0)
    y = torch.tensor([1.0, -1.0])
    f = torch.tensor([0.0, 0.0])
    assert float(patches.logistic_loss(f, y)) == pytest.approx(math.log(2))
    assert float(patches.error_rate(torch.tensor([2.0, 1.0]), y)) == pytest.approx(0.5)


def test_trackers():
    g = torch.Generator().manual_seed(5)
    data = patches.sample(6, 10, 4.0, generator=g)
    W = torch.zeros(2, 10, dtype=torch.float64)
    W[0] = data.mu[0] / 4.0 * 3.0  # filter 0: 3 units along the signal
    W[1] = data.xi[2]  # filter 1: a copy of example 2's noise
    s = patches.learning_summary(W, data)
    assert float(s["signal"]) == pytest.approx(3.0)
    na = patches.noise_alignment(W, data.xi)
    assert float(na[1, 2]) == pytest.approx(float(data.xi[2].norm()))
    assert float(s["noise"]) >= float(data.xi[2].norm()) / 6
