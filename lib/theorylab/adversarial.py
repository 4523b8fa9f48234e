"""Adversarial training blocks for small models: L-inf attacks, per-class accuracy, digits data, and a
batch of independent MLPs trained in one tensor computation.

Conventions. An attack takes ``logits_fn`` (inputs -> logits) and inputs ``x`` whose leading dimensions match
the labels ``y``: ``logits_fn(x)`` has shape ``y.shape + (classes,)``. Several independent models can therefore
be attacked at once (``x`` of shape ``(models, n, d)``, ``y`` of shape ``(models, n)``): each model's loss only
depends on its own slice of ``x``, so one gradient of the summed loss is every model's own input gradient.
All perturbations are projected onto the L-inf ball of radius ``eps`` around ``x`` and clamped to the data
range ``[lo, hi]``.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


# -- losses and accuracy ----------------------------------------------------------------------------------
def cross_entropy(logits: Tensor, target: Tensor, reduction: str = "sum") -> Tensor:
    """Cross-entropy for logits of shape ``(..., C)`` against integer labels ``(...)`` or soft targets
    ``(..., C)``. ``reduction``: ``"sum"``, ``"mean"`` or ``"none"`` (shape ``(...)``)."""
    logp = F.log_softmax(logits, dim=-1)
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


def per_class_accuracy(pred: Tensor, y: Tensor, num_classes: int) -> Tensor:
    """Accuracy within each true class: ``(..., num_classes)`` for predictions and labels of shape ``(..., n)``.

    A class absent from ``y`` gets NaN. The class-count-weighted mean equals the overall accuracy.
    """
    y = y.expand_as(pred)
    onehot = F.one_hot(y, num_classes).to(torch.float64)           # (..., n, C)
    correct = (pred == y).to(torch.float64).unsqueeze(-1)           # (..., n, 1)
    hits = (onehot * correct).sum(-2)
    counts = onehot.sum(-2)
    return hits / counts  # 0/0 -> NaN for absent classes


# -- attacks ----------------------------------------------------------------------------------------------
def _project(x_adv: Tensor, x: Tensor, eps: float, lo: float, hi: float) -> Tensor:
    return torch.max(torch.min(x_adv, x + eps), x - eps).clamp(lo, hi)


def _input_grad(logits_fn: Callable[[Tensor], Tensor], x: Tensor, y: Tensor) -> Tensor:
    x = x.detach().requires_grad_(True)
    loss = cross_entropy(logits_fn(x), y, reduction="sum")
    (g,) = torch.autograd.grad(loss, x)
    return g


def uniform_noise(shape: Sequence[int], eps: float, generator: Optional[torch.Generator] = None,
                  device=None, dtype=torch.float32) -> Tensor:
    """Uniform noise on ``[-eps, eps]``, drawn on the generator's device (CPU by default) then moved."""
    gdev = generator.device if generator is not None else torch.device("cpu")
    u = torch.rand(tuple(shape), generator=generator, device=gdev, dtype=dtype)
    return ((2 * u - 1) * eps).to(device if device is not None else gdev)


def fgsm(logits_fn: Callable[[Tensor], Tensor], x: Tensor, y: Tensor, eps: float, *,
         step: Optional[float] = None, random_start: bool = True, generator: Optional[torch.Generator] = None,
         start: Optional[Tensor] = None, lo: float = 0.0, hi: float = 1.0) -> Tensor:
    """One signed-gradient step (FGSM), by default from a uniform random start (FGSM-RS, "fast" adversarial
    training, Wong et al. 2020): ``x' = P(x + delta0 + step * sign(grad_x loss(x + delta0)))``, with
    ``delta0 ~ U[-eps, eps]`` and ``P`` the projection onto the eps-ball and the data range.

    ``start`` (optional) is a given ``delta0`` (e.g. the same noise for several models being compared).
    ``step`` defaults to ``1.25 * eps`` with a random start and to ``eps`` without one. Returns a detached tensor.
    """
    if step is None:
        step = 1.25 * eps if (random_start or start is not None) else eps
    x = x.detach()
    x0 = x
    if start is not None:
        x0 = _project(x + start, x, eps, lo, hi)
    elif random_start:
        x0 = _project(x + uniform_noise(x.shape, eps, generator, x.device, x.dtype), x, eps, lo, hi)
    g = _input_grad(logits_fn, x0, y)
    return _project(x0 + step * g.sign(), x, eps, lo, hi).detach()


