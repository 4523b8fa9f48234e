"""Adversarial training blocks for small models: L-inf attacks, per-class accuracy, digits data, and a
batch of independent MLPs trained in one tensor computation.

Conventions. An attack takes ``logits_fn`` (inputs -> logits) and inputs ``x`` whose leading dimensions match
the labels ``y``: ``logits_fn(x)`` has shape ``y.shape + (classes,)``. Several independent models can therefore
be attacked at once (``x`` of shape ``(models, n, d)``, ``y`` of shape ``(models, n)``): each model's loss only
depends on its own slice of ``x``, so one gradient of the summed loss is every model's own input gradient.
All perturbations are projected onto the L-inf ball of radius ``eps`` around ``x`` and clamped to the data
range ``[lo, hi]``. ``eps`` (and ``step``) may be a tensor that broadcasts against ``x``, e.g. one radius per
model of shape ``(models, 1, 1)``.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

import torch
import torch.nn.functional as F

from .metrics import cross_entropy

Tensor = torch.Tensor
Radius = Union[float, Tensor]
LOSSES = ("ce", "margin")


# -- losses and accuracy ----------------------------------------------------------------------------------


def per_class_accuracy(pred: Tensor, y: Tensor, num_classes: int) -> Tensor:
    """Accuracy within each true class: ``(..., num_classes)`` for predictions and labels of shape ``(..., n)``.

    A class absent from ``y`` gets NaN. The class-count-weighted mean equals the overall accuracy.
    """
    y = y.expand_as(pred)
    onehot = F.one_hot(y, num_classes).to(torch.float64)  # (..., n, C)
    correct = (pred == y).to(torch.float64).unsqueeze(-1)  # (..., n, 1)
    hits = (onehot * correct).sum(-2)
    counts = onehot.sum(-2)
    return hits / counts  # 0/0 -> NaN for absent classes


# -- attacks ----------------------------------------------------------------------------------------------
def _project(x_adv: Tensor, x: Tensor, eps: Radius, lo: float, hi: float) -> Tensor:
    return torch.max(torch.min(x_adv, x + eps), x - eps).clamp(lo, hi)


def margin(logits: Tensor, y: Tensor) -> Tensor:
    """The logit margin ``max_{j != y} z_j - z_y`` per example: positive exactly when the prediction is wrong.
    Unlike the cross-entropy it does not saturate on confidently classified inputs."""
    other = logits.masked_fill(F.one_hot(y, logits.shape[-1]).bool(), -1e9).amax(-1)
    return other - logits.gather(-1, y.unsqueeze(-1)).squeeze(-1)


def _input_grad(logits_fn: Callable[[Tensor], Tensor], x: Tensor, y: Tensor, loss: str = "ce") -> Tensor:
    x = x.detach().requires_grad_(True)
    z = logits_fn(x)
    total = cross_entropy(z, y, reduction="sum") if loss == "ce" else margin(z, y).sum()
    (g,) = torch.autograd.grad(total, x)
    return g


def uniform_noise(
    shape: Sequence[int], eps: Radius, generator: Optional[torch.Generator] = None, device=None, dtype=torch.float32
) -> Tensor:
    """Uniform noise on ``[-eps, eps]``, drawn on the generator's device (CPU by default) then moved."""
    gdev = generator.device if generator is not None else torch.device("cpu")
    u = torch.rand(tuple(shape), generator=generator, device=gdev, dtype=dtype)
    return (2 * u - 1).to(device if device is not None else gdev) * eps


def fgsm(
    logits_fn: Callable[[Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    eps: float,
    *,
    step: Optional[float] = None,
    random_start: bool = True,
    generator: Optional[torch.Generator] = None,
    start: Optional[Tensor] = None,
    lo: float = 0.0,
    hi: float = 1.0,
) -> Tensor:
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


def pgd(
    logits_fn: Callable[[Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    eps: Radius,
    steps: int = 10,
    *,
    step: Optional[Radius] = None,
    loss: str = "ce",
    random_start: bool = False,
    generator: Optional[torch.Generator] = None,
    lo: float = 0.0,
    hi: float = 1.0,
) -> Tensor:
    """Projected gradient ascent in the L-inf ball (PGD-k, Madry et al. 2018) on the cross-entropy
    (``loss="ce"``) or on the logit :func:`margin` (``loss="margin"``).

    ``step`` defaults to ``2.5 * eps / steps``. Returns a detached tensor.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}; got {loss!r}")
    if step is None:
        step = 2.5 * eps / steps
    x = x.detach()
    xa = x
    if random_start:
        xa = _project(x + uniform_noise(x.shape, eps, generator, x.device, x.dtype), x, eps, lo, hi)
    for _ in range(steps):
        g = _input_grad(logits_fn, xa, y, loss)
        xa = _project(xa + step * g.sign(), x, eps, lo, hi).detach()
    return xa
