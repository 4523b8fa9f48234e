"""theorylab.prompts (task samplers) and theorylab.baselines (classical in-context learners)."""

import math

import pytest
import torch

from theorylab import baselines as bl
from theorylab import prompts as pr


def gen(s=0):
    return torch.Generator().manual_seed(s)


def test_samplers_are_deterministic_and_shaped():
    a = pr.sample_linear(4, 10, 3, gen(), noise_std=0.1)
    b = pr.sample_linear(4, 10, 3, gen(), noise_std=0.1)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert a.x.shape == (4, 10, 3) and a.y.shape == (4, 10) and a.params.shape == (4, 3)
    assert torch.allclose(a.f, torch.einsum("bnd,bd->bn", a.x, a.params))
    r = pr.sample_relu_teacher(2, 5, 3, gen(), hidden=4)
    assert r.x.shape == (2, 5, 3) and r.params.shape == (2, 4, 4)
    g = pr.sample_gp(2, 6, 1, gen(), noise_std=0.0)
    assert g.x.dtype == torch.float64 and torch.allclose(g.y, g.f)
    p = pr.sample_labelled_points(3, 7, 4, gen(), classes=3)
    assert torch.allclose(p.x.norm(dim=-1), torch.ones(3, 7)) and set(p.y.unique().tolist()) <= {0.0, 1.0, 2.0}
    with pytest.raises(ValueError, match="positive"):
        pr.sample_linear(0, 1, 1, gen())


def test_covariance_has_the_asked_spectrum():
    eigs = pr.geometric_spectrum(5, 100.0, dtype=torch.float64)
    assert math.isclose(float(eigs.sum()), 5.0) and math.isclose(float(eigs.max() / eigs.min()), 100.0)
    cov = pr.spectrum_covariance(eigs, gen())
    assert torch.allclose(torch.linalg.eigvalsh(cov), eigs.sort().values, atol=1e-10)
    x = pr.sample_linear(1, 200000, 5, gen(1), cov=cov, dtype=torch.float64).x[0]
    assert torch.allclose(x.T @ x / x.shape[0], cov, atol=0.05)


def test_least_squares_ridge_and_gd_agree_in_their_limits():
    t = pr.sample_linear(8, 20, 4, gen(), dtype=torch.float64)
    xq = torch.randn(8, 3, 4, generator=gen(2), dtype=torch.float64)
    truth = torch.einsum("bmd,bd->bm", xq, t.params)
    assert torch.allclose(bl.least_squares(t.x, t.y, xq), truth, atol=1e-10)
    assert torch.allclose(bl.ridge(t.x, t.y, xq, 1e-10), truth, atol=1e-6)
    preds = bl.gd(t.x, t.y, xq, steps=3000, eta=0.5)
    assert preds.shape == (3001, 8, 3) and bool((preds[0] == 0).all())
    assert torch.allclose(preds[-1], truth, atol=1e-6)
    one = bl.gd(t.x, t.y, xq[:, 0], steps=1, eta=0.3)[1]  # one step: (eta/N) sum_i y_i x_i.x_q
    manual = 0.3 / 20 * torch.einsum("bn,bnd,bd->b", t.y, t.x, xq[:, 0])
    assert torch.allclose(one, manual)


def test_underdetermined_least_squares_is_min_norm():
    t = pr.sample_linear(3, 2, 5, gen(), dtype=torch.float64)
    w = bl.least_squares_weights(t.x, t.y)
    assert torch.allclose(torch.einsum("bnd,bd->bn", t.x, w), t.y)
    # min-norm: w lies in the row space of X
    proj = torch.linalg.pinv(t.x) @ t.x
    assert torch.allclose((proj @ w.unsqueeze(-1)).squeeze(-1), w)


def test_preconditioned_gd_with_inverse_covariance_is_newton_in_one_step():
    t = pr.sample_linear(2, 30, 3, gen(), dtype=torch.float64)
    s = t.x.transpose(-1, -2) @ t.x / 30
    w = bl.gd_weights(t.x, t.y, steps=1, eta=1.0, precond=torch.linalg.inv(s))[1]
    assert torch.allclose(w, bl.least_squares_weights(t.x, t.y))


def test_iterative_newton_converges_quadratically():
    cov = pr.spectrum_covariance(pr.geometric_spectrum(4, 20.0, dtype=torch.float64), gen(3))
    t = pr.sample_linear(5, 40, 4, gen(), cov=cov, dtype=torch.float64)
    ws = bl.newton_weights(t.x, t.y, steps=25)
    err = (ws - bl.least_squares_weights(t.x, t.y)).norm(dim=-1).max(-1).values
    assert err[-1] < 1e-10 and err[5] < err[0]


def test_nearest_neighbor_and_gp_posterior():
    x = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]])
    y = torch.tensor([[0.0, 1.0, 2.0]])
    q = torch.tensor([[[0.9, 0.1], [0.1, 0.8]]])
    assert bl.nearest_neighbor(x, y, q).tolist() == [[1.0, 2.0]]
    assert bl.nearest_neighbor(x, y, q[:, 0]).tolist() == [1.0]
    g = pr.sample_gp(2, 12, 1, gen(), noise_std=0.1)
    mean, var = bl.gp_posterior(g.x[:, :10], g.y[:, :10], g.x[:, 10:], lengthscale=0.5, noise_std=0.1)
    assert mean.shape == (2, 2) and bool((var > 0.01 - 1e-9).all()) and bool((var < 1.01 + 1e-9).all())
    # with one context point the posterior is the 1-d Gaussian conditioning formula
    k01 = math.exp(-0.5 * (0.3 / 0.5) ** 2)
    m, v = bl.gp_posterior(
        torch.tensor([[[0.2]]], dtype=torch.float64),
        torch.tensor([[1.5]], dtype=torch.float64),
        torch.tensor([[0.5]], dtype=torch.float64),
        lengthscale=0.5,
        noise_std=0.1,
    )
    assert math.isclose(float(m), k01 * 1.5 / 1.01, rel_tol=1e-12)
    assert math.isclose(float(v), 1.01 - k01**2 / 1.01, rel_tol=1e-12)
