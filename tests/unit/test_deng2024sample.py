"""Tests for theorylab.papers.deng2024sample: linear CMDP generators, sampling, least-squares estimation, planning."""

import pytest
import torch

from theorylab.papers import deng2024sample as cmdp


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("model", ["I", "II"])
def test_random_cmdp_kernels_are_distributions_and_structure(model):
    m = cmdp.random_cmdp(model, M=3, S=5, A=2, d=4, batch=(2,), generator=_gen())
    P, R = m.kernels()
    assert P.shape == (2, 3, 5, 2, 5) and R.shape == (2, 3, 5, 2)
    assert torch.allclose(P.sum(-1), torch.ones(2, 3, 5, 2, dtype=P.dtype))
    assert float(P.min()) >= 0 and float(R.min()) >= 0 and float(R.max()) <= 1
    # Model I shares the weights and varies the features; Model II the reverse
    if model == "I":
        assert m.phi.shape[-4] == 3 and m.mu.shape[-3] == 1
    else:
        assert m.phi.shape[-4] == 1 and m.mu.shape[-3] == 3
    again = cmdp.random_cmdp(model, M=3, S=5, A=2, d=4, batch=(2,), generator=_gen())
    assert torch.equal(again.mu, m.mu) and torch.equal(again.phi, m.phi)
    with pytest.raises(ValueError):
        cmdp.random_cmdp("III", M=3, S=5, A=2, d=4)


def test_tabular_features_reproduce_any_table():
    M, S, A = 2, 3, 2
    phi = cmdp.tabular_features(M, S, A)
    table = torch.softmax(torch.randn(M * S * A, S, generator=_gen(), dtype=torch.float64), -1)
    P, _ = cmdp.kernels(phi, table.unsqueeze(0), torch.zeros(1, M * S * A, dtype=torch.float64), M)
    assert torch.allclose(P.reshape(M * S * A, S), table)


def test_sampling_frequencies_match_kernel():
    m = cmdp.random_cmdp("II", M=2, S=4, A=2, d=3, generator=_gen(1))
    P, R = m.kernels()
    data = cmdp.sample(P, R, 40000, generator=_gen(2))
    sel = (data.c == 1) & (data.s == 2) & (data.a == 0)
    freq = torch.bincount(data.s2[sel], minlength=4).double() / sel.sum()
    assert torch.allclose(freq, P[1, 2, 0], atol=0.03)
    assert abs(float(data.r[sel].mean()) - float(R[1, 2, 0])) < 0.04


@pytest.mark.parametrize("model", ["I", "II"])
def test_least_squares_recovers_the_model_and_error_shrinks(model):
    M, S, A, d = 3, 5, 3, 3
    m = cmdp.random_cmdp(model, M=M, S=S, A=A, d=d, batch=(4,), generator=_gen(3))
    P, R = m.kernels()
    data = cmdp.sample(P, R, 20000, generator=_gen(4))
    mu_hat, th_hat = cmdp.estimate(model, m.phi, data, [200, 20000], M, S)
    assert mu_hat.shape == (2, 4, 1 if model == "I" else M, d, S)
    errs = []
    for j in range(2):
        P_hat, _ = cmdp.kernels(m.phi, mu_hat[j], th_hat[j], M)
        errs.append(float(cmdp.kernel_error(P, cmdp.to_simplex(P_hat)).mean()))
    assert errs[1] < errs[0] / 3 and errs[1] < 0.05


def test_value_iteration_and_policy_value_agree_and_gap_is_zero_for_true_model():
    m = cmdp.random_cmdp("I", M=2, S=4, A=3, d=3, batch=(3,), generator=_gen(5))
    P, R = m.kernels()
    V, pi = cmdp.value_iteration(P, R, 4)
    assert V.shape == (3, 2, 5, 4) and pi.shape == (3, 2, 4, 4)
    assert torch.allclose(cmdp.policy_value(P, R, pi), V)
    assert float(cmdp.suboptimality(P, R, P, R, 4).abs().max()) < 1e-12
    # any other policy is no better, and a one-step problem is solved by the best immediate reward
    other = torch.zeros_like(pi)
    assert bool((cmdp.policy_value(P, R, other)[..., 0, :] <= V[..., 0, :] + 1e-12).all())
    V1, _ = cmdp.value_iteration(P, R, 1)
    assert torch.allclose(V1[..., 0, :], R.max(-1).values)


def test_to_simplex():
    Q = torch.tensor([[0.5, -0.1, 0.6], [-1.0, -2.0, -0.5]], dtype=torch.float64)
    out = cmdp.to_simplex(Q)
    assert torch.allclose(out.sum(-1), torch.ones(2, dtype=torch.float64))
    assert torch.allclose(out[1], torch.full((3,), 1 / 3, dtype=torch.float64))


@pytest.mark.parametrize("model", ["I", "II"])
def test_estimate_equals_direct_ridge_regression(model):
    M, S, A, d = 3, 4, 2, 3
    m = cmdp.random_cmdp(model, M=M, S=S, A=A, d=d, generator=_gen(6))
    P, R = m.kernels()
    data = cmdp.sample(P, R, 400, generator=_gen(7))
    mu_hat, th_hat = cmdp.estimate(model, m.phi, data, [50, 400], M, S, ridge=0.1)
    phi = m.phi.expand(M, S, A, d)
    for j, n in enumerate([50, 400]):
        c, s, a, s2, r = (t[:n] for t in (data.c, data.s, data.a, data.s2, data.r))
        X = phi[c, s, a]
        Y = torch.nn.functional.one_hot(s2, S).double()
        groups = [torch.ones(n, dtype=torch.bool)] if model == "I" else [c == k for k in range(M)]
        for k, sel in enumerate(groups):
            G = X[sel].T @ X[sel] + 0.1 * torch.eye(d, dtype=torch.float64)
            assert torch.allclose(mu_hat[j, k], torch.linalg.solve(G, X[sel].T @ Y[sel]))
            assert torch.allclose(th_hat[j, k], torch.linalg.solve(G, X[sel].T @ r[sel]))
    with pytest.raises(ValueError):
        cmdp.estimate(model, m.phi, data, [400, 50], M, S)


def test_tabular_estimate_is_counting_and_matches_least_squares():
    M, S, A = 2, 3, 2
    m = cmdp.random_cmdp("II", M=M, S=S, A=A, d=2, generator=_gen(8))
    P, R = m.kernels()
    data = cmdp.sample(P, R, 300, generator=_gen(9))
    P_hat, R_hat = cmdp.estimate_tabular(data, [30, 300], M, S, A)
    assert P_hat.shape == (2, M, S, A, S) and R_hat.shape == (2, M, S, A)
    mu_ls, th_ls = cmdp.estimate("I", cmdp.tabular_features(M, S, A), data, [30, 300], M, S, ridge=1e-9)
    visited = P_hat.sum(-1) > 0
    P_ls, R_ls = cmdp.kernels(cmdp.tabular_features(M, S, A), mu_ls, th_ls, M)
    assert torch.allclose(P_hat[visited], P_ls[visited], atol=1e-6)
    assert torch.allclose(R_hat[visited], R_ls[visited], atol=1e-6)
