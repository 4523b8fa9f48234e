"""Unit tests for theorylab.papers.tao2024simple: AdaGrad++ / Adam++ (step-size rule by hand, convergence without tuning,
state_dict, parameter groups) and the batched grid runner (equal to the torch optimisers copy by copy)."""

import io
import math

import numpy as np
import pytest
import torch

from theorylab.papers import tao2024simple as optim

F64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def quad_grad(x, c):
    return x - c  # f(x) = 0.5 ||x - c||^2


# -- the step-size rule, by hand --------------------------------------------------------------------------
def test_adagradpp_matches_hand_computation():
    c = np.array([1.0, -2.0, 0.5, 3.0])
    x0 = np.array([0.2, 0.1, -0.3, 0.0])
    eps, delta = 1e-3, 1e-8
    # by hand (numpy)
    x, ssq, eta, etas = x0.copy(), np.zeros(4), eps, []
    for _ in range(6):
        eta = max(eta, np.linalg.norm(x - x0) / math.sqrt(4))
        etas.append(eta)
        g = x - c
        ssq += g * g
        x = x - eta * g / (np.sqrt(ssq) + delta)
    # the optimiser
    p = torch.tensor(x0, dtype=F64, requires_grad=True)
    opt = optim.AdaGradPlusPlus([p], eps=eps, delta=delta)
    assert opt.eta() == eps
    got = []
    for _ in range(6):
        opt.zero_grad()
        (0.5 * ((p - torch.tensor(c)) ** 2).sum()).backward()
        opt.step()
        got.append(opt.eta())
    np.testing.assert_allclose(got, etas, rtol=1e-12)
    np.testing.assert_allclose(p.detach().numpy(), x, rtol=1e-12)
    assert etas[0] == eps and etas[-1] > 5 * eps  # starts at eps, then grows with the distance travelled


def test_adampp_matches_hand_computation_both_cases():
    c = np.array([1.0, -2.0, 0.5])
    x0 = np.array([0.0, 0.4, -0.1])
    b1, b2, lam, eps, delta = 0.9, 0.999, 0.99, 1e-4, 1e-8
    for ams in (True, False):
        x, m, v, vmax, eta = x0.copy(), np.zeros(3), np.zeros(3), np.zeros(3), eps
        for k in range(1, 8):
            eta = max(eta, np.linalg.norm(x - x0) / math.sqrt(3))
            g = x - c
            b1k = b1 * lam ** (k - 1)
            m = b1k * m + (1 - b1k) * g
            v = b2 * v + (1 - b2) * g * g
            vmax = np.maximum(vmax, v)
            s = np.sqrt(k * (vmax if ams else v))
            x = x - eta * m / (s + delta)
        p = torch.tensor(x0, dtype=F64, requires_grad=True)
        opt = optim.AdamPlusPlus([p], eps=eps, betas=(b1, b2), lam=lam, delta=delta, amsgrad=ams)
        for _ in range(7):
            opt.zero_grad()
            p.grad = torch.tensor(quad_grad(p.detach().numpy(), c))
            opt.step()
        np.testing.assert_allclose(p.detach().numpy(), x, rtol=1e-12)
        np.testing.assert_allclose(opt.eta(), eta, rtol=1e-12)


def test_adagradpp_is_adagrad_with_lr_eta():
    """Given the same eta_t, AdaGrad++ takes exactly torch.optim.Adagrad's step."""
    w = torch.randn(5, 3, generator=gen(1), dtype=F64)
    X = torch.randn(20, 5, generator=gen(2), dtype=F64)
    a = w.clone().requires_grad_(True)
    b = w.clone().requires_grad_(True)
    pp = optim.AdaGradPlusPlus([a], eps=1e-2, delta=1e-10)
    ref = torch.optim.Adagrad([b], lr=1.0, eps=1e-10)
    for _ in range(5):
        for q, o in ((a, pp), (b, ref)):
            o.zero_grad()
            ((X @ q).tanh() ** 2).sum().backward()
        pp.step()
        ref.param_groups[0]["lr"] = pp.eta()
        ref.step()
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


# -- parameter-free convergence -------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [optim.AdaGradPlusPlus, optim.AdamPlusPlus])
@pytest.mark.parametrize("scale", [1e-2, 1.0, 1e2])
def test_converges_on_a_quadratic_at_any_scale_without_tuning(cls, scale):
    """The same defaults (eps = 1e-8) solve an ill-conditioned quadratic whose solution is at distance 1e-2 .. 1e2."""
    d = 20
    h = torch.logspace(-1, 1, d, dtype=F64)  # curvatures 0.1 .. 10
    c = scale * torch.randn(d, generator=gen(3), dtype=F64)
    p = torch.zeros(d, dtype=F64, requires_grad=True)
    opt = cls([p])
    f = lambda: 0.5 * (h * (p - c) ** 2).sum()
    f0 = float(f().detach())
    for _ in range(1500):
        opt.zero_grad()
        f().backward()
        opt.step()
    assert float(f().detach()) <= 1e-3 * f0


