"""Unit tests of theorylab.diffusion: schedules, the closed-form Gaussian-mixture score and Hessian of
the noised marginals, the Gaussian KL and the log-log slope."""

import math

import pytest
import torch

from theorylab import diffusion as dfn
from theorylab import metrics

F64 = torch.float64


def mixture(seed=0, K=3, d=2):
    g = torch.Generator().manual_seed(seed)
    w = torch.rand(K, generator=g, dtype=F64) + 0.2
    A = torch.randn(K, d, d, generator=g, dtype=F64)
    covs = A @ A.transpose(-1, -2) / d + 0.2 * torch.eye(d, dtype=F64)
    return dfn.GaussianMixture(w / w.sum(), 2 * torch.randn(K, d, generator=g, dtype=F64), covs)


def test_schedules():
    s = dfn.vp_schedule(50)
    assert s.T == 50 and s.abar.shape == (51,) and s.abar[0] == 1.0
    assert torch.allclose(s.abar[1:], torch.cumprod(s.alpha, 0))
    # the horizon does not depend on T: abar_T = exp(-(b_min + b_max) / 2)
    for T in (10, 1000):
        assert dfn.vp_schedule(T).abar[-1].item() == pytest.approx(math.exp(-10.05), rel=1e-10)
    ls = dfn.log_schedule(200, c0=2.0, c1=4.0)
    assert ls.beta[0].item() == pytest.approx(200.0**-2)
    assert ls.beta.max().item() <= 4 * math.log(200) / 200 + 1e-15
    with pytest.raises(ValueError):
        dfn.log_schedule(4, c1=4.0)
    with pytest.raises(ValueError):
        dfn.Schedule.from_beta(torch.tensor([0.5, 1.5]))


def test_log_prob_matches_a_loop_and_integrates_to_one():
    q = mixture()
    x = torch.randn(7, 2, dtype=F64)
    ref = torch.stack(
        [
            torch.logsumexp(
                torch.stack(
                    [
                        math.log(q.weights[k])
                        + torch.distributions.MultivariateNormal(q.means[k], q.covs[k]).log_prob(xi)
                        for k in range(3)
                    ]
                ),
                0,
            )
            for xi in x
        ]
    )
    assert torch.allclose(q.log_prob(x), ref, atol=1e-12)
    u = torch.linspace(-12, 12, 241, dtype=F64)
    grid = torch.stack(torch.meshgrid(u, u, indexing="ij"), -1)
    mass = q.log_prob(grid).exp().sum() * (u[1] - u[0]) ** 2
    assert mass.item() == pytest.approx(1.0, abs=1e-6)


def test_score_and_hessian_match_autograd():
    q = mixture(1).noised(0.3)
    x = torch.randn(5, 2, dtype=F64, requires_grad=True)
    (s_auto,) = torch.autograd.grad(q.log_prob(x).sum(), x, create_graph=True)
    H_auto = torch.stack([torch.autograd.grad(s_auto[:, i].sum(), x, retain_graph=True)[0] for i in range(2)], -2)
    logq, s, H = q.derivatives(x.detach())
    assert torch.allclose(s, s_auto.detach(), atol=1e-10)
    assert torch.allclose(H, H_auto.detach(), atol=1e-10)
    assert torch.allclose(q.score(x.detach()), s) and torch.allclose(logq, q.log_prob(x.detach()))


def test_noised_marginal_matches_forward_samples_and_batches():
    q = mixture(2)
    g = torch.Generator().manual_seed(3)
    x0 = q.sample(200000, g)
    ab = 0.4
    xt = math.sqrt(ab) * x0 + math.sqrt(1 - ab) * torch.randn(x0.shape, generator=g, dtype=F64)
    qt = q.noised(ab)
    mean = (qt.weights[:, None] * qt.means).sum(0)
    assert torch.allclose(xt.mean(0), mean, atol=0.02)
    second = (qt.weights[:, None, None] * (qt.covs + qt.means[:, :, None] * qt.means[:, None, :])).sum(0)
    assert torch.allclose(xt.T @ xt / xt.shape[0], second, atol=0.05)
    # a batch of noise levels acts as one mixture per level; points broadcast against it
    qb = q.noised(torch.tensor([0.9, 0.4], dtype=F64))
    x = torch.randn(6, 2, 2, dtype=F64)
    assert torch.allclose(qb.log_prob(x)[:, 1], qt.log_prob(x[:, 1]), atol=1e-12)
    assert torch.allclose(qb.noised(1.0).means, qb.means)


def test_gaussian_kl_and_slope():
    m1, m2 = torch.tensor([0.0, 1.0], dtype=F64), torch.tensor([0.5, -1.0], dtype=F64)
    C1 = torch.tensor([[1.0, 0.3], [0.3, 0.5]], dtype=F64)
    C2 = torch.tensor([[2.0, -0.2], [-0.2, 1.0]], dtype=F64)
    ref = torch.distributions.kl_divergence(
        torch.distributions.MultivariateNormal(m1, C1), torch.distributions.MultivariateNormal(m2, C2)
    )
    assert dfn.gaussian_kl(m1, C1, m2, C2).item() == pytest.approx(ref.item(), rel=1e-12)
    assert abs(dfn.gaussian_kl(m1, C1, m1, C1).item()) < 1e-14
    T = [10, 20, 40, 80]
    assert metrics.loglog_slope(T, [3.0 / t**2 for t in T]) == pytest.approx(-2.0)


def test_bad_mixtures_are_rejected():
    with pytest.raises(ValueError, match="sum to one"):
        dfn.GaussianMixture(torch.tensor([0.5, 0.6]), torch.zeros(2, 1), torch.ones(2, 1, 1))
    with pytest.raises(ValueError, match="shapes"):
        dfn.GaussianMixture(torch.tensor([1.0]), torch.zeros(2, 1), torch.ones(2, 1, 1))
