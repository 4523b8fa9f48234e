"""Chapter 21 (von Oswald et al., 2022): a fast trainer for one linear self-attention (LSA) layer.

The chapter trains one LSA layer on in-context linear regression with the official recipe (tokens
``[x_i, y_i]``, query ``[x_q, 0]``, separate ``Q, K, V, P``, Adam with gradients clipped to a global norm) and
compares it with one step of gradient descent. The step is about ten MFLOP, so a PyTorch step is bound by
per-call overhead, not arithmetic. This module removes the overhead:

* the loss gradient of the single layer's read-out is written in closed form (about twenty tensor ops, no
  autograd): with ``q = K^T Q h_q`` (the query's key-space vector), ``p = V^T pi`` (``pi`` the last row of
  ``P``), context tokens ``E`` and ``C = E^T E``, the prediction is ``y_hat = -q^T C p``;
* clipping and Adam are a few in-place operations on one flat tensor ``theta`` of shape ``(R, 4, D, D)``
  (``R`` independent replicas; ``Q, K, V, P`` in this order), so no ``torch.optim`` optimiser is built (in
  recent PyTorch the first one imports ``torch._dynamo``, about a second);
* each step's prompts are drawn in place into preallocated buffers.

Conventions are those of :mod:`theorylab.icl` (``icl.LinearSelfAttention`` holds the same weights; see
:func:`to_model` and :func:`from_model`). The unit test checks the gradient against autograd and the
trajectory against ``icl.train_lsa``.
"""

from __future__ import annotations

import math
from typing import Callable, Dict, Optional, Tuple

import torch

Tensor = torch.Tensor


# -- parameters ----------------------------------------------------------------------------------------
def init_theta(
    dim: int, replicas: int, generator: torch.Generator, *, init_scale: float = 0.002, dtype=torch.float32
) -> Tensor:
    """``(R, 4, D, D)`` weights ``Q, K, V, P`` drawn as ``icl.LinearSelfAttention`` draws them (the official
    haiku variance-scaling init: truncated normal at two standard deviations, variance ``init_scale / D``),
    with the same random stream, so both start from the same weights."""
    d1 = dim + 1
    std = math.sqrt(init_scale / d1) / 0.87962566103423978
    mats = []
    for _ in range(4):
        t = torch.zeros(replicas, 1, d1, d1, dtype=torch.float64)
        if init_scale > 0:
            torch.nn.init.trunc_normal_(t, std=1.0, a=-2.0, b=2.0, generator=generator)
        mats.append((t * std)[:, 0])
    return torch.stack(mats, dim=1).to(dtype)


def products(theta: Tensor) -> Tuple[Tensor, Tensor]:
    """``W_KQ = K^T Q`` and ``W_PV = P V``, each ``(R, D, D)``."""
    q, k, v, p = theta.unbind(1)
    return k.transpose(-1, -2) @ q, p @ v


# -- the read-out, its loss and its gradient ----------------------------------------------------------
def _forward(theta: Tensor, ctx: Tensor, xq: Tensor):
    q_, k_, v_, p_ = theta.unbind(1)
    n_b, n, d1 = ctx.shape
    a = xq @ q_[:, :, : d1 - 1].transpose(-1, -2)  # Q h_q (the query's label slot is 0): (R, B, D)
    q = a @ k_  # K^T Q h_q: the query's vector in key space
    pi = p_[:, -1, :]  # last row of P: (R, D)
    pv = (pi.unsqueeze(1) @ v_).squeeze(1)  # last row of P V
    s = (ctx * q.unsqueeze(-2)).sum(-1)  # attention scores e_i . W_KQ h_q: (R, B, N)
    v = (ctx.reshape(n_b * n, d1) @ pv.T).T.reshape(-1, n_b, n)  # scalar values W_PV[last] . e_i
    return a, pi, s, v


def predict(theta: Tensor, ctx: Tensor, xq: Tensor) -> Tensor:
    """Predictions ``(R, B)`` of one LSA layer: ``-sum_i (e_i . W_KQ h_q)(W_PV[last] . e_i)`` for context
    tokens ``ctx`` ``(B, N, D)`` and queries ``xq`` ``(B, d)`` (the query token is ``[x_q, 0]``)."""
    _, _, s, v = _forward(theta, ctx, xq)
    return -(s * v).sum(-1)