@pytest.mark.parametrize("cls", [optim.AdaGradPlusPlus, optim.AdamPlusPlus])
def test_logistic_regression_reaches_the_optimum(cls):
    g = gen(4)
    X = torch.randn(200, 5, generator=g, dtype=F64)
    y = (X @ torch.randn(5, generator=g, dtype=F64) + 0.5 * torch.randn(200, generator=g, dtype=F64) > 0).to(F64)
    loss = lambda w: torch.nn.functional.binary_cross_entropy_with_logits(X @ w, y) + 0.01 * (w**2).sum()
    w_star = torch.zeros(5, dtype=F64, requires_grad=True)
    lb = torch.optim.LBFGS([w_star], max_iter=200, tolerance_grad=1e-12, line_search_fn="strong_wolfe")

    def closure():
        lb.zero_grad()
        out = loss(w_star)
        out.backward()
        return out

    lb.step(closure)
    f_star = float(loss(w_star).detach())
    w = torch.zeros(5, dtype=F64, requires_grad=True)
    opt = cls([w])
    f0 = float(loss(w).detach())
    for _ in range(1000):
        opt.zero_grad()
        loss(w).backward()
        opt.step()
    assert float(loss(w).detach()) - f_star <= 1e-3 * (f0 - f_star)


# -- state and groups -------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [optim.AdaGradPlusPlus, optim.AdamPlusPlus])
def test_state_dict_round_trip(cls):
    def make():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()

    X = torch.randn(32, 4, generator=gen(5), dtype=F64)
    y = torch.randn(32, 1, generator=gen(6), dtype=F64)

    def train(model, opt, n):
        for _ in range(n):
            opt.zero_grad()
            ((model(X) - y) ** 2).mean().backward()
            opt.step()

    a = make()
    oa = cls(a.parameters(), eps=1e-3)
    train(a, oa, 10)
    b = make()
    b.load_state_dict(a.state_dict())
    ob = cls(b.parameters(), eps=0.5)  # different settings, overwritten by the loaded state
    buf = io.BytesIO()
    torch.save(oa.state_dict(), buf)  # a real round trip (no tensors shared with oa)
    buf.seek(0)
    ob.load_state_dict(torch.load(buf))
    assert ob.eta() == oa.eta() and ob.param_groups[0]["eps"] == 1e-3
    train(a, oa, 10)
    train(b, ob, 10)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


@pytest.mark.parametrize("cls", [optim.AdaGradPlusPlus, optim.AdamPlusPlus])
def test_param_groups_are_independent_runs(cls):
    """Two groups in one optimiser = two optimisers with one group each (own x_0, d, eta)."""
    w1 = torch.randn(3, 4, generator=gen(7), dtype=F64)
    w2 = torch.randn(4, generator=gen(8), dtype=F64)
    X = torch.randn(16, 3, generator=gen(9), dtype=F64)

    def loss(a, b):
        return ((X @ a).tanh() @ b).pow(2).mean() + (a.sum() - 1) ** 2

    a1, b1 = w1.clone().requires_grad_(True), w2.clone().requires_grad_(True)
    a2, b2 = w1.clone().requires_grad_(True), w2.clone().requires_grad_(True)
    both = cls([{"params": [a1], "eps": 1e-3}, {"params": [b1], "eps": 1e-5, "lr": 0.5}])
    sep = [cls([a2], eps=1e-3), cls([b2], eps=1e-5, lr=0.5)]
    for _ in range(8):
        both.zero_grad()
        for o in sep:
            o.zero_grad()
        loss(a1, b1).backward()
        loss(a2, b2).backward()
        both.step()
        for o in sep:
            o.step()
    torch.testing.assert_close(a1, a2, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(b1, b2, rtol=1e-12, atol=1e-14)
    assert both.eta(0) == sep[0].eta() and both.eta(1) == sep[1].eta() and both.eta(0) != both.eta(1)


def test_bad_arguments():
    p = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError):
        optim.AdamPlusPlus([p], eps=0.0)
    with pytest.raises(ValueError):
        optim.AdaGradPlusPlus([p], eps=-1.0)
    with pytest.raises(ValueError):
        optim.run_batched("sgd", lambda ps, t: ps[0].sum(1), [torch.zeros(2, 3)], 1)


# -- the batched runner equals the optimisers copy by copy -----------------------------------------------
def _mlp_problem(K):
    g = gen(10)
    X = torch.randn(24, 3, generator=g, dtype=F64)
    y = torch.randn(24, generator=g, dtype=F64)
    W0 = torch.randn(3, 5, generator=g, dtype=F64)
    v0 = torch.randn(5, generator=g, dtype=F64)

    def single(W, v):
        return (((X @ W).tanh() @ v - y) ** 2).mean()

    def batched(ps, t):
        W, v = ps
        return ((torch.einsum("nd,kdh->knh", X, W).tanh() @ v.unsqueeze(-1)).squeeze(-1) - y).pow(2).mean(1)

    return single, batched, optim.stack_copies([W0, v0], K), (W0, v0)


