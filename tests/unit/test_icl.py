"""Unit tests for theorylab.icl: tasks, linear self-attention, the GD construction and the GD baselines."""

import math

import pytest
import torch

from theorylab import icl, metrics

F64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def tasks64(batch=64, n_ctx=10, dim=5, seed=0, **kw):
    return icl.sample_regression(batch, n_ctx, dim, gen(seed), dtype=F64, **kw)


# -- sampler ------------------------------------------------------------------------------------------
def test_sampler_shapes_and_layout():
    t = icl.sample_regression(7, 10, 3, gen())
    assert t.tokens.shape == (7, 11, 4) and t.target.shape == (7,) and t.w.shape == (7, 3)
    assert t.tokens.dtype == torch.float32 and len(t) == 7 and t.n_ctx == 10 and t.dim == 3
    assert torch.all(t.tokens[:, -1, -1] == 0)  # query token [x_q, 0]
    torch.testing.assert_close(t.y, torch.einsum("bnd,bd->bn", t.x, t.w))
    torch.testing.assert_close(t.target, (t.xq * t.w).sum(-1))
    assert t.x.abs().max() <= 0.5 and t.xq.abs().max() <= 0.5  # U(-0.5, 0.5): the official data


def test_sampler_is_deterministic_and_seed_dependent():
    a, b, c = (icl.sample_regression(5, 4, 2, gen(s)) for s in (1, 1, 2))
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.w, b.w)
    assert not torch.equal(a.tokens, c.tokens)


def test_sampler_options():
    t = icl.sample_regression(4000, 10, 2, gen(), x_scale=1.0, x_dist="uniform")
    assert t.x.abs().max() <= 1.0 and t.x.abs().max() > 0.9
    t = icl.sample_regression(4000, 10, 2, gen(), x_dist="normal", x_scale=2.0, dtype=F64)
    assert abs(float(t.x.std()) - 2.0) < 0.05
    clean = icl.sample_regression(50, 10, 3, gen(3), dtype=F64)
    noisy = icl.sample_regression(50, 10, 3, gen(3), dtype=F64, noise_std=0.1)
    assert torch.equal(clean.x, noisy.x) and torch.equal(clean.target, noisy.target)
    assert 0 < float((clean.y - noisy.y).abs().max()) < 1.0
    with pytest.raises(ValueError):
        icl.sample_regression(2, 2, 2, gen(), x_dist="cauchy")


def test_tasks_split_and_to():
    t = icl.sample_regression(6, 3, 2, gen())
    parts = t.split(3)
    assert len(parts) == 3 and all(len(p) == 2 for p in parts)
    assert torch.equal(torch.cat([p.tokens for p in parts]), t.tokens)
    assert t.to(dtype=F64).tokens.dtype == F64


# -- the construction: one LSA layer = one GD step ------------------------------------------------------
@pytest.mark.parametrize("dim,n_ctx,eta", [(5, 10, 0.7), (10, 10, 8.0), (3, 25, -1.3)])
def test_gd_layer_equals_one_gd_step_exactly(dim, n_ctx, eta):
    t = tasks64(batch=500, n_ctx=n_ctx, dim=dim, seed=dim)
    w1 = eta / n_ctx * torch.einsum("bn,bnd->bd", t.y, t.x)  # w_1 = w_0 - eta grad L(w_0), w_0 = 0
    expected = (w1 * t.xq).sum(-1)
    with torch.no_grad():
        got = icl.gd_lsa(dim, n_ctx, [eta])(t.tokens)
    assert float((got - expected).abs().max()) < 1e-12
    assert float((icl.gd_predict(t.tokens, [eta]) - expected).abs().max()) < 1e-12


def test_gd_stack_equals_multistep_gd_and_gdpp():
    t = tasks64(batch=300, n_ctx=8, dim=4, seed=5)
    etas = [3.0, 5.0, 2.0]
    w = torch.zeros(len(t), 4, dtype=F64)
    for eta in etas:  # plain GD in weight space
        grad = torch.einsum("bn,bnd->bd", torch.einsum("bnd,bd->bn", t.x, w) - t.y, t.x) / 8
        w = w - eta * grad
    expected = (w * t.xq).sum(-1)
    with torch.no_grad():
        stack, stack_pp = icl.gd_lsa(4, 8, etas)(t.tokens), icl.gd_lsa(4, 8, etas, [0.4, 0.2, 0.3])(t.tokens)
    assert float((stack - expected).abs().max()) < 1e-12
    assert float((icl.gd_predict(t.tokens, etas) - expected).abs().max()) < 1e-12
    gammas = [0.4, 0.2, 0.3]  # GD++: attention and residual forms agree
    diff = stack_pp - icl.gd_predict(t.tokens, etas, gammas)
    assert float(diff.abs().max()) < 1e-12


