"""Curvature of small models: exact Hessians, Hessian-vector products, traces and extreme eigenvalues.

Every function takes ``loss(theta)``: a scalar function of ONE flat parameter vector ``theta`` (1-D tensor).
Wrap a model with :func:`flat_loss` to get one. Exact Hessians (``torch.func.hessian``) are for models with up
to a few thousand parameters; Hessian-vector products, Hutchinson's trace estimate and Lanczos work at any size.

    from theorylab import hessian
    H = hessian.exact(loss, theta)                      # (p, p)
    tr = hessian.trace(loss, theta)                     # exact when p <= exact_below, else Hutchinson
    top = hessian.extreme_eigs(loss, theta, g=g)[1]     # largest eigenvalue by Lanczos
"""

from __future__ import annotations

from typing import Callable, Dict, Tuple

import torch
from torch.func import functional_call, grad, hessian, jvp

Loss = Callable[[torch.Tensor], torch.Tensor]


def flat_loss(model: torch.nn.Module, loss_of_output: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor):
    """``(loss(theta), theta0)`` for ``model`` on inputs ``x``: ``theta`` is all parameters flattened in order."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]
    theta0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def unflatten(theta: torch.Tensor) -> Dict[str, torch.Tensor]:
        return {n: t.reshape(s) for n, t, s in zip(names, torch.split(theta, sizes), shapes)}

    def loss(theta: torch.Tensor) -> torch.Tensor:
        return loss_of_output(functional_call(model, unflatten(theta), (x,)))

    return loss, theta0


def exact(loss: Loss, theta: torch.Tensor) -> torch.Tensor:
    """The full Hessian ``(p, p)`` at ``theta``."""
    return hessian(loss)(theta)


def hvp(loss: Loss, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Hessian-vector product ``H(theta) v`` (forward-over-reverse; no Hessian is formed)."""
    return jvp(grad(loss), (theta,), (v,))[1]


def trace(
    loss: Loss, theta: torch.Tensor, *, probes: int = 64, g: torch.Generator | None = None, exact_below: int = 2000
) -> torch.Tensor:
    """tr H: exact for ``p <= exact_below``, else Hutchinson's estimate with Rademacher probes (mean of v'Hv)."""
    p = theta.numel()
    if p <= exact_below:
        return torch.diagonal(exact(loss, theta)).sum()
    g = g if g is not None else torch.Generator().manual_seed(0)
    v = (torch.randint(0, 2, (probes, p), generator=g) * 2 - 1).to(theta)
    hv = torch.func.vmap(lambda u: hvp(loss, theta, u))(v)
    return (hv * v).sum(1).mean()


def extreme_eigs(
    loss: Loss, theta: torch.Tensor, *, steps: int = 40, g: torch.Generator | None = None
) -> Tuple[torch.Tensor, torch.Tensor]:
    """(smallest, largest) eigenvalue of H(theta) by Lanczos with full re-orthogonalisation (``steps`` HVPs).

    The extreme Ritz values converge first; ``steps`` of 30-60 give the top eigenvalue to several digits for
    small networks. With ``steps >= p`` the answer is exact up to rounding.
    """
    p = theta.numel()
    m = min(steps, p)
    g = g if g is not None else torch.Generator().manual_seed(0)
    q = torch.randn(p, generator=g, dtype=torch.float64).to(theta)
    Q = torch.zeros(m, p, dtype=theta.dtype, device=theta.device)
    alpha = torch.zeros(m, dtype=torch.float64)
    beta = torch.zeros(m, dtype=torch.float64)
    q = q / q.norm()
    k = m
    for j in range(m):
        Q[j] = q
        w = hvp(loss, theta, q)
        alpha[j] = torch.dot(w, q).item()
        w = w - Q[: j + 1].T @ (Q[: j + 1] @ w)  # full re-orthogonalisation (twice is enough)
        w = w - Q[: j + 1].T @ (Q[: j + 1] @ w)
        b = w.norm().item()
        if j + 1 < m:
            if b < 1e-10:
                k = j + 1
                break
            beta[j] = b
            q = w / b
    T = torch.diag(alpha[:k]) + torch.diag(beta[: k - 1], 1) + torch.diag(beta[: k - 1], -1)
    ev = torch.linalg.eigvalsh(T)
    return ev[0].to(theta.dtype), ev[-1].to(theta.dtype)
