"""Unit tests of theorylab.papers.vonoswald2022transformers: the closed-form gradient of one LSA layer's read-out
equals autograd's, the in-place Adam follows the shared autograd trainer's trajectory, and the prompt stream
draws the official code's task distribution."""

import math

import pytest
import torch

from theorylab import icl
from theorylab.papers import vonoswald2022transformers as vo

F64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("replicas", [1, 3])
def test_init_matches_shared_model(replicas):
    model = icl.LinearSelfAttention(10, 1, replicas=replicas, init_scale=0.002, generator=gen(3))
    theta = vo.init_theta(10, replicas, gen(3))
    assert torch.equal(vo.from_model(model), theta)
    assert torch.equal(vo.from_model(vo.to_model(theta)), theta)


def test_predict_matches_shared_forward():
    tasks = icl.sample_regression(64, 10, 10, gen(1), dtype=F64)
    theta = vo.init_theta(10, 3, gen(2), init_scale=1.0, dtype=F64)
    ours = vo.predict(theta, tasks.tokens[:, :-1], tasks.xq)
    shared = vo.to_model(theta)(tasks.tokens)
    assert torch.allclose(ours, shared, atol=1e-13, rtol=0)


@pytest.mark.parametrize("replicas,dim,n_ctx", [(1, 10, 10), (4, 5, 20)])
def test_closed_form_gradient_equals_autograd(replicas, dim, n_ctx):
    tasks = icl.sample_regression(128, n_ctx, dim, gen(1), dtype=F64)
    ctx, xq, tgt = tasks.tokens[:, :-1], tasks.xq, tasks.target
    theta = vo.init_theta(dim, replicas, gen(2), init_scale=1.0, dtype=F64)
    loss, grad = vo.loss_and_grad(theta, ctx, xq, tgt)
    th = theta.clone().requires_grad_(True)
    ref = 0.5 * ((vo.to_model(th.detach()).forward(tasks.tokens) - tgt) ** 2).mean(-1)
    assert torch.allclose(loss, ref, atol=1e-14, rtol=0)
    auto = 0.5 * ((vo.predict(th, ctx, xq) - tgt) ** 2).mean(-1)
    auto.sum().backward()
    assert torch.allclose(grad, th.grad, atol=1e-13 * float(grad.abs().max()), rtol=0)


def test_trajectory_matches_shared_trainer():
    """Same init, same prompts, same recipe: the fast trainer follows icl.train_lsa (autograd + torch.optim.Adam)."""
    steps, batch, replicas = 150, 64, 3
    model = icl.LinearSelfAttention(10, 1, replicas=replicas, init_scale=0.002, generator=gen(3))
    theta = vo.init_theta(10, replicas, gen(3))
    data = icl.sample_regression(batch * steps, 10, 10, gen(5))
    icl.train_lsa(model, lambda n: data, steps, lr=1e-3, betas=(0.9, 0.98), eps=1e-8, clip=1e-3, chunk=steps)
    batches = iter(data.split(steps))

    def sample():
        t = next(batches)
        return t.tokens[:, :-1], t.xq, t.target

    hist = vo.train(theta, steps, sample, lr=1e-3, betas=(0.9, 0.98), eps=1e-8, clip=1e-3, log_every=50)
    assert hist["step"].tolist() == [0, 50, 100, 150]
    moved = float((vo.from_model(model) - vo.init_theta(10, replicas, gen(3))).abs().max())
    assert moved > 0.05  # the weights did move
    assert float((vo.from_model(model) - theta).abs().max()) < 1e-5


def test_clipping_bounds_the_first_step():
    theta = vo.init_theta(10, 2, gen(0))
    opt = vo.Adam(theta.clone(), lr=1e-3, clip=1e-3)
    grad = torch.randn(theta.shape, generator=gen(1))
    opt.step(grad.clone())
    # Adam's first step is lr * sign-like; clipping only rescales, so the step is still lr in each entry
    assert torch.allclose((opt.theta - theta).abs().max(), torch.tensor(1e-3), rtol=1e-3)


def test_prompt_stream_distribution():
    stream = vo.PromptStream(20_000, 10, 4, gen(0))
    ctx, xq, tgt = stream()
    x = ctx[..., :-1]
    assert float(x.min()) >= -0.5 and float(x.max()) <= 0.5
    assert abs(float(x.var()) - 1 / 12) < 2e-3  # U(-1/2, 1/2)
    assert abs(float(xq.mean())) < 1e-2
    w = torch.linalg.lstsq(x[:50], ctx[:50, :, -1:]).solution  # labels are linear in the inputs
    assert torch.allclose(x[:50] @ w, ctx[:50, :, -1:], atol=1e-4)
    assert abs(float(tgt.var()) - 4 / 12) < 0.02  # E[(w.x)^2] = d / 12
    assert not math.isnan(float(tgt.sum()))
