"""Hyperfitting toy (Carlsson et al. 2024): a synthetic Markov "language", a stack of independent small causal
transformers (pre-LayerNorm, written with a leading replica axis so that they train in one vectorised
computation), greedy decoding and the repetition / copying metrics.

Every tensor carries a leading replica axis ``R``: replica ``r`` has its own source, data, initialisation and
fine-tuning set, so one call gives ``R`` independent repetitions of the experiment.
"""

from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F


def markov_source(replicas: int, vocab: int, alpha: float, g: torch.Generator) -> torch.Tensor:
    """``(R, V, V)`` transition matrices, rows drawn from Dirichlet(alpha) (small alpha: few likely successors)."""
    if alpha <= 0 or vocab < 2 or replicas < 1:
        raise ValueError(f"need alpha > 0, vocab >= 2, replicas >= 1; got {alpha}, {vocab}, {replicas}")
    gam = torch._standard_gamma(torch.full((replicas, vocab, vocab), float(alpha)), generator=g)
    gam = gam.clamp_min(1e-30)
    return gam / gam.sum(-1, keepdim=True)


def sample_sequences(P: torch.Tensor, n: int, length: int, g: torch.Generator) -> torch.Tensor:
    """``(R, n, length)`` token sequences of each replica's chain, started from its uniform distribution."""
    R, V, _ = P.shape
    x = torch.empty(R, n, length, dtype=torch.long)
    x[:, :, 0] = torch.randint(0, V, (R, n), generator=g)
    cdf = P.cumsum(-1)
    cdf[..., -1] = 1.0 + 1e-6
    r_idx = torch.arange(R)[:, None]
    for t in range(1, length):
        u = torch.rand(R, n, 1, generator=g)
        rows = cdf[r_idx, x[:, :, t - 1]]  # (R, n, V)
        x[:, :, t] = torch.searchsorted(rows, u).squeeze(-1).clamp_max(V - 1)
    return x


def nll(p: Dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Per-replica mean next-token cross-entropy ``(R,)`` in nats."""
    lg = stack_logits(p, x)[:, :, :-1]
    ce = F.cross_entropy(lg.reshape(-1, lg.shape[-1]), x[:, :, 1:].reshape(-1), reduction="none")
    return ce.view(x.shape[0], -1).mean(-1)


@torch.no_grad()
def entropy(p: Dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Per-replica mean entropy ``(R,)`` (nats) of the predicted next-token distribution along ``x``."""
    logp = stack_logits(p, x).log_softmax(-1)
    return -(logp.exp() * logp).sum(-1).flatten(1).mean(-1)


@torch.no_grad()
def greedy(p: Dict[str, torch.Tensor], prompts: torch.Tensor, n_new: int, window: int) -> torch.Tensor:
    """Greedy continuation ``(R, B, n_new)`` of ``prompts`` ``(R, B, T0)``, attending to the last ``window`` tokens."""
    x = prompts
    for _ in range(n_new):
        nxt = stack_logits(p, x[:, :, -window:])[:, :, -1].argmax(-1, keepdim=True)
        x = torch.cat([x, nxt], -1)
    return x[:, :, prompts.shape[-1] :]


def type_token_ratio(y: torch.Tensor) -> torch.Tensor:
    """Distinct tokens / tokens of each sequence along the last axis."""
    s = y.sort(-1).values
    return ((s[..., 1:] != s[..., :-1]).sum(-1) + 1).float() / y.shape[-1]


def ngram_codes(x: torch.Tensor, n: int, vocab: int) -> torch.Tensor:
    """Integer code of every ``n``-gram along the last axis: ``(..., L - n + 1)``."""
    w = x.unfold(-1, n, 1)
    base = vocab ** torch.arange(n - 1, -1, -1, device=x.device)
    return (w * base).sum(-1)


def copy_rate(gen: torch.Tensor, train: torch.Tensor, n: int, vocab: int) -> torch.Tensor:
    """Per-replica fraction ``(R,)`` of generated ``n``-grams that occur anywhere in that replica's training set."""
    R = gen.shape[0]
    if vocab**n * R >= 2**62:
        raise ValueError(f"n-gram codes overflow: vocab={vocab}, n={n}")
    off = (torch.arange(R, device=gen.device) * vocab**n).view(R, 1)
    cg = ngram_codes(gen, n, vocab).reshape(R, -1) + off
    ct = ngram_codes(train, n, vocab).reshape(R, -1) + off
    return torch.isin(cg, ct).float().mean(-1)


def clone(p: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """A detached copy of a parameter dict (a checkpoint)."""
    return {k: v.detach().clone() for k, v in p.items()}


def as_text(tokens, alphabet: str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") -> str:
    """Tokens as letters (for printing a continuation)."""
    return "".join(alphabet[int(t)] for t in tokens)


# -- a stack of R small pre-LayerNorm causal transformers written with a leading replica axis (no vmap) ------------
def init_stack(replicas: int, vocab: int, d_model: int, layers: int, max_len: int, g: torch.Generator, device=None):
    """Parameters of ``R`` independent causal transformers (token and position embeddings, ``layers`` blocks of
    attention + MLP, linear read-out), as a dict of ``(R, ...)`` tensors that require gradients."""
    R, d = replicas, d_model

    def w(*shape, scale=1.0):
        return (torch.randn(R, *shape, generator=g) * scale).to(device).requires_grad_(True)

    p = {"emb": w(vocab, d), "pos": w(max_len, d), "out": w(d, vocab, scale=d**-0.5)}
    for i in range(layers):
        p[f"qkv{i}"] = w(d, 3 * d, scale=d**-0.5)
        p[f"o{i}"] = w(d, d, scale=(2 * layers * d) ** -0.5)
        p[f"up{i}"] = w(d, 4 * d, scale=d**-0.5)
        p[f"down{i}"] = w(4 * d, d, scale=(8 * layers * d) ** -0.5)
    return p


def stack_logits(p: Dict[str, torch.Tensor], x: torch.Tensor, heads: int = 2) -> torch.Tensor:
    """Logits ``(R, B, T, V)`` of every replica on its own tokens ``x`` ``(R, B, T)`` (causal attention)."""
    R, B, T = x.shape
    d = p["emb"].shape[-1]
    h = p["emb"][torch.arange(R, device=x.device).view(R, 1, 1), x] + p["pos"][:, None, :T]
    causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
    for i in range(sum(k.startswith("qkv") for k in p)):
        a = F.layer_norm(h, (d,))
        q, k, v = torch.einsum("rbtd,rde->rbte", a, p[f"qkv{i}"]).view(R, B, T, 3, heads, -1).unbind(3)
        s = torch.einsum("rbthe,rbshe->rbhts", q, k) / q.shape[-1] ** 0.5
        att = s.masked_fill(~causal, float("-inf")).softmax(-1)
        z = torch.einsum("rbhts,rbshe->rbthe", att, v).reshape(R, B, T, d)
        h = h + torch.einsum("rbtd,rde->rbte", z, p[f"o{i}"])
        m = F.gelu(torch.einsum("rbtd,rde->rbte", F.layer_norm(h, (d,)), p[f"up{i}"]))
        h = h + torch.einsum("rbte,red->rbtd", m, p[f"down{i}"])
    return torch.einsum("rbtd,rdv->rbtv", F.layer_norm(h, (d,)), p["out"])
