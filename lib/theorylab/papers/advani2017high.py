"""High-dimensional linear teacher-student regression, solved exactly in the eigenbasis of the data.

The setting (Advani, Saxe & Sompolinsky; chapter 23):

* ``N`` input dimensions, ``P = alpha * N`` training examples, inputs ``x ~ N(0, I/N)``;
* a teacher ``w_bar`` with ``||w_bar||^2 = N`` and labels ``y = X w_bar + eps``, ``eps ~ N(0, sigma_eps^2)``,
  so the signal-to-noise ratio is ``SNR = 1 / sigma_eps^2``;
* a linear student ``w`` started at ``w(0) ~ N(0, sigma0^2 I)`` and trained by full-batch gradient
  descent on ``L(w) = 1/2 ||y - X w||^2`` (gradient flow ``dw/dt = X^T (y - X w)``, or steps of size ``eta``).

Write ``C = X^T X = V diag(lam) V^T``. In that basis the error ``e = w - w_bar`` obeys, mode by mode,
``de_i/dt = -lam_i e_i + n_i`` with ``n = V^T X^T eps``, so

    e_i(t) = d_i(t) e_i(0) + (1 - d_i(t)) n_i / lam_i,   d_i(t) = exp(-lam_i t)  (or (1 - eta lam_i)^t).

Modes with ``lam_i = 0`` (there are ``N - P`` of them when ``P < N``) are the *frozen subspace*:
``n_i = 0`` there and ``e_i(t) = e_i(0)`` for ever. The test error on a fresh example is
``E_g(t) = ||e(t)||^2 / N + sigma_eps^2``. Any training time costs the same: one eigendecomposition,
batched over every leading dimension (sample sizes, draws) at once, in float64.

The theory (``N -> infinity``) replaces the empirical spectrum by the Marchenko-Pastur law of ``X^T X``:
edges ``(1 -+ sqrt(alpha))^2``, density ``sqrt((lam+ - lam)(lam - lam-)) / (2 pi lam)`` (mass ``min(1, alpha)``),
plus a point mass ``1 - alpha`` at zero when ``alpha < 1``; averaging over teacher, noise and start gives

    E_g(t) = sigma_eps^2 + (1-alpha)_+ (1 + sigma0^2)
             + int rho(lam) [ (1 + sigma0^2) exp(-2 lam t) + sigma_eps^2 (1 - exp(-lam t))^2 / lam ] dlam.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

__all__ = [
    "Modes",
    "sample_teacher",
    "sample_inputs",
    "modes_from_moments",
    "modes_from_data",
    "nested_modes",
    "decay",
    "mode_errors",
    "test_error",
    "test_error_inf",
    "train_error",
    "weights_at",
    "mp_edges",
    "mp_density",
    "mp_point_mass",
    "mp_expect",
    "theory_test_error",
    "theory_test_error_inf",
    "early_stopping",
    "log_times",
]


def _torch():
    import torch

    return torch


# -- data ------------------------------------------------------------------------------------
def sample_teacher(N: int, batch: Sequence[int] = (), *, generator=None, dtype=None):
    """Teacher weights of shape ``(*batch, N)``, a random direction scaled to ``||w_bar||^2 = N``."""
    torch = _torch()
    dtype = dtype or torch.float64
    w = torch.randn(*batch, N, generator=generator, dtype=dtype)
    return w * (math.sqrt(N) / w.norm(dim=-1, keepdim=True))


def sample_inputs(N: int, P: int, batch: Sequence[int] = (), *, generator=None, dtype=None):
    """Inputs ``X`` of shape ``(*batch, P, N)`` with i.i.d. ``N(0, 1/N)`` entries (so ``E||x||^2 = 1``)."""
    torch = _torch()
    dtype = dtype or torch.float64
    return torch.randn(*batch, P, N, generator=generator, dtype=dtype) / math.sqrt(N)


# -- the exact solution in the eigenbasis ------------------------------------------------------
@dataclass
class Modes:
    """A training problem in the eigenbasis of ``C = X^T X``; every field has shape ``(..., N)``
    (``V``: ``(..., N, N)``). ``e0`` may carry extra leading dimensions (e.g. several init scales)
    that broadcast against the others."""

    lam: "object"  # eigenvalues of X^T X, ascending, set to exactly 0 on the frozen subspace
    n: "object"  # V^T X^T eps, exactly 0 on the frozen subspace
    e0: "object"  # V^T (w(0) - w_bar)
    frozen: "object"  # bool mask of the frozen (zero-eigenvalue) modes
    V: "object" = None

    @property
    def N(self) -> int:
        return int(self.lam.shape[-1])

    def with_e0(self, e0_weights):
        """The same data with another initial error ``w(0) - w_bar`` given in weight space ``(..., N)``."""
        e0 = (self.V.transpose(-1, -2) @ e0_weights.unsqueeze(-1)).squeeze(-1)
        return Modes(self.lam, self.n, e0, self.frozen, self.V)


def modes_from_moments(C, b, e0_weights, P) -> Modes:
    """Eigen-solve a batch of problems given ``C = X^T X`` ``(..., N, N)``, ``b = X^T eps`` ``(..., N)``
    and the initial error ``w(0) - w_bar`` ``(..., N)``. ``P`` (an int or a tensor broadcasting to the
    batch shape) fixes the number of exactly-zero modes, ``max(N - P, 0)``: the smallest eigenvalues of a
    rank-``P`` matrix come out of ``eigh`` as round-off, and are set to 0 (with ``n = 0``) here."""
    torch = _torch()
    lam, V = torch.linalg.eigh(C)
    N = lam.shape[-1]
    P = torch.as_tensor(P, device=lam.device)
    n_frozen = (N - P).clamp(min=0)
    idx = torch.arange(N, device=lam.device)
    frozen = idx < n_frozen.reshape(*n_frozen.shape, *([1] * (lam.dim() - n_frozen.dim())))
    frozen = frozen.expand_as(lam)
    lam = torch.where(frozen, torch.zeros_like(lam), lam)
    Vt = V.transpose(-1, -2)
    n = (Vt @ b.unsqueeze(-1)).squeeze(-1)
    n = torch.where(frozen, torch.zeros_like(n), n)
    e0 = (Vt @ e0_weights.unsqueeze(-1)).squeeze(-1)
    return Modes(lam=lam, n=n, e0=e0, frozen=frozen, V=V)


def modes_from_data(X, eps, w_bar, w0) -> Modes:
    """Eigen-solve problems given directly: ``X`` ``(..., P, N)``, ``eps`` ``(..., P)``, ``w_bar`` and ``w0`` ``(..., N)``."""
    C = X.transpose(-1, -2) @ X
    b = (X.transpose(-1, -2) @ eps.unsqueeze(-1)).squeeze(-1)
    return modes_from_moments(C, b, w0 - w_bar, X.shape[-2])


def nested_modes(X, eps, w_bar, w0, Ps: Sequence[int]) -> Modes:
    """Problems for several sample sizes at once, each using the first ``P`` rows of ``X`` ``(S, P_max, N)``
    (nested training sets). Returns modes of shape ``(len(Ps), S, N)``: one batched ``eigh``."""
    torch = _torch()
    Ps = [int(p) for p in Ps]
    C = torch.stack([X[..., :p, :].transpose(-1, -2) @ X[..., :p, :] for p in Ps])
    b = torch.stack([(X[..., :p, :].transpose(-1, -2) @ eps[..., :p].unsqueeze(-1)).squeeze(-1) for p in Ps])
    Pt = torch.tensor(Ps, device=X.device).reshape(-1, *([1] * (C.dim() - 3)))
    return modes_from_moments(C, b, (w0 - w_bar).expand(C.shape[:-1]), Pt)


def decay(lam, t, eta: Optional[float] = None):
    """Fraction of a mode's initial error left after time ``t``: ``exp(-lam t)`` (gradient flow) or
    ``(1 - eta lam)^t`` after ``t`` steps of size ``eta``. Broadcasts ``lam`` against ``t``."""
    torch = _torch()
    if eta is None:
        return torch.exp(-lam * t)
    return (1.0 - eta * lam) ** t


def _target(modes: Modes):
    """Where each mode goes at t -> infinity: ``n / lam`` (the least-squares / min-norm part); 0 if frozen."""
    torch = _torch()
    safe = torch.where(modes.frozen, torch.ones_like(modes.lam), modes.lam)
    return torch.where(modes.frozen, torch.zeros_like(modes.n), modes.n / safe)


def mode_errors(modes: Modes, t, eta: Optional[float] = None):
    """Error ``e_i(t)`` per mode, shape ``(..., T, N)`` for times ``t`` of shape ``(T,)``."""
    torch = _torch()
    t = torch.as_tensor(t, dtype=modes.lam.dtype, device=modes.lam.device).reshape(-1, 1)
    lam = modes.lam.unsqueeze(-2)
    d = decay(lam, t, eta)
    d = torch.where(modes.frozen.unsqueeze(-2), torch.ones_like(d), d)  # frozen modes never move
    return d * modes.e0.unsqueeze(-2) + (1.0 - d) * _target(modes).unsqueeze(-2)


def test_error(modes: Modes, t, sigma_eps: float, eta: Optional[float] = None, chunk: int = 64):
    """Exact test error ``||w(t) - w_bar||^2 / N + sigma_eps^2`` at times ``t`` ``(T,)``: shape ``(..., T)``.
    Times are processed ``chunk`` at a time to bound memory."""
    torch = _torch()
    t = torch.as_tensor(t, dtype=modes.lam.dtype, device=modes.lam.device).reshape(-1)
    out = [(mode_errors(modes, t[i : i + chunk], eta) ** 2).mean(-1) for i in range(0, len(t), chunk)]
    return torch.cat(out, dim=-1) + sigma_eps**2


def test_error_inf(modes: Modes, sigma_eps: float):
    """Test error at ``t -> infinity``: non-frozen modes sit at ``n_i / lam_i``, frozen ones at ``e_i(0)``."""
    torch = _torch()
    e = torch.where(modes.frozen, modes.e0, _target(modes))  # broadcasts over extra leading dims of e0
    return (e**2).mean(-1) + sigma_eps**2


def train_error(modes: Modes, t, eps_sq_sum, P, eta: Optional[float] = None):
    """Mean squared training error ``||y - X w(t)||^2 / P``, using
    ``||eps - X e||^2 = ||eps||^2 - 2 e.n + sum_i lam_i e_i^2`` (``eps_sq_sum = ||eps||^2``, shape ``(...)``)."""
    e = mode_errors(modes, t, eta)
    val = eps_sq_sum.unsqueeze(-1) - 2 * (e * modes.n.unsqueeze(-2)).sum(-1) + (modes.lam.unsqueeze(-2) * e**2).sum(-1)
    return val / P


def weights_at(modes: Modes, w_bar, t, eta: Optional[float] = None):
    """The student's weights ``w(t) = w_bar + V e(t)``, shape ``(..., T, N)`` (needs ``modes.V``)."""
    e = mode_errors(modes, t, eta)
    return w_bar.unsqueeze(-2) + e @ modes.V.transpose(-1, -2)


