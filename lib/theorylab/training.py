"""The book's training loop: a fresh batch each step (``loss_fn(step)`` samples it), Adam or SGD, a learning-rate
schedule (constant, cosine, warm-up + cosine, or any function of the step), optional gradient clipping, a logged
history and copies of the weights at chosen steps.

Chapters that train a small model call :func:`train`; the loss (what is learned) stays in the chapter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Union

import numpy as np

from .progress import progress

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "cosine", "warmup_cosine")


def lr_factor(step: int, steps: int, schedule: str = "constant", warmup: float = 0.1) -> float:
    """The multiplier of the base learning rate at ``step`` of ``steps``.

    ``cosine``: from 1 down to 0 along half a cosine; ``warmup_cosine``: linear warm-up over the first
    ``warmup`` fraction of the steps (at least one), then the cosine.
    """
    import math

    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}; got {schedule!r}")
    if schedule == "constant":
        return 1.0
    cos = 0.5 * (1.0 + math.cos(math.pi * min(step, steps) / max(1, steps)))
    if schedule == "cosine":
        return cos
    n_warm = max(1, int(round(warmup * steps)))
    return min(1.0, (step + 1) / n_warm) * cos


@dataclass
class History:
    steps: List[int] = field(default_factory=list)
    loss: List[float] = field(default_factory=list)
    extra: Dict[str, List[float]] = field(default_factory=dict)
    checkpoints: Dict[int, list] = field(default_factory=dict)  # step -> detached copies of the parameters

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
    schedule: Union[str, Callable[[int, int], float]] = "constant",
    warmup: float = 0.1,
    clip_norm: Optional[float] = None,
    log_every: Optional[int] = 10,
    evaluate: Optional[Callable[[int], Dict[str, float]]] = None,
    checkpoints: Iterable[int] = (),
    desc: str = "training",
    **opt_kw,
) -> History:
    """Minimise ``loss_fn(step)`` (which samples its own batch) for ``steps`` steps.

    ``schedule``: a name with ``warmup`` (see :func:`lr_factor`) or a function ``(step, steps) -> factor`` of the
    base learning rate. ``evaluate(step)`` (optional) returns extra numbers to log every ``log_every`` steps;
    ``log_every=None`` logs nothing, and ``loss_fn`` is then called exactly ``steps`` times (no extra call for
    the final loss, so a random ``loss_fn`` leaves its generator as a plain loop would). ``checkpoints``: steps
    at which to keep a detached copy of the parameters (after that many updates), in ``History.checkpoints``.
    Returns the :class:`History` of logged losses (the training batch's loss at that step).
    """
    import torch

    params = list(params)
    opt = make_optimizer(params, optimizer, lr, **opt_kw)
    if callable(schedule):
        factor = lambda s: schedule(s, steps)  # noqa: E731
    else:
        lr_factor(0, steps, schedule, warmup)  # validates the schedule before any work
        factor = lambda s: lr_factor(s, steps, schedule, warmup)  # noqa: E731
    if log_every is not None and log_every < 1:
        raise ValueError(f"log_every must be a positive number of steps or None; got {log_every!r}")
    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    keep = set(checkpoints)
    hist = History()
    for step in progress(range(steps + 1), desc=desc):
        if step in keep:
            hist.checkpoints[step] = [p.detach().clone() for p in params]
        if step == steps and log_every is None:
            break
        loss = loss_fn(step)
        if log_every is not None and (step % log_every == 0 or step == steps):
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
        sched.step()
    return hist
