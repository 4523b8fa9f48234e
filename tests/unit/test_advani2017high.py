"""Tests for theorylab.papers.advani2017high: the exact eigenbasis solution of GD on linear teacher-student regression
and its Marchenko-Pastur theory."""

import numpy as np
import pytest
import torch

from theorylab.papers import advani2017high as hd

F64 = torch.float64


def _problem(N, P, seed=0, sigma_eps=0.5, sigma0=0.7, S=()):
    g = torch.Generator().manual_seed(seed)
    w_bar = hd.sample_teacher(N, S, generator=g)
    X = hd.sample_inputs(N, P, S, generator=g)
    eps = sigma_eps * torch.randn(*S, P, generator=g, dtype=F64)
    w0 = sigma0 * torch.randn(*S, N, generator=g, dtype=F64)
    return X, eps, w_bar, w0


def test_data_normalisation():
    g = torch.Generator().manual_seed(1)
    w = hd.sample_teacher(50, (7,), generator=g)
    assert torch.allclose((w**2).sum(-1), torch.full((7,), 50.0, dtype=F64))
    X = hd.sample_inputs(400, 3000, generator=g)
    assert X.dtype == F64 and X.shape == (3000, 400)
    assert abs(float((X**2).sum(-1).mean()) - 1.0) < 0.01  # E||x||^2 = 1


@pytest.mark.parametrize("N,P", [(12, 7), (12, 12), (12, 30)])
def test_exact_discrete_solution_equals_iterated_gd(N, P):
    X, eps, w_bar, w0 = _problem(N, P, seed=N + P)
    y = X @ w_bar + eps
    m = hd.modes_from_data(X, eps, w_bar, w0)
    eta = 1.0 / float(m.lam.max())
    steps = [0, 1, 5, 50, 400]
    exact = hd.weights_at(m, w_bar, torch.tensor(steps, dtype=F64), eta=eta)
    w = w0.clone()
    got = {}
    for k in range(max(steps) + 1):
        if k in steps:
            got[k] = w.clone()
        w = w + eta * X.T @ (y - X @ w)
    for j, k in enumerate(steps):
        assert torch.allclose(exact[j], got[k], atol=1e-10, rtol=0), k


def test_gradient_flow_equals_matrix_exponential():
    N, P = 10, 25  # X^T X invertible
    X, eps, w_bar, w0 = _problem(N, P, seed=3)
    C, b = X.T @ X, X.T @ eps
    m = hd.modes_from_data(X, eps, w_bar, w0)
    for t in [0.0, 0.3, 2.0, 40.0]:
        E = torch.linalg.matrix_exp(-C * t)
        e_t = E @ (w0 - w_bar) + torch.linalg.solve(C, (torch.eye(N, dtype=F64) - E) @ b)
        w_exact = hd.weights_at(m, w_bar, torch.tensor([t], dtype=F64))[0]
        assert torch.allclose(w_exact, w_bar + e_t, atol=1e-11, rtol=0)


def test_frozen_subspace_never_moves():
    N, P = 30, 12
    X, eps, w_bar, w0 = _problem(N, P, seed=5)
    m = hd.modes_from_data(X, eps, w_bar, w0)
    assert int(m.frozen.sum()) == N - P
    assert torch.all(m.lam[m.frozen] == 0) and torch.all(m.n[m.frozen] == 0)
    # the null space of X, found independently by an SVD of X
    _, _, Vh = torch.linalg.svd(X, full_matrices=True)
    null = Vh[P:].T  # (N, N - P)
    assert float((X @ null).abs().max()) < 1e-12
    t = torch.tensor([0.0, 1.0, 1e2, 1e5], dtype=F64)
    w_t = hd.weights_at(m, w_bar, t)
    assert float((null.T @ (w_t - w0).T).abs().max()) < 1e-10
    # ... also at t -> infinity, where the rest sits at the least-squares interpolant
    y = X @ w_bar + eps
    w_inf = null @ (null.T @ w0) + torch.linalg.pinv(X) @ y
    e_inf2 = ((w_inf - w_bar) ** 2).mean() + 0.5**2
    assert float(hd.test_error_inf(m, 0.5)) == pytest.approx(float(e_inf2), rel=1e-10)
    # and it moves elsewhere: the data span does change
    assert float(((w_t[-1] - w0) ** 2).sum()) > 1.0


@pytest.mark.parametrize("P", [8, 40])
def test_test_and_train_error_equal_direct_evaluation(P):
    N, sig = 20, 0.4
    X, eps, w_bar, w0 = _problem(N, P, seed=P, sigma_eps=sig)
    y = X @ w_bar + eps
    m = hd.modes_from_data(X, eps, w_bar, w0)
    t = torch.tensor([0.0, 0.5, 3.0, 50.0], dtype=F64)
    w_t = hd.weights_at(m, w_bar, t)
    direct_test = ((w_t - w_bar) ** 2).mean(-1) + sig**2
    assert torch.allclose(hd.test_error(m, t, sig, chunk=3), direct_test, rtol=1e-12, atol=0)
    direct_train = ((y - w_t @ X.T) ** 2).mean(-1)
    assert torch.allclose(hd.train_error(m, t, (eps**2).sum(), P), direct_train, rtol=1e-9, atol=1e-12)