def log_times(t_min: float = 1e-2, t_max: float = 1e4, n: int = 200, *, zero: bool = True) -> np.ndarray:
    """A log-spaced grid of training times (with ``t = 0`` prepended unless ``zero=False``)."""
    t = np.logspace(np.log10(t_min), np.log10(t_max), n)
    return np.concatenate([[0.0], t]) if zero else t


# -- Marchenko-Pastur theory -------------------------------------------------------------------
def mp_edges(alpha):
    """Edges ``(1 -+ sqrt(alpha))^2`` of the bulk of ``X^T X`` for ``x ~ N(0, I/N)``, ``alpha = P/N``."""
    a = np.asarray(alpha, dtype=float)
    return (1 - np.sqrt(a)) ** 2, (1 + np.sqrt(a)) ** 2


def mp_density(lam, alpha):
    """Continuous part of the Marchenko-Pastur density of the eigenvalues of ``X^T X`` (it integrates to
    ``min(1, alpha)``); zero outside the bulk."""
    lam = np.asarray(lam, dtype=float)
    lo, hi = mp_edges(alpha)
    inside = (lam > lo) & (lam < hi) & (lam > 0)
    val = np.sqrt(np.clip((hi - lam) * (lam - lo), 0, None)) / (2 * np.pi * np.where(lam > 0, lam, 1.0))
    return np.where(inside, val, 0.0)


