"""Chapter 41 (Nguyen et al. 2025, Stein variational hypernetworks for Pareto set learning): the expensive
problems (ZDT1, ZDT3), exact 2-D hypervolume, batched exact Gaussian processes with a lower confidence bound,
Latin-hypercube designs and greedy hypervolume-improvement batch selection. Every function is batched over a
leading axis of independent runs (methods x replicas), so a whole comparison is one tensor computation."""

from __future__ import annotations

import math

import torch

Tensor = torch.Tensor

# Hypervolume reference points of the official code (ZDT problems).
REF = {"zdt1": (0.9994, 6.0576), "zdt3": (0.9994, 6.0571)}
PROBLEMS = tuple(REF)


def zdt(x: Tensor, problem: str) -> Tensor:
    """ZDT1 or ZDT3 objectives (minimised) of x in [0, 1]^d: shape (..., d) -> (..., 2)."""
    if problem not in PROBLEMS:
        raise ValueError(f"problem must be one of {', '.join(PROBLEMS)}; got {problem!r}")
    f1 = x[..., 0]
    g = 1 + 9 * x[..., 1:].mean(-1)
    q = f1 / g
    h = 1 - q.sqrt()
    if problem == "zdt3":
        h = h - q * torch.sin(10 * math.pi * f1)
    return torch.stack([f1, g * h], -1)


def hv2d(Y: Tensor, ref) -> Tensor:
    """Exact hypervolume (minimisation) of point sets Y (..., N, 2) up to ref (broadcastable to (..., 2)):
    clip to ref, sort by f1, running minimum of f2, sum the rectangles. Dominated points add nothing."""
    ref = torch.as_tensor(ref, dtype=Y.dtype, device=Y.device)
    ref = ref.expand(*Y.shape[:-2], 2)
    Y = torch.minimum(Y, ref.unsqueeze(-2))
    f1, order = Y[..., 0].sort(-1)
    f2 = Y[..., 1].gather(-1, order).cummin(-1).values
    nxt = torch.cat([f1[..., 1:], ref[..., None, 0]], -1)
    return ((nxt - f1) * (ref[..., None, 1] - f2)).sum(-1)


def true_hv(problem: str, n: int = 200001) -> float:
    """Hypervolume of the true front (g = 1), from n points on x1 in [0, 1] (dominated parts drop out)."""
    f1 = torch.linspace(0, 1, n, dtype=torch.float64)
    x = torch.stack([f1, torch.zeros_like(f1)], 1)
    return float(hv2d(zdt(x, problem), REF[problem]))


def true_front(problem: str, n: int = 2001) -> Tensor:
    """Points of the true Pareto front (non-dominated points of the g = 1 curve), shape (k, 2)."""
    f1 = torch.linspace(0, 1, n, dtype=torch.float64)
    Y = zdt(torch.stack([f1, torch.zeros_like(f1)], 1), problem)
    return Y[nondominated(Y)]


def nondominated(Y: Tensor) -> Tensor:
    """Boolean mask (..., N) of the points of Y (..., N, 2) that no other point dominates (minimisation)."""
    le = (Y[..., None, :, :] <= Y[..., :, None, :]).all(-1)
    lt = (Y[..., None, :, :] < Y[..., :, None, :]).any(-1)
    return ~(le & lt).any(-1)


def lhs(g: torch.Generator, batch: int, n: int, d: int) -> Tensor:
    """`batch` Latin-hypercube designs of n points in [0, 1]^d (float64, CPU generator)."""
    u = torch.rand(batch, n, d, generator=g, dtype=torch.float64)
    perm = torch.argsort(torch.rand(batch, n, d, generator=g, dtype=torch.float64), dim=1)
    return (perm + u) / n


def matern52(r: Tensor) -> Tensor:
    """Matern-5/2 correlation of scaled distances r."""
    s5 = math.sqrt(5) * r
    return (1 + s5 + s5**2 / 3) * torch.exp(-s5)


def gp_fit(X: Tensor, Y: Tensor, ells: Tensor, noise: float = 1e-4) -> dict:
    """Exact GPs, one per run and objective: X (M, N, d), Y (M, N, m). Matern-5/2 with unit signal variance on
    standardised outputs; each (run, objective) takes the lengthscale of the grid `ells` with the largest
    marginal likelihood."""
    M, N, m = Y.shape
    mu, sd = Y.mean(1), Y.std(1)
    Ys = (Y - mu[:, None]) / sd[:, None]  # (M, N, m)
    eye = noise * torch.eye(N, dtype=X.dtype, device=X.device)
    D = torch.cdist(X, X)
    C = torch.linalg.cholesky(matern52(D[None] / ells[:, None, None, None]) + eye)  # (G, M, N, N)
    a = torch.cholesky_solve(Ys[None].expand(len(ells), -1, -1, -1), C)  # (G, M, N, m)
    logdet = torch.log(torch.diagonal(C, dim1=-2, dim2=-1)).sum(-1)[..., None]
    ell = ells[(-0.5 * (Ys[None] * a).sum(-2) - logdet).argmax(0)]  # (M, m)
    Cb = torch.linalg.cholesky(matern52(D[:, None] / ell[..., None, None]) + eye)  # (M, m, N, N)
    alpha = torch.cholesky_solve(Ys.transpose(1, 2)[..., None], Cb)[..., 0]  # (M, m, N)
    return dict(X=X, ell=ell, C=Cb, alpha=alpha, mu=mu, sd=sd)


def gp_lcb(gp: dict, x: Tensor, beta: float = 0.1) -> Tensor:
    """Lower confidence bound mean - beta * std at x (M, n, d) -> (M, n, m), in the objectives' units."""
    ks = matern52(torch.cdist(x, gp["X"])[:, None] / gp["ell"][..., None, None])  # (M, m, n, N)
    mean = (ks * gp["alpha"][:, :, None]).sum(-1)
    v = torch.linalg.solve_triangular(gp["C"], ks.transpose(-1, -2), upper=False)  # (M, m, N, n)
    std = (1 - (v * v).sum(-2)).clamp_min(1e-12).sqrt()
    return ((mean - beta * std) * gp["sd"][..., None] + gp["mu"][..., None]).transpose(1, 2)


def greedy_batch(Y: Tensor, C: Tensor, k: int) -> Tensor:
    """Indices (M, k) of k candidates C (M, n, 2) picked one by one for the largest hypervolume of the observed
    Y (M, N, 2) plus the picks so far; reference point: the worst non-dominated observed or candidate value."""
    nd = nondominated(Y)
    ref = torch.maximum(torch.where(nd[..., None], Y, Y.new_tensor(-1e30)).amax(1), C.amax(1))
    P, picks, rows = Y, [], torch.arange(len(Y), device=Y.device)
    for _ in range(k):
        sets = torch.cat([P[:, None].expand(-1, C.shape[1], -1, -1), C[:, :, None]], 2)
        j = hv2d(sets, ref[:, None]).argmax(1)
        picks.append(j)
        P = torch.cat([P, C[rows, j][:, None]], 1)
    return torch.stack(picks, 1)