def test_nested_modes_equal_separate_problems():
    N, S = 15, 3
    X, eps, w_bar, w0 = _problem(N, 40, seed=9, S=(S,))
    Ps = [6, 15, 40]
    nm = hd.nested_modes(X, eps, w_bar, w0, Ps)
    t = torch.tensor([0.0, 1.0, 30.0], dtype=F64)
    for i, P in enumerate(Ps):
        m = hd.modes_from_data(X[:, :P], eps[:, :P], w_bar, w0)
        assert torch.allclose(hd.test_error(nm, t, 0.3)[i], hd.test_error(m, t, 0.3), rtol=1e-10)
        assert torch.allclose(hd.test_error_inf(nm, 0.3)[i], hd.test_error_inf(m, 0.3), rtol=1e-10)
        assert int(nm.frozen[i].sum(-1)[0]) == max(N - P, 0)


@pytest.mark.parametrize("alpha", [0.3, 0.5, 1.0, 2.0, 4.0])
def test_mp_density_mass_and_moments(alpha):
    one = hd.mp_expect(np.ones_like, alpha)
    assert one == pytest.approx(min(1.0, alpha), abs=1e-9)  # the bulk
    assert one + hd.mp_point_mass(alpha) == pytest.approx(1.0, abs=1e-9)  # plus the frozen point mass
    assert hd.mp_expect(lambda l: l, alpha) == pytest.approx(alpha, rel=1e-9)  # tr(X^T X)/N = alpha
    if alpha != 1.0:  # int rho / lam: 1/(alpha-1) above, alpha/(1-alpha) below the transition
        want = 1 / (alpha - 1) if alpha > 1 else alpha / (1 - alpha)
        assert hd.mp_expect(lambda l: 1 / l, alpha) == pytest.approx(want, rel=1e-8)
    # the density function itself, integrated on a plain grid (edges are sqrt-singular: loose tolerance)
    lo, hi = hd.mp_edges(alpha)
    lam = np.linspace(lo, hi, 400001)
    trapezoid = getattr(np, "trapezoid", None) or np.trapz
    assert trapezoid(hd.mp_density(lam, alpha), lam) == pytest.approx(min(1.0, alpha), abs=5e-3)


def test_theory_limits():
    a = np.array([0.5, 2.0])
    s, s0 = 0.5, 0.8
    th = hd.theory_test_error(a, [0.0, 1e7], s, s0)
    assert th[:, 0] == pytest.approx([s**2 + 1 + s0**2] * 2)  # t = 0: nothing learned yet
    assert th[:, 1] == pytest.approx(hd.theory_test_error_inf(a, s, s0), rel=1e-6)
    assert hd.theory_test_error_inf(1.0, s) == np.inf
    # more quadrature points change nothing (spectral convergence of the cosine substitution)
    t = hd.log_times(1e-2, 1e4, 30)
    a = np.array([0.5, 0.9, 1.0, 1.1, 2.0])
    assert np.allclose(hd.theory_test_error(a, t, s, n=2048), hd.theory_test_error(a, t, s, n=16384), rtol=1e-6)


def test_simulation_follows_mp_theory():
    """Average over 40 draws at N = 200. The per-draw error is an average over N modes, with relative
    fluctuations of order sqrt(2/N) = 0.1 (mostly from the teacher's projection on the eigenbasis), so
    40 draws leave about 0.1/sqrt(40) = 0.016 of noise; finite-N corrections are O(1/N). A 6% tolerance
    is then a >3-sigma bound that a wrong density (e.g. a mis-scaled alpha) or a missing frozen term
    (0.5 (1 + sigma0^2) at alpha = 0.5) breaks by far."""
    N, S, s, s0 = 200, 40, 0.5, 0.5
    alphas = np.array([0.5, 2.0])
    Ps = (alphas * N).astype(int)
    X, eps, w_bar, w0 = _problem(N, int(Ps.max()), seed=11, sigma_eps=s, sigma0=s0, S=(S,))
    m = hd.nested_modes(X, eps, w_bar, w0, Ps)
    t = hd.log_times(1e-2, 1e4, 40)
    sim = hd.test_error(m, t, s).mean(1).numpy()
    th = hd.theory_test_error(alphas, t, s, s0)
    assert np.abs(sim / th - 1).max() < 0.06
    inf = hd.test_error_inf(m, s).mean(1).numpy()
    assert np.abs(inf / hd.theory_test_error_inf(alphas, s, s0) - 1).max() < 0.06


def test_early_stopping_helper():
    t = np.array([0.0, 1.0, 2.0, 3.0])
    best, when = hd.early_stopping(np.array([[3.0, 1.0, 2.0, 4.0], [5.0, 4.0, 3.0, 2.0]]), t)
    assert best.tolist() == [1.0, 2.0] and when.tolist() == [1.0, 3.0]


def test_several_init_scales_broadcast():
    N, P = 20, 10
    X, eps, w_bar, _ = _problem(N, P, seed=2)
    g = torch.randn(N, generator=torch.Generator().manual_seed(4), dtype=F64)
    m = hd.modes_from_data(X, eps, w_bar, torch.zeros(N, dtype=F64))
    sig0 = torch.tensor([0.0, 0.5, 1.0], dtype=F64)
    ms = m.with_e0(sig0[:, None] * g - w_bar)
    inf = hd.test_error_inf(ms, 0.2)
    assert inf.shape == (3,)
    for i, s0 in enumerate(sig0):
        mi = hd.modes_from_data(X, eps, w_bar, s0 * g)
        assert float(inf[i]) == pytest.approx(float(hd.test_error_inf(mi, 0.2)), rel=1e-10)
    assert hd.test_error(ms, torch.tensor([0.0, 1.0], dtype=F64), 0.2).shape == (3, 2)