@pytest.mark.parametrize(
    "kind,settings",
    [
        ("adam", dict(lr=[1e-3, 1e-2, 1e-1])),
        ("adagrad", dict(lr=[1e-2, 1e-1, 1.0])),
        ("adam++", dict(eps=[1e-8, 1e-4, 1e-2])),
        ("adagrad++", dict(eps=[1e-8, 1e-4, 1e-2])),
    ],
)
def test_run_batched_equals_the_optimisers(kind, settings):
    K, steps = 3, 12
    single, batched, stacked, (W0, v0) = _mlp_problem(K)
    out = optim.run_batched(kind, batched, stacked, steps, **settings)
    assert out["loss"].shape == (steps, K) and out["eta"].shape == (steps, K)
    for k in range(K):
        W, v = W0.clone().requires_grad_(True), v0.clone().requires_grad_(True)
        if kind == "adam":
            opt = torch.optim.Adam([W, v], lr=settings["lr"][k])
        elif kind == "adagrad":
            opt = torch.optim.Adagrad([W, v], lr=settings["lr"][k])
        elif kind == "adam++":
            opt = optim.AdamPlusPlus([W, v], eps=settings["eps"][k])
        else:
            opt = optim.AdaGradPlusPlus([W, v], eps=settings["eps"][k])
        for t in range(steps):
            opt.zero_grad()
            loss = single(W, v)
            torch.testing.assert_close(loss.detach(), out["loss"][t, k], rtol=1e-10, atol=1e-12)
            loss.backward()
            opt.step()
            if kind.endswith("++"):
                assert math.isclose(opt.eta(), float(out["eta"][t, k]), rel_tol=1e-10)
        torch.testing.assert_close(W.detach(), out["params"][0][k], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(v.detach(), out["params"][1][k], rtol=1e-10, atol=1e-12)


def test_run_batched_evaluate_and_case2():
    K = 2
    _, batched, stacked, _ = _mlp_problem(K)
    out = optim.run_batched(
        "adam++", batched, stacked, 10, eps=1e-6, amsgrad=False, evaluate=lambda ps: batched(ps, 0), log_every=4
    )
    assert out["eval_steps"].tolist() == [0, 4, 8, 10]
    assert out["eval"].shape == (4, K)
    torch.testing.assert_close(out["eval"][0], out["loss"][0])
    assert torch.all(out["eta"][1:] >= out["eta"][:-1])  # eta_t never decreases
    assert torch.all(out["eta"][0] == 1e-6)


def test_run_batched_per_copy_betas():
    """Copies with different (beta_1, beta_2) in one batch equal separate Adam++ runs."""
    K, steps = 2, 10
    single, batched, stacked, (W0, v0) = _mlp_problem(K)
    out = optim.run_batched("adam++", batched, stacked, steps, eps=1e-4, betas=([0.9, 0.8], [0.99, 0.999]))
    for k, betas in enumerate([(0.9, 0.99), (0.8, 0.999)]):
        W, v = W0.clone().requires_grad_(True), v0.clone().requires_grad_(True)
        opt = optim.AdamPlusPlus([W, v], eps=1e-4, betas=betas)
        for _ in range(steps):
            opt.zero_grad()
            single(W, v).backward()
            opt.step()
        torch.testing.assert_close(W.detach(), out["params"][0][k], rtol=1e-10, atol=1e-12)


def test_first_step_by_hand_and_warmup_growth():
    """With a constant gradient: AdaGrad++ moves each coordinate by eps at step 1, Adam++ by eps (1-b1)/sqrt(1-b2);
    over the next steps Adam++'s eta grows much faster with beta2 = 0.999 than with 0.99 (the warm-up runaway)."""
    x0 = torch.zeros(2, 3, dtype=F64)
    loss = lambda ps, t: ps[0].sum(1)  # gradient 1 in every coordinate, for both copies
    eps = 1e-6
    ada = optim.run_batched("adagrad++", loss, [x0], 1, eps=eps, delta=0.0)["params"][0]
    torch.testing.assert_close(ada, torch.full_like(ada, -eps), rtol=1e-12, atol=0)
    out = optim.run_batched("adam++", loss, [x0], 1, eps=eps, betas=(0.9, [0.99, 0.999]), delta=0.0)["params"][0]
    want = torch.tensor([[0.1 / 0.1**1], [0.1 / 0.001**0.5]], dtype=F64) * -eps
    torch.testing.assert_close(out, want.expand(2, 3), rtol=1e-12, atol=0)
    etas = optim.run_batched("adam++", loss, [x0], 20, eps=eps, betas=(0.9, [0.99, 0.999]), delta=0.0)["eta"]
    growth = (etas[-1] / etas[0]).tolist()
    assert growth[1] > 1e3 * growth[0] > 1e3  # 0.999 runs away orders of magnitude faster than 0.99
