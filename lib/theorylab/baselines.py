"""Classical in-context learners, batched over prompts: what a trained transformer is compared against.

Each takes the context ``x (B, N, d)``, ``y (B, N)`` and queries ``xq (B, M, d)`` (or ``(B, d)`` for one query) and
returns predictions ``(B, M)`` (or ``(B,)``); iterative methods return one row per iterate ``(K+1, B, M)``.
Least squares is ``L(w) = 1/(2N) |X w - y|^2``; all methods start from ``w = 0``. Use float64 for identities.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

from .prompts import rbf_kernel


def _queries(xq: Tensor) -> Tuple[Tensor, bool]:
    return (xq.unsqueeze(-2), True) if xq.dim() == 2 else (xq, False)


def _out(pred: Tensor, single: bool) -> Tensor:
    return pred.squeeze(-1) if single else pred


def _predict(w: Tensor, xq: Tensor) -> Tensor:
    q, single = _queries(xq)
    return _out(torch.einsum("...bd,bmd->...bm", w, q), single)


def least_squares_weights(x: Tensor, y: Tensor) -> Tensor:
    """Minimum-norm least-squares solution ``w = X^+ y`` per prompt, ``(B, d)`` (also when ``N < d``)."""
    return (torch.linalg.pinv(x) @ y.unsqueeze(-1)).squeeze(-1)


def least_squares(x: Tensor, y: Tensor, xq: Tensor) -> Tensor:
    """Predictions of the minimum-norm least-squares fit."""
    return _predict(least_squares_weights(x, y), xq)


def ridge_weights(x: Tensor, y: Tensor, lam: float) -> Tensor:
    """Ridge ``argmin_w |X w - y|^2 + lam |w|^2`` per prompt (``lam > 0``), ``(B, d)``. With noise variance
    ``s^2`` and prior ``w ~ N(0, t^2 I)``, ``lam = s^2 / t^2`` gives the Bayes posterior mean."""
    if lam <= 0:
        raise ValueError(f"lam must be > 0 (use least_squares for lam = 0); got {lam}")
    d = x.shape[-1]
    a = x.transpose(-1, -2) @ x + lam * torch.eye(d, dtype=x.dtype, device=x.device)
    return torch.linalg.solve(a, (x.transpose(-1, -2) @ y.unsqueeze(-1))).squeeze(-1)


def ridge(x: Tensor, y: Tensor, xq: Tensor, lam: float) -> Tensor:
    return _predict(ridge_weights(x, y, lam), xq)


def gd_weights(x: Tensor, y: Tensor, steps: int, eta: float, precond: Optional[Tensor] = None) -> Tensor:
    """Iterates of (preconditioned) gradient descent on ``L(w) = 1/(2N)|Xw - y|^2`` from ``w = 0``:
    ``w <- w - eta * P (X^T (X w - y) / N)``, ``P = I`` or ``precond`` (``(d, d)`` or ``(B, d, d)``).
    Returns ``(steps+1, B, d)``."""
    n = x.shape[-2]
    s = x.transpose(-1, -2) @ x / n  # (B, d, d)
    b = (x.transpose(-1, -2) @ y.unsqueeze(-1)).squeeze(-1) / n
    w = torch.zeros_like(b)
    out = [w]
    for _ in range(steps):
        g = (s @ w.unsqueeze(-1)).squeeze(-1) - b
        if precond is not None:
            g = (precond @ g.unsqueeze(-1)).squeeze(-1)
        w = w - eta * g
        out.append(w)
    return torch.stack(out)


def gd(x: Tensor, y: Tensor, xq: Tensor, steps: int, eta: float, precond: Optional[Tensor] = None) -> Tensor:
    """Predictions of every GD iterate, ``(steps+1, B, M)``."""
    return _predict(gd_weights(x, y, steps, eta, precond), xq)


def newton_weights(x: Tensor, y: Tensor, steps: int, alpha: Optional[Tensor] = None) -> Tensor:
    """Iterative Newton (Newton-Schulz) for the pseudo-inverse of ``S = X^T X`` (the method Fu et al. 2024 compare
    transformers with): ``M_0 = alpha S``, ``M_{k+1} = 2 M_k - M_k S M_k``, ``w_k = M_k X^T y``. It converges to
    the least-squares solution (quadratically, once ``|I - M_k S| < 1``) for ``0 < alpha < 2 / |S|_2^2``; the
    default ``alpha = 1 / |S S^T|_2 = 1 / |S|_2^2`` per prompt. Returns ``(steps+1, B, d)``."""
    s = x.transpose(-1, -2) @ x
    xty = x.transpose(-1, -2) @ y.unsqueeze(-1)
    if alpha is None:
        alpha = 1.0 / torch.linalg.matrix_norm(s @ s.transpose(-1, -2), ord=2)
    m = torch.as_tensor(alpha, dtype=s.dtype, device=s.device).reshape(-1, 1, 1) * s
    out = [(m @ xty).squeeze(-1)]
    for _ in range(steps):
        m = 2 * m - m @ s @ m
        out.append((m @ xty).squeeze(-1))
    return torch.stack(out)


def newton(x: Tensor, y: Tensor, xq: Tensor, steps: int, alpha: Optional[Tensor] = None) -> Tensor:
    return _predict(newton_weights(x, y, steps, alpha), xq)


def nearest_neighbor(x: Tensor, y: Tensor, xq: Tensor) -> Tensor:
    """1-NN: the label of the context point closest (Euclidean) to each query."""
    q, single = _queries(xq)
    idx = torch.cdist(q, x).argmin(-1)  # (B, M)
    return _out(torch.gather(y, -1, idx), single)


def gp_posterior(
    x: Tensor, y: Tensor, xq: Tensor, *, lengthscale: float, outputscale: float = 1.0, noise_std: float
) -> Tuple[Tensor, Tensor]:
    """Exact Gaussian-process posterior predictive (RBF kernel, Gaussian noise) at the queries: the mean and the
    variance of the noisy observation ``y_q``. Computed in the input dtype (use float64)."""
    q, single = _queries(xq)
    n = x.shape[-2]
    k = rbf_kernel(x, x, lengthscale, outputscale) + noise_std**2 * torch.eye(n, dtype=x.dtype, device=x.device)
    kq = rbf_kernel(x, q, lengthscale, outputscale)  # (B, N, M)
    chol = torch.linalg.cholesky(k)
    alpha = torch.cholesky_solve(y.unsqueeze(-1), chol)  # (B, N, 1)
    mean = (kq.transpose(-1, -2) @ alpha).squeeze(-1)
    v = torch.linalg.solve_triangular(chol, kq, upper=False)
    var = outputscale + noise_std**2 - v.pow(2).sum(-2)
    return _out(mean, single), _out(var, single)
