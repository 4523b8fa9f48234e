"""Generic metrics and losses shared by chapters: cosines, relative gaps, R^2, first crossings, log-log
slopes, cross-entropy."""

from __future__ import annotations

import numpy as np


def _flat(x) -> np.ndarray:
    try:
        import torch

        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().double().numpy()
    except ImportError:  # pragma: no cover
        pass
    return np.asarray(x, dtype=float).ravel()


def cosine(a, b) -> float:
    """Cosine similarity of two arrays, flattened."""
    a, b = _flat(a), _flat(b)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return float("nan")
    return float(a @ b / (na * nb))


def rel_gap(value, reference) -> float:
    """|value - reference| / |reference|."""
    return float(abs(float(value) - float(reference)) / abs(float(reference)))


def r2(target, prediction) -> float:
    """Coefficient of determination of ``prediction`` as a fit of ``target``."""
    y, p = _flat(target), _flat(prediction)
    ss_res = float(((y - p) ** 2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def first_crossing(t, curve, level: float, *, rising: bool = True) -> float:
    """First time ``curve`` crosses ``level`` (linear interpolation); NaN if it never does."""
    t, c = _flat(t), _flat(curve)
    hit = c >= level if rising else c <= level
    if not hit.any():
        return float("nan")
    i = int(np.argmax(hit))
    if i == 0:
        return float(t[0])
    c0, c1 = c[i - 1], c[i]
    frac = (level - c0) / (c1 - c0) if c1 != c0 else 1.0
    return float(t[i - 1] + frac * (t[i] - t[i - 1]))


def loglog_slope(x, y) -> float:
    """Least-squares slope of ``log y`` against ``log x`` (the exponent ``p`` in ``y ~ x^p``)."""
    lx, ly = np.log(_flat(x)), np.log(_flat(y))
    lx = lx - lx.mean()
    return float((lx * (ly - ly.mean())).sum() / (lx * lx).sum())


def rowwise_cosine(a, b, eps: float = 1e-30):
    """Cosine similarity along the last dimension of two tensors (a tensor of cosines)."""
    return (a * b).sum(-1) / ((a.norm(dim=-1) * b.norm(dim=-1)).clamp_min(eps))


def cross_entropy(logits, target, reduction: str = "sum"):
    """Cross-entropy for logits of shape ``(..., C)`` against integer labels ``(...)`` or soft targets
    ``(..., C)``. ``reduction``: ``"sum"``, ``"mean"`` or ``"none"`` (shape ``(...)``)."""
    import torch

    logp = torch.nn.functional.log_softmax(logits, dim=-1)
    if target.dtype in (torch.int64, torch.int32, torch.long):
        loss = -logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    else:
        loss = -(target * logp).sum(-1)
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'sum', 'mean' or 'none'; got {reduction!r}")