def loss_and_grad(theta: Tensor, ctx: Tensor, xq: Tensor, target: Tensor) -> Tuple[Tensor, Tensor]:
    """Per-replica loss ``0.5 mean_b (y_hat - y)^2`` ``(R,)`` and its gradient ``(R, 4, D, D)`` in closed form.

    With ``a = Q h_q``, ``q = K^T a``, ``pi = P[last]``, ``p = V^T pi``, scores ``s = E q``, values ``v = E p``
    and ``y_hat = -s . v``; ``r = (y_hat - y) / B``:
    ``dL/dp = -sum_b r_b E_b^T s_b =: -m``, ``dL/dpi = -V m``, ``dL/dV = -pi m^T``;
    ``dL/dq_b = -r_b E_b^T v_b =: g_b``, ``dL/dK = sum_b a_b g_b^T``, ``dL/dQ = sum_b (K g_b) h_q^T``.
    Every contraction over the batch is one matrix product (batched products of tiny matrices are slow).
    """
    a, pi, s, v = _forward(theta, ctx, xq)
    n_b, n, d1 = ctx.shape
    err = -(s * v).sum(-1) - target  # (R, B)
    loss = 0.5 * (err * err).mean(-1)
    r = (err / n_b).unsqueeze(-1)
    m = (s * r).reshape(-1, n_b * n) @ ctx.reshape(n_b * n, d1)  # sum_b r_b E_b^T s_b: (R, D)
    g_q = -((v * r).unsqueeze(-1) * ctx).sum(-2)  # dL/dq_b: (R, B, D)
    k_, v_ = theta[:, 1], theta[:, 2]
    grad = torch.zeros_like(theta)
    grad[:, 3, -1, :] = -(v_ @ m.unsqueeze(-1)).squeeze(-1)  # dL/dpi
    grad[:, 2] = -pi.unsqueeze(-1) * m.unsqueeze(-2)  # dL/dV
    grad[:, 1] = a.transpose(-1, -2) @ g_q  # dL/dK
    grad[:, 0, :, : d1 - 1] = (g_q @ k_.transpose(-1, -2)).transpose(-1, -2) @ xq  # dL/dQ
    return loss, grad


# -- clipping and Adam as in-place ops on one tensor ---------------------------------------------------
class Adam:
    """Adam (with bias correction, ``eps`` outside the square root, as ``torch.optim.Adam`` and optax) after
    clipping each replica's gradient to global norm ``clip`` (``None``: no clipping), in place on ``theta``."""

    def __init__(self, theta: Tensor, lr=1e-3, betas=(0.9, 0.98), eps=1e-8, clip: Optional[float] = 1e-3):
        self.theta, self.lr, self.b1, self.b2, self.eps, self.clip = theta, lr, betas[0], betas[1], eps, clip
        self.m, self.v = torch.zeros_like(theta), torch.zeros_like(theta)
        self.t = 0

    def step(self, grad: Tensor) -> None:
        if self.clip is not None:
            norm = grad.flatten(1).norm(dim=1)
            grad.mul_((self.clip / norm.clamp_min(1e-30)).clamp_(max=1.0).view(-1, 1, 1, 1))
        self.t += 1
        self.m.mul_(self.b1).add_(grad, alpha=1 - self.b1)
        self.v.mul_(self.b2).addcmul_(grad, grad, value=1 - self.b2)
        denom = (self.v.sqrt() / math.sqrt(1 - self.b2**self.t)).add_(self.eps)
        self.theta.addcdiv_(self.m, denom, value=-self.lr / (1 - self.b1**self.t))


