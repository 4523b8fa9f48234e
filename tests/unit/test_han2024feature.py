import math

import pytest
import torch

from theorylab.papers import han2024feature as han


def test_ou_coefficients():
    a, b = han.ou_coefficients(0.5)
    assert a == pytest.approx(math.exp(-0.5)) and a**2 + b**2 == pytest.approx(1.0)
    with pytest.raises(ValueError, match="must be positive"):
        han.ou_coefficients(0.0)


def test_denoiser_matches_a_loop_and_batches():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(3, 4, 5, generator=g, dtype=torch.float64)  # 3 configurations, 4 filters, d = 5
    X = torch.randn(3, 6, 2, 5, generator=g, dtype=torch.float64)  # 6 examples, 2 patches
    f = han.denoiser(W, X)
    assert f.shape == (3, 6, 2, 5)
    for b in range(3):
        for i in range(6):
            for p in range(2):
                ref = sum((W[b, r] @ X[b, i, p]) ** 2 * W[b, r] for r in range(4)) / 2.0
                assert torch.allclose(f[b, i, p], ref, atol=1e-12)


def test_expected_loss_matches_monte_carlo_and_its_gradient():
    g = torch.Generator().manual_seed(1)
    W = (0.4 * torch.randn(2, 3, 6, generator=g, dtype=torch.float64)).requires_grad_(True)
    X0 = torch.randn(2, 4, 2, 6, generator=g, dtype=torch.float64)
    alpha, beta = han.ou_coefficients(0.4)
    exact = han.expected_loss(W, X0, alpha, beta)
    assert exact.shape == (2, 4)
    eps = torch.randn(40000, 2, 4, 2, 6, generator=g, dtype=torch.float64)
    mc = han.mc_loss(W, X0, eps, alpha, beta)
    se = mc.std(0) / math.sqrt(eps.shape[0])
    assert ((exact - mc.mean(0)).abs() < 5 * se).all()
    # the gradients agree too (the training signal is what matters)
    (g_exact,) = torch.autograd.grad(exact.sum(), W)
    (g_mc,) = torch.autograd.grad(mc.mean(0).sum(), W)
    assert (g_exact - g_mc).norm() / g_exact.norm() < 0.05


def test_expected_loss_at_zero_weights_is_the_noise_energy():
    W = torch.zeros(3, 7, dtype=torch.float64)
    X0 = torch.randn(5, 2, 7, dtype=torch.float64)
    assert torch.allclose(han.expected_loss(W, X0, 0.6, 0.8), torch.full((5,), 14.0, dtype=torch.float64))
