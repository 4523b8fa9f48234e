"""Tests for theorylab.papers.li2024theory: the continual linear-regression task stream, the minimum-norm update and the
forgetting / generalization bookkeeping."""

import pytest
import torch

from theorylab.papers import li2024theory as cl

F64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_ground_truths_and_signals():
    W, V = cl.ground_truths(4, 20, (3,), generator=gen())
    assert W.shape == (3, 4, 20) and V.shape == (3, 4, 20) and W.dtype == F64
    eye = torch.eye(4, dtype=F64).expand(3, 4, 4)
    torch.testing.assert_close(V @ V.transpose(1, 2), eye)  # orthonormal signals
    with pytest.raises(ValueError):
        cl.ground_truths(5, 4)


def test_task_inputs_carry_the_signal():
    W, V = cl.ground_truths(3, 12, (5,), generator=gen(1))
    n = torch.tensor([0, 1, 2, 1, 0])
    X = cl.task_inputs(V, n, 4, sigma=0.1, beta=(0.5, 1.0), generator=gen(2))
    assert X.shape == (5, 12, 4)
    col = X[..., 0]
    beta = col.norm(dim=-1)
    assert torch.all((beta >= 0.5) & (beta <= 1.0))
    torch.testing.assert_close(col / beta[:, None], V[torch.arange(5), n])
    with pytest.raises(ValueError):
        cl.task_inputs(V, n, 13)


def test_min_norm_update_interpolates_and_moves_least():
    g = gen(3)
    X = torch.randn(6, 10, 3, generator=g, dtype=F64)
    w = torch.randn(6, 10, generator=g, dtype=F64)
    y = torch.randn(6, 3, generator=g, dtype=F64)
    w1 = cl.min_norm_update(w, X, y)
    torch.testing.assert_close((X.transpose(1, 2) @ w1[..., None])[..., 0], y)  # fits the task
    P = cl.projector(X)
    torch.testing.assert_close(P @ P, P)
    torch.testing.assert_close((P @ (w1 - w)[..., None])[..., 0], w1 - w)  # the move lies in span(X)
    # with y = X^T w_n, the error is projected off span(X)
    wn = torch.randn(6, 10, generator=g, dtype=F64)
    w2 = cl.min_norm_update(w, X, (X.transpose(1, 2) @ wn[..., None])[..., 0])
    eye = torch.eye(10, dtype=F64)
    torch.testing.assert_close(w2 - wn, ((eye - P) @ (w - wn)[..., None])[..., 0])


def test_tracker_matches_brute_force():
    g = gen(4)
    B, M, N, d, s, T = 2, 3, 2, 8, 3, 12
    W, V = cl.ground_truths(N, d, (B,), generator=g)
    w = torch.zeros(B, M, d, dtype=F64)
    tr = cl.CLTracker(W, M)
    hist_m, hist_n, snaps, after = [], [], [], []
    for t in range(T):
        n = torch.randint(N, (B,), generator=g)
        m = torch.randint(M, (B,), generator=g)
        X = cl.task_inputs(V, n, s, generator=g)
        y = (X.transpose(1, 2) @ W[torch.arange(B), n][..., None])[..., 0]
        w[torch.arange(B), m] = cl.min_norm_update(w[torch.arange(B), m], X, y)
        F, G = tr.record(m, n, w)
        hist_m.append(m)
        hist_n.append(n)
        snaps.append(w.clone())
        after.append(((w[torch.arange(B), m] - W[torch.arange(B), n]) ** 2).sum(-1))
        # brute force over the history
        err_now = torch.stack(
            [((w[torch.arange(B), hist_m[k]] - W[torch.arange(B), hist_n[k]]) ** 2).sum(-1) for k in range(t + 1)]
        )
        torch.testing.assert_close(G, err_now.mean(0))
        if t == 0:
            torch.testing.assert_close(F, torch.zeros(B, dtype=F64))
        else:
            torch.testing.assert_close(F, (err_now[:-1] - torch.stack(after[:-1])).mean(0))
    assert tr.t == T
    torch.testing.assert_close(tr.loads().sum(-1), torch.ones(B, dtype=F64))


def test_tracker_can_skip_metrics():
    g = gen(6)
    B, M, N, d = 3, 2, 2, 6
    W, _ = cl.ground_truths(N, d, (B,), generator=g)
    a, b = cl.CLTracker(W, M), cl.CLTracker(W, M)
    for t in range(9):
        w = torch.randn(B, M, d, generator=g, dtype=F64)
        m, n = torch.randint(M, (B,), generator=g), torch.randint(N, (B,), generator=g)
        full = a.record(m, n, w)
        part = b.record(m, n, w, metrics=(t % 4 == 3 or t == 8))
        if part is None:
            assert t % 4 != 3
        else:
            torch.testing.assert_close(part[0], full[0])
            torch.testing.assert_close(part[1], full[1])
    torch.testing.assert_close(a.counts, b.counts)


def test_single_expert_on_one_truth_converges_without_forgetting():
    g = gen(5)
    W, V = cl.ground_truths(1, 10, (1,), generator=g)
    w = torch.zeros(1, 1, 10, dtype=F64)
    tr = cl.CLTracker(W, 1)
    zero = torch.zeros(1, dtype=torch.long)
    for _ in range(60):
        X = cl.task_inputs(V, zero, 5, generator=g)
        y = (X.transpose(1, 2) @ W[:, 0, :, None])[..., 0]
        w[:, 0] = cl.min_norm_update(w[:, 0], X, y)
        F, G = tr.record(zero, zero, w)
    assert float(G) < 1e-6 and float(F) <= 1e-12  # repeated tasks of one truth: error only shrinks
