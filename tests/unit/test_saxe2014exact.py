"""Unit tests of theorylab.papers.saxe2014exact: data, initialisers, batched GD and the exact mode dynamics."""

import numpy as np
import pytest
import torch

from theorylab.papers import saxe2014exact as dl

F64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def eye(n):
    return torch.eye(n, dtype=F64)


# -- data ------------------------------------------------------------------------------------
@pytest.mark.parametrize("n,m", [(5, 5), (7, 3), (3, 7)])
def test_random_orthonormal(n, m):
    Q = dl.random_orthonormal(n, m, batch=4, generator=gen())
    assert Q.shape == (4, n, m)
    k = min(n, m)
    G = Q.transpose(-2, -1) @ Q if n >= m else Q @ Q.transpose(-2, -1)
    assert torch.allclose(G, eye(k).expand(4, k, k), atol=1e-12)


def test_svd_regression_statistics_and_loss():
    d = dl.svd_regression([3.0, 1.0, 0.5], n_in=6, n_out=4, n_items=10, generator=gen())
    assert torch.allclose(d["Sigma11"], eye(6), atol=1e-12)
    assert torch.allclose(d["Sigma31"], (d["U"] * d["s"]) @ d["V"].T, atol=1e-12)
    # the data loss 1/(2P) sum |y - W x|^2 equals 1/2 |Sigma31 - W|^2 for whitened inputs
    W = torch.randn(4, 6, generator=gen(1), dtype=F64)
    P = d["X"].shape[1]
    data_loss = 0.5 * ((d["Y"] - W @ d["X"]) ** 2).sum() / P
    loss, _ = dl.loss_and_grads([W[None]], d["Sigma31"])
    assert torch.allclose(loss[0], data_loss, atol=1e-10)


def test_hierarchical_regression_levels():
    d = dl.hierarchical_regression(levels=3)
    assert torch.allclose(d["Sigma11"], eye(8), atol=1e-12)
    assert torch.allclose((d["U"] * d["s"]) @ d["V"].T, d["Sigma31"], atol=1e-10)
    s = d["s"].numpy()
    # one distinct singular value per tree level, with multiplicities 1, 1, 2, 4
    levels, counts = np.unique(np.round(s, 8), return_counts=True)
    assert sorted(counts.tolist()) == [1, 1, 2, 4]
    assert np.all(np.diff(s) <= 1e-12)


# -- initialisers ----------------------------------------------------------------------------
def test_orthogonal_init_singular_values():
    Ws = dl.orthogonal_init([6, 6, 6, 4], batch=3, gain=1.3, generator=gen())
    for W in Ws:
        sv = torch.linalg.svdvals(W)
        assert torch.allclose(sv, torch.full_like(sv, 1.3), atol=1e-12)
    sv = torch.linalg.svdvals(dl.end_to_end(Ws))
    assert torch.allclose(sv, torch.full_like(sv, 1.3**3), atol=1e-10)


def test_gaussian_init_scale():
    Ws = dl.gaussian_init([50, 40, 10], batch=200, generator=gen())
    assert abs(float(Ws[0].std()) - 1 / np.sqrt(50)) < 0.01 / np.sqrt(50) * 5
    assert abs(float(Ws[1].std()) - 1 / np.sqrt(40)) < 0.01 / np.sqrt(40) * 5
    small = dl.gaussian_init([5, 5], batch=100, std=1e-3, generator=gen())
    assert abs(float(small[0].std()) - 1e-3) < 1e-4


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_decoupled_init_exact_modes_and_balanced(depth):
    d = dl.svd_regression([2.0, 1.0, 0.5], n_in=5, n_out=4, generator=gen())
    u0 = torch.tensor([1e-3, 2e-2, 0.3], dtype=F64)
    dims = [5] + [7] * (depth - 1) + [4]
    Ws = dl.decoupled_init(d["U"], d["V"], u0, dims, batch=2, generator=gen(3))
    W = dl.end_to_end(Ws)
    M = d["U"].T @ W @ d["V"]
    assert torch.allclose(M, torch.diag_embed(u0).expand(2, 3, 3), atol=1e-14)
    assert torch.allclose(dl.mode_strengths(W, d["U"], d["V"]), u0.expand(2, 3), rtol=1e-10)
    for lo, hi in zip(Ws[:-1], Ws[1:]):  # balanced: W_{l+1}^T W_{l+1} = W_l W_l^T
        assert torch.allclose(hi.transpose(-2, -1) @ hi, lo @ lo.transpose(-2, -1), atol=1e-12)


# -- network and gradient descent ------------------------------------------------------------
def test_grads_match_autograd():
    Sig = torch.randn(3, 4, generator=gen(), dtype=F64)
    Ws = dl.gaussian_init([4, 5, 6, 3], batch=2, generator=gen(1))
    loss, grads = dl.loss_and_grads(Ws, Sig)
    leaves = [W.clone().requires_grad_(True) for W in Ws]
    ref = 0.5 * ((Sig - dl.end_to_end(leaves)) ** 2).sum(dim=(-2, -1))
    ref.sum().backward()
    assert torch.allclose(loss, ref.detach())
    for g_ours, leaf in zip(grads, leaves):
        assert torch.allclose(g_ours, leaf.grad, atol=1e-12)


