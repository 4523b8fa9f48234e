"""Unit tests of theorylab.papers.gao2024global: the batched mean-field residual attention model, its 1/M and
1/L scalings, the mean-field gradient step, the teacher task and the spread helpers."""

import math

import pytest
import torch

from theorylab.papers import gao2024global as mf

F64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def naive_forward(p, X):
    """One model (index 0 of the batch), heads and neurons looped over explicitly."""
    W, V, a, b = (p[k][0] for k in mf.PARAMS)
    L, M = W.shape[:2]
    H = mf.embed(X)  # (B, N, D)
    for l in range(L):
        upd = torch.zeros_like(H)
        for m in range(M):
            A = torch.softmax(H @ W[l, m] @ H.transpose(-1, -2), dim=-1)  # (B, N, N)
            upd = upd + A @ H @ V[l, m]
        H = H + upd / (L * M)
        upd = torch.zeros_like(H)
        for m in range(M):
            upd = upd + torch.tanh(H @ b[l, m]).unsqueeze(-1) * a[l, m]
        H = H + upd / (L * M)
    return H[..., -1].mean(-1)


def test_shapes_and_batched_forward_matches_naive_loop():
    p = mf.init_params(3, 2, 5, 4, generator=gen(), dtype=F64)
    assert p["W"].shape == (3, 2, 5, 4, 4) and p["a"].shape == (3, 2, 5, 4)
    X = torch.randn(7, 6, 3, generator=gen(1), dtype=F64)
    y = mf.forward(p, X)
    assert y.shape == (3, 7)
    for s in range(3):
        ps = {k: v[s : s + 1] for k, v in p.items()}
        assert torch.allclose(y[s], naive_forward(ps, X), atol=1e-12)


def test_determinism_given_generator():
    p1 = mf.init_params(2, 2, 4, 4, generator=gen(5))
    p2 = mf.init_params(2, 2, 4, 4, generator=gen(5))
    assert all(torch.equal(p1[k], p2[k]) for k in mf.PARAMS)
    d1 = mf.teacher_task(10, 5, 4, 3, generator=gen(3))
    d2 = mf.teacher_task(10, 5, 4, 3, generator=gen(3))
    assert all(torch.equal(u, v) for u, v in zip(d1, d2))
    r1 = mf.train(p1, d1[0], d1[1], lr=0.1, lam=1e-4, steps=3)["loss"]
    r2 = mf.train(p2, d2[0], d2[1], lr=0.1, lam=1e-4, steps=3)["loss"]
    assert torch.equal(r1, r2)


def test_output_at_init_concentrates_like_one_over_M():
    """The 1/M average: the variance over seeds of the initial output shrinks ~ 1/M."""
    X = torch.randn(16, 4, 3, generator=gen(1), dtype=F64)
    var = {}
    for M in (4, 64):
        p = mf.init_params(200, 1, M, 4, generator=gen(M), dtype=F64)
        var[M] = mf.forward(p, X).var(0).mean().item()
    ratio = var[4] / var[64]  # 16 for an exact 1/M law
    assert 8 < ratio < 32


def test_residual_scaling_keeps_the_stream_bounded_in_depth():
    """With the 1/L scaling the stream after L blocks stays O(1) and converges as L grows (Euler
    steps of an ODE); here every layer shares one set of particles, so the limit is deterministic."""
    X = torch.randn(8, 4, 3, generator=gen(2), dtype=F64)
    base = mf.init_params(1, 1, 16, 4, generator=gen(3), dtype=F64)
    outs = {}
    for L in (2, 8, 32, 128):
        p = {k: v.expand(1, L, *v.shape[2:]).contiguous() for k, v in base.items()}
        y, H = mf.forward(p, X, return_stream=True)
        assert H.abs().max() < 20
        outs[L] = y
    e1 = (outs[8] - outs[128]).abs().max()
    e2 = (outs[32] - outs[128]).abs().max()
    assert e2 < 0.5 * e1  # first-order convergence in 1/L


