"""A residual attention model in mean-field parameterisation, batched over independent copies.

The model maps a sequence of ``N`` tokens ``x_i in R^d`` to a scalar. Tokens are embedded as
``h_i = (x_i, 0) in R^D`` with ``D = d + 1`` (the last coordinate is the output channel, zero at
the input), then ``L`` residual blocks act, each an attention sub-layer followed by an MLP
sub-layer, both an **average over M particles** and both **scaled by 1/L**:

    h_i <- h_i + (1/L) (1/M) sum_j  sum_k softmax_k(h_i^T W_j h_k) V_j^T h_k       (M heads)
    h_i <- h_i + (1/L) (1/M) sum_j  a_j tanh(b_j^T h_i)                              (M neurons)

and the output is the token average of the output channel, ``y = (1/N) sum_i h_i[D-1]``.
Every particle (``W_j, V_j`` or ``a_j, b_j``) is initialised i.i.d. with O(1) entries, so the
empirical distribution of particles has a limit as ``M`` grows (mean-field limit in width) and
the residual update is an Euler step of an ODE in depth (limit in ``L``).

All parameter tensors carry a leading batch axis ``S`` of independent models (seeds, or learning
rates), which share the data: one einsum trains all of them at once. Gradients of the summed
loss are the per-model gradients, because the models share no parameter.

Gradient descent in the mean-field scale moves every particle by an O(1) amount per unit time:
the gradient of the average with respect to one particle is O(1/(L M)), so the step applied to
the particles is ``lr * L * M * grad`` (:func:`gd_step`). Weight decay ``lam/2 * E|theta|^2`` is an
average over particles too, so it enters the same way.
"""

from __future__ import annotations

from typing import Dict, Optional

import torch

PARAMS = ("W", "V", "a", "b")


def init_params(
    S: int,
    L: int,
    M: int,
    D: int,
    *,
    generator: torch.Generator,
    w_scale: float = 1.0,
    dtype=torch.float32,
    device=None,
) -> Dict[str, torch.Tensor]:
    """I.i.d. O(1) particles for ``S`` independent models of depth ``L`` and width ``M``.

    Shapes: ``W, V: (S, L, M, D, D)``, ``a, b: (S, L, M, D)``. Sampled on the (CPU) generator,
    then moved to ``device``. ``W`` (attention scores) has entries ``N(0, w_scale^2 / D)``; the
    others ``N(0, 1)`` except ``b`` with ``N(0, 1/D)`` (so ``b^T h`` is O(1)).
    """

    def r(*shape, scale=1.0):
        return (scale * torch.randn(*shape, generator=generator, dtype=torch.float64)).to(dtype=dtype, device=device)

    p = {
        "W": r(S, L, M, D, D, scale=w_scale / D**0.5),
        "V": r(S, L, M, D, D),
        "a": r(S, L, M, D),
        "b": r(S, L, M, D, scale=1.0 / D**0.5),
    }
    return p


def embed(X: torch.Tensor) -> torch.Tensor:
    """Tokens ``(..., N, d)`` to the residual stream ``(..., N, d + 1)`` with a zero output channel."""
    return torch.cat([X, torch.zeros_like(X[..., :1])], dim=-1)


def block(H: torch.Tensor, W, V, a, b, L: int, width_power: float = 1.0) -> torch.Tensor:
    """One residual block for all models at once. ``H: (S, B, N, D)``; ``W, V: (S, M, D, D)``;
    ``a, b: (S, M, D)``. Returns the updated ``H``.

    The scores of all heads come from one matrix product: ``h_i^T W_m h_k = <h_i h_k^T, W_m>``, so
    the pair features ``h_i (x) h_k`` (shared by every head) multiply the ``(D*D, M)`` matrix of
    flattened ``W_m``. The values ``V_m^T h_k`` of all heads are one more product, and the sum over
    keys and heads, ``sum_m sum_k A[i, k, m] V_m^T h_k``, a last one.
    """
    S, B, N, D = H.shape
    M = W.shape[1]
    pair = (H.unsqueeze(3).unsqueeze(-1) * H.unsqueeze(2).unsqueeze(-2)).reshape(S, B * N * N, D * D)
    scores = torch.bmm(pair, W.reshape(S, M, D * D).transpose(1, 2)).reshape(S, B, N, N, M)
    A = torch.softmax(scores, dim=3)  # over keys k, per head m
    VH = torch.bmm(H.reshape(S, B * N, D), V.permute(0, 2, 1, 3).reshape(S, D, M * D))  # (S, B*N, M*D)
    attn = torch.bmm(A.reshape(S * B, N, N * M), VH.reshape(S * B, N * M, D)).reshape(S, B, N, D)
    H = H + attn / (L * M**width_power)
    act = torch.tanh(torch.einsum("sbid,smd->sbim", H, b))
    return H + torch.einsum("sbim,smd->sbid", act, a) / (L * M**width_power)