def test_batched_training_equals_unbatched():
    d = dl.svd_regression([2.0, 1.0], n_in=4, n_out=3, generator=gen())
    Ws = dl.gaussian_init([4, 6, 6, 3], batch=3, std=0.3, generator=gen(1))
    lrs = torch.tensor([0.01, 0.05, 0.1], dtype=F64)
    both = dl.train_gd(Ws, d["Sigma31"], lrs, 50, U=d["U"], V=d["V"])
    for b in range(3):
        one = dl.train_gd([W[b : b + 1] for W in Ws], d["Sigma31"], float(lrs[b]), 50, U=d["U"], V=d["V"])
        assert torch.allclose(both["loss"][:, b], one["loss"][:, 0], rtol=1e-12, atol=1e-14)
        assert torch.allclose(both["modes"][:, b], one["modes"][:, 0], rtol=1e-12, atol=1e-14)
        for Wb, Wo in zip(both["Ws"], one["Ws"]):
            assert torch.allclose(Wb[b], Wo[0], atol=1e-13)


def test_divergent_run_is_flagged_and_isolated():
    d = dl.svd_regression([2.0, 1.0], n_in=3, n_out=3, generator=gen())
    Ws = dl.orthogonal_init([3, 3, 3, 3], batch=2, generator=gen(1))
    out = dl.train_gd(Ws, d["Sigma31"], torch.tensor([0.05, 50.0], dtype=F64), 100)
    assert out["diverged"].tolist() == [False, True]
    assert torch.isinf(out["loss"][-1, 1]) and bool(torch.isfinite(out["loss"][:, 0]).all())
    alone = dl.train_gd([W[:1] for W in Ws], d["Sigma31"], 0.05, 100)
    assert torch.allclose(out["loss"][:, 0], alone["loss"][:, 0], rtol=1e-12)


def test_early_stop():
    d = dl.svd_regression([1.0], n_in=2, n_out=2, generator=gen())
    Ws = dl.orthogonal_init([2, 2, 2], batch=1, generator=gen(1))
    out = dl.train_gd(Ws, d["Sigma31"], 0.1, 1000, stop=lambda step, loss: step >= 7)
    assert out["t"][-1] == 7 and len(out["t"]) == 8


# -- exact dynamics --------------------------------------------------------------------------
def _decoupled_run(depth, s, u0, lr, steps, seed=0):
    d = dl.svd_regression(s, n_in=5, n_out=4, generator=gen(seed))
    dims = [5] + [6] * (depth - 1) + [4]
    Ws = dl.decoupled_init(d["U"], d["V"], torch.full((len(s),), u0, dtype=F64), dims, batch=1, generator=gen(seed + 1))
    return dl.train_gd(Ws, d["Sigma31"], lr, steps, U=d["U"], V=d["V"], record_every=5)


def test_three_layer_simulation_follows_analytic_curves():
    s, u0, lr = np.array([3.0, 1.5, 0.75]), 1e-4, 0.002
    out = _decoupled_run(2, list(s), u0, lr, 9000)
    sim = out["modes"][:, 0].numpy()
    theory = dl.mode_strength(out["t"][:, None], s, u0, tau=1 / lr)  # tau = 1/lr for our loss
    assert np.max(np.abs(sim - theory) / s) < 0.01
    th = dl.crossing_times(out["modes"][:, 0], out["t"], s / 2)
    assert np.allclose(th, dl.half_time(s, u0, tau=1 / lr), rtol=0.01)
    assert np.all(np.diff(th) > 0)  # stronger modes first
    # the modes stay decoupled: U^T W V stays diagonal
    assert float(out["modes"][-1, 0].min()) > 0.99 * s.min()


def test_deep_mode_strength_quadrature():
    t = np.linspace(0, 10, 50)
    s, u0 = np.array([2.0, 0.5]), np.array([1e-3, 1e-2])
    assert np.allclose(dl.deep_mode_strength(t, s, u0, depth=2), dl.mode_strength(t[:, None], s, u0), atol=1e-6)
    assert np.allclose(dl.deep_half_time(s, u0, depth=2), dl.half_time(s, u0), rtol=1e-6)
    assert dl.deep_mode_strength(0.0, 1.0, 0.1, depth=4) == pytest.approx(0.1, rel=1e-9)


