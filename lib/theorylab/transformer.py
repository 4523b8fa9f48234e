"""A small configurable transformer for in-context experiments.

Pre-LayerNorm residual blocks ``h <- h + Attn(LN(h))``, ``h <- h + MLP(LN(h))`` with

* ``attention="softmax"``: ``softmax(Q K^T / sqrt(d_head) + mask) V``;
* ``attention="linear"``: ``(Q K^T * mask) V / n_keys`` (no softmax; each query averages over the keys it sees),

any depth and number of heads, an optional MLP (``mlp=False``: attention-only), optional LayerNorm
(``norm=False``: plain residual stream), optional learned positions, and a linear read-out at every position.

Masks say which keys each position attends to: :func:`causal_mask` (GPT-style prompts ``x_1, y_1, x_2, ...``),
:func:`context_mask` (every position attends to the first ``n_ctx`` tokens only, plus itself: many queries
evaluated at once without seeing each other), :func:`prefix_mask` (query ``j`` sees only the first ``n_j`` context
tokens: every context length in one pass). A mask may also be ``(B, 1, T, T)``, one per prompt (it broadcasts). A mask is a boolean ``(T, T)`` tensor, ``True`` = may attend.
"""

from __future__ import annotations

import math
from typing import List, Optional

import torch
from torch import Tensor, nn

ATTENTIONS = ("softmax", "linear")


def causal_mask(t: int, device=None) -> Tensor:
    return torch.ones(t, t, dtype=torch.bool, device=device).tril()


def context_mask(t: int, n_ctx: int, device=None) -> Tensor:
    """Position ``j`` attends to keys ``0..n_ctx-1`` and to itself."""
    if not 0 < n_ctx <= t:
        raise ValueError(f"n_ctx must be in 1..{t}; got {n_ctx}")
    m = torch.zeros(t, t, dtype=torch.bool, device=device)
    m[:, :n_ctx] = True
    return m | torch.eye(t, dtype=torch.bool, device=device)


def prefix_mask(n_ctx: int, query_ns, device=None) -> Tensor:
    """Causal among the first ``n_ctx`` (context) tokens; query token ``j`` (position ``n_ctx + j``) attends to the
    first ``query_ns[j]`` context tokens and to itself. One forward pass then answers a query for every context
    length in ``query_ns`` (e.g. ``range(n_ctx + 1)``)."""
    query_ns = [int(n) for n in query_ns]
    if any(not 0 <= n <= n_ctx for n in query_ns):
        raise ValueError(f"every entry of query_ns must lie in 0..{n_ctx}; got {query_ns}")
    t = n_ctx + len(query_ns)
    m = torch.zeros(t, t, dtype=torch.bool)
    m[:n_ctx, :n_ctx] = torch.ones(n_ctx, n_ctx, dtype=torch.bool).tril()
    for j, n in enumerate(query_ns):
        m[n_ctx + j, :n] = True
        m[n_ctx + j, n_ctx + j] = True
    return m.to(device)


class Attention(nn.Module):
    def __init__(self, d_model: int, heads: int, attention: str = "softmax", bias: bool = False):
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {', '.join(ATTENTIONS)}; got {attention!r}")
        if d_model % heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by heads ({heads})")
        self.heads, self.d_head, self.kind = heads, d_model // heads, attention
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.out = nn.Linear(d_model, d_model, bias=bias)
        self.last_weights: Optional[Tensor] = None  # (B, heads, T, T) of the last call when record=True

    def forward(self, h: Tensor, mask: Optional[Tensor] = None, record: bool = False) -> Tensor:
        b, t, _ = h.shape
        q, k, v = self.qkv(h).view(b, t, 3, self.heads, self.d_head).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2)  # (B, H, T, T)
        if self.kind == "softmax":
            scores = scores / math.sqrt(self.d_head)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = scores.softmax(-1)
        else:
            n_keys = mask.sum(-1, keepdim=True).clamp(min=1) if mask is not None else torch.tensor(float(t))
            weights = (scores * mask if mask is not None else scores) / n_keys
        if record:
            self.last_weights = weights.detach()
        return self.out((weights @ v).transpose(1, 2).reshape(b, t, -1))