def mp_point_mass(alpha):
    """Fraction ``max(0, 1 - alpha)`` of exactly-zero eigenvalues: the frozen subspace."""
    return np.clip(1.0 - np.asarray(alpha, dtype=float), 0.0, None)


def mp_expect(f, alpha, n: int = 4096):
    """``int rho(lam) f(lam) dlam`` over the continuous bulk (no point mass), for ``alpha`` of any shape.

    Substituting ``lam = m + r cos(theta)`` (``m, r`` the bulk centre and half-width) turns the integrand
    into ``r^2 sin(theta)^2 / (2 pi lam) f(lam)``, smooth and even-periodic in ``theta``, so the midpoint
    rule on ``[0, pi]`` converges fast, also at ``alpha = 1`` where ``rho ~ lam^(-1/2)`` near 0.
    ``f`` maps an array of eigenvalues of shape ``(*alpha.shape, n)`` to values of the same shape (give
    ``alpha`` trailing singleton axes to let ``f`` add axes of its own, e.g. times).
    """
    a = np.asarray(alpha, dtype=float)[..., None]
    lo, hi = mp_edges(a)
    m, r = (hi + lo) / 2, (hi - lo) / 2
    theta = (np.arange(n) + 0.5) * np.pi / n
    lam = m + r * np.cos(theta)
    w = r**2 * np.sin(theta) ** 2 / (2 * np.pi * lam) * (np.pi / n)
    return (w * f(lam)).sum(-1)


