"""In-context task samplers: batches of small supervised problems, one per prompt.

Every sampler draws on a CPU ``torch.Generator`` in a fixed order and returns plain tensors (call ``.to(device)``
on them), so CPU and GPU runs see the same tasks. Shapes: ``x`` is ``(B, n, d)``, ``y`` is ``(B, n)``; a chapter
splits the ``n`` points into context and queries and formats them as tokens its own way (see ``icl.make_tokens``
for the ``[x, y]`` / ``[x_q, 0]`` format).
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch
from torch import Tensor


class Batch(NamedTuple):
    x: Tensor  # (B, n, d) inputs
    y: Tensor  # (B, n) labels (noisy where the sampler adds noise)
    f: Tensor  # (B, n) noiseless targets
    params: Optional[Tensor] = None  # the task's parameters where there are some (e.g. w: (B, d))


def _check(batch: int, n: int, dim: int) -> None:
    if batch < 1 or n < 1 or dim < 1:
        raise ValueError(f"batch, n and dim must be positive; got {batch}, {n}, {dim}")


def spectrum_covariance(eigs: Tensor, generator: torch.Generator) -> Tensor:
    """A covariance with eigenvalues ``eigs`` and a random (Haar) orthonormal eigenbasis: ``U diag(eigs) U^T``."""
    d = eigs.shape[-1]
    q, r = torch.linalg.qr(torch.randn(d, d, generator=generator, dtype=eigs.dtype))
    q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)
    return (q * eigs.unsqueeze(0)) @ q.T


def geometric_spectrum(dim: int, condition: float, dtype=torch.float32) -> Tensor:
    """``dim`` eigenvalues spaced geometrically from 1 down to ``1/condition``, rescaled to mean 1 (trace ``dim``)."""
    if condition < 1:
        raise ValueError(f"condition must be >= 1; got {condition}")
    e = torch.logspace(0, -math.log10(condition), dim, dtype=dtype)
    return e * (dim / e.sum())


INPUTS = ("gaussian", "uniform")


def sample_linear(
    batch: int,
    n: int,
    dim: int,
    generator: torch.Generator,
    *,
    cov: Optional[Tensor] = None,
    noise_std: float = 0.0,
    w_std: float = 1.0,
    inputs: str = "gaussian",
    dtype=torch.float32,
) -> Batch:
    """Linear regression tasks ``y = w.x + noise`` with ``w ~ N(0, w_std^2 I)`` and ``x ~ N(0, cov)``
    (``cov=None``: isotropic ``I``), or with ``inputs="uniform"``: ``x`` uniform on ``[-sqrt 3, sqrt 3]^dim``
    (unit variance per coordinate, then ``cov`` applied the same way). Draw order: w, x, noise."""
    _check(batch, n, dim)
    if inputs not in INPUTS:
        raise ValueError(f"inputs must be one of {', '.join(INPUTS)}; got {inputs!r}")
    w = torch.randn(batch, dim, generator=generator, dtype=dtype) * w_std
    if inputs == "gaussian":
        x = torch.randn(batch, n, dim, generator=generator, dtype=dtype)
    else:
        x = (2 * torch.rand(batch, n, dim, generator=generator, dtype=dtype) - 1) * 3**0.5
    if cov is not None:
        if cov.shape != (dim, dim):
            raise ValueError(f"cov must be ({dim}, {dim}); got {tuple(cov.shape)}")
        x = x @ torch.linalg.cholesky(cov.to(dtype)).T
    f = torch.einsum("bnd,bd->bn", x, w)
    noise = torch.randn(batch, n, generator=generator, dtype=dtype) * noise_std if noise_std > 0 else 0.0
    return Batch(x, f + noise, f, w)


def sample_relu_teacher(
    batch: int,
    n: int,
    dim: int,
    generator: torch.Generator,
    *,
    hidden: int = 8,
    noise_std: float = 0.0,
    dtype=torch.float32,
) -> Batch:
    """Nonlinear targets from a random two-layer ReLU teacher per task,
    ``f(x) = sum_k a_k relu(v_k.x) * sqrt(2/hidden)``, ``v_k ~ N(0, I/dim)``, ``a_k ~ N(0, 1)``, ``x ~ N(0, I)``.
    ``params`` holds ``(B, hidden, dim+1)``: each unit's ``v_k`` and ``a_k``."""
    _check(batch, n, dim)
    v = torch.randn(batch, hidden, dim, generator=generator, dtype=dtype) / math.sqrt(dim)
    a = torch.randn(batch, hidden, generator=generator, dtype=dtype)
    x = torch.randn(batch, n, dim, generator=generator, dtype=dtype)
    f = torch.relu(torch.einsum("bnd,bkd->bnk", x, v)) @ a.unsqueeze(-1) * math.sqrt(2.0 / hidden)
    f = f.squeeze(-1)
    noise = torch.randn(batch, n, generator=generator, dtype=dtype) * noise_std if noise_std > 0 else 0.0
    return Batch(x, f + noise, f, torch.cat([v, a.unsqueeze(-1)], dim=-1))


