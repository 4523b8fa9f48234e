"""Parameter-free adaptive optimisers (AdaGrad++ and Adam++) and a batched learning-rate-grid runner.

AdaGrad++ and Adam++ (Tao, Yuan, Zhou, Cao and Gu, 2024) replace the learning rate of AdaGrad and Adam by
a quantity computed from the iterates: the largest distance travelled from the initialisation so far,
normalised by the square root of the number of parameters ``d``::

    eta_t = max(eta_{t-1}, ||x_t - x_0||_2 / sqrt(d)),        eta_0 = eps   (a tiny positive start)

AdaGrad++ (diagonal AdaGrad with that step)::

    s_t     = sqrt(sum_{i<=t} g_i^2)                             (element-wise)
    x_{t+1} = x_t - eta_t * g_t / (s_t + delta)

Adam++ (no bias correction; ``k = t + 1`` counts the steps taken, ``k = 1`` at the first)::

    beta_{1,k} = beta_1 * lam^(k-1)
    m_k        = beta_{1,k} m_{k-1} + (1 - beta_{1,k}) g_k
    v_k        = beta_2 v_{k-1} + (1 - beta_2) g_k^2
    vhat_k     = max(vhat_{k-1}, v_k)   (amsgrad=True, the paper's "case 1")   or   v_k   (amsgrad=False, "case 2")
    s_k        = sqrt(k * vhat_k)
    x_{k+1}    = x_k - eta_k * m_k / (s_k + delta)

``delta`` is the usual small constant of the denominator; ``eps`` is the paper's initial step size, *not* a
denominator constant. Both optimisers take ``lr`` (default 1) as a plain multiplier of ``eta_t`` so that
learning-rate schedulers still work; ``lr = 1`` is the parameter-free algorithm.

Each parameter group keeps its own ``x_0``, ``d`` and ``eta``: with a single group (the default) this is
exactly the rule above with ``x`` all the model's parameters; with several groups every group is an
independent parameter-free run (a "layer-wise" variant when each layer is its own group).

:func:`run_batched` runs K independent copies of one small model at once (parameters stacked along a leading
dimension of size K), each with its own learning rate (Adam, AdaGrad) or initial ``eps`` (Adam++, AdaGrad++),
so that a whole learning-rate grid costs one batched forward/backward per step. Its update rules are the
same as ``torch.optim.Adam`` / ``torch.optim.Adagrad`` and the two classes here (the unit tests check it).
"""

from __future__ import annotations

import math
from typing import Callable, Dict, List, Optional, Sequence, Union

import torch
from torch import Tensor

KINDS = ("adam", "adagrad", "adam++", "adagrad++")


# -- the torch optimisers ---------------------------------------------------------------------------------
class _DistanceStep(torch.optim.Optimizer):
    """Shared part of AdaGrad++ / Adam++: the per-group step size ``eta_t`` from the distance to ``x_0``."""

    def _group_eta(self, group) -> Tensor:
        """Update and return the group's ``eta_t = max(eta_{t-1}, ||x_t - x_0|| / sqrt(d))`` (a 0-dim tensor)."""
        params = group["params"]
        first = self.state[params[0]]
        if "eta" not in first:  # first step: remember x_0 for every parameter of the group
            for p in params:
                self.state[p]["x0"] = p.detach().clone()
            first["eta"] = torch.tensor(float(group["eps"]), device=params[0].device, dtype=params[0].dtype)
        d = sum(p.numel() for p in params)
        sq = sum(((p.detach() - self.state[p]["x0"]) ** 2).sum().to(first["eta"]) for p in params)
        first["eta"] = torch.maximum(first["eta"], torch.sqrt(sq) / math.sqrt(d))
        return first["eta"]

    def eta(self, group_index: int = 0) -> float:
        """The step size ``eta_t`` the last ``step()`` used for that group (``eps`` before the first step)."""
        group = self.param_groups[group_index]
        st = self.state[group["params"][0]]
        return float(st["eta"]) if "eta" in st else float(group["eps"])