def pgd(logits_fn: Callable[[Tensor], Tensor], x: Tensor, y: Tensor, eps: float, steps: int = 10, *,
        step: Optional[float] = None, random_start: bool = False, generator: Optional[torch.Generator] = None,
        lo: float = 0.0, hi: float = 1.0) -> Tensor:
    """Projected gradient ascent on the cross-entropy in the L-inf ball (PGD-k, Madry et al. 2018).

    ``step`` defaults to ``2.5 * eps / steps``. Returns a detached tensor.
    """
    if step is None:
        step = 2.5 * eps / steps
    x = x.detach()
    xa = x
    if random_start:
        xa = _project(x + uniform_noise(x.shape, eps, generator, x.device, x.dtype), x, eps, lo, hi)
    for _ in range(steps):
        g = _input_grad(logits_fn, xa, y)
        xa = _project(xa + step * g.sign(), x, eps, lo, hi).detach()
    return xa


# -- data -------------------------------------------------------------------------------------------------
def load_digits(generator: torch.Generator, n_train: Optional[int] = None, n_test: Optional[int] = None, *,
                device=None, dtype=torch.float32) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """scikit-learn's bundled 8x8 digits (1797 images, 10 classes) as flat vectors in ``[0, 1]``.

    The split is a random permutation drawn from ``generator`` (deterministic for a given seed): the first
    ``n_train`` images train, the next ``n_test`` test (defaults: 1200 and the rest). Returns
    ``x_train (n_train, 64), y_train, x_test (n_test, 64), y_test`` on ``device``.
    """
    from sklearn.datasets import load_digits as _load

    d = _load()
    x = torch.tensor(d.data, dtype=dtype) / 16.0
    y = torch.tensor(d.target, dtype=torch.long)
    n = x.shape[0]
    n_train = 1200 if n_train is None else int(n_train)
    n_test = n - n_train if n_test is None else int(n_test)
    if n_train <= 0 or n_test <= 0 or n_train + n_test > n:
        raise ValueError(f"need 0 < n_train, 0 < n_test and n_train + n_test <= {n}; got {n_train}, {n_test}")
    perm = torch.randperm(n, generator=generator)
    tr, te = perm[:n_train], perm[n_train:n_train + n_test]
    return x[tr].to(device), y[tr].to(device), x[te].to(device), y[te].to(device)


# -- a batch of independent MLPs ----------------------------------------------------------------------------
def init_mlps(n_models: int, sizes: Sequence[int], generator: torch.Generator, *, device=None,
              dtype=torch.float32) -> list:
    """Parameters of ``n_models`` independent ReLU MLPs with layer widths ``sizes`` (e.g. ``[64, 128, 10]``),
    PyTorch's default uniform initialisation, drawn on the CPU ``generator`` then moved to ``device``.
    Returns ``[W1, b1, W2, b2, ...]`` with ``W`` of shape ``(n_models, fan_in, fan_out)``, requiring grad."""
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = fan_in ** -0.5
        W = (2 * torch.rand(n_models, fan_in, fan_out, generator=generator, dtype=dtype) - 1) * bound
        b = (2 * torch.rand(n_models, 1, fan_out, generator=generator, dtype=dtype) - 1) * bound
        params += [W.to(device).requires_grad_(True), b.to(device).requires_grad_(True)]
    return params


def mlp_logits(params: Sequence[Tensor], x: Tensor) -> Tensor:
    """Logits of the MLP batch: ``x`` of shape ``(n_models, n, fan_in)`` -> ``(n_models, n, classes)``."""
    h = x
    last = len(params) // 2 - 1
    for i in range(0, len(params), 2):
        h = torch.baddbmm(params[i + 1], h, params[i])
        if i // 2 < last:
            h = torch.relu(h)
    return h