class Block(nn.Module):
    def __init__(self, d_model: int, heads: int, attention: str, mlp: bool, mlp_ratio: int, norm: bool):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model) if norm else nn.Identity()
        self.attn = Attention(d_model, heads, attention)
        self.ln2 = nn.LayerNorm(d_model) if (norm and mlp) else nn.Identity()
        self.mlp = (
            nn.Sequential(nn.Linear(d_model, mlp_ratio * d_model), nn.GELU(), nn.Linear(mlp_ratio * d_model, d_model))
            if mlp
            else None
        )

    def forward(self, h: Tensor, mask: Optional[Tensor] = None, record: bool = False) -> Tensor:
        h = h + self.attn(self.ln1(h), mask, record)
        if self.mlp is not None:
            h = h + self.mlp(self.ln2(h))
        return h


class Transformer(nn.Module):
    """``Transformer(d_in, d_out)(tokens (B, T, d_in), mask) -> (B, T, d_out)``.

    ``forward(..., hidden=True)`` also returns the list of residual-stream states after the embedding and after
    each block (for layer-wise read-outs, e.g. probing which iterate of an algorithm each layer holds).
    """

    def __init__(
        self,
        d_in: int,
        d_out: int = 1,
        *,
        d_model: int = 64,
        layers: int = 2,
        heads: int = 4,
        attention: str = "softmax",
        mlp: bool = True,
        mlp_ratio: int = 4,
        norm: bool = True,
        max_len: Optional[int] = None,
    ):
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1; got {layers}")
        self.embed = nn.Linear(d_in, d_model)
        self.pos = nn.Parameter(torch.zeros(max_len, d_model)) if max_len else None
        if self.pos is not None:
            nn.init.normal_(self.pos, std=0.02)
        self.blocks = nn.ModuleList(Block(d_model, heads, attention, mlp, mlp_ratio, norm) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d_model) if norm else nn.Identity()
        self.head = nn.Linear(d_model, d_out)

    def forward(self, tokens: Tensor, mask: Optional[Tensor] = None, *, hidden: bool = False, record: bool = False):
        h = self.embed(tokens)
        if self.pos is not None:
            t = tokens.shape[-2]
            if t > self.pos.shape[0]:
                raise ValueError(f"sequence of {t} tokens is longer than max_len={self.pos.shape[0]}")
            h = h + self.pos[:t]
        states: List[Tensor] = [h]
        for block in self.blocks:
            h = block(h, mask, record)
            states.append(h)
        out = self.head(self.ln_f(h))
        return (out, states) if hidden else out

    def attention_maps(self) -> List[Optional[Tensor]]:
        """Each layer's attention weights from the last ``forward(..., record=True)``."""
        return [b.attn.last_weights for b in self.blocks]


def interleave(x: Tensor, y: Tensor) -> Tensor:
    """GPT-style prompt ``x_1, y_1, x_2, y_2, ...`` as tokens of width ``d+1``: ``[x_i, 0]`` then ``[0, y_i]``;
    ``(B, n, d)``, ``(B, n)`` -> ``(B, 2n, d+1)``. Predict ``y_i`` from the output at the ``x_i`` token
    (positions ``0, 2, 4, ...``) under a :func:`causal_mask`."""
    b, n, d = x.shape
    xs = torch.cat([x, torch.zeros(b, n, 1, dtype=x.dtype, device=x.device)], -1)
    ys = torch.cat([torch.zeros(b, n, d, dtype=x.dtype, device=x.device), y.unsqueeze(-1)], -1)
    return torch.stack([xs, ys], dim=2).reshape(b, 2 * n, d + 1)