def test_gd_layer_products():
    q, k, v, p = icl.gd_layer_weights(3, 10, eta=2.0, gamma=0.5)
    w_kq, w_pv = k.T @ q, p @ v
    e = torch.zeros(4, 4, dtype=F64)
    e[:3, :3] = torch.eye(3, dtype=F64)
    torch.testing.assert_close(w_kq, e)
    torch.testing.assert_close(w_pv, torch.diag(torch.tensor([-0.05, -0.05, -0.05, -0.2], dtype=F64)))
    m = icl.gd_lsa(3, 10, [2.0], [0.5])
    kq, pv = m.products()
    torch.testing.assert_close(kq[0, 0], w_kq)
    torch.testing.assert_close(pv[0, 0], w_pv)


# -- the LSA module ---------------------------------------------------------------------------------------
def test_readout_fast_path_equals_full_layer():
    t = tasks64(batch=40, seed=2)
    g = gen(9)
    w_kq, w_pv = torch.randn(6, 6, generator=g, dtype=F64), torch.randn(6, 6, generator=g, dtype=F64)
    full = -icl.lsa_layer(t.tokens, w_kq, w_pv)[..., -1, -1]
    torch.testing.assert_close(icl.lsa_readout(t.tokens, w_kq, w_pv), full)
    # the layer written with separate Q, K, V, P as attention: P V sum_i e_i (K e_i).(Q e_j)
    q, k, v, p = (torch.randn(6, 6, generator=g, dtype=F64) for _ in range(4))
    h = t.tokens
    ctx = h[:, :-1]
    scores = (h @ q.T) @ (ctx @ k.T).transpose(1, 2)  # (B, T, N): (Q e_j).(K e_i)
    attn = h + (scores @ (ctx @ v.T)) @ p.T
    torch.testing.assert_close(icl.lsa_layer(h, k.T @ q, p @ v), attn)


@pytest.mark.parametrize("layers,tied", [(1, False), (2, True), (3, False)])
def test_replicas_match_single_models(layers, tied):
    t = tasks64(batch=30, n_ctx=6, dim=3, seed=4)
    m = icl.LinearSelfAttention(
        3, layers, tied=tied, replicas=4, init_scale=[0.5, 1.0, 2.0, 3.0], generator=gen(1), dtype=F64
    )
    out = m(t.tokens)
    assert out.shape == (4, 30)
    for r in range(4):
        torch.testing.assert_close(out[r], m.replica(r)(t.tokens))
    rep = t.tokens.expand(4, -1, -1, -1)  # tokens given per replica
    torch.testing.assert_close(m(rep), out)
    every = m(t.tokens, all_layers=True)
    assert every.shape == (layers, 4, 30)
    torch.testing.assert_close(every[-1], out)


def test_init_scale_matches_variance_scaling():
    m = icl.LinearSelfAttention(10, 1, replicas=400, init_scale=0.002, generator=gen(0), dtype=F64).requires_grad_(
        False
    )
    std = float(m.Q.std())
    assert abs(std / math.sqrt(0.002 / 11) - 1) < 0.02
    assert float(m.Q.abs().max()) <= 2 * math.sqrt(0.002 / 11) / 0.87962566103423978 + 1e-12
    a = icl.LinearSelfAttention(2, 1, generator=gen(3))
    b = icl.LinearSelfAttention(2, 1, generator=gen(3))
    assert torch.equal(a.Q, b.Q) and torch.equal(a.P, b.P)
    z = icl.LinearSelfAttention(2, 2, init_scale=0.0)
    assert float(z.Q.detach().abs().sum()) == 0.0


def test_products_and_tied_parameter_count():
    m = icl.LinearSelfAttention(2, 3, tied=True, generator=gen())
    assert m.Q.shape == (1, 1, 3, 3)
    kq, pv = m.products()
    torch.testing.assert_close(kq[0, 0], m.K[0, 0].T @ m.Q[0, 0])
    torch.testing.assert_close(pv[0, 0], m.P[0, 0] @ m.V[0, 0])
    assert icl.LinearSelfAttention(2, 3, generator=gen()).Q.shape == (1, 3, 3, 3)