class AdaGradPlusPlus(_DistanceStep):
    """AdaGrad++: diagonal AdaGrad whose learning rate is ``eta_t = max_{s<=t} ||x_s - x_0|| / sqrt(d)``.

    Args:
        params: parameters or parameter groups (each group is its own parameter-free run).
        eps: the initial step size ``eta_0`` (the paper's epsilon; any tiny positive number).
        delta: added to ``sqrt(sum g^2)`` in the denominator.
        lr: a multiplier of ``eta_t`` (1 = parameter-free; kept for schedulers).
    """

    def __init__(self, params, eps: float = 1e-8, delta: float = 1e-8, lr: float = 1.0):
        if not eps > 0:
            raise ValueError(f"eps (the initial step size) must be positive; got {eps}")
        if delta < 0 or lr < 0:
            raise ValueError("delta and lr must be non-negative")
        super().__init__(params, dict(eps=eps, delta=delta, lr=lr))

    @torch.no_grad()
    def step(self, closure: Optional[Callable] = None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            eta = self._group_eta(group)
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if "sum_sq" not in st:
                    st["sum_sq"] = torch.zeros_like(p)
                st["sum_sq"].addcmul_(p.grad, p.grad)
                denom = st["sum_sq"].sqrt().add_(group["delta"])
                p.addcdiv_(p.grad, denom, value=-group["lr"] * eta.to(p.device, p.dtype))
        return loss


class AdamPlusPlus(_DistanceStep):
    """Adam++: Adam without bias correction, second moment ``sqrt(k * vhat_k)``, learning rate ``eta_t``.

    Args:
        params: parameters or parameter groups (each group is its own parameter-free run).
        eps: the initial step size ``eta_0`` (the paper's epsilon; any tiny positive number).
        betas: ``(beta_1, beta_2)``.
        lam: decay of the first-moment coefficient, ``beta_{1,k} = beta_1 lam^(k-1)`` (1 = constant).
        delta: added to ``s_k`` in the denominator.
        amsgrad: True uses the running maximum of ``v`` (the paper's case 1), False uses ``v`` (case 2).
        lr: a multiplier of ``eta_t`` (1 = parameter-free; kept for schedulers).
    """

    def __init__(
        self,
        params,
        eps: float = 1e-8,
        betas=(0.9, 0.999),
        lam: float = 1.0,
        delta: float = 1e-8,
        amsgrad: bool = True,
        lr: float = 1.0,
    ):
        if not eps > 0:
            raise ValueError(f"eps (the initial step size) must be positive; got {eps}")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1 and 0 < lam <= 1):
            raise ValueError("need 0 <= beta_1, beta_2 < 1 and 0 < lam <= 1")
        if delta < 0 or lr < 0:
            raise ValueError("delta and lr must be non-negative")
        super().__init__(params, dict(eps=eps, betas=tuple(betas), lam=lam, delta=delta, amsgrad=amsgrad, lr=lr))

    @torch.no_grad()
    def step(self, closure: Optional[Callable] = None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            eta = self._group_eta(group)
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if "m" not in st:
                    st["k"] = 0
                    st["m"] = torch.zeros_like(p)
                    st["v"] = torch.zeros_like(p)
                    if group["amsgrad"]:
                        st["vmax"] = torch.zeros_like(p)
                st["k"] += 1
                k = st["k"]
                b1k = b1 * group["lam"] ** (k - 1)
                st["m"].mul_(b1k).add_(p.grad, alpha=1 - b1k)
                st["v"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                vhat = st["v"]
                if group["amsgrad"]:
                    torch.maximum(st["vmax"], st["v"], out=st["vmax"])
                    vhat = st["vmax"]
                denom = (vhat * k).sqrt_().add_(group["delta"])
                p.addcdiv_(st["m"], denom, value=-group["lr"] * eta.to(p.device, p.dtype))
        return loss


# -- K independent copies at once ----------------------------------------------------------------------------
def run_batched(
    kind: str,
    loss_fn: Callable[[List[Tensor], int], Tensor],
    params0: Sequence[Tensor],
    steps: int,
    *,
    lr: Union[float, Sequence[float], Tensor] = 1.0,
    eps: Union[float, Sequence[float], Tensor] = 1e-8,
    betas=(0.9, 0.999),
    lam: float = 1.0,
    delta: Optional[float] = None,
    amsgrad: bool = True,
    evaluate: Optional[Callable[[List[Tensor]], Tensor]] = None,
    log_every: int = 1,
) -> Dict[str, Tensor]:
    """Train K independent copies of a model at once with one optimiser ``kind`` and per-copy settings.

    Args:
        kind: ``"adam"`` (``torch.optim.Adam``: bias-corrected, ``delta`` default 1e-8), ``"adagrad"``
            (``torch.optim.Adagrad``: ``delta`` default 1e-10), ``"adam++"`` or ``"adagrad++"`` (the classes above,
            ``delta`` default 1e-8; ``d`` and the distance are per copy).
        loss_fn: ``loss_fn(params, step)`` returns the ``(K,)`` training losses of the copies (its gradient with
            respect to copy k's parameters must depend on copy k only).
        params0: the initial parameters, each of shape ``(K, ...)`` (copy k is ``[p[k] for p in params0]``).
        steps: number of optimiser steps.
        lr: learning rate per copy (a number or K numbers); a multiplier of ``eta_t`` for the ++ kinds.
        eps: initial step size per copy (++ kinds only).
        betas: ``(beta_1, beta_2)``, each a number or K numbers (Adam kinds).
        evaluate: optional ``evaluate(params) -> (K,)`` called (without gradients) every ``log_every`` steps and
            after the last step, e.g. the full training loss when ``loss_fn`` uses mini-batches.

    Returns a dict of tensors: ``loss`` ``(steps, K)`` (the loss_fn value at each step, before its update),
    ``eta`` ``(steps, K)`` (the step size used: ``lr`` for the baselines, ``lr * eta_t`` for ++), ``params``
    (the final stacked parameters) and, with ``evaluate``, ``eval_steps`` and ``eval`` ``(n_eval, K)``.

    All parameters of a copy live in one ``(K, P)`` buffer (``loss_fn`` sees views of it), so an update is a few
    element-wise operations on one tensor whatever the number of parameter tensors.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    K = params0[0].shape[0]
    dev, dt = params0[0].device, params0[0].dtype
    shapes = [tuple(p.shape[1:]) for p in params0]
    sizes = [math.prod(s) for s in shapes]
    x = torch.cat([p.detach().reshape(K, -1) for p in params0], 1).clone().requires_grad_(True)  # (K, P)
    d = x.shape[1]

    def views(buf):
        return [v.view((K,) + s) for v, s in zip(torch.split(buf, sizes, 1), shapes)]

    def per_copy(val):
        return torch.as_tensor(val, dtype=dt, device=dev).expand(K).clone().unsqueeze(1)  # (K, 1)

    lr_t, eta = per_copy(lr), per_copy(eps)
    b1, b2 = (float(b) if isinstance(b, (int, float)) else per_copy(b) for b in betas)  # floats when shared
    if delta is None:
        delta = 1e-10 if kind == "adagrad" else 1e-8
    plus = kind.endswith("++")
    x0 = x.detach().clone()
    acc1 = torch.zeros_like(x0)  # m (adam kinds) or sum of g^2 (adagrad kinds)
    acc2 = torch.zeros_like(x0)  # v
    vmax = torch.zeros_like(x0) if (kind == "adam++" and amsgrad) else None
    losses, etas, ev, ev_steps = [], [], [], []
    for t in range(steps):
        if evaluate is not None and t % log_every == 0:
            with torch.no_grad():
                ev.append(evaluate(views(x)).detach())
                ev_steps.append(t)
        loss = loss_fn(views(x), t)
        (g,) = torch.autograd.grad(loss.sum(), [x])
        losses.append(loss.detach())
        with torch.no_grad():
            if plus:
                eta = torch.maximum(eta, torch.linalg.vector_norm(x - x0, dim=1, keepdim=True) / math.sqrt(d))
                a = lr_t * eta
            else:
                a = lr_t
            etas.append(a[:, 0].clone())
            k = t + 1
            if kind in ("adagrad", "adagrad++"):
                acc1.addcmul_(g, g)
                x.sub_(a * g / acc1.sqrt().add_(delta))
            elif kind == "adam":
                acc1.mul_(b1).add_((1 - b1) * g)
                acc2.mul_(b2).addcmul_((1 - b2) * g, g)
                denom = (acc2 / (1 - b2**k)).sqrt_().add_(delta)
                x.sub_(a / (1 - b1**k) * acc1 / denom)
            else:  # adam++
                b1k = b1 * lam ** (k - 1)
                acc1.mul_(b1k).add_((1 - b1k) * g)
                acc2.mul_(b2).addcmul_((1 - b2) * g, g)
                vhat = acc2
                if vmax is not None:
                    torch.maximum(vmax, acc2, out=vmax)
                    vhat = vmax
                x.sub_(a * acc1 / ((vhat * k).sqrt_().add_(delta)))
    out = {"loss": torch.stack(losses), "eta": torch.stack(etas), "params": [v.detach() for v in views(x)]}
    if evaluate is not None:
        with torch.no_grad():
            ev.append(evaluate(views(x)).detach())
            ev_steps.append(steps)
        out["eval"] = torch.stack(ev)
        out["eval_steps"] = torch.tensor(ev_steps)
    return out


def stack_copies(params: Sequence[Tensor], K: int) -> List[Tensor]:
    """K identical copies of each parameter, stacked along a new leading dimension (same ``x_0`` for all)."""
    return [p.detach().unsqueeze(0).repeat((K,) + (1,) * p.dim()) for p in params]