def theory_test_error(alpha, t, sigma_eps: float, sigma0: float = 0.0, n: int = 4096):
    """Expected test error at gradient-flow time ``t`` in the ``N -> infinity`` limit: shape
    ``(*alpha.shape, T)``. Includes the frozen point mass ``(1 - alpha)_+ (1 + sigma0^2)``."""
    a = np.asarray(alpha, dtype=float)
    t = np.asarray(t, dtype=float).reshape(-1)
    s2, g = sigma_eps**2, 1.0 + sigma0**2

    def f(lam):  # lam: (*a.shape, 1, n) -> (*a.shape, T, n)
        lt = lam * t[:, None]
        return g * np.exp(-2 * lt) + s2 * np.expm1(-lt) ** 2 / lam

    bulk = mp_expect(f, a[..., None], n)  # (*a.shape, T)
    return s2 + mp_point_mass(a)[..., None] * g + bulk


def theory_test_error_inf(alpha, sigma_eps: float, sigma0: float = 0.0):
    """Closed form at ``t -> infinity``: ``sigma_eps^2 alpha/(alpha-1)`` for ``alpha > 1``;
    ``(1-alpha)(1+sigma0^2) + sigma_eps^2/(1-alpha)`` for ``alpha < 1``; infinite at ``alpha = 1``."""
    a = np.asarray(alpha, dtype=float)
    s2 = sigma_eps**2
    with np.errstate(divide="ignore", invalid="ignore"):
        over = s2 * a / (a - 1)
        under = (1 - a) * (1 + sigma0**2) + s2 / (1 - a)
    return np.where(a > 1, over, np.where(a < 1, under, np.inf))


def early_stopping(curves, t):
    """Best error over the time grid and the time it is reached: ``(min, argmin time)`` along the last axis."""
    c = np.asarray(curves, dtype=float)
    i = c.argmin(-1)
    return c.min(-1), np.asarray(t, dtype=float)[i]
