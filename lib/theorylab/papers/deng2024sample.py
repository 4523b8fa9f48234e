"""Small finite-horizon contextual MDPs (CMDPs) with linear transition models: generators, sampling,
least-squares model estimation, batched value iteration and exact policy evaluation.

A CMDP here has ``M`` contexts, ``S`` states, ``A`` actions and horizon ``H``; context ``c`` is an ordinary
MDP with transition kernel ``P[c, s, a, s']`` and mean reward ``R[c, s, a]`` in ``[0, 1]`` (time-homogeneous).
Every tensor may carry extra leading batch dimensions (independent problems), written ``...`` below.

Linear structure (a low-rank / linear MDP per context). With a feature map ``phi(s, a)`` in the probability
simplex of dimension ``d`` and ``d`` next-state distributions ``mu[k, s']``,

    P(s' | s, a) = sum_k phi(s, a)_k mu[k, s'],      R(s, a) = sum_k phi(s, a)_k theta[k],

so every kernel is a valid distribution by construction. The two models differ in what changes with the
context (Deng et al., 2024):

* **Model I** (``"I"``): context-varying features ``phi[c]``, weights ``mu``, ``theta`` shared by all contexts;
* **Model II** (``"II"``): shared features ``phi``, context-varying weights ``mu[c]``, ``theta[c]``.

Features are known to the learner, weights are not. Estimation regresses one-hot next states (and observed
rewards) on the features by ridge least squares, pooling all contexts (Model I) or per context (Model II).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import torch

Tensor = torch.Tensor
MODELS = ("I", "II")


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise ValueError(f"model must be 'I' or 'II'; got {model!r}")


def random_distributions(
    shape: Sequence[int], sharpness: float, generator: Optional[torch.Generator] = None, dtype=torch.float64
) -> Tensor:
    """Random probability vectors on the last axis: ``softmax(sharpness * z)`` with ``z`` standard normal
    (drawn on the CPU ``generator``). Larger ``sharpness`` gives more peaked, more distinct distributions."""
    z = torch.randn(tuple(shape), generator=generator, dtype=torch.float64)
    return torch.softmax(sharpness * z, -1).to(dtype)


@dataclass
class LinearCMDP:
    """A batch of linear CMDPs. ``phi``: ``(..., M or 1, S, A, d)``; ``mu``: ``(..., M or 1, d, S)``;
    ``theta``: ``(..., M or 1, d)``. A context axis of size 1 means shared across contexts."""

    model: str
    phi: Tensor
    mu: Tensor
    theta: Tensor
    M: int

    @property
    def S(self) -> int:
        return self.mu.shape[-1]

    @property
    def A(self) -> int:
        return self.phi.shape[-2]

    @property
    def d(self) -> int:
        return self.phi.shape[-1]

    def kernels(self) -> Tuple[Tensor, Tensor]:
        """True transitions ``P (..., M, S, A, S)`` and mean rewards ``R (..., M, S, A)``."""
        return kernels(self.phi, self.mu, self.theta, self.M)


def kernels(phi: Tensor, mu: Tensor, theta: Tensor, M: int) -> Tuple[Tensor, Tensor]:
    """``P[c,s,a,s'] = phi[c,s,a] . mu[c,:,s']`` and ``R[c,s,a] = phi[c,s,a] . theta[c]`` (size-1 context axes
    broadcast to ``M``)."""
    P = torch.einsum("...csak,...ckt->...csat", phi, mu)
    R = torch.einsum("...csak,...ck->...csa", phi, theta)
    shape = P.shape[:-4] + (M,) + P.shape[-3:]
    return P.expand(shape), R.expand(shape[:-1])


def random_cmdp(
    model: str,
    M: int,
    S: int,
    A: int,
    d: int,
    *,
    batch: Sequence[int] = (),
    generator: Optional[torch.Generator] = None,
    feature_sharpness: float = 2.0,
    kernel_sharpness: float = 2.0,
    dtype=torch.float64,
) -> LinearCMDP:
    """Random linear CMDPs of either model. Features and the ``d`` base next-state distributions are
    :func:`random_distributions`; reward weights are uniform on ``[0, 1]``. Model I draws ``phi`` per context
    and one ``mu, theta``; Model II one ``phi`` and ``mu, theta`` per context. Everything is drawn on the CPU
    ``generator``; move the tensors with ``.to(device)``."""
    _check_model(model)
    b = tuple(batch)
    Mphi, Mmu = (M, 1) if model == "I" else (1, M)
    phi = random_distributions(b + (Mphi, S, A, d), feature_sharpness, generator, dtype)
    mu = random_distributions(b + (Mmu, d, S), kernel_sharpness, generator, dtype)
    theta = torch.rand(b + (Mmu, d), generator=generator, dtype=torch.float64).to(dtype)
    return LinearCMDP(model, phi, mu, theta, M)


def tabular_features(M: int, S: int, A: int, dtype=torch.float64) -> Tensor:
    """One-hot features ``e_(c,s,a)`` of dimension ``d = M S A``: the tabular CMDP as a Model I instance
    (every context's kernel is then an arbitrary, unrelated table)."""
    return torch.eye(M * S * A, dtype=dtype).reshape(M, S, A, M * S * A)


# -- data ---------------------------------------------------------------------------------------------------
@dataclass
class Samples:
    """``n`` transitions per problem from a generative model: context ``c``, state ``s``, action ``a``,
    next state ``s2`` and reward ``r`` in {0, 1}, each of shape ``(..., n)``."""

    c: Tensor
    s: Tensor
    a: Tensor
    s2: Tensor
    r: Tensor


def sample(P: Tensor, R: Tensor, n: int, generator: Optional[torch.Generator] = None) -> Samples:
    """Uniform contexts, states and actions; next state from ``P``, Bernoulli reward with mean ``R``.
    Random numbers come from the CPU ``generator`` (same data on CPU and GPU); results are on ``P``'s device."""
    batch, (M, S, A) = P.shape[:-4], P.shape[-4:-1]
    shp = batch + (n,)
    c = torch.randint(M, shp, generator=generator)
    s = torch.randint(S, shp, generator=generator)
    a = torch.randint(A, shp, generator=generator)
    flatP = P.reshape(batch + (M * S * A, S))
    idx = (c * S + s) * A + a
    rows = torch.gather(flatP, -2, idx.unsqueeze(-1).expand(shp + (S,)).to(P.device))
    u = torch.rand(shp + (1,), generator=generator, dtype=P.dtype).to(P.device)
    s2 = (rows.cumsum(-1) < u).sum(-1).clamp_max(S - 1)
    rmean = torch.gather(R.reshape(batch + (M * S * A,)), -1, idx.to(P.device))
    r = (torch.rand(shp, generator=generator, dtype=P.dtype).to(P.device) < rmean).to(P.dtype)
    dev = P.device
    return Samples(c.to(dev), s.to(dev), a.to(dev), s2, r)


def estimate(
    model: str, phi: Tensor, data: Samples, n_used: Sequence[int], M: int, S: int, ridge: float = 1e-3
) -> Tuple[Tensor, Tensor]:
    """Ridge least-squares estimates of the weights from the first ``n`` samples, for every ``n`` in
    ``n_used`` (increasing) at once. ``phi``: the known features ``(..., M or 1, S, A, d)``.

    Regresses the one-hot next state and the observed reward on the features. Model I pools every sample
    into one regression (returned context axis of size 1); Model II fits one regression per context.
    Returns ``mu_hat (len(n_used), ..., M or 1, d, S)`` and ``theta_hat (len(n_used), ..., M or 1, d)``.
    The sufficient statistics of consecutive sample blocks are summed with ``scatter_add`` (a chunk of samples
    at a time) and accumulated over blocks."""
    _check_model(model)
    n_used = [int(v) for v in n_used]
    if sorted(n_used) != n_used or n_used[0] < 1 or n_used[-1] > data.c.shape[-1]:
        raise ValueError("n_used must be increasing, between 1 and the number of samples")
    batch = data.c.shape[:-1]
    n = n_used[-1]
    Mphi, A, d = phi.shape[-4], phi.shape[-2], phi.shape[-1]
    dev, dt = phi.device, phi.dtype
    c, s, a, s2, r = (t[..., :n] for t in (data.c, data.s, data.a, data.s2, data.r))
    phi_b = phi.expand(batch + phi.shape[-4:]).reshape(batch + (Mphi * S * A, d))
    row = ((c if Mphi > 1 else torch.zeros_like(c)) * S + s) * A + a
    X = torch.gather(phi_b, -2, row.unsqueeze(-1).expand(batch + (n, d)))  # (..., n, d)
    G_groups = 1 if model == "I" else M
    block = torch.searchsorted(torch.tensor(n_used, device=dev), torch.arange(n, device=dev), right=True)
    slot = block * G_groups + (c if model == "II" else torch.zeros_like(c))  # (..., n)
    J = len(n_used)

    def accumulate(index, values_fn, size, width, chunk=4096):
        """Sum per-sample rows ``values_fn(i0, i1)`` (..., i1 - i0, width) into ``size`` slots by ``index``,
        a chunk of samples at a time (bounded memory)."""
        out = torch.zeros(batch + (size, width), dtype=dt, device=dev)
        for i0 in range(0, n, chunk):
            i1 = min(n, i0 + chunk)
            vals = values_fn(i0, i1)
            out.scatter_add_(-2, index[..., i0:i1].unsqueeze(-1).expand_as(vals), vals)
        return out

    def per_block(out, tail):  # cumulative, n_used-major
        out = out.reshape(batch + (J, G_groups) + tail).cumsum(len(batch))
        return out.movedim(len(batch), 0)  # (J, ..., G, *tail)

    outer = lambda i0, i1: (X[..., i0:i1, :, None] * X[..., i0:i1, None, :]).reshape(batch + (i1 - i0, d * d))
    gram = per_block(accumulate(slot, outer, J * G_groups, d * d), (d, d))
    # sum of x e_{s'}^T: add x into the row of its next state
    xy = accumulate(slot * S + s2, lambda i0, i1: X[..., i0:i1, :], J * G_groups * S, d)
    xy = per_block(xy, (S, d)).transpose(-1, -2)  # (J, ..., G, d, S)
    xr = per_block(accumulate(slot, lambda i0, i1: X[..., i0:i1, :] * r[..., i0:i1, None], J * G_groups, d), (d,))
    gram = gram + ridge * torch.eye(d, dtype=dt, device=dev)
    mu_hat = torch.linalg.solve(gram, xy)
    theta_hat = torch.linalg.solve(gram, xr.unsqueeze(-1)).squeeze(-1)
    return mu_hat, theta_hat


def estimate_tabular(data: Samples, n_used: Sequence[int], M: int, S: int, A: int) -> Tuple[Tensor, Tensor]:
    """Empirical transition frequencies and mean rewards of every ``(c, s, a)`` from the first ``n`` samples,
    for every ``n`` in ``n_used`` (increasing): least squares with the one-hot features of
    :func:`tabular_features`, computed by counting. Unvisited triples get all-zero rows (``to_simplex`` makes
    them uniform). Returns ``P_hat (len(n_used), ..., M, S, A, S)`` and ``R_hat (len(n_used), ..., M, S, A)``."""
    n_used = [int(v) for v in n_used]
    if sorted(n_used) != n_used or n_used[0] < 1 or n_used[-1] > data.c.shape[-1]:
        raise ValueError("n_used must be increasing, between 1 and the number of samples")
    batch, n, J = data.c.shape[:-1], n_used[-1], len(n_used)
    dev, dt = data.r.device, data.r.dtype
    block = torch.searchsorted(torch.tensor(n_used, device=dev), torch.arange(n, device=dev), right=True)
    csa = ((data.c[..., :n] * S + data.s[..., :n]) * A + data.a[..., :n]) + block * (M * S * A)
    counts = torch.zeros(batch + (J * M * S * A * S,), dtype=dt, device=dev)
    counts.scatter_add_(-1, csa * S + data.s2[..., :n], torch.ones_like(data.r[..., :n]))
    rsum = torch.zeros(batch + (J * M * S * A,), dtype=dt, device=dev)
    rsum.scatter_add_(-1, csa, data.r[..., :n])
    counts = counts.reshape(batch + (J, M, S, A, S)).cumsum(len(batch)).movedim(len(batch), 0)
    rsum = rsum.reshape(batch + (J, M, S, A)).cumsum(len(batch)).movedim(len(batch), 0)
    visits = counts.sum(-1)
    return counts / visits.clamp_min(1).unsqueeze(-1), rsum / visits.clamp_min(1)


def to_simplex(P: Tensor) -> Tensor:
    """Clip negative entries of estimated kernels and renormalise the last axis (uniform where all vanish)."""
    P = P.clamp_min(0)
    tot = P.sum(-1, keepdim=True)
    return torch.where(tot > 0, P / tot.clamp_min(1e-300), torch.full_like(P, 1.0 / P.shape[-1]))


# -- planning and evaluation -----------------------------------------------------------------------------------
def value_iteration(P: Tensor, R: Tensor, H: int) -> Tuple[Tensor, Tensor]:
    """Finite-horizon optimal values and greedy policy: ``V (..., H + 1, S)`` (``V[..., H, :] = 0``) and
    ``pi (..., H, S)`` (action indices), for ``P (..., S, A, S)``, ``R (..., S, A)``."""
    V = [torch.zeros(P.shape[:-3] + (P.shape[-1],), dtype=P.dtype, device=P.device)]
    pis = []
    for _ in range(H):
        Q = R + torch.einsum("...sat,...t->...sa", P, V[0])
        v, pi = Q.max(-1)
        V.insert(0, v)
        pis.insert(0, pi)
    return torch.stack(V, -2), torch.stack(pis, -2)


def policy_value(P: Tensor, R: Tensor, pi: Tensor) -> Tensor:
    """Exact values ``(..., H + 1, S)`` of a deterministic time-dependent policy ``pi (..., H, S)`` in the MDPs
    ``P (..., S, A, S)``, ``R (..., S, A)`` (leading dimensions broadcast)."""
    H = pi.shape[-2]
    batch = torch.broadcast_shapes(P.shape[:-3], pi.shape[:-2])  # pi may carry extra leading dimensions
    V = torch.zeros(batch + (P.shape[-1],), dtype=P.dtype, device=P.device)
    out = [V]
    for h in reversed(range(H)):
        a = pi[..., h, :]
        Q = R + torch.einsum("...sat,...t->...sa", P, V)
        V = Q.gather(-1, a.unsqueeze(-1)).squeeze(-1)
        out.insert(0, V)
    return torch.stack(out, -2)


def suboptimality(P: Tensor, R: Tensor, P_hat: Tensor, R_hat: Tensor, H: int) -> Tensor:
    """Gap ``V*(s) - V^pi_hat(s)`` at ``h = 0``, averaged over a uniform initial state, for the policy planned
    on the estimated model and evaluated on the true one: shape ``P.shape[:-3]`` (e.g. ``(..., M)``)."""
    V_star, _ = value_iteration(P, R, H)
    _, pi_hat = value_iteration(P_hat, R_hat, H)
    V_pi = policy_value(P, R, pi_hat)
    return (V_star[..., 0, :] - V_pi[..., 0, :]).mean(-1)


def kernel_error(P: Tensor, P_hat: Tensor) -> Tensor:
    """Total-variation distance between true and estimated next-state distributions, averaged over
    ``(s, a)``: shape ``P.shape[:-3]``."""
    return 0.5 * (P - P_hat).abs().sum(-1).mean((-1, -2))
