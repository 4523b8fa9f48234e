"""Batched ensembles of small models: many independent MLPs trained as one tensor computation.

``init_mlps`` draws ``n_models`` MLPs at once (weights ``(n_models, fan_in, fan_out)``); ``mlp_forward`` runs
them all with one batched matrix product per layer. Seeds, learning rates or any per-model setting then ride
along the first axis, so a sweep costs one training loop.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch

Tensor = torch.Tensor


def init_mlps(
    n_models: int,
    sizes: Sequence[int],
    generator: torch.Generator,
    *,
    init_std: Optional[float] = None,
    device=None,
    dtype=torch.float32,
) -> list:
    """Parameters of ``n_models`` independent ReLU MLPs with layer widths ``sizes`` (e.g. ``[64, 128, 10]``),
    drawn on the CPU ``generator`` then moved to ``device``: PyTorch's default uniform initialisation, or with
    ``init_std`` every weight from ``N(0, init_std^2)`` and zero biases (the same scale in every layer).
    Returns ``[W1, b1, W2, b2, ...]`` with ``W`` of shape ``(n_models, fan_in, fan_out)``, requiring grad."""
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        if init_std is None:
            bound = fan_in**-0.5
            W = (2 * torch.rand(n_models, fan_in, fan_out, generator=generator, dtype=dtype) - 1) * bound
            b = (2 * torch.rand(n_models, 1, fan_out, generator=generator, dtype=dtype) - 1) * bound
        else:
            W = init_std * torch.randn(n_models, fan_in, fan_out, generator=generator, dtype=dtype)
            b = torch.zeros(n_models, 1, fan_out, dtype=dtype)
        params += [W.to(device).requires_grad_(True), b.to(device).requires_grad_(True)]
    return params


def mlp_forward(params: Sequence[Tensor], x: Tensor) -> Tensor:
    """Outputs (logits) of the MLP batch: ``x`` of shape ``(n_models, n, fan_in)`` -> ``(n_models, n, classes)``."""
    h = x
    last = len(params) // 2 - 1
    for i in range(0, len(params), 2):
        h = torch.baddbmm(params[i + 1], h, params[i])
        if i // 2 < last:
            h = torch.relu(h)
    return h
