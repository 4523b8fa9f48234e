"""Discrete-time diffusion (DDPM) with targets whose noised marginals are known in closed form.

The forward chain is ``x_t = sqrt(alpha_t) x_{t-1} + sqrt(1 - alpha_t) w_t`` (``w_t ~ N(0, I)``,
``t = 1..T``), so ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps`` with ``abar_t = prod_{s<=t} alpha_s``.
A Gaussian mixture target stays a Gaussian mixture under this noising:

    q_t = sum_k w_k N( sqrt(abar_t) mu_k,  abar_t Sigma_k + (1 - abar_t) I ),

so its score ``grad log q_t`` and Hessian ``grad^2 log q_t`` are exact (:class:`GaussianMixture`,
:meth:`GaussianMixture.noised`). A single Gaussian is the case ``K = 1``.

Schedules (:class:`Schedule`): :func:`vp_schedule` discretises the variance-preserving SDE with a
linear rate ``b(s) = b_min + (b_max - b_min) s`` on ``s in [0, 1]`` into ``T`` steps (the usual DDPM
"linear beta" schedule, horizon fixed as ``T`` grows); :func:`log_schedule` is the schedule family of
the non-asymptotic analyses (``1 - alpha_t`` of order ``log T / T`` after a geometric warm-up, so the
horizon grows like ``log T``).

The mixture parameters may carry leading batch dimensions (e.g. one mixture per time step); every
method broadcasts ``x (..., d)`` against them. Work in float64: the errors measured with these
helpers are often below 1e-6.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch

LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class Schedule:
    """A noise schedule: ``beta[t-1] = 1 - alpha_t`` and ``abar[t] = prod_{s<=t} alpha_s`` with ``abar[0] = 1``."""

    beta: torch.Tensor  # (T,)
    alpha: torch.Tensor  # (T,)
    abar: torch.Tensor  # (T + 1,)

    @property
    def T(self) -> int:
        return int(self.beta.shape[0])

    @classmethod
    def from_beta(cls, beta: torch.Tensor) -> "Schedule":
        beta = torch.as_tensor(beta, dtype=torch.float64)
        if beta.ndim != 1 or not bool(((beta > 0) & (beta < 1)).all()):
            raise ValueError("beta must be a 1-d tensor with entries in (0, 1)")
        alpha = 1.0 - beta
        abar = torch.cat([torch.ones(1, dtype=beta.dtype), torch.cumprod(alpha, 0)])
        return cls(beta, alpha, abar)


def vp_schedule(T: int, b_min: float = 0.1, b_max: float = 20.0) -> Schedule:
    """``T`` steps of the variance-preserving SDE with rate ``b(s) = b_min + (b_max - b_min) s``, ``s in [0, 1]``.

    Step ``t`` contracts by exactly ``alpha_t = exp(-int_{(t-1)/T}^{t/T} b(s) ds)``, so ``abar_T =
    exp(-(b_min + b_max) / 2)`` does not depend on ``T`` (with the defaults ``1 - alpha_t`` runs from about
    ``0.1/T`` to ``20/T``, the DDPM schedule of Ho et al. at ``T = 1000``).
    """
    if T < 1:
        raise ValueError(f"T must be a positive integer; got {T!r}")
    s = torch.linspace(0.0, 1.0, T + 1, dtype=torch.float64)
    B = b_min * s + 0.5 * (b_max - b_min) * s**2  # int_0^s b
    return Schedule.from_beta(-torch.expm1(-(B[1:] - B[:-1])))


def log_schedule(T: int, c0: float = 2.0, c1: float = 4.0) -> Schedule:
    """The schedule family of the non-asymptotic DDPM analyses (Li, Wei, Chen, Chi 2023 and successors):

        1 - alpha_1 = T^(-c0),    1 - alpha_t = (c1 log T / T) * min(1, (1 - alpha_1) (1 + c1 log T / T)^t).

    Steps grow geometrically from ``T^(-c0)`` and are then capped at ``c1 log T / T``; ``abar_T`` is
    polynomially small in ``T``. Needs ``c1 log T / T < 1``.
    """
    r = c1 * math.log(T) / T
    if not 0 < r < 1:
        raise ValueError(f"c1 log T / T must lie in (0, 1); got {r:.3g} for T = {T}")
    t = torch.arange(1, T + 1, dtype=torch.float64)
    b1 = float(T) ** (-c0)
    beta = r * torch.clamp(b1 * (1 + r) ** t, max=1.0)
    beta[0] = b1
    return Schedule.from_beta(beta)


class GaussianMixture:
    """``sum_k w_k N(mu_k, Sigma_k)`` in ``R^d`` with exact log-density, score and Hessian.

    Shapes: ``weights (..., K)``, ``means (..., K, d)``, ``covs (..., K, d, d)``; leading dimensions are
    batch dimensions (several mixtures at once). Points ``x (..., d)`` broadcast against them.
    """

    def __init__(self, weights: torch.Tensor, means: torch.Tensor, covs: torch.Tensor):
        w = torch.as_tensor(weights)
        if not torch.allclose(w.sum(-1), torch.ones((), dtype=w.dtype, device=w.device)):
            raise ValueError("mixture weights must sum to one")
        if means.shape[-2] != w.shape[-1] or covs.shape[-3:] != means.shape[-2:] + means.shape[-1:]:
            raise ValueError("shapes must be weights (..., K), means (..., K, d), covs (..., K, d, d)")
        self.weights, self.means, self.covs = w, means, covs
        self._chol = torch.linalg.cholesky(covs)  # raises if not positive definite
        self._prec = torch.cholesky_inverse(self._chol)
        self._logdet = 2 * torch.log(torch.diagonal(self._chol, dim1=-2, dim2=-1)).sum(-1)

    @property
    def d(self) -> int:
        return int(self.means.shape[-1])

    def noised(self, abar) -> "GaussianMixture":
        """The law of ``sqrt(abar) x + sqrt(1 - abar) eps``. ``abar``: a float or a tensor of batch shape ``(S,)``,
        which becomes a new leading batch dimension."""
        a = torch.as_tensor(abar, dtype=self.means.dtype, device=self.means.device)
        eye = torch.eye(self.d, dtype=self.means.dtype, device=self.means.device)
        ab = a.reshape(a.shape + (1,) * self.means.ndim)
        means = ab.sqrt() * self.means
        covs = ab.unsqueeze(-1) * self.covs + (1 - ab.unsqueeze(-1)) * eye
        weights = self.weights.expand(a.shape + self.weights.shape)
        return GaussianMixture(weights, means, covs)

    def _components(self, x: torch.Tensor):
        """Per-component log-densities (with the weights), and ``g_k = -P_k (x - m_k)``."""
        diff = x.unsqueeze(-2) - self.means  # (..., K, d)
        g = -torch.einsum("...ij,...j->...i", self._prec, diff)  # (..., K, d)
        quad = -(diff * g).sum(-1)  # (x-m)^T P (x-m)
        logc = torch.log(self.weights) - 0.5 * (quad + self._logdet + self.d * LOG_2PI)
        return logc, g

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        logc, _ = self._components(x)
        return torch.logsumexp(logc, -1)

    def responsibilities(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior probabilities ``pi_k(x)`` of the components, shape ``(..., K)``."""
        logc, _ = self._components(x)
        return torch.softmax(logc, -1)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """``grad log q(x) = sum_k pi_k(x) g_k(x)`` with ``g_k = -Sigma_k^{-1} (x - mu_k)``."""
        logc, g = self._components(x)
        return torch.einsum("...k,...ki->...i", torch.softmax(logc, -1), g)

    def derivatives(self, x: torch.Tensor):
        """``(log q, grad log q, grad^2 log q)`` at ``x`` in one pass; the Hessian is
        ``sum_k pi_k (g_k g_k^T - P_k) - s s^T`` with ``s`` the score."""
        logc, g = self._components(x)
        pi = torch.softmax(logc, -1)
        s = torch.einsum("...k,...ki->...i", pi, g)
        second = torch.einsum("...k,...ki,...kj->...ij", pi, g, g) - torch.einsum("...k,...kij->...ij", pi, self._prec)
        return torch.logsumexp(logc, -1), s, second - s.unsqueeze(-1) * s.unsqueeze(-2)

    def score_and_hessian(self, x: torch.Tensor):
        return self.derivatives(x)[1:]

    def hessian(self, x: torch.Tensor) -> torch.Tensor:
        return self.derivatives(x)[2]

    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """``n`` draws of an unbatched mixture, shape ``(n, d)`` (on the CPU generator, then moved)."""
        if self.weights.ndim != 1:
            raise ValueError("sample() needs an unbatched mixture")
        k = torch.multinomial(self.weights.cpu().double(), n, replacement=True, generator=generator)
        z = torch.randn(n, self.d, generator=generator, dtype=torch.float64).to(self.means)
        k = k.to(self.means.device)
        return self.means[k] + (self._chol[k] @ z.unsqueeze(-1)).squeeze(-1)


def gaussian_kl(m1: torch.Tensor, C1: torch.Tensor, m2: torch.Tensor, C2: torch.Tensor) -> torch.Tensor:
    """``KL(N(m1, C1) || N(m2, C2))``, batched over leading dimensions."""
    L2 = torch.linalg.cholesky(C2)
    d = m1.shape[-1]
    M = torch.cholesky_solve(C1, L2)  # C2^{-1} C1
    dm = (m2 - m1).unsqueeze(-1)
    maha = (dm * torch.cholesky_solve(dm, L2)).sum((-1, -2))
    logdet = torch.logdet(C1) - 2 * torch.log(torch.diagonal(L2, dim1=-2, dim2=-1)).sum(-1)
    return 0.5 * (torch.diagonal(M, dim1=-2, dim2=-1).sum(-1) + maha - d - logdet)
