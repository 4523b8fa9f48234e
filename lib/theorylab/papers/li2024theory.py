"""Continual overparameterized linear regression: a task stream, the minimum-norm update, and the
forgetting / generalization bookkeeping of a learner made of one or several linear experts.

The setting (Li et al., *Theory on mixture-of-experts in continual learning*; chapter 2, after Lin et al.'s
theory of forgetting in continual linear regression):

* a pool of ``N`` ground-truth models ``w_1..w_N`` in ``R^d`` (``w_n ~ N(0, I/d)``), each with a unit
  *feature signal* ``v_n`` (the ``v_n`` orthonormal);
* one task per round ``t``: a ground truth ``n_t`` is drawn, and the task's data are ``s < d`` samples, the
  columns of ``X_t`` (``d x s``): one column is ``beta_t v_{n_t}``, the other ``s - 1`` are ``N(0, sigma^2 I/d)``;
  the labels are noise-free, ``y_t = X_t^T w_{n_t}``;
* an expert trained on the task moves to the interpolating solution closest to where it was,
  ``w <- w + X (X^T X)^{-1} (y - X^T w)``: it keeps every direction the task does not see, and its error
  ``w - w_n`` is projected off the task's column span (:func:`projector`).

:class:`CLTracker` keeps, for every expert ``m`` and ground truth ``n``, how many tasks of ``n`` were routed to
``m``, so the two quantities of the theory cost ``O(M N d)`` per round, whatever the number of past tasks:

* generalization error ``G_t = (1/t) sum_{tau<=t} ||w_t^{(m_tau)} - w_{n_tau}||^2`` (every task seen so far,
  scored with the *current* model of the expert that learned it);
* forgetting ``F_t = 1/(t-1) sum_{tau<t} ( ||w_t^{(m_tau)} - w_{n_tau}||^2 - ||w_tau^{(m_tau)} - w_{n_tau}||^2 )``
  (how much worse each old task is now than just after it was learned).

Everything is batched over leading dimensions (seeds, configurations) and defaults to float64.
"""

from __future__ import annotations

from typing import Sequence, Tuple

__all__ = ["ground_truths", "task_inputs", "projector", "min_norm_update", "CLTracker"]


def _torch():
    import torch

    return torch


def ground_truths(n_truths: int, d: int, batch: Sequence[int] = (), *, generator=None, dtype=None):
    """``(W, V)``, both ``(*batch, n_truths, d)``: ground truths ``w_n ~ N(0, I/d)`` and orthonormal feature
    signals ``v_n`` (a random orthonormal set, independent of the ``w_n``)."""
    torch = _torch()
    dtype = dtype or torch.float64
    if n_truths > d:
        raise ValueError(f"need n_truths <= d for orthonormal signals; got {n_truths} > {d}")
    W = torch.randn(*batch, n_truths, d, generator=generator, dtype=dtype) / d**0.5
    Q = torch.linalg.qr(torch.randn(*batch, d, n_truths, generator=generator, dtype=dtype))[0]
    return W, Q.transpose(-1, -2).contiguous()


def task_inputs(V, n, s: int, *, sigma: float = 0.05, beta: Tuple[float, float] = (0.5, 1.0), generator=None):
    """The inputs ``X`` (``(*batch, d, s)``) of one task per batch element.

    ``V``: signals ``(*batch, N, d)``; ``n``: the drawn ground truth, an integer tensor of shape ``batch``.
    Column 0 is ``beta v_n`` with ``beta ~ U[beta]``; columns ``1..s-1`` are ``N(0, sigma^2 I/d)``.
    """
    torch = _torch()
    *batch, N, d = V.shape
    if not 1 <= s <= d:
        raise ValueError(f"need 1 <= s <= d; got s={s}, d={d}")
    X = (sigma / d**0.5) * torch.randn(*batch, d, s, generator=generator, dtype=V.dtype)
    b = beta[0] + (beta[1] - beta[0]) * torch.rand(*batch, generator=generator, dtype=V.dtype)
    v = torch.gather(V, -2, n.reshape(*batch, 1, 1).expand(*batch, 1, d)).squeeze(-2)
    X[..., :, 0] = b[..., None] * v.to(X.device)
    return X


def projector(X):
    """Orthogonal projector ``X (X^T X)^{-1} X^T`` onto the column span of ``X`` (``(*batch, d, s)``, full
    column rank), shape ``(*batch, d, d)``."""
    torch = _torch()
    Xt = X.transpose(-1, -2)
    return X @ torch.linalg.solve(Xt @ X, Xt)


def min_norm_update(w, X, y):
    """``w + X (X^T X)^{-1} (y - X^T w)``: the interpolator of ``(X, y)`` nearest to ``w``.

    ``w``: ``(*batch, d)``, ``X``: ``(*batch, d, s)``, ``y``: ``(*batch, s)``.
    """
    torch = _torch()
    Xt = X.transpose(-1, -2)
    r = y - (Xt @ w[..., None])[..., 0]
    return w + (X @ torch.linalg.solve(Xt @ X, r[..., None]))[..., 0]


class CLTracker:
    """Forgetting and generalization error of ``M`` experts over a stream of tasks (batched over ``B``).

    ``W``: ground truths ``(B, N, d)``. Call :meth:`record` once per round, *after* the routed expert was
    updated, with the routed expert ``m`` (``(B,)``), the task's ground truth ``n`` (``(B,)``) and all expert
    models ``w`` (``(B, M, d)``); it returns ``(F_t, G_t)`` (``F_1 = 0``), or ``None`` with ``metrics=False``
    (the bookkeeping is still updated, only the ``O(BMNd)`` evaluation is skipped). ``counts[b, m, n]`` is how
    many tasks of ground truth ``n`` expert ``m`` has learned.
    """

    def __init__(self, W, n_experts: int):
        torch = _torch()
        self.W = W
        B, N, _ = W.shape
        self.counts = torch.zeros(B, n_experts, N, dtype=W.dtype, device=W.device)
        self.sum_after = torch.zeros(B, dtype=W.dtype, device=W.device)
        self.t = 0
        self._W2 = (W * W).sum(-1)[:, None, :]

    def errors(self, w):
        """``||w^{(m)} - w_n||^2`` for every expert and ground truth, ``(B, M, N)`` (expanded square: one matmul)."""
        sq = (w * w).sum(-1)[:, :, None] - 2 * (w @ self.W.transpose(1, 2)) + self._W2
        return sq.clamp_min(0.0)

    def record(self, m, n, w, metrics: bool = True):
        torch = _torch()
        B = m.shape[0]
        ar = torch.arange(B, device=m.device)
        self.t += 1
        self.counts[ar, m, n] += 1
        now = ((w[ar, m] - self.W[ar, n]) ** 2).sum(-1)  # the new task, just learned
        if not metrics:
            self.sum_after = self.sum_after + now
            return None
        total = (self.counts * self.errors(w)).sum((1, 2))  # every task so far, with today's experts
        G = total / self.t
        F = (total - now - self.sum_after) / max(self.t - 1, 1)
        self.sum_after = self.sum_after + now
        return F, G

    def loads(self):
        """Fraction of the tasks so far routed to each expert, ``(B, M)``."""
        return self.counts.sum(-1) / max(self.t, 1)
