"""A patch-wise two-layer denoiser and its denoising (DDPM) objective, in closed form.

The forward (noising) process of a diffusion model maps clean data ``x0`` to

    x_t = alpha_t * x0 + beta_t * eps,     eps ~ N(0, I),

with ``alpha_t = exp(-t)`` and ``beta_t = sqrt(1 - exp(-2 t))`` for the Ornstein-Uhlenbeck process
(:func:`ou_coefficients`). A denoiser ``f`` is trained to predict the added noise:
``L(W) = mean_i E_eps sum_p || f_p(x_t,i) - eps_p ||^2`` (one term per patch ``p``).

The network used here (the model of feature-learning analyses of diffusion models) applies the same
``m`` filters to every patch and ties the two layers, with the quadratic activation:

    f_p(W, x) = (1 / sqrt(m)) * sum_r <w_r, x_p>^2 * w_r .

Because the activation is quadratic, the expectation over the diffusion noise ``eps`` has a closed form
(Gaussian moments up to order four), so :func:`expected_loss` gives the exact objective with no
Monte-Carlo noise; :func:`mc_loss` is the sampled version it is tested against. All functions take
leading batch dimensions on ``W (..., m, d)`` and data ``X0 (..., n, P, d)``, so many configurations
(SNRs, seeds) train in one tensor computation.
"""

from __future__ import annotations

import math
from typing import Tuple

import torch


def ou_coefficients(t: float) -> Tuple[float, float]:
    """``(alpha_t, beta_t) = (exp(-t), sqrt(1 - exp(-2t)))``: ``alpha^2 + beta^2 = 1``."""
    if t <= 0:
        raise ValueError(f"diffusion time t must be positive; got {t!r}")
    return math.exp(-t), math.sqrt(1.0 - math.exp(-2.0 * t))


def denoiser(W: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """``f_p(W, x) = m^{-1/2} sum_r <w_r, x_p>^2 w_r`` for every example and patch: ``(..., n, P, d)``."""
    m = W.shape[-2]
    z = torch.einsum("...md,...npd->...npm", W, X)
    return torch.einsum("...npm,...md->...npd", z**2, W) / math.sqrt(m)


def mc_loss(W: torch.Tensor, X0: torch.Tensor, eps: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """Per-example denoising loss for one draw ``eps`` (shape of ``X0``): ``sum_p ||f_p(x_t) - eps_p||^2``,
    shape ``(..., n)``."""
    Xt = alpha * X0 + beta * eps
    return (denoiser(W, Xt) - eps).pow(2).sum((-1, -2))


def expected_loss(W: torch.Tensor, X0: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """Per-example denoising loss averaged exactly over ``eps``: ``E_eps sum_p ||f_p(x_t) - eps_p||^2``,
    shape ``(..., n)``.

    With ``M = W W^T``, ``u_r = alpha <w_r, x0_p>`` and ``z_r = <w_r, x_t,p> ~ N(u_r, beta^2 M)``:
    ``E||f||^2 = m^{-1} sum_rs M_rs E[z_r^2 z_s^2]``, where
    ``E[z_r^2 z_s^2] = (u_r^2 + C_rr)(u_s^2 + C_ss) + 2 C_rs^2 + 4 u_r u_s C_rs`` (``C = beta^2 M``), and
    ``E<f, eps> = 2 beta m^{-1/2} sum_r u_r ||w_r||^2``, ``E||eps_p||^2 = d``.
    """
    m, d = W.shape[-2], W.shape[-1]
    P = X0.shape[-2]
    M = W @ W.transpose(-1, -2)  # (..., m, m)
    sq = torch.diagonal(M, dim1=-2, dim2=-1)  # ||w_r||^2, (..., m)
    u = alpha * (X0.flatten(-3, -2) @ W.transpose(-1, -2))  # (..., n*P, m)
    v = u**2 + beta**2 * sq.unsqueeze(-2)  # E[z_r^2]
    quartic = ((v @ M) * v).sum(-1) + 4 * beta**2 * ((u @ (M * M)) * u).sum(-1)
    quartic = quartic + 2 * beta**4 * (M**3).sum((-1, -2)).unsqueeze(-1)
    cross = (4 * beta / math.sqrt(m)) * (u * sq.unsqueeze(-2)).sum(-1)
    per_patch = quartic / m - cross + d  # (..., n*P)
    return per_patch.unflatten(-1, (X0.shape[-3], P)).sum(-1)