def test_batched_gradient_equals_per_model_gradients():
    p = mf.init_params(3, 2, 4, 4, generator=gen(4), dtype=F64)
    X, y, _, _ = mf.teacher_task(9, 1, 4, 3, generator=gen(5), dtype=F64)
    ps = {k: v.clone().requires_grad_(True) for k, v in p.items()}
    _, obj = mf.objective(ps, X, y, lam=1e-2)
    g_all = torch.autograd.grad(obj.sum(), [ps[k] for k in mf.PARAMS])
    for s in range(3):
        one = {k: v[s : s + 1].clone().requires_grad_(True) for k, v in p.items()}
        _, o = mf.objective(one, X, y, lam=1e-2)
        g_one = torch.autograd.grad(o.sum(), [one[k] for k in mf.PARAMS])
        for ga, go in zip(g_all, g_one):
            assert torch.allclose(ga[s : s + 1], go, atol=1e-12)


def test_gd_step_uses_the_mean_field_time_scale_and_decreases_the_loss():
    p = mf.init_params(2, 2, 8, 4, generator=gen(6), dtype=F64)
    X, y, _, _ = mf.teacher_task(16, 1, 4, 3, generator=gen(7), dtype=F64)
    ps = {k: v.clone().requires_grad_(True) for k, v in p.items()}
    _, obj = mf.objective(ps, X, y, lam=0.0)
    gV = torch.autograd.grad(obj.sum(), ps["V"])[0]
    q = {k: v.clone() for k, v in p.items()}
    mf.gd_step(q, X, y, lr=1e-3, lam=0.0)
    assert torch.allclose(q["V"], p["V"] - 1e-3 * 2 * 8 * gV, atol=1e-12)  # lr * L * M * grad
    out = mf.train(p, X, y, lr=0.1, lam=1e-4, steps=40)
    assert out["loss"].shape == (41, 2)
    assert (out["loss"][-1] < 0.7 * out["loss"][0]).all()


def test_weight_decay_is_a_particle_average():
    p = {k: torch.ones_like(v) for k, v in mf.init_params(2, 3, 5, 4, generator=gen()).items()}
    # per particle: |W|^2 + |V|^2 + |a|^2 + |b|^2 = 16 + 16 + 4 + 4 = 40
    assert torch.allclose(mf.weight_decay(p), torch.full((2,), 20.0))


def test_teacher_task_is_standardised():
    X, y, Xt, yt = mf.teacher_task(500, 50, 5, 3, generator=gen(8))
    assert X.shape == (500, 5, 3) and Xt.shape == (50, 5, 3) and y.shape == (500,)
    assert abs(y.mean().item()) < 1e-5 and abs(y.std().item() - 1) < 1e-5


def test_spread_helpers():
    pred = torch.tensor([[1.0, 2.0], [3.0, 2.0]])
    assert math.isclose(mf.seed_spread(pred), math.sqrt(1.0), rel_tol=1e-6)  # std over models: sqrt(2), 0
    assert math.isclose(mf.seed_spread(pred, y_scale=2.0), 0.5, rel_tol=1e-6)
    c1, c2 = torch.tensor([1.0, 0.5, 0.2]), torch.tensor([1.0, 0.3, 0.25])
    assert math.isclose(mf.curve_gap(c1, c2, ref=2.0), 0.1, rel_tol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():  # pragma: no cover - only with a GPU
    p = mf.init_params(2, 2, 4, 4, generator=gen(), dtype=F64)
    X = torch.randn(5, 4, 3, generator=gen(1), dtype=F64)
    pc = {k: v.cuda() for k, v in p.items()}
    assert torch.allclose(mf.forward(pc, X.cuda()).cpu(), mf.forward(p, X), atol=1e-10)


def test_width_power_scales_the_average():
    """With the attention switched off (V = 0) and L = 1, the output is (1/M^p) sum_m a_m tanh(b_m^T h): the
    standard parameterisation (p = 1/2) is exactly sqrt(M) times the mean-field one (p = 1)."""
    g = torch.Generator().manual_seed(3)
    p = mf.init_params(2, 1, 16, 4, generator=g, dtype=torch.float64)
    p["V"] = torch.zeros_like(p["V"])
    X = torch.randn(5, 3, 3, generator=g, dtype=torch.float64)
    torch.testing.assert_close(mf.forward(p, X, width_power=0.5), 4.0 * mf.forward(p, X), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(mf.forward(p, X, width_power=1.0), mf.forward(p, X), rtol=0, atol=0)
