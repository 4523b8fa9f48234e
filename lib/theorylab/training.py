"""A plain training loop: fresh batch each step, optional gradient clipping, logged history."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional

import numpy as np

from .progress import progress

OPTIMIZERS = ("adam", "sgd")


@dataclass
class History:
    steps: List[int] = field(default_factory=list)
    loss: List[float] = field(default_factory=list)
    extra: Dict[str, List[float]] = field(default_factory=dict)

    def log(self, step: int, loss: float, **extra: float) -> None:
        self.steps.append(step)
        self.loss.append(loss)
        for k, v in extra.items():
            self.extra.setdefault(k, []).append(float(v))

    def as_arrays(self) -> Dict[str, np.ndarray]:
        out = {"steps": np.asarray(self.steps), "loss": np.asarray(self.loss)}
        out.update({k: np.asarray(v) for k, v in self.extra.items()})
        return out


def make_optimizer(params, optimizer: str = "adam", lr: float = 1e-3, **kw):
    import torch

    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {optimizer!r}")
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, **kw)
    return torch.optim.SGD(params, lr=lr, **kw)


def train(
    params: Iterable,
    loss_fn: Callable[[int], "object"],
    steps: int,
    *,
    optimizer: str = "adam",
    lr: float = 1e-3,
    clip_norm: Optional[float] = None,
    log_every: int = 10,
    evaluate: Optional[Callable[[int], Dict[str, float]]] = None,
    desc: str = "training",
    **opt_kw,
) -> History:
    """Minimise ``loss_fn(step)`` (which samples its own batch) for ``steps`` steps.

    ``evaluate(step)`` (optional) returns extra numbers to log every ``log_every`` steps.
    Returns the :class:`History` of logged losses (the training batch's loss at that step).
    """
    import torch

    params = list(params)
    opt = make_optimizer(params, optimizer, lr, **opt_kw)
    hist = History()
    for step in progress(range(steps + 1), desc=desc):
        loss = loss_fn(step)
        if step % log_every == 0 or step == steps:
            extra = {}
            if evaluate is not None:
                with torch.no_grad():
                    extra = evaluate(step)
            hist.log(step, float(loss.detach()), **extra)
        if step == steps:
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, clip_norm)
        opt.step()
    return hist
