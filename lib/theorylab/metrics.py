"""Small, exact metrics used by the claims of several chapters."""
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
