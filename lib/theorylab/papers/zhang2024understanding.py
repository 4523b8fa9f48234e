"""Chapter 19 (Zhang & Cao 2024, SimCLR in two-layer CNNs): the InfoNCE objective, batched over leading dimensions."""

from __future__ import annotations

import torch


def info_nce(
    z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5, *, symmetric: bool = True, normalize: bool = True
) -> torch.Tensor:
    """InfoNCE between two views: row ``i`` of ``z1`` and of ``z2`` are a positive pair, every other row of
    ``z2`` a negative. ``z1, z2``: ``(..., n, k)``. Returns the mean loss ``(...)``.

    With ``normalize`` the similarity is the cosine; ``symmetric`` averages the ``z1 -> z2`` and ``z2 -> z1``
    directions (the CLIP form used for two modalities; SimCLR's NT-Xent also contrasts within a view).
    """
    if normalize:
        z1 = torch.nn.functional.normalize(z1, dim=-1)
        z2 = torch.nn.functional.normalize(z2, dim=-1)
    logits = z1 @ z2.transpose(-1, -2) / temperature  # (..., n, n)
    diag = torch.diagonal(logits, dim1=-2, dim2=-1)
    loss12 = torch.logsumexp(logits, dim=-1) - diag
    if not symmetric:
        return loss12.mean(-1)
    loss21 = torch.logsumexp(logits, dim=-2) - diag
    return 0.5 * (loss12.mean(-1) + loss21.mean(-1))
