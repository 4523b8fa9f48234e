"""Lorenz-63 data and the dynamical-systems-reconstruction measures used by the chapter on generalized teacher
forcing (Hess et al., 2023): state-space divergence between occupancy histograms, Hellinger distance between
smoothed power spectra, and the largest Lyapunov exponent of a map from its Jacobians.

Conventions: trajectories are tensors ``(..., n, 3)`` (time on the second-to-last axis); every function batches
over the leading axes.
"""

from __future__ import annotations

import torch

LORENZ = dict(sigma=10.0, rho=28.0, beta=8.0 / 3.0)
LORENZ_LYAPUNOV = 0.906  # largest Lyapunov exponent of Lorenz-63 at the standard parameters (per time unit)


def lorenz63(n_traj: int, n: int, dt: float, g: torch.Generator, sub: int = 2, burn: int = 200) -> torch.Tensor:
    """``n_traj`` Lorenz-63 trajectories, RK4 with inner step ``dt/sub``, sampled every ``dt`` after ``burn``
    samples: ``(n_traj, n, 3)`` float64, from random starts near the attractor."""
    s, r, b = LORENZ["sigma"], LORENZ["rho"], LORENZ["beta"]

    def f(x):
        return torch.stack(
            [s * (x[:, 1] - x[:, 0]), x[:, 0] * (r - x[:, 2]) - x[:, 1], x[:, 0] * x[:, 1] - b * x[:, 2]], 1
        )

    x = torch.tensor([0.0, 1.0, 20.0], dtype=torch.float64) + 5 * torch.randn(
        n_traj, 3, generator=g, dtype=torch.float64
    )
    h, out = dt / sub, []
    for i in range((n + burn) * sub):
        k1 = f(x)
        k2 = f(x + h / 2 * k1)
        k3 = f(x + h / 2 * k2)
        k4 = f(x + h * k3)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        if i % sub == sub - 1 and i >= burn * sub:
            out.append(x)
    return torch.stack(out, 1)


def occupancy(traj: torch.Tensor, bins: int = 20, lim: float = 3.0) -> torch.Tensor:
    """Normalised occupancy histogram ``(..., bins**3)`` of points ``(..., n, 3)`` on ``[-lim, lim]^3`` (points
    outside are put in the border bins; non-finite points count nowhere)."""
    ok = torch.isfinite(traj).all(-1)
    t = torch.nan_to_num(traj, nan=0.0, posinf=lim, neginf=-lim)
    idx = ((t.clamp(-lim, lim - 1e-6) + lim) / (2 * lim) * bins).long()
    flat = (idx[..., 0] * bins + idx[..., 1]) * bins + idx[..., 2]
    h = torch.zeros(*flat.shape[:-1], bins**3, dtype=torch.float64)
    h.scatter_add_(-1, flat, ok.to(torch.float64))
    return h / h.sum(-1, keepdim=True).clamp_min(1.0)


def state_space_kl(p_true: torch.Tensor, q_gen: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """D_stsp: KL(p_true || q_gen) between occupancy histograms, each smoothed by ``eps`` per bin."""
    k = p_true.shape[-1]
    p = (p_true + eps) / (p_true.sum(-1, keepdim=True) + eps * k)
    q = (q_gen + eps) / (q_gen.sum(-1, keepdim=True) + eps * k)
    return (p * (p / q).log()).sum(-1)


def power_spectra(traj: torch.Tensor, smooth: float = 20.0) -> torch.Tensor:
    """Per-dimension power spectra ``(..., F, 3)`` of ``(..., n, 3)``, Gaussian-smoothed (sd ``smooth`` bins),
    each normalised to sum 1."""
    x = torch.nan_to_num(traj.double(), nan=0.0, posinf=0.0, neginf=0.0)
    ps = torch.fft.rfft(x - x.mean(-2, keepdim=True), dim=-2).abs() ** 2
    half = int(3 * smooth)
    k = torch.arange(-half, half + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * (k / smooth) ** 2)
    flat = ps.movedim(-2, -1).reshape(-1, 1, ps.shape[-2])
    flat = torch.nn.functional.pad(flat, (half, half), mode="replicate")
    sm = torch.nn.functional.conv1d(flat, (w / w.sum()).view(1, 1, -1))
    sm = sm.reshape(*ps.shape[:-2], ps.shape[-1], ps.shape[-2]).movedim(-1, -2)
    return sm / sm.sum(-2, keepdim=True).clamp_min(1e-300)


def hellinger(s1: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
    """D_H: Hellinger distance between normalised spectra ``(..., F, 3)``, averaged over the 3 dimensions."""
    return torch.sqrt((1 - torch.sqrt(s1 * s2).sum(-2)).clamp_min(0.0)).mean(-1)


def max_lyapunov(jacobians) -> torch.Tensor:
    """Largest Lyapunov exponent per step from an iterable of Jacobians ``(..., M, M)`` along a trajectory
    (QR re-orthonormalisation of one tangent vector)."""
    total, n, v = 0.0, 0, None
    for J in jacobians:
        v = torch.ones(*J.shape[:-1], 1, dtype=J.dtype) if v is None else v
        v = J @ v
        norm = v.norm(dim=(-2, -1), keepdim=True).clamp_min(1e-30)
        total = total + norm[..., 0, 0].log()
        v, n = v / norm, n + 1
    return total / n