def forward(params: Dict[str, torch.Tensor], X: torch.Tensor, return_stream: bool = False, width_power: float = 1.0):
    """Outputs ``(S, B)`` of the ``S`` models on inputs ``X: (B, N, d)`` (shared) or ``(S, B, N, d)``.

    ``width_power``: each sub-layer is divided by ``L * M**width_power``; 1 is the mean-field average, 0.5 the
    standard (NTK-type) parameterisation, whose outputs do not concentrate as ``M`` grows.
    """
    W, V, a, b = (params[k] for k in PARAMS)
    S, L = W.shape[:2]
    H = embed(X)
    if H.dim() == 3:
        H = H.unsqueeze(0).expand(S, *H.shape)
    for l in range(L):
        H = block(H, W[:, l], V[:, l], a[:, l], b[:, l], L, width_power)
    y = H[..., -1].mean(-1)
    return (y, H) if return_stream else y


def mse(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-model mean squared error ``(1/2) mean_b (pred - y)^2``; ``pred: (S, B)``, ``y: (B,)``."""
    return 0.5 * ((pred - y) ** 2).mean(-1)


def weight_decay(params: Dict[str, torch.Tensor]) -> torch.Tensor:
    """Per-model ``(1/2) E_particles |theta|^2``: the squared norm averaged over the ``L M`` particles."""
    tot = 0.0
    for k in PARAMS:
        p = params[k]
        tot = tot + (p**2).flatten(3).sum(-1).mean((1, 2))
    return 0.5 * tot


def objective(params, X, y, lam: float, width_power: float = 1.0):
    """Per-model training loss and regularised objective ``R + lam/2 E|theta|^2``, each ``(S,)``."""
    loss = mse(forward(params, X, width_power=width_power), y)
    return loss, loss + lam * weight_decay(params)


def gd_step(params: Dict[str, torch.Tensor], X, y, lr: float, lam: float, width_power: float = 1.0) -> torch.Tensor:
    """One full-batch gradient step in the mean-field time scale, in place; returns the loss ``(S,)``.

    ``theta <- theta - lr * L * M * grad(objective)``: with this factor a particle's velocity is the
    gradient of the first variation of the objective (O(1) for every L, M), so ``lr * steps`` is the
    gradient-flow time whatever the size. With ``width_power = p`` the factor is ``L * M**(2p - 1)``: the same
    function-space speed at initialisation (``L`` for the standard parameterisation ``p = 1/2``, whose particles
    then move only O(M^-1/2): the lazy regime).
    """
    for p in params.values():
        p.requires_grad_(True)
    loss, obj = objective(params, X, y, lam, width_power)
    grads = torch.autograd.grad(obj.sum(), [params[k] for k in PARAMS])
    L, M = params["W"].shape[1:3]
    with torch.no_grad():
        for k, g in zip(PARAMS, grads):
            params[k] = params[k].detach() - lr * L * M ** (2 * width_power - 1) * g
    return loss.detach()


def train(
    params, X, y, *, lr: float, lam: float, steps: int, X_test=None, record_every: int = 1, width_power: float = 1.0
):
    """Full-batch GD for all models; returns a dict with the loss curves ``(T, S)``, the final params
    and (if ``X_test`` is given) the trained test predictions ``(S, B_test)``."""
    params = {k: v.detach().clone() for k, v in params.items()}
    curve = []
    for t in range(steps):
        loss = gd_step(params, X, y, lr, lam, width_power)
        if t % record_every == 0:
            curve.append(loss)
    with torch.no_grad():
        final = mse(forward(params, X, width_power=width_power), y)
        out = {"loss": torch.stack(curve + [final]), "params": params}
        if X_test is not None:
            out["pred_test"] = forward(params, X_test, width_power=width_power)
    return out


# -- the teacher task -------------------------------------------------------------------------
def teacher_task(
    n_train: int,
    n_test: int,
    N: int,
    d: int,
    *,
    generator: torch.Generator,
    heads: int = 2,
    w_scale: float = 3.0,
    dtype=torch.float32,
    device=None,
):
    """Sequence regression: ``x_i ~ N(0, I_d)`` (``N`` tokens), label from a fixed random one-block
    teacher of the same family with a few heads and sharp attention (``w_scale``), standardised to
    zero mean and unit variance on the training set. Returns ``X, y, X_test, y_test``."""
    X = torch.randn(n_train + n_test, N, d, generator=generator, dtype=torch.float64)
    tp = init_params(1, 1, heads, d + 1, generator=generator, w_scale=w_scale, dtype=torch.float64)
    with torch.no_grad():
        yt = forward(tp, X)[0]
    mu, sd = yt[:n_train].mean(), yt[:n_train].std()
    yt = (yt - mu) / sd
    cast = dict(dtype=dtype, device=device)
    return X[:n_train].to(**cast), yt[:n_train].to(**cast), X[n_train:].to(**cast), yt[n_train:].to(**cast)


# -- run-to-run spread ------------------------------------------------------------------------
def seed_spread(pred: torch.Tensor, y_scale: Optional[float] = None) -> float:
    """Seed-to-seed spread of predictions ``(S, B)``: the standard deviation over models, RMS over
    inputs, divided by ``y_scale`` if given."""
    s = pred.std(0, unbiased=True).pow(2).mean().sqrt().item()
    return s / y_scale if y_scale else s


def curve_gap(c1: torch.Tensor, c2: torch.Tensor, ref: float) -> float:
    """Sup-norm distance between two loss curves ``(T,)`` divided by ``ref`` (e.g. the initial loss)."""
    return (c1 - c2).abs().max().item() / ref
