"""Signal-plus-noise patch data and two-layer patch-wise (CNN) networks.

The data model of a family of feature-learning papers (Cao et al. 2022 and the works that build on it):
each example has two patches, a *signal* patch carrying the label and a *noise* patch,

    x = [ s_y, xi ],   y uniform in {-1, +1},   xi ~ N(0, sigma_p^2 (I - P_mu)),

where ``s_y = y * mu`` (antipodal signal) or ``s_y = mu_y`` with ``mu_{+1} ⟂ mu_{-1}`` (orthogonal class
signals), and P_mu projects on the signal direction(s) (optional; some papers draw isotropic noise).
SNR = ||mu|| / (sigma_p * sqrt(d)).

A two-layer CNN applies the same filters ``w_r`` to every patch and sums:

    f(x) = sum_r a_r * sum_p act(<w_r, x_p>)

with ``act`` = ReLU or ReLU^q. Every function takes leading batch dimensions on the parameters, so many
configurations (seeds, SNRs, init scales) train in one tensor computation: parameters ``W (..., m, d)``,
``a (..., m)``, data ``X (..., n, P, d)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch

SIGNALS = ("antipodal", "orthogonal")


@dataclass
class PatchData:
    X: torch.Tensor  # (..., n, 2, d): patch 0 = signal, patch 1 = noise
    y: torch.Tensor  # (..., n) in {-1, +1}
    mu: torch.Tensor  # (2, d): the signal vector of class +1 (row 0) and class -1 (row 1)
    xi: torch.Tensor  # (..., n, d): the noise patches

    def to(self, device) -> "PatchData":
        return PatchData(self.X.to(device), self.y.to(device), self.mu.to(device), self.xi.to(device))

    @property
    def signal(self) -> torch.Tensor:
        return self.X[..., 0, :]


def signal_vectors(d: int, mu_norm: float, signal: str = "antipodal", dtype=torch.float64) -> torch.Tensor:
    """The class signals as rows (+1, -1): ``mu, -mu`` (antipodal) or ``mu e_1, mu e_2`` (orthogonal)."""
    if signal not in SIGNALS:
        raise ValueError(f"signal must be one of {', '.join(SIGNALS)}; got {signal!r}")
    mu = torch.zeros(2, d, dtype=dtype)
    mu[0, 0] = mu_norm
    if signal == "antipodal":
        mu[1, 0] = -mu_norm
    else:
        mu[1, 1] = mu_norm
    return mu


def snr_to_mu_norm(snr: float, d: int, sigma_p: float = 1.0) -> float:
    """``||mu||`` for a given SNR = ||mu|| / (sigma_p sqrt(d))."""
    return float(snr) * sigma_p * math.sqrt(d)


def sample(
    n: int,
    d: int,
    mu_norm: float,
    *,
    sigma_p: float = 1.0,
    signal: str = "antipodal",
    project_noise: bool = True,
    batch: tuple = (),
    generator: Optional[torch.Generator] = None,
    y: Optional[torch.Tensor] = None,
    dtype=torch.float64,
) -> PatchData:
    """Draw ``n`` examples (per leading ``batch`` entry) on the CPU ``generator``.

    ``project_noise`` removes the noise component along the signal direction(s), as in Cao et al.;
    ``y`` (optional, shape ``batch + (n,)``) fixes the labels, e.g. to pair two modalities.
    """
    mu = signal_vectors(d, mu_norm, signal, dtype)
    if y is None:
        y = torch.randint(0, 2, (*batch, n), generator=generator).to(dtype) * 2 - 1
    xi = sigma_p * torch.randn(*batch, n, d, generator=generator, dtype=dtype)
    if project_noise:
        basis = mu[:1] if signal == "antipodal" else mu
        q = basis / basis.norm(dim=-1, keepdim=True)
        xi = xi - (xi @ q.T) @ q
    s = torch.where((y > 0).unsqueeze(-1), mu[0], mu[1])
    X = torch.stack([s, xi], dim=-2)
    return PatchData(X=X, y=y, mu=mu, xi=xi)


ACTIVATIONS = ("relu", "relu_q")


def activation(z: torch.Tensor, act: str = "relu", q: float = 1.0) -> torch.Tensor:
    if act == "relu":
        return torch.relu(z)
    if act == "relu_q":
        return torch.relu(z) ** q
    raise ValueError(f"act must be one of {', '.join(ACTIVATIONS)}; got {act!r}")


def filter_responses(W: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """``<w_r, x_p>`` for every example, filter and patch: ``(..., n, m, P)``."""
    return torch.einsum("...md,...npd->...nmp", W, X)


def features(W: torch.Tensor, X: torch.Tensor, act: str = "relu", q: float = 1.0) -> torch.Tensor:
    """Per-filter features ``sum_p act(<w_r, x_p>)``: ``(..., n, m)`` (an encoder's embedding)."""
    return activation(filter_responses(W, X), act, q).sum(-1)


def forward(W: torch.Tensor, a: torch.Tensor, X: torch.Tensor, act: str = "relu", q: float = 1.0) -> torch.Tensor:
    """``f(x) = sum_r a_r sum_p act(<w_r, x_p>)``: ``(..., n)``."""
    return torch.einsum("...nm,...m->...n", features(W, X, act, q), a)


def fixed_output_weights(m: int, dtype=torch.float64) -> torch.Tensor:
    """Cao et al.'s fixed second layer: ``m`` filters with ``+1/m`` and ``m`` with ``-1/m`` (``2m`` in all)."""
    return torch.cat([torch.full((m,), 1.0 / m, dtype=dtype), torch.full((m,), -1.0 / m, dtype=dtype)])


def logistic_loss(f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean of ``log(1 + exp(-y f))`` over the last (example) axis: ``(...)``."""
    return torch.nn.functional.softplus(-y * f).mean(-1)


def error_rate(f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Fraction of sign mistakes over the last axis (a tie counts as a mistake)."""
    return ((y * f) <= 0).to(f.dtype).mean(-1)


# -- trackers: how much each filter has learned the signal vs memorised the noise ----------------
def signal_alignment(W: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
    """``<w_r, mu_k> / ||mu_k||`` for each filter and class signal: ``(..., m, 2)``."""
    return torch.einsum("...md,kd->...mk", W, mu / mu.norm(dim=-1, keepdim=True))


def noise_alignment(W: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
    """``<w_r, xi_i> / ||xi_i||`` for each filter and training noise patch: ``(..., m, n)``."""
    return torch.einsum("...md,...nd->...mn", W, xi / xi.norm(dim=-1, keepdim=True))


def learning_summary(W: torch.Tensor, data: PatchData) -> dict:
    """Two numbers per configuration: ``signal`` = max over filters and class signals of
    ``|<w_r, mu>| / ||mu||``; ``noise`` = mean over training examples of the max over filters of
    ``|<w_r, xi_i>| / ||xi_i||`` (memorisation of each training example's own noise)."""
    sig = signal_alignment(W, data.mu).abs().amax(dim=(-1, -2))
    noi = noise_alignment(W, data.xi).abs().amax(dim=-2).mean(-1)
    return {"signal": sig, "noise": noi}