# -- GD baselines ------------------------------------------------------------------------------------------
def test_optimal_eta_matches_brute_force_scan():
    t = tasks64(batch=2000, seed=7)
    eta = icl.optimal_eta(t)
    grid = torch.linspace(0.0, 3 * eta, 3001, dtype=F64)
    losses = icl.one_step_gd_losses(t, grid)
    best = float(grid[int(losses.argmin())])
    assert abs(best - eta) <= float(grid[1] - grid[0])
    l_star = float(icl.icl_loss(icl.gd_predict(t.tokens, [eta]), t.target))
    assert l_star <= float(losses.min()) + 1e-15
    # the vectorised curve equals one prediction per step size
    for e in (0.5, eta, 2.0 * eta):
        single = icl.icl_loss(icl.gd_predict(t.tokens, [e]), t.target)
        torch.testing.assert_close(icl.one_step_gd_losses(t, torch.tensor([e], dtype=F64))[0], single)


def test_gd_predict_broadcasts_over_step_sizes():
    t = tasks64(batch=20, seed=8)
    etas = torch.tensor([[1.0, 2.0], [3.0, 0.5]], dtype=F64)  # (steps, 2 settings)
    out = icl.gd_predict(t.tokens, etas)
    assert out.shape == (2, 20)
    torch.testing.assert_close(out[1], icl.gd_predict(t.tokens, [2.0, 0.5]))


def test_fit_gd_orders_the_baselines():
    t = tasks64(batch=2000, seed=11)
    e1, _ = icl.fit_gd(t, 1)
    assert abs(float(e1[0]) / icl.optimal_eta(t) - 1) < 1e-6
    loss = lambda e, g=None: float(icl.icl_loss(icl.gd_predict(t.tokens, e, g), t.target))  # noqa: E731
    e2, _ = icl.fit_gd(t, 2, tied=True)
    assert e2.shape == (2,) and float(e2[0]) == float(e2[1])
    e2p, g2p = icl.fit_gd(t, 2, plus=True, tied=True)
    assert loss(e2p, g2p) < loss(e2) < loss(e1)
    e3, _ = icl.fit_gd(t, 3)
    assert loss(e3) <= loss(e3[:1].expand(3)) + 1e-12


# -- comparisons ---------------------------------------------------------------------------------------------
def test_query_sensitivity_of_gd_and_lsa():
    t = tasks64(batch=50, seed=12)
    eta = 1.7
    s = icl.query_sensitivity(lambda tok: icl.gd_predict(tok, [eta]), t.tokens)
    torch.testing.assert_close(s, eta / 10 * torch.einsum("bn,bnd->bd", t.y, t.x))
    m = icl.LinearSelfAttention(5, 1, init_scale=1.0, generator=gen(2), dtype=F64)
    kq, pv = (p[0, 0] for p in m.products())
    ctx = t.tokens[:, :-1]
    expected = -torch.einsum("bn,bnd->bd", ctx @ pv[-1], ctx @ kq[:, :5])  # -sum_i (p.e_i) W_KQ[:, :d]^T e_i
    torch.testing.assert_close(icl.query_sensitivity(m, t.tokens), expected)


def test_cosines():
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    torch.testing.assert_close(
        metrics.rowwise_cosine(a, torch.tensor([[2.0, 0.0], [-1.0, -1.0]])), torch.tensor([1.0, -1.0])
    )
    assert abs(float(icl.identity_cosine(3.0 * torch.eye(4))) - 1) < 1e-7
    assert abs(float(icl.identity_cosine(-torch.eye(4))) + 1) < 1e-7
    assert abs(float(icl.identity_cosine(torch.tensor([[0.0, 1.0], [1.0, 0.0]])))) < 1e-7


# -- training ------------------------------------------------------------------------------------------------
def test_train_lsa_learns_and_is_deterministic():
    def run(steps, clip=None):
        g = gen(0)
        m = icl.LinearSelfAttention(5, 1, replicas=2, init_scale=0.002, generator=g)
        h = icl.train_lsa(
            m, lambda n: icl.sample_regression(n * 128, 10, 5, g), steps, lr=1e-2, clip=clip, log_every=50
        )
        return m, h

    m, h = run(300)
    assert h["loss"].shape == (6, 2) and h["step"].tolist() == [0, 50, 100, 150, 200, 250]
    test = icl.sample_regression(4000, 10, 5, gen(99), dtype=F64)
    gd = float(icl.icl_loss(icl.gd_predict(test.tokens, [icl.optimal_eta(test)]), test.target))
    with torch.no_grad():
        trained = icl.icl_loss(m.double()(test.tokens), test.target)
    assert float(trained.max()) < 1.1 * gd  # the zero predictor is ~3 x gd here
    _, h2 = run(60)
    assert torch.equal(h["loss"][:2], h2["loss"])
    _, h3 = run(60, clip=1e-3)
    assert not torch.equal(h2["loss"][1:], h3["loss"][1:])  # clipping acts
