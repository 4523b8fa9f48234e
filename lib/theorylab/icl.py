"""In-context linear regression: tasks, linear self-attention (LSA) and the gradient-descent baselines.

The building blocks of Part 1 (in-context learning). Conventions, as in von Oswald et al. (2023):

* A task is ``w ~ N(0, w_std^2 I_d)``, inputs ``x_i`` (context, ``i = 1..N``) and ``x_q`` (query), targets
  ``y = w.x (+ noise)``. A prompt is the token matrix ``tokens`` of shape ``(B, N+1, d+1)``: context tokens
  ``[x_i, y_i]`` then the query token ``[x_q, 0]`` last.
* An LSA layer updates every token ``e_j`` with keys and values from the ``N`` context tokens only::

      e_j <- e_j + P V sum_i e_i (e_i^T K^T Q e_j) = e_j + W_PV C W_KQ e_j,   C = sum_i e_i e_i^T,

  with ``W_KQ = K^T Q`` and ``W_PV = P V`` (no softmax, no normalisation by ``N``, no LayerNorm, no MLP:
  the official code's layer). The prediction is minus the last coordinate of the updated query token.
* Loss ``0.5 * mean((y_hat - y_q)^2)``. In-context least squares ``L(w) = 1/(2N) sum_i (w.x_i - y_i)^2``;
  one GD step from ``w = 0`` with step ``eta`` predicts ``y_hat = (eta/N) sum_i y_i x_i.x_q``.
* The GD construction: ``W_KQ = [[I, 0], [0, 0]]`` and ``W_PV = [[-gamma/N I, 0], [0, -eta/N]]`` (``gamma = 0``
  is plain GD; ``gamma > 0`` also moves every input, ``x <- (I - gamma S) x`` with ``S = X^T X / N``: GD++).

Data are sampled on a CPU ``torch.Generator`` (call ``.to(device)`` on the result), so CPU and GPU runs see
the same tasks. Every function accepts any float dtype; use float64 for exact identities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

X_DISTS = ("uniform", "normal")


# -- tasks ---------------------------------------------------------------------------------------------
@dataclass
class Tasks:
    """A batch of in-context regression prompts.

    ``tokens``: ``(B, N+1, d+1)``, context ``[x_i, y_i]`` then the query ``[x_q, 0]``; ``target``: ``(B,)`` the
    query's label; ``w``: ``(B, d)`` the task vectors.
    """

    tokens: Tensor
    target: Tensor
    w: Tensor

    def to(self, device=None, dtype=None) -> "Tasks":
        return Tasks(*(t.to(device=device, dtype=dtype) for t in (self.tokens, self.target, self.w)))

    def __len__(self) -> int:
        return self.tokens.shape[0]

    @property
    def n_ctx(self) -> int:
        return self.tokens.shape[-2] - 1

    @property
    def dim(self) -> int:
        return self.tokens.shape[-1] - 1

    @property
    def x(self) -> Tensor:
        """Context inputs ``(B, N, d)``."""
        return self.tokens[..., :-1, :-1]

    @property
    def y(self) -> Tensor:
        """Context labels ``(B, N)``."""
        return self.tokens[..., :-1, -1]

    @property
    def xq(self) -> Tensor:
        """Query inputs ``(B, d)``."""
        return self.tokens[..., -1, :-1]

    def split(self, parts: int) -> Tuple["Tasks", ...]:
        """Split along the batch into ``parts`` equal batches."""
        return tuple(Tasks(*z) for z in zip(*(t.chunk(parts) for t in (self.tokens, self.target, self.w))))


def make_tokens(x: Tensor, y: Tensor, xq: Tensor) -> Tensor:
    """Tokens ``(B, N+1, d+1)`` from context inputs ``(B, N, d)``, labels ``(B, N)`` and queries ``(B, d)``."""
    ctx = torch.cat([x, y.unsqueeze(-1)], dim=-1)
    query = torch.cat([xq, torch.zeros_like(xq[..., :1])], dim=-1).unsqueeze(-2)
    return torch.cat([ctx, query], dim=-2)


def _inputs(shape, dist: str, scale: float, generator, dtype) -> Tensor:
    if dist == "uniform":
        return (torch.rand(shape, generator=generator, dtype=dtype) * 2 - 1) * scale
    return torch.randn(shape, generator=generator, dtype=dtype) * scale


def sample_regression(
    batch: int,
    n_ctx: int,
    dim: int,
    generator: torch.Generator,
    *,
    x_dist: str = "uniform",
    x_scale: float = 0.5,
    noise_std: float = 0.0,
    w_std: float = 1.0,
    dtype=torch.float32,
) -> Tasks:
    """``batch`` linear-regression prompts of ``n_ctx`` context points in ``dim`` dimensions (on the CPU).

    Inputs (context and query) are ``U(-x_scale, x_scale)^d`` for ``x_dist="uniform"`` (the official code of
    von Oswald et al.: ``x_scale = 0.5``) or ``N(0, x_scale^2 I)`` for ``"normal"``; ``w ~ N(0, w_std^2 I)``;
    context labels get Gaussian noise of std ``noise_std``; the query's target is noiseless.
    The draws are made in a fixed order (w, context x, query x, noise) on ``generator``.
    """
    if x_dist not in X_DISTS:
        raise ValueError(f"x_dist must be one of {', '.join(X_DISTS)}; got {x_dist!r}")
    if batch < 1 or n_ctx < 1 or dim < 1:
        raise ValueError("batch, n_ctx and dim must be positive")
    w = torch.randn(batch, dim, generator=generator, dtype=dtype) * w_std
    x = _inputs((batch, n_ctx, dim), x_dist, x_scale, generator, dtype)
    xq = _inputs((batch, dim), x_dist, x_scale, generator, dtype)
    y = torch.einsum("bnd,bd->bn", x, w)
    if noise_std > 0:
        y = y + noise_std * torch.randn(batch, n_ctx, generator=generator, dtype=dtype)
    return Tasks(make_tokens(x, y, xq), (xq * w).sum(-1), w)


def icl_loss(pred: Tensor, target: Tensor) -> Tensor:
    """``0.5 * mean((pred - target)^2)`` over the last dimension (the tasks)."""
    return 0.5 * ((pred - target) ** 2).mean(-1)


# -- linear self-attention -----------------------------------------------------------------------------
def _apply(w: Tensor, h: Tensor) -> Tensor:
    """``h @ w^T`` for one matrix ``(D, D)`` or one per replica ``(R, D, D)`` (then ``h`` is ``(B, T, D)``
    shared by the replicas, or ``(R, B, T, D)``), written so that it runs as large matrix products."""
    if w.dim() == 2:
        return h @ w.transpose(0, 1)
    if h.dim() == 3:
        return torch.einsum("btd,red->rbte", h, w)
    return torch.einsum("rbtd,red->rbte", h, w)


def lsa_layer(h: Tensor, w_kq: Tensor, w_pv: Tensor) -> Tensor:
    """One LSA layer on tokens ``h`` (``(B, N+1, D)``, or ``(R, B, N+1, D)`` with replicas; keys and values
    from the first ``N`` tokens): ``e_j <- e_j + W_PV C W_KQ e_j`` with ``C = sum_i e_i e_i^T`` over the
    context tokens. ``w_kq, w_pv``: ``(D, D)``, or ``(R, D, D)`` for ``R`` independent replicas.

    Equal to ``P V sum_i e_i (K e_i).(Q e_j)``; the per-prompt contractions are written as broadcast sums
    (batched products of tiny matrices are slow on CPUs).
    """
    ctx = h[..., :-1, :]
    c = (ctx.unsqueeze(-1) * ctx.unsqueeze(-2)).sum(-3)  # (..., B, D, D): sum_i e_i e_i^T
    u = _apply(w_kq, h)  # W_KQ e_j for every token
    z = (c.unsqueeze(-3) * u.unsqueeze(-2)).sum(-1)  # C W_KQ e_j
    return h + _apply(w_pv, z)


def lsa_readout(h: Tensor, w_kq: Tensor, w_pv: Tensor) -> Tensor:
    """The prediction after one more LSA layer, computed for the query only (the fast path for a stack's
    last layer): ``-[h_q + W_PV C W_KQ h_q]_last = -h_q,last - sum_i (e_i . W_KQ h_q) (W_PV[last] . e_i)``,
    attention scores times scalar values, ``O(B N D)`` work. Shapes as in :func:`lsa_layer`; returns ``(B,)``,
    or ``(R, B)`` with replicas."""
    ctx, hq = h[..., :-1, :], h[..., -1, :]
    if w_kq.dim() == 3 and h.dim() == 3:  # replicas sharing one batch of prompts
        q = torch.einsum("bd,red->bre", hq, w_kq)  # W_KQ h_q per replica: (B, R, D)
        scores = ctx @ q.transpose(-1, -2)  # (B, N, R)
        v = ctx @ w_pv[:, -1].transpose(0, 1)  # (B, N, R)
        return -(hq[..., -1:] + (scores * v).sum(-2)).transpose(0, 1)
    q = _apply(w_kq, hq.unsqueeze(-2))  # W_KQ h_q: (..., B, 1, D)
    v = _apply(w_pv[..., -1:, :], ctx)  # W_PV[last] . e_i: (..., B, N, 1)
    scores = ctx @ q.transpose(-1, -2)  # e_i . W_KQ h_q: (..., B, N, 1)
    return -(hq[..., -1] + (scores * v).sum((-1, -2)))


class LinearSelfAttention(nn.Module):
    """A stack of ``layers`` LSA layers with separate ``Q, K, V, P`` (each ``D x D``, ``D = dim + 1``).

    ``tied=True`` shares one set of weights across the layers (the official "recurrent" model).
    ``replicas=R`` holds ``R`` independent models in one module (parameters ``(R, L, D, D)``): ``forward``
    then returns ``(R, B)``, one row per model, and the models train independently under a summed loss.
    Initialisation as the official code (haiku variance scaling, fan-in ``D``): truncated normal (at 2 std)
    with standard deviation ``sqrt(init_scale / D) / 0.8796``; ``init_scale`` may give one value per replica.
    """

    def __init__(
        self,
        dim: int,
        layers: int = 1,
        *,
        tied: bool = False,
        init_scale=0.002,
        replicas: Optional[int] = None,
        generator: Optional[torch.Generator] = None,
        dtype=torch.float32,
    ):
        super().__init__()
        if layers < 1:
            raise ValueError("layers must be >= 1")
        self.dim, self.layers, self.tied, self.replicas = dim, layers, tied, replicas
        d1 = dim + 1
        n_sets = 1 if tied else layers
        shape = (replicas or 1, n_sets, d1, d1)
        scales = torch.as_tensor(init_scale, dtype=torch.float64).reshape(-1)
        if scales.numel() not in (1, shape[0]) or bool((scales < 0).any()):
            raise ValueError("init_scale must be a non-negative number or one per replica")
        std = (scales / d1).sqrt() / 0.87962566103423978  # haiku's truncated-normal correction
        mats = []
        for _ in range(4):  # Q, K, V, P in this order
            t = torch.zeros(shape, dtype=torch.float64)
            if bool((std > 0).any()):  # no draw at all for an all-zero init
                nn.init.trunc_normal_(t, std=1.0, a=-2.0, b=2.0, generator=generator)
                t = t * std.reshape(-1, 1, 1, 1)
            mats.append(nn.Parameter(t.to(dtype)))
        self.Q, self.K, self.V, self.P = mats

    @classmethod
    def from_weights(cls, Q: Tensor, K: Tensor, V: Tensor, P: Tensor) -> "LinearSelfAttention":
        """A (single-replica, untied) model with given weights, each ``(D, D)`` or ``(L, D, D)``."""
        ws = [w if w.dim() == 3 else w.unsqueeze(0) for w in (Q, K, V, P)]
        m = cls(ws[0].shape[-1] - 1, ws[0].shape[0], init_scale=0.0, dtype=ws[0].dtype)
        with torch.no_grad():
            for p, w in zip((m.Q, m.K, m.V, m.P), ws):
                p.copy_(w.unsqueeze(0))
        return m.to(ws[0].device)

    def replica(self, r: int) -> "LinearSelfAttention":
        """Replica ``r`` as a stand-alone model (a copy, same dtype and device)."""
        if self.replicas is None:
            raise ValueError("this model has no replicas")
        m = LinearSelfAttention(self.dim, self.layers, tied=self.tied, init_scale=0.0, dtype=self.Q.dtype)
        with torch.no_grad():
            for dst, src in zip((m.Q, m.K, m.V, m.P), (self.Q, self.K, self.V, self.P)):
                dst.copy_(src[r : r + 1])
        return m.to(self.Q.device)

    def products(self) -> Tuple[Tensor, Tensor]:
        """The effective products ``W_KQ = K^T Q`` and ``W_PV = P V``, each ``(R, L_sets, D, D)``."""
        return self.K.transpose(-1, -2) @ self.Q, self.P @ self.V

    def forward(self, tokens: Tensor, *, all_layers: bool = False) -> Tensor:
        """Predictions ``-h[..., -1, -1]`` after the stack: ``(B,)``, or ``(R, B)`` with replicas.

        ``tokens``: ``(B, N+1, D)`` shared by all replicas, or ``(R, B, N+1, D)``. ``all_layers=True`` returns
        the read-out after every layer stacked first: ``(L, B)`` / ``(L, R, B)``.
        """
        w_kq, w_pv = self.products()
        if self.replicas is None:
            w_kq, w_pv = w_kq[0], w_pv[0]  # (L_sets, D, D)
        else:
            w_kq, w_pv = w_kq.transpose(0, 1), w_pv.transpose(0, 1)  # (L_sets, R, D, D)
        h, outs = tokens, []
        for layer in range(self.layers - 1):
            i = 0 if self.tied else layer
            h = lsa_layer(h, w_kq[i], w_pv[i])
            outs.append(-h[..., -1, -1])
        i = 0 if self.tied else self.layers - 1
        outs.append(lsa_readout(h, w_kq[i], w_pv[i]))  # the last layer: the query only
        if self.replicas is not None and outs[0].dim() == 1:  # replicas sharing one prompt batch
            outs = [o.expand(self.replicas, -1) for o in outs]
        return torch.stack(outs) if all_layers else outs[-1]


# -- the gradient-descent construction -------------------------------------------------------------------
def gd_layer_weights(
    dim: int, n_ctx: int, eta: float, gamma: float = 0.0, *, dtype=torch.float64, device=None
) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """``Q, K, V, P`` of one LSA layer that does one GD step of size ``eta`` on the in-context least squares
    (and, for ``gamma != 0``, the GD++ input update ``x <- (I - gamma X^T X / N) x``).

    ``Q = K = [[I, 0], [0, 0]]``, ``V = -I``, ``P = diag(gamma/N, ..., gamma/N, eta/N)``, so
    ``W_KQ = [[I, 0], [0, 0]]`` and ``W_PV = [[-gamma/N I, 0], [0, -eta/N]]``.
    """
    d1 = dim + 1
    qk = torch.zeros(d1, d1, dtype=dtype, device=device)
    qk[:dim, :dim] = torch.eye(dim, dtype=dtype, device=device)
    v = -torch.eye(d1, dtype=dtype, device=device)
    p = torch.diag(torch.tensor([gamma / n_ctx] * dim + [eta / n_ctx], dtype=dtype, device=device))
    return qk, qk.clone(), v, p


def gd_lsa(
    dim: int,
    n_ctx: int,
    etas: Sequence[float],
    gammas: Optional[Sequence[float]] = None,
    *,
    dtype=torch.float64,
    device=None,
) -> LinearSelfAttention:
    """The hand-built LSA stack: layer ``k`` does GD (GD++ with ``gammas``) step ``k`` with ``etas[k]``."""
    gammas = [0.0] * len(etas) if gammas is None else list(gammas)
    if len(gammas) != len(etas):
        raise ValueError("etas and gammas must have the same length")
    ws = [gd_layer_weights(dim, n_ctx, float(e), float(g), dtype=dtype, device=device) for e, g in zip(etas, gammas)]
    return LinearSelfAttention.from_weights(*(torch.stack(m) for m in zip(*ws)))


# -- gradient-descent baselines (independent of the LSA code) ------------------------------------------
def gd_predict(tokens: Tensor, etas, gammas=None) -> Tensor:
    """Query predictions ``(..., B)`` after ``K = len(etas)`` steps of GD from ``w = 0`` on
    ``L(w) = 1/(2N) sum_i (w.x_i - y_i)^2``, step ``k`` of size ``etas[k]`` (a sequence or a tensor whose
    first dimension is the step; extra trailing dimensions broadcast in front of ``B``).

    With ``gammas``, GD++: after each step every input (context and query) is also moved,
    ``x <- (I - gamma_k S) x`` with ``S = X^T X / N`` (the residuals ``y_i - w.x_i`` are kept as they are).
    Written in weight/residual form, not with attention, so it checks the LSA construction independently.
    """
    x, r, xq = tokens[..., :-1, :-1], tokens[..., :-1, -1], tokens[..., -1, :-1]
    n = x.shape[-2]
    etas = torch.as_tensor(etas, dtype=tokens.dtype, device=tokens.device)
    gammas = None if gammas is None else torch.as_tensor(gammas, dtype=tokens.dtype, device=tokens.device)
    pred = torch.zeros(etas.shape[1:] + tokens.shape[:-2], dtype=tokens.dtype, device=tokens.device)
    for k in range(etas.shape[0]):
        eta = etas[k].reshape(etas.shape[1:] + (1,) * (tokens.dim() - 2))
        g = torch.einsum("...nd,...n->...d", x, r) / n  # minus the gradient at the current w
        r = r - eta.unsqueeze(-1) * torch.einsum("...nd,...d->...n", x, g)
        pred = pred + eta * (xq * g).sum(-1)
        if gammas is not None:
            gam = gammas[k].reshape(gammas.shape[1:] + (1,) * (tokens.dim() - 2))
            s = x.transpose(-1, -2) @ x / n  # (..., B, d, d)
            x = x - gam[..., None, None] * (x @ s)  # s is symmetric
            xq = xq - gam.unsqueeze(-1) * (s @ xq.unsqueeze(-1)).squeeze(-1)
    return pred


def one_step_gd_losses(tasks: Tasks, etas: Tensor) -> Tensor:
    """Test loss of one GD step for every step size in ``etas`` (any shape): the prediction is
    ``eta * a`` with ``a = (1/N) sum_i y_i x_i.x_q``, so all step sizes cost one pass."""
    a = gd_predict(tasks.tokens, [1.0])
    etas = torch.as_tensor(etas, dtype=a.dtype, device=a.device)
    return icl_loss(etas.unsqueeze(-1) * a, tasks.target)


def optimal_eta(tasks: Tasks) -> float:
    """The step size minimising the one-step-GD loss on ``tasks`` (closed form: a one-scalar least squares,
    ``eta* = sum_b a_b y_b / sum_b a_b^2`` with ``a_b = (1/N) sum_i y_i x_i.x_q``)."""
    a = gd_predict(tasks.tokens, [1.0]).double()
    t = tasks.target.double()
    return float((a * t).sum() / (a * a).sum())


def fit_gd(
    tasks: Tasks, steps: int, *, plus: bool = False, tied: bool = False, iters: int = 60
) -> Tuple[Tensor, Optional[Tensor]]:
    """Tune the step sizes (and GD++'s ``gamma``) of ``steps``-step GD on ``tasks`` by L-BFGS (float64).

    ``tied=True`` uses one ``eta`` (and one ``gamma``) for every step, as a recurrent (weight-tied) LSA stack.
    Starts from the optimal one-step ``eta`` (scaled down for longer runs) and ``gamma = 0``.
    Returns ``(etas, gammas)``, each ``(steps,)`` (``gammas`` is None without ``plus``).
    """
    tok, tgt = tasks.tokens.double(), tasks.target.double()
    eta0 = optimal_eta(tasks)
    n_sets = 1 if tied else steps
    e = torch.full(
        (n_sets,), eta0 / (1.0 if steps == 1 else 1.5), dtype=torch.float64, device=tok.device, requires_grad=True
    )
    g = torch.zeros(n_sets, dtype=torch.float64, device=tok.device, requires_grad=True)
    params = [e, g] if plus else [e]
    opt = torch.optim.LBFGS(
        params, lr=1.0, max_iter=iters, line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=1e-14
    )

    def expand(v):
        return v.expand(steps) if tied else v

    def closure():
        opt.zero_grad()
        loss = icl_loss(gd_predict(tok, expand(e), expand(g) if plus else None), tgt)
        loss.backward()
        return loss

    opt.step(closure)
    etas = expand(e.detach()).clone()
    return etas, (expand(g.detach()).clone() if plus else None)


# -- comparisons -----------------------------------------------------------------------------------------
def query_sensitivity(predict: Callable[[Tensor], Tensor], tokens: Tensor) -> Tensor:
    """``d y_hat / d x_q`` for every prompt: ``(..., B, d)``, via autograd (each prediction depends on its
    own query only). ``predict`` maps tokens ``(..., B, N+1, D)`` to predictions ``(..., B)``."""
    tok = tokens.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = predict(tok)
        (grad,) = torch.autograd.grad(out.sum(), tok)
    return grad[..., -1, :-1]


def identity_cosine(m: Tensor) -> Tensor:
    """Cosine between (the last two dimensions of) ``m`` and the identity: ``trace(m) / (sqrt(n) ||m||_F)``."""
    n = m.shape[-1]
    return torch.diagonal(m, dim1=-2, dim2=-1).sum(-1) / (math.sqrt(n) * m.flatten(-2).norm(dim=-1))


# -- training ----------------------------------------------------------------------------------------------
def train_lsa(
    model: LinearSelfAttention,
    sample: Callable[[int], Tasks],
    steps: int,
    *,
    lr: float = 1e-3,
    betas=(0.9, 0.98),
    eps: float = 1e-9,
    clip: Optional[float] = None,
    log_every: int = 10,
    chunk: int = 50,
    device=None,
) -> Dict[str, Tensor]:
    """Adam on ``icl_loss`` with fresh prompts every step; returns ``{"step", "loss"}`` (loss ``(logs, R)``).

    ``sample(n)`` returns ``n`` steps' worth of prompts at once on the CPU (called with ``n = chunk``; the
    prompts are moved to ``device`` and split into ``chunk`` steps). ``clip`` clips each replica's gradient to that global norm before
    Adam (as the official code, which clips to 0.001). Replicas train independently: their losses are summed.
    """
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=lr, betas=betas, eps=eps)
    logs, log_steps = [], []
    step = 0
    while step < steps:
        batches = sample(chunk).to(device).split(chunk)  # whole chunks: the data stream does not depend on steps
        for tasks in batches[: steps - step]:
            loss = icl_loss(model(tasks.tokens), tasks.target)  # (R,) or ()
            if step % log_every == 0:
                logs.append(loss.detach().reshape(-1))
                log_steps.append(step)
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            if clip is not None:
                with torch.no_grad():
                    sq = sum(p.grad.pow(2).flatten(1).sum(1) for p in params)  # per replica
                    scale = (clip / (sq.sqrt() + 1e-30)).clamp(max=1.0)
                    for p in params:
                        p.grad.mul_(scale.view(-1, *([1] * (p.dim() - 1))))
            opt.step()
            step += 1
    return {"step": torch.tensor(log_steps), "loss": torch.stack(logs).cpu()}