def rbf_kernel(a: Tensor, b: Tensor, lengthscale: float = 1.0, outputscale: float = 1.0) -> Tensor:
    """``outputscale * exp(-|a_i - b_j|^2 / (2 lengthscale^2))`` for ``a (..., n, d)`` and ``b (..., m, d)``."""
    sq = (a.unsqueeze(-2) - b.unsqueeze(-3)).pow(2).sum(-1)
    return outputscale * torch.exp(-0.5 * sq / lengthscale**2)


def sample_gp(
    batch: int,
    n: int,
    dim: int,
    generator: torch.Generator,
    *,
    lengthscale: float = 0.5,
    outputscale: float = 1.0,
    noise_std: float = 0.1,
    x_low: float = 0.0,
    x_high: float = 1.0,
    dtype=torch.float64,
) -> Batch:
    """Functions drawn from a Gaussian-process prior with an RBF kernel, observed at ``x ~ U(x_low, x_high)^d``
    with Gaussian noise ``noise_std``. Sampled in float64 (Cholesky with a small jitter) then cast to ``dtype``."""
    _check(batch, n, dim)
    x = x_low + (x_high - x_low) * torch.rand(batch, n, dim, generator=generator, dtype=torch.float64)
    k = rbf_kernel(x, x, lengthscale, outputscale) + 1e-8 * torch.eye(n, dtype=torch.float64)
    chol = torch.linalg.cholesky(k)
    f = (chol @ torch.randn(batch, n, 1, generator=generator, dtype=torch.float64)).squeeze(-1)
    y = f + noise_std * torch.randn(batch, n, generator=generator, dtype=torch.float64)
    return Batch(x.to(dtype), y.to(dtype), f.to(dtype), None)


def sample_labelled_points(
    batch: int,
    n: int,
    dim: int,
    generator: torch.Generator,
    *,
    classes: int = 2,
    sphere: bool = True,
    dtype=torch.float32,
) -> Batch:
    """Labelled point clouds: ``x`` uniform on the unit sphere (``sphere=True``) or ``N(0, I/dim)``, labels drawn
    uniformly from ``0..classes-1`` independently of ``x`` (an in-context classification task has no rule
    other than the context itself). ``f`` equals ``y`` (float)."""
    _check(batch, n, dim)
    if classes < 2:
        raise ValueError(f"classes must be >= 2; got {classes}")
    x = torch.randn(batch, n, dim, generator=generator, dtype=dtype)
    x = x / x.norm(dim=-1, keepdim=True) if sphere else x / math.sqrt(dim)
    y = torch.randint(0, classes, (batch, n), generator=generator).to(dtype)
    return Batch(x, y, y, None)


def labelled_tokens(x: Tensor, y: Tensor, n_labelled: int) -> Tensor:
    """Tokens ``[x, y]`` for the first ``n_labelled`` points of each prompt and ``[x, 0]`` for the rest (the
    queries): ``x (..., n, d)``, ``y (..., n)`` -> ``(..., n, d + 1)``. Any number of queries."""
    if not 0 <= n_labelled <= x.shape[-2]:
        raise ValueError(f"n_labelled must be in [0, {x.shape[-2]}]; got {n_labelled}")
    lab = torch.cat([y[..., :n_labelled], torch.zeros_like(y[..., n_labelled:])], -1)
    return torch.cat([x, lab.unsqueeze(-1)], -1)