def test_deep_simulation_follows_reduced_dynamics():
    s, u0, lr = np.array([2.0, 1.0]), 0.05, 0.002
    out = _decoupled_run(4, list(s), u0, lr, 6000)
    theory = dl.deep_mode_strength(out["t"], s, u0, depth=4, tau=1 / lr)
    assert np.max(np.abs(out["modes"][:, 0].numpy() - theory) / s) < 0.02
    th = dl.crossing_times(out["modes"][:, 0], out["t"], s / 2)
    assert np.allclose(th, dl.deep_half_time(s, u0, depth=4, tau=1 / lr), rtol=0.02)


def test_crossing_times():
    t = np.arange(5.0)
    c = np.array([[0.0, 4.0], [1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [4.0, 0.5]])
    assert np.allclose(dl.crossing_times(c, t, 2.5), [2.5, 0.0])
    assert np.allclose(dl.crossing_times(c, t, [2.5, 1.5], rising=False), [0.0, 2.5])
    assert np.isnan(dl.crossing_times(c, t, 10.0)).all()


def test_deep_time_to():
    s, u0 = 2.0, 1e-3
    u = np.array([0.01, 1.0, 1.9])
    ref = 0.5 / s * np.log(u * (s - u0) / (u0 * (s - u)))
    assert np.allclose(dl.deep_time_to(u, s, u0, depth=2), ref, rtol=1e-6)
    # deeper nets from the same small u0 take longer
    assert dl.deep_half_time(s, u0, depth=4) > dl.deep_half_time(s, u0, depth=2)


@pytest.mark.parametrize("depth,rtol", [(2, 0.02), (5, 0.06)])
def test_adaptive_gradient_flow_follows_theory(depth, rtol):
    s, u0 = np.array([2.0, 0.5]), 1e-3
    d = dl.svd_regression(list(s), n_in=4, n_out=3, generator=gen())
    Ws = dl.decoupled_init(
        d["U"], d["V"], torch.full((2,), u0, dtype=F64), [4] + [5] * (depth - 1) + [3], batch=1, generator=gen(1)
    )
    t_end = float(dl.deep_time_to(0.98 * s[-1], s[-1], u0, depth))
    out = dl.train_flow(Ws, d["Sigma31"], t_end, U=d["U"], V=d["V"])
    assert out["t"].shape[0] < 5000  # the plateaus cost few steps
    t = out["t"][:, 0].numpy()
    assert t[-1] == pytest.approx(t_end)
    # deep transitions are steep: compare timings (half-times), and the end point
    th = dl.crossing_times(out["modes"][:, 0], t, s / 2)
    assert np.allclose(th, dl.deep_half_time(s, u0, depth), rtol=rtol)
    assert np.allclose(out["modes"][-1, 0].numpy(), dl.deep_mode_strength(t_end, s, u0, depth), rtol=0.02)


# -- make_init and the effective initial strength --------------------------------------------
def test_make_init_kinds_and_bad_input():
    d = dl.svd_regression([2.0, 1.0], n_in=5, n_out=3, generator=gen())
    dims = [5, 6, 3]
    dec = dl.make_init("decoupled", dims, 2, U=d["U"], V=d["V"], u0=1e-3, generator=gen(1))
    assert torch.allclose(dl.mode_strengths(dl.end_to_end(dec), d["U"], d["V"]), torch.full((2, 2), 1e-3, dtype=F64))
    orth = dl.make_init("orthogonal", dims, 2, gain=0.5, generator=gen(2))
    assert torch.allclose(torch.linalg.svdvals(orth[0]), torch.full((2, 5), 0.5, dtype=F64), atol=1e-12)
    g1 = dl.make_init("gaussian", dims, 1, gain=2.0, generator=gen(3))
    g2 = dl.gaussian_init(dims, 1, generator=gen(3))
    assert all(torch.allclose(a, 2 * b) for a, b in zip(g1, g2))
    small = dl.make_init("small", dims, 400, std=1e-3, generator=gen(4))
    assert abs(float(small[0].std()) - 1e-3) < 1e-4
    with pytest.raises(ValueError, match="decoupled, small, orthogonal, gaussian"):
        dl.make_init("xavier", dims, 1)
    with pytest.raises(ValueError, match="U and V"):
        dl.make_init("decoupled", dims, 1)


def test_effective_u0_predicts_random_start_half_times():
    s, lr = np.array([2.0, 0.5]), 0.01
    d = dl.svd_regression(list(s), n_in=6, n_out=4, generator=gen())
    Ws = dl.make_init("small", [6, 8, 4], 4, std=1e-3, generator=gen(1))
    u0 = dl.effective_u0(Ws, d["U"], d["V"]).numpy()
    assert u0.shape == (4, 2) and np.all(u0 > 0)
    out = dl.train_gd(Ws, d["Sigma31"], lr, 2500, U=d["U"], V=d["V"], record_every=5)
    th = dl.crossing_times(out["modes"], out["t"], s / 2)
    assert np.allclose(th, dl.half_time(s, u0, tau=1 / lr), rtol=0.15)
    with pytest.raises(ValueError, match="one hidden layer"):
        dl.effective_u0(Ws[:1], d["U"], d["V"])
