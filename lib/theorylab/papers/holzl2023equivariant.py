"""Rotation-equivariant and standard one-layer CNNs on 8x8 images, with exact per-sample gradients, for
the chapter on Hölzl, Rueckert & Kaissis (2023), *Equivariant differentially private deep learning*.

Conventions (used by the chapter and the unit tests):

* An image is ``(8, 8)``; ``patches(x)`` turns a batch ``(n, 8, 8)`` into its zero-padded 3x3 patches
  ``(n, 64, 9)`` (row-major positions, row-major patch entries). A 3x3 filter bank is then a matrix product.
* A network is a ``spec`` (``kind`` "c4" or "cnn", ``width`` c) and a parameter dict of tensors with a leading
  model dimension M (replicas trained side by side, e.g. one per privacy budget):
  ``w1 (M, c, 9)``, ``b1 (M, c)``, ``w3 (M, m*c, 10)``, ``b3 (M, 10)``.
* "cnn": ``c`` free 3x3 filters, ReLU, the 64 x c feature map flattened into a linear classifier (m = 64).
* "c4": each free filter is used in its 4 rotations by 90 degrees (weight sharing over the group C4);
  ReLU of the maximum over the 4 rotations gives a map that rotates with the input; summing it over the 16
  orbits of the 8x8 grid under rotation (m = 16) gives features that are exactly invariant to rotating the
  input by any multiple of 90 degrees.
* ``per_sample_grads`` returns the gradient of each example's cross-entropy, for every model, in closed form;
  it equals ``torch.func.vmap(torch.func.grad(...))`` (checked in the unit tests and in the chapter).
"""

from __future__ import annotations

import math
from typing import Dict

import torch
import torch.nn.functional as F

Tensor = torch.Tensor
KINDS = ("c4", "cnn")


def rotate(x: Tensor, k) -> Tensor:
    """Rotate the last two dimensions by k quarter turns (k an int, or a tensor of ints, one per image)."""
    if isinstance(k, int):
        return torch.rot90(x, k, dims=(-2, -1))
    out = x.clone()
    for r in range(1, 4):
        sel = k == r
        out[sel] = torch.rot90(x[sel], r, dims=(-2, -1))
    return out


def patches(x: Tensor) -> Tensor:
    """(n, 8, 8) images -> (n, 64, 9) zero-padded 3x3 patches."""
    return F.unfold(x.reshape(-1, 1, 8, 8), 3, padding=1).transpose(1, 2)


_idx = torch.arange(9).view(3, 3)
PERM = torch.stack([torch.rot90(_idx, r).flatten() for r in range(4)])  # rotated filter r = w[..., PERM[r]]
_INV = torch.argsort(PERM, dim=1)
_pos = torch.arange(64).view(8, 8)
_rep = torch.stack([torch.rot90(_pos, r).flatten() for r in range(4)]).amin(0)
ORBITS = F.one_hot(torch.unique(_rep, return_inverse=True)[1], 16).float()  # (64 positions, 16 orbits)


def spec(kind: str, width: int) -> Dict:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if int(width) < 1:
        raise ValueError(f"width must be a positive integer; got {width!r}")
    return dict(kind=kind, width=int(width), rotations=4 if kind == "c4" else 1, m=16 if kind == "c4" else 64)


def n_params(s: Dict) -> int:
    c = s["width"]
    return 9 * c + c + s["m"] * c * 10 + 10


def init(s: Dict, n_models: int, g: torch.Generator, dtype=torch.float32) -> Dict[str, Tensor]:
    """The same initialisation (drawn once from g) copied into n_models replicas."""
    c, f = s["width"], s["m"] * s["width"]
    p = dict(
        w1=torch.randn(c, 9, generator=g, dtype=dtype) / 3.0,
        b1=torch.zeros(c, dtype=dtype),
        w3=torch.randn(f, 10, generator=g, dtype=dtype) / math.sqrt(f),
        b3=torch.zeros(10, dtype=dtype),
    )
    return {k: v.expand(n_models, *v.shape).clone() for k, v in p.items()}


def _pool(s, h):
    """Sum a map (..., 64, c) over the orbits (c4: (..., 16, c)); the identity for the standard CNN."""
    return torch.einsum("...pc,pq->...qc", h, ORBITS.to(h)) if s["kind"] == "c4" else h


def _unpool(s, df):
    return torch.einsum("...qc,pq->...pc", df, ORBITS.to(df)) if s["kind"] == "c4" else df


def features(s: Dict, P: Dict[str, Tensor], z: Tensor):
    """Pre-activations (M,B,64,c,R), ReLU map h (M,B,64,c), the winning rotation, pooled features (M,B,m,c)."""
    M, c, R = P["w1"].shape[0], s["width"], s["rotations"]
    W = P["w1"][:, :, PERM[:R].to(z.device)]  # (M, c, R, 9): the filter in each rotation
    pre = (z.reshape(-1, 9) @ W.reshape(-1, 9).T).view(*z.shape[:2], M, c, R).permute(2, 0, 1, 3, 4)
    top, arg = (pre + P["b1"][:, None, None, :, None]).max(-1)
    h = torch.relu(top)
    return h, arg, _pool(s, h)


def forward(s: Dict, P: Dict[str, Tensor], z: Tensor) -> Tensor:
    """Logits (M, B, 10) of every model on every patch batch z (B, 64, 9)."""
    f = features(s, P, z)[2]
    return torch.einsum("mbf,mfo->mbo", f.flatten(2), P["w3"]) + P["b3"][:, None]


def per_sample_grads(s: Dict, P: Dict[str, Tensor], z: Tensor, y: Tensor) -> Dict[str, Tensor]:
    """Gradient of each example's cross-entropy for every model: dict of (M, B, *param shape)."""
    h, arg, f = features(s, P, z)
    logits = torch.einsum("mbf,mfo->mbo", f.flatten(2), P["w3"]) + P["b3"][:, None]
    d = torch.softmax(logits, -1) - F.one_hot(y, 10).to(logits)  # (M, B, 10)
    g_w3 = torch.einsum("mbf,mbo->mbfo", f.flatten(2), d)
    df = torch.einsum("mbo,mfo->mbf", d, P["w3"]).view(f.shape)
    dh = _unpool(s, df) * (h > 0)
    R = s["rotations"]
    if R == 1:
        g_w1 = torch.einsum("mbpc,bpk->mbck", dh, z)
    else:  # the gradient reaches the filter through the winning rotation only; rotate it back
        dW = torch.einsum("mbpcr,bpk->mbcrk", dh[..., None] * F.one_hot(arg, R).to(dh), z)  # (M,B,c,R,9)
        g_w1 = dW[:, :, :, torch.arange(R, device=z.device)[:, None], _INV[:R].to(z.device)].sum(3)
    return dict(w1=g_w1, b1=dh.sum(2), w3=g_w3, b3=d)


def accuracy(s: Dict, P: Dict[str, Tensor], z: Tensor, y: Tensor) -> Tensor:
    """Test accuracy of every model, (M,)."""
    return (forward(s, P, z).argmax(-1) == y).float().mean(-1)
