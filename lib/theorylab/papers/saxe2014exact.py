"""Deep linear networks: data, initialisers, batched full-batch gradient descent and the exact
mode dynamics of Saxe, McClelland & Ganguli (2014).

Conventions used throughout (and by the unit tests):

* Data have whitened inputs, ``Sigma11 = X X^T / P = I``, and targets ``Y = Sigma31 X`` with
  ``Sigma31 = U diag(s) V^T``. The loss is ``L = 1/(2P) sum_mu |y_mu - W x_mu|^2``, which for
  whitened inputs equals ``1/2 |Sigma31 - W|_F^2`` with ``W = W_D ... W_1`` the end-to-end map.
* A network is a list of ``D`` weight tensors ``W_l`` of shape ``(B, n_l, n_{l-1})``: the leading
  dimension ``B`` holds independent runs (learning rates, seeds, initialisations) that train in one
  batched computation. ``D = 2`` is the paper's "three-layer" network (one hidden layer).
* Gradient descent with step ``lr`` on this loss is the Euler discretisation of the gradient flow
  ``tau dW_l/dt = -dL/dW_l`` with ``tau = 1/lr`` when ``t`` counts steps. Every analytic function
  below takes ``tau`` (default 1: time in units of lr x steps).
* The strength of mode ``a`` is ``u_a = u_a^T W v_a`` (columns of ``U`` and ``V``).
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

Tensor = torch.Tensor


# -- data ------------------------------------------------------------------------------------
def random_orthonormal(
    n: int, m: Optional[int] = None, *, batch: Optional[int] = None, generator=None, dtype=torch.float64
) -> Tensor:
    """A Haar-random ``n x m`` matrix with orthonormal columns (``m <= n``) or rows (``m > n``).

    QR of a Gaussian matrix with the signs of ``diag(R)`` folded in (so the law is exactly Haar).
    ``batch`` gives a leading batch dimension. Sampled on the CPU generator (move it afterwards).
    """
    m = n if m is None else m
    k, j = max(n, m), min(n, m)
    shape = (k, j) if batch is None else (batch, k, j)
    a = torch.randn(shape, generator=generator, dtype=dtype)
    q, r = torch.linalg.qr(a)
    q = q * torch.sgn(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)
    return q if n >= m else q.transpose(-2, -1)


def whitened_inputs(n_in: int, n_items: int, *, generator=None, dtype=torch.float64) -> Tensor:
    """``X`` of shape ``(n_in, n_items)`` with ``X X^T / n_items = I`` exactly (needs n_items >= n_in)."""
    if n_items < n_in:
        raise ValueError(f"whitened inputs need n_items >= n_in; got {n_items} < {n_in}")
    return math.sqrt(n_items) * random_orthonormal(n_items, n_in, generator=generator, dtype=dtype).T


def svd_regression(
    s: Sequence[float], n_in: int, n_out: int, n_items: Optional[int] = None, *, generator=None, dtype=torch.float64
) -> Dict[str, Tensor]:
    """Regression data whose input-output correlation is ``Sigma31 = U diag(s) V^T``.

    Returns ``X`` (whitened, ``n_in x P``), ``Y = Sigma31 X``, the statistics ``Sigma11 = X X^T/P``
    (the identity) and ``Sigma31 = Y X^T/P`` computed from the data, and ``U``, ``s``, ``V``.
    """
    s = torch.as_tensor(s, dtype=dtype)
    r = s.numel()
    if r > min(n_in, n_out):
        raise ValueError(f"rank {r} exceeds min(n_in, n_out) = {min(n_in, n_out)}")
    n_items = n_in if n_items is None else n_items
    U = random_orthonormal(n_out, r, generator=generator, dtype=dtype)
    V = random_orthonormal(n_in, r, generator=generator, dtype=dtype)
    X = whitened_inputs(n_in, n_items, generator=generator, dtype=dtype)
    Y = (U * s) @ V.T @ X
    return dict(X=X, Y=Y, Sigma11=X @ X.T / n_items, Sigma31=Y @ X.T / n_items, U=U, s=s, V=V)


def hierarchical_regression(levels: int = 3, dtype=torch.float64) -> Dict[str, Tensor]:
    """A hierarchical item/feature data set in the spirit of the paper's: ``2**levels`` items are the
    leaves of a binary tree; each tree node is a feature that is 1 for the items below it.

    Inputs are one-hot items scaled to be whitened (``X = sqrt(P) I``). The SVD of ``Sigma31`` has
    one mode per level of the tree (broad distinctions first, strongest), with degenerate
    singular values within a level. Returns the same keys as :func:`svd_regression`.
    """
    P = 2**levels
    rows = []
    for depth in range(levels + 1):
        width = P // 2**depth
        for k in range(2**depth):
            f = torch.zeros(P, dtype=dtype)
            f[k * width : (k + 1) * width] = 1.0
            rows.append(f)
    F = torch.stack(rows)  # features x items
    X = math.sqrt(P) * torch.eye(P, dtype=dtype)
    Y = F  # column mu: the features of item mu
    Sigma31 = Y @ X.T / P
    U, s, Vh = torch.linalg.svd(Sigma31, full_matrices=False)
    keep = s > 1e-10 * s.max()
    return dict(X=X, Y=Y, Sigma11=X @ X.T / P, Sigma31=Sigma31, U=U[:, keep], s=s[keep], V=Vh[keep].T)


# -- initialisers ----------------------------------------------------------------------------
def _pairs(dims: Sequence[int]):
    if len(dims) < 2:
        raise ValueError("dims lists the widths n_0 (input), ..., n_D (output): at least two numbers")
    return list(zip(dims[:-1], dims[1:]))


def gaussian_init(
    dims: Sequence[int], batch: int, *, std: Optional[float] = None, generator=None, dtype=torch.float64
) -> List[Tensor]:
    """i.i.d. Gaussian layers. ``std=None`` is the scaled Gaussian init (variance ``1/n_in`` of each
    layer, so ``E|W x|^2 = |x|^2``); a number gives a fixed scale (e.g. a small random init)."""
    out = []
    for n_in, n_out in _pairs(dims):
        sd = (1.0 / math.sqrt(n_in)) if std is None else float(std)
        out.append(sd * torch.randn((batch, n_out, n_in), generator=generator, dtype=dtype))
    return out


def orthogonal_init(
    dims: Sequence[int], batch: int, *, gain: float = 1.0, generator=None, dtype=torch.float64
) -> List[Tensor]:
    """Random (semi-)orthogonal layers times ``gain``: every singular value of every layer is ``gain``."""
    return [
        gain * random_orthonormal(n_out, n_in, batch=batch, generator=generator, dtype=dtype)
        for n_in, n_out in _pairs(dims)
    ]


def decoupled_init(
    U: Tensor, V: Tensor, u0, dims: Sequence[int], *, batch: Optional[int] = None, generator=None
) -> List[Tensor]:
    """Balanced, mode-aligned ("decoupled") initial weights with end-to-end map ``U diag(u0) V^T``.

    Every layer carries strength ``u0_a^(1/D)`` on mode ``a``: ``W_1 = R_1 diag(c) V^T``,
    ``W_l = R_l diag(c) R_{l-1}^T``, ``W_D = U diag(c) R_{D-1}^T`` with ``c = u0^(1/D)`` and hidden
    bases ``R_l`` (``n_l x r``, orthonormal columns: Haar-random when a generator is given, else the
    first ``r`` coordinate vectors). ``U``, ``V`` (and ``u0``, shape ``(r,)`` or ``(B, r)``) may
    carry a leading batch dimension. From here gradient flow keeps every mode decoupled.
    """
    D = len(dims) - 1
    dtype, dev, r = U.dtype, U.device, U.shape[-1]
    u0 = torch.as_tensor(u0, dtype=dtype, device=dev)
    if torch.any(u0 <= 0):
        raise ValueError("decoupled_init needs positive initial mode strengths u0")
    if batch is None:
        batch = max(U.shape[0] if U.dim() == 3 else 1, u0.shape[0] if u0.dim() == 2 else 1)
    c = u0.pow(1.0 / D).expand(batch, r)
    bases = [V.expand(batch, *V.shape[-2:])]
    for n in dims[1:-1]:
        if n < r:
            raise ValueError(f"hidden width {n} is below the number of modes {r}")
        if generator is None:
            R = torch.eye(n, r, dtype=dtype, device=dev).expand(batch, n, r)
        else:
            R = random_orthonormal(n, r, batch=batch, generator=generator, dtype=dtype).to(dev)
        bases.append(R)
    bases.append(U.expand(batch, *U.shape[-2:]))
    return [(bases[l + 1] * c.unsqueeze(-2)) @ bases[l].transpose(-2, -1) for l in range(D)]


# -- the network and gradient descent --------------------------------------------------------
def end_to_end(Ws: Sequence[Tensor]) -> Tensor:
    """The end-to-end map ``W_D ... W_1`` of each run, shape ``(B, n_out, n_in)``."""
    W = Ws[0]
    for Wl in Ws[1:]:
        W = torch.bmm(Wl, W)
    return W


def loss_and_grads(Ws: Sequence[Tensor], Sigma31: Tensor):
    """Loss ``1/2 |Sigma31 - W|_F^2`` (whitened inputs) per run and its gradient for every layer:
    ``dL/dW_l = -(W_D..W_{l+1})^T (Sigma31 - W) (W_{l-1}..W_1)^T``."""
    prefix = [None]  # prefix[l] = W_l ... W_1 (prefix[0] = identity)
    for Wl in Ws:
        prefix.append(Wl if prefix[-1] is None else torch.bmm(Wl, prefix[-1]))
    E = Sigma31 - prefix[-1]
    loss = 0.5 * E.pow(2).sum(dim=(-2, -1))
    grads = [None] * len(Ws)
    M = E.expand_as(prefix[-1])  # (W_D..W_{l+1})^T E, built from the top
    for l in range(len(Ws) - 1, -1, -1):
        grads[l] = -(M if prefix[l] is None else torch.bmm(M, prefix[l].transpose(-2, -1)))
        if l > 0:
            M = torch.bmm(Ws[l].transpose(-2, -1), M)
    return loss, grads


def mode_strengths(W: Tensor, U: Tensor, V: Tensor) -> Tensor:
    """``u_a = u_a^T W v_a`` for each run and mode: shape ``(B, r)``."""
    return torch.diagonal(U.transpose(-2, -1) @ W @ V, dim1=-2, dim2=-1)


def train_gd(
    Ws: Sequence[Tensor],
    Sigma31: Tensor,
    lr,
    steps: int,
    *,
    record_every: int = 1,
    U: Optional[Tensor] = None,
    V: Optional[Tensor] = None,
    blowup: float = 1e6,
    stop=None,
) -> Dict[str, object]:
    """Full-batch gradient descent on every run of the batch at once.

    ``lr`` is a number or a tensor of shape ``(B,)`` (one learning rate per run). The loss (and,
    with ``U``, ``V``, the mode strengths) are recorded at step 0, every ``record_every`` steps and
    at the end; ``stop(step, loss)`` (optional) ends the training early when it returns True (the
    losses of that step are recorded). A run whose loss exceeds ``blowup`` times its initial loss (or is not finite) is
    stopped (its learning rate set to 0) and flagged in ``diverged``; its later losses read ``inf``.
    Returns ``t`` (steps, shape ``(T,)``), ``loss`` ``(T, B)``, ``modes`` ``(T, B, r)`` or None,
    ``diverged`` ``(B,)`` and the final weights ``Ws``.
    """
    Ws = [W.clone() for W in Ws]
    B = Ws[0].shape[0]
    lr = torch.as_tensor(lr, dtype=Ws[0].dtype, device=Ws[0].device).expand(B).clone()
    diverged = torch.zeros(B, dtype=torch.bool, device=Ws[0].device)
    ts, losses, modes = [], [], []

    def record(step, loss):
        ts.append(step)
        losses.append(torch.where(diverged, torch.full_like(loss, float("inf")), loss))
        if U is not None:
            modes.append(mode_strengths(end_to_end(Ws), U, V))

    loss0 = None
    for step in range(steps + 1):
        loss, grads = loss_and_grads(Ws, Sigma31)
        if loss0 is None:
            loss0 = loss.clone()
        bad = ~torch.isfinite(loss) | (loss > blowup * loss0)
        if bool(bad.any()):
            diverged |= bad
            lr = torch.where(diverged, torch.zeros_like(lr), lr)
        done = step == steps or (stop is not None and bool(stop(step, loss)))
        if step % record_every == 0 or done:
            record(step, loss)
        if done:
            break
        step_size = lr.view(B, 1, 1)
        for l in range(len(Ws)):
            Ws[l] = Ws[l] - step_size * grads[l]
    return dict(
        t=np.asarray(ts),
        loss=torch.stack(losses),
        modes=torch.stack(modes) if modes else None,
        diverged=diverged,
        Ws=Ws,
    )


def train_flow(
    Ws: Sequence[Tensor],
    Sigma31: Tensor,
    t_end: float,
    *,
    rel_step: float = 0.01,
    curv_step: float = 0.5,
    max_steps: int = 200_000,
    record_every: int = 1,
    U: Optional[Tensor] = None,
    V: Optional[Tensor] = None,
) -> Dict[str, object]:
    """Gradient flow ``dW_l/dt = -dL/dW_l`` (``tau = 1``) up to time ``t_end``, by Euler steps sized to
    the local time scale of each run: no layer changes by more than ``rel_step`` of its norm in one
    step, and ``h * C <= curv_step`` with ``C = sum_l prod_{k != l} |W_k|_2^2``, a bound on the largest
    curvature (refreshed every 4 steps; in 4 steps C grows by at most ``(1 + rel_step)^(8D)``).
    Long plateaus near saddles then cost few steps, which fixed-step GD cannot offer.
    Returns per-run times ``t`` ``(T, B)``, ``loss`` ``(T, B)``, ``modes`` ``(T, B, r)`` or None, ``Ws``.
    """
    Ws = [W.clone() for W in Ws]
    B, D = Ws[0].shape[0], len(Ws)
    t = torch.zeros(B, dtype=Ws[0].dtype, device=Ws[0].device)
    tiny = torch.finfo(t.dtype).tiny
    ts, losses, modes = [], [], []
    for step in range(max_steps + 1):
        loss, grads = loss_and_grads(Ws, Sigma31)
        done = bool((t >= t_end).all()) or step == max_steps
        if step % record_every == 0 or done:
            ts.append(t.clone())
            losses.append(loss)
            if U is not None:
                modes.append(mode_strengths(end_to_end(Ws), U, V))
        if done:
            break
        if step % 4 == 0:
            norms2 = torch.stack([torch.linalg.svdvals(W)[..., 0] ** 2 for W in Ws])  # (D, B)
            curv = (norms2.prod(0) / norms2.clamp_min(tiny)).sum(0) if D > 1 else torch.ones_like(t)
        w2 = torch.stack([W.pow(2).sum(dim=(-2, -1)) for W in Ws])
        g2 = torch.stack([G.pow(2).sum(dim=(-2, -1)) for G in grads])
        rel = (w2 / g2.clamp_min(tiny)).min(0).values.sqrt()
        h = torch.minimum(curv_step / curv.clamp_min(tiny), rel_step * rel)
        h = torch.minimum(h, (t_end - t).clamp_min(0.0))
        for l in range(D):
            Ws[l] = Ws[l] - h.view(B, 1, 1) * grads[l]
        t = t + h
    return dict(t=torch.stack(ts), loss=torch.stack(losses), modes=torch.stack(modes) if modes else None, Ws=Ws)


# -- the exact mode dynamics -----------------------------------------------------------------
def mode_strength(t, s, u0, tau: float = 1.0) -> np.ndarray:
    """Exact solution for one hidden layer (D = 2) from a balanced, decoupled start:
    ``u(t) = s e^{2st/tau} / (e^{2st/tau} - 1 + s/u0)``, written in an overflow-free form.
    Broadcasts ``t``, ``s`` and ``u0``."""
    t, s, u0 = np.asarray(t, float), np.asarray(s, float), np.asarray(u0, float)
    return s / (1.0 + (s / u0 - 1.0) * np.exp(-2.0 * s * t / tau))


def half_time(s, u0, tau: float = 1.0) -> np.ndarray:
    """Time for a mode to reach half its final strength, ``t_half = tau/(2s) ln(s/u0 - 1)`` (D = 2)."""
    s, u0 = np.asarray(s, float), np.asarray(u0, float)
    return tau / (2.0 * s) * np.log(s / u0 - 1.0)


def _deep_clock(s: float, u0: float, depth: int, n_grid: int):
    """Grid of logits x = ln(u/(s-u)) and the gradient-flow time (tau = 1) to reach each one.

    The reduced dynamics of a balanced decoupled mode with D layers is
    ``du/dt = D u^{2-2/D} (s - u)``; with ``u = s sigmoid(x)`` this becomes
    ``dt = (s sigmoid(x))^{2/D-1} dx / (D s)``, a smooth integrand (trapezoid rule)."""
    if not 0 < u0 < s:
        raise ValueError(f"need 0 < u0 < s; got u0={u0}, s={s}")
    x0 = math.log(u0 / (s - u0))
    x = np.linspace(x0, max(x0, 0.0) + 40.0, n_grid)
    f = (s / (1.0 + np.exp(-x))) ** (2.0 / depth - 1.0) / (depth * s)
    t = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(x))])
    return x, t


def deep_mode_strength(t, s, u0, depth: int, tau: float = 1.0, n_grid: int = 8001) -> np.ndarray:
    """Mode strength ``u(t)`` of a depth-``D`` linear network (``D`` weight matrices) from a balanced,
    decoupled start: the solution of ``tau du/dt = D u^{2-2/D} (s - u)``, ``u(0) = u0``.

    ``D = 2`` has the closed form :func:`mode_strength`; other depths are integrated by quadrature.
    ``s`` and ``u0`` are scalars or 1-D arrays (one per mode); returns shape ``t.shape + s.shape``.
    """
    t = np.asarray(t, float)
    s_arr, u0_arr = np.broadcast_arrays(np.atleast_1d(np.asarray(s, float)), np.atleast_1d(np.asarray(u0, float)))
    out = np.empty(t.shape + s_arr.shape)
    for a, (sa, ua) in enumerate(zip(s_arr, u0_arr)):
        x, tg = _deep_clock(float(sa), float(ua), int(depth), n_grid)
        xa = np.interp(t / tau, tg, x, right=x[-1])
        out[..., a] = sa / (1.0 + np.exp(-xa))
    return out if np.ndim(s) or np.ndim(u0) else out[..., 0]


def deep_time_to(u, s, u0, depth: int, tau: float = 1.0, n_grid: int = 8001) -> np.ndarray:
    """Time for a depth-``D`` decoupled mode to grow from ``u0`` to ``u`` (``u0 <= u < s``);
    for ``D = 2`` it is ``tau/(2s) ln(u (s - u0) / (u0 (s - u)))``."""
    u_arr, s_arr, u0_arr = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, float)) for v in (u, s, u0)))
    out = np.empty(s_arr.shape)
    for a, (ua, sa, u0a) in enumerate(zip(u_arr, s_arr, u0_arr)):
        if not u0a <= ua < sa:
            raise ValueError(f"need u0 <= u < s; got u={ua}, u0={u0a}, s={sa}")
        x, tg = _deep_clock(float(sa), float(u0a), int(depth), n_grid)
        out[a] = tau * np.interp(math.log(ua / (sa - ua)), x, tg)
    return out if any(np.ndim(v) for v in (u, s, u0)) else out[0]


def deep_half_time(s, u0, depth: int, tau: float = 1.0, n_grid: int = 8001) -> np.ndarray:
    """Time for a depth-``D`` decoupled mode to reach ``s/2`` (equals :func:`half_time` for D = 2)."""
    return deep_time_to(np.asarray(s, float) / 2, s, u0, depth, tau, n_grid)


def crossing_times(curves, t, level, *, rising: bool = True) -> np.ndarray:
    """First time each column of ``curves`` (shape ``(T, ...)``) crosses ``level`` (broadcast over the
    trailing dimensions), linearly interpolated between records; NaN where it never does."""
    c = curves.detach().cpu().numpy() if isinstance(curves, torch.Tensor) else np.asarray(curves, float)
    t = np.asarray(t, float)
    level = np.broadcast_to(np.asarray(level, float), c.shape[1:])
    hit = (c >= level) if rising else (c <= level)
    i = np.argmax(hit, axis=0)
    ok = hit.any(axis=0)
    i1 = np.clip(i, 1, len(t) - 1)
    c1 = np.take_along_axis(c, i1[None], 0)[0]
    c0 = np.take_along_axis(c, (i1 - 1)[None], 0)[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(np.isfinite(c1) & (c1 != c0), (level - c0) / (c1 - c0), 1.0)
    out = t[i1 - 1] + np.clip(frac, 0.0, 1.0) * (t[i1] - t[i1 - 1])
    out = np.where(i == 0, t[0], out)
    return np.where(ok, out, np.nan)


# -- one entry point for the chapter's initialisations ----------------------------------------
INITS = ("decoupled", "small", "orthogonal", "gaussian")


def make_init(
    kind: str,
    dims: Sequence[int],
    batch: int,
    *,
    U: Optional[Tensor] = None,
    V: Optional[Tensor] = None,
    u0: float = 1e-5,
    std: float = 1e-3,
    gain: float = 1.0,
    generator=None,
) -> List[Tensor]:
    """Initial weights of ``batch`` networks with widths ``dims``.

    ``kind``: ``"decoupled"`` (balanced, mode-aligned, strength ``u0`` on every mode of ``U``, ``V``),
    ``"small"`` (i.i.d. entries of s.d. ``std``), ``"orthogonal"`` (random orthogonal layers times ``gain``)
    or ``"gaussian"`` (scaled Gaussian layers, variance ``1/n_in``, times ``gain``).
    """
    if kind == "decoupled":
        if U is None or V is None:
            raise ValueError("the decoupled init needs the target's singular vectors U and V")
        strengths = torch.full((U.shape[-1],), float(u0), dtype=U.dtype, device=U.device)
        return decoupled_init(U, V, strengths, dims, batch=batch, generator=generator)
    if kind == "small":
        return gaussian_init(dims, batch, std=std, generator=generator)
    if kind == "orthogonal":
        return orthogonal_init(dims, batch, gain=gain, generator=generator)
    if kind == "gaussian":
        return [gain * W for W in gaussian_init(dims, batch, generator=generator)]
    raise ValueError(f"init must be one of {', '.join(INITS)}; got {kind!r}")


def effective_u0(Ws: Sequence[Tensor], U: Tensor, V: Tensor) -> Tensor:
    """Effective initial strength of each mode of a small random one-hidden-layer start,
    ``u0_eff = |W_1 v_a + W_2^T u_a|^2 / 4`` (the growing component after the alignment phase); ``(B, r)``."""
    if len(Ws) != 2:
        raise ValueError(f"effective_u0 is derived for one hidden layer (two weight matrices); got {len(Ws)}")
    W1, W2 = Ws
    return 0.25 * (W1 @ V + W2.transpose(-2, -1) @ U).pow(2).sum(dim=-2)
