"""theorylab.hessian against closed forms: a quadratic and least squares through a linear layer."""

import torch

from theorylab import hessian


def _quadratic(p=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(p, p, generator=g, dtype=torch.float64)
    A = A @ A.T / p + torch.diag(torch.linspace(0.1, 5.0, p, dtype=torch.float64))
    return A, (lambda th: 0.5 * th @ A @ th), torch.randn(p, generator=g, dtype=torch.float64)


def test_exact_hvp_trace_match_a_quadratic():
    A, loss, th = _quadratic()
    assert torch.allclose(hessian.exact(loss, th), A, atol=1e-12)
    v = torch.ones_like(th)
    assert torch.allclose(hessian.hvp(loss, th, v), A @ v, atol=1e-12)
    assert torch.allclose(hessian.trace(loss, th), torch.trace(A), atol=1e-10)


def test_hutchinson_trace_is_unbiased_within_error():
    A, loss, th = _quadratic(p=40)
    est = hessian.trace(loss, th, probes=4000, exact_below=0, g=torch.Generator().manual_seed(1))
    assert abs(est - torch.trace(A)) / torch.trace(A) < 0.03


def test_lanczos_extreme_eigenvalues():
    A, loss, th = _quadratic(p=50)
    ev = torch.linalg.eigvalsh(A)
    lo, hi = hessian.extreme_eigs(loss, th, steps=50)
    assert torch.allclose(lo, ev[0], rtol=1e-8) and torch.allclose(hi, ev[-1], rtol=1e-8)
    _, hi20 = hessian.extreme_eigs(loss, th, steps=25)
    assert abs(hi20 - ev[-1]) / ev[-1] < 1e-3  # the top of the spectrum converges first


def test_flat_loss_of_a_linear_model_is_least_squares():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(100, 4, generator=g, dtype=torch.float64)
    model = torch.nn.Linear(4, 1, bias=False).double()
    loss, th = hessian.flat_loss(model, lambda out: 0.5 * (out.squeeze(1) ** 2).mean(), X)
    assert th.shape == (4,)
    assert torch.allclose(hessian.exact(loss, th), X.T @ X / 100, atol=1e-12)