# -- data ------------------------------------------------------------------------------------------------
class PromptStream:
    """Fresh prompts every step, drawn in place: ``w ~ N(0, I_d)``, inputs ``x ~ U(-x_scale, x_scale)^d``
    (the official code: ``x_scale = 0.5``), labels ``y = w.x``. Each call returns ``(ctx, xq, target)``:
    context tokens ``(B, N, d+1)``, queries ``(B, d)`` and the queries' labels ``(B,)`` (views of one buffer
    that the next call overwrites; copies on ``device`` when it is not the CPU). The uniform inputs are drawn as ``x_scale * erf(z / sqrt 2)`` with
    ``z ~ N(0, 1)`` (exactly uniform, since the normal CDF of a normal draw is uniform): PyTorch's normal
    sampler is vectorised and several times faster than its uniform one."""

    def __init__(self, batch: int, n_ctx: int, dim: int, generator: torch.Generator, x_scale: float = 0.5, device=None):
        self.g, self.scale, self.n = generator, x_scale, n_ctx
        self.device = None if device is None or torch.device(device).type == "cpu" else torch.device(device)
        self.w = torch.empty(batch, 1, dim)
        self.x = torch.empty(batch, n_ctx + 1, dim)
        self.tok = torch.empty(batch, n_ctx + 1, dim + 1)

    def __call__(self) -> Tuple[Tensor, Tensor, Tensor]:
        self.w.normal_(generator=self.g)
        self.x.normal_(generator=self.g).mul_(0.5**0.5).erf_().mul_(self.scale)
        self.tok[..., :-1] = self.x
        torch.sum(self.x * self.w, -1, out=self.tok[..., -1])
        tok = self.tok if self.device is None else self.tok.to(self.device)  # drawn on the CPU generator
        return tok[:, : self.n], tok[:, self.n, :-1], tok[:, self.n, -1]


# -- training --------------------------------------------------------------------------------------------
def train(
    theta: Tensor,
    steps: int,
    sample: Callable[[], Tuple[Tensor, Tensor, Tensor]],
    *,
    lr: float = 1e-3,
    betas=(0.9, 0.98),
    eps: float = 1e-8,
    clip: Optional[float] = 1e-3,
    log_every: int = 10,
    evaluate: Optional[Callable[[Tensor], Tensor]] = None,
    stop: Optional[Callable[[int, Tensor], bool]] = None,
) -> Dict[str, Tensor]:
    """Train ``theta`` ``(R, 4, D, D)`` in place for ``steps`` steps on prompts from ``sample()`` (a
    :class:`PromptStream`, or any callable returning ``(ctx, xq, target)``).

    Every ``log_every`` steps logs the training batch's loss ``(R,)`` before that step's update and, with
    ``evaluate``, ``evaluate(theta)`` ``(R,)`` (e.g. a held-out loss); after the last update it logs the
    evaluation once more (training loss NaN). ``stop(step, evaluated)`` may end training early.
    Returns ``{"step", "loss", "eval"}`` (``eval`` empty without ``evaluate``).
    """
    opt = Adam(theta, lr, betas, eps, clip)
    log_steps, losses, evals = [], [], []

    def log(step, loss):
        log_steps.append(step)
        losses.append(loss)
        if evaluate is not None:
            evals.append(evaluate(theta))
            return stop is not None and bool(stop(step, evals[-1]))
        return False

    for step in range(steps):
        loss, grad = loss_and_grad(theta, *sample())
        if step % log_every == 0 and log(step, loss):
            break
        opt.step(grad)
    else:
        log(steps, torch.full_like(loss, float("nan")))  # after the last update: no training batch
    out = {"step": torch.tensor(log_steps), "loss": torch.stack(losses)}
    out["eval"] = torch.stack(evals) if evals else torch.empty(0)
    return out


def to_model(theta: Tensor):
    """An ``icl.LinearSelfAttention`` with ``R`` replicas holding the weights ``theta``."""
    from theorylab import icl

    r, _, d1, _ = theta.shape
    model = icl.LinearSelfAttention(d1 - 1, 1, replicas=r, init_scale=0.0, dtype=theta.dtype)
    with torch.no_grad():
        for i, p in enumerate((model.Q, model.K, model.V, model.P)):
            p.copy_(theta[:, i].unsqueeze(1))
    return model


def from_model(model) -> Tensor:
    """``theta`` ``(R, 4, D, D)`` from a one-layer ``icl.LinearSelfAttention`` with replicas."""
    return torch.stack([p.detach()[:, 0] for p in (model.Q, model.K, model.V, model.P)], dim=1).clone()
