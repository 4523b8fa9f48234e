"""A synthetic image-text matching task for comparing late fusion (a dual encoder) with early fusion
(cross-attention): scenes of coloured shapes on a grid of slots, three-token captions, their true and
hard-negative pairs, training batches and the read-out metrics (chapter 3, Wang et al., *Advanced multimodal deep
learning architecture for image-text matching*).

* An image is an ``S x S`` grid of slots (``R = S^2``); a slot is an RGB patch of ``PX x PX`` pixels that is empty
  or holds one object, one of ``NC`` colours times ``NSH`` shapes (``N = NC * NSH`` types), plus pixel noise.
* A caption is ``(place, colour, shape)``; caption index ``place * N + type`` with ``type = colour * NSH + shape``.
  It matches an image iff that slot holds that type.
* Hard negatives: false captions one token away from a true one, or a colour and a shape that both occur in the
  scene put in the wrong combination or place.

Everything is a plain function of tensors; :class:`Task` carries the sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Task", "COLOUR_NAMES", "SHAPE_NAMES", "n_params"]

COLOUR_NAMES = ("red", "green", "blue", "yellow")
SHAPE_NAMES = ("ring", "disc", "plus", "cross")


def _shapes(px: int):
    c = (px - 1) / 2
    y, x = torch.meshgrid(torch.arange(px) - c, torch.arange(px) - c, indexing="ij")
    return torch.stack(
        [
            ((x.abs() > c - 0.9) | (y.abs() > c - 0.9)).float(),  # ring (hollow square)
            ((x**2 + y**2) <= (c * 0.9) ** 2).float(),  # disc
            ((x.abs() < 0.6) | (y.abs() < 0.6)).float(),  # plus
            (((x - y).abs() < 0.6) | ((x + y).abs() < 0.6)).float(),  # cross
        ]
    )


@dataclass(frozen=True)
class Task:
    """Sizes of the matching task: ``S x S`` slots of ``px x px`` pixels, pixel noise ``noise``."""

    S: int = 3
    px: int = 6
    noise: float = 0.25
    NC: int = 4
    NSH: int = 4

    def __post_init__(self):
        if self.S < 1 or self.px < 3:
            raise ValueError(f"need S >= 1 and px >= 3; got S={self.S}, px={self.px}")
        if not (1 <= self.NC <= len(COLOUR_NAMES) and 1 <= self.NSH <= len(SHAPE_NAMES)):
            raise ValueError(f"NC must be in 1..{len(COLOUR_NAMES)} and NSH in 1..{len(SHAPE_NAMES)}")

    @property
    def R(self) -> int:
        return self.S * self.S

    @property
    def N(self) -> int:
        return self.NC * self.NSH

    @property
    def n_captions(self) -> int:
        return self.R * self.N

    @property
    def pixels(self) -> int:
        return 3 * self.px * self.px

    def captions(self):
        """``(R * N, 3)`` long tensor of every caption's ``(place, colour, shape)`` tokens."""
        t = torch.arange(self.N).repeat(self.R)
        return torch.stack([torch.arange(self.R).repeat_interleave(self.N), t // self.NSH, t % self.NSH], -1)

    def sample(self, n: int, n_objects: int, generator):
        """``(types, pixels)``: ``types`` (n, R) object type per slot or -1 if empty; ``pixels`` (n, R, 3 px^2)."""
        if not 1 <= n_objects <= self.R:
            raise ValueError(f"n_objects must be in 1..{self.R}; got {n_objects}")
        types = torch.randint(self.N, (n, self.R), generator=generator)
        if n_objects < self.R:
            order = torch.rand(n, self.R, generator=generator).argsort(1)
            types = torch.where(order < n_objects, types, -1)
        t = types.clamp_min(0)
        colours = torch.tensor([[1.0, 0, 0], [0, 0.8, 0], [0.1, 0.3, 1.0], [1.0, 0.85, 0]])[: self.NC]
        img = colours[t // self.NSH][..., :, None, None] * _shapes(self.px)[t % self.NSH][..., None, :, :]
        img = img * (types >= 0)[..., None, None, None]
        img = img + self.noise * torch.randn(img.shape, generator=generator)
        return types, img.reshape(n, self.R, -1)

    def match_matrix(self, types):
        """``(n, R * N)`` bool: caption ``(r, type)`` matches iff slot ``r`` holds that type."""
        return (types.unsqueeze(-1) == torch.arange(self.N)).reshape(len(types), self.n_captions)

    def hard_negatives(self, types):
        """``(n, R * N)`` bool: false captions that are near misses (one token off a true caption) or plausible
        bindings (a colour and a shape that both occur in the scene, wrongly combined or placed)."""
        n, valid, t = len(types), types >= 0, types.clamp_min(0)
        true = self.match_matrix(types)
        has_c = torch.zeros(n, self.NC, dtype=torch.bool).scatter_(1, t // self.NSH, valid)
        has_s = torch.zeros(n, self.NSH, dtype=torch.bool).scatter_(1, t % self.NSH, valid)
        plausible = (has_c[:, :, None] & has_s[:, None, :]).reshape(n, self.N).repeat(1, self.R)
        tr = true.reshape(n, self.R, self.NC, self.NSH)
        near = (
            tr.any(1, keepdim=True).expand_as(tr)  # same object, another place
            | tr.any(2, keepdim=True).expand_as(tr)  # same place and shape, another colour
            | tr.any(3, keepdim=True).expand_as(tr)  # same place and colour, another shape
        ).reshape(n, self.n_captions)
        return (plausible | near) & ~true

    def candidates(self, types, generator):
        """For each image one true caption (index 0), then the ``N - 1`` other captions about its place and the same
        object at the ``R - 1`` other places: ``idx`` (n, N + R - 1) and ``keep`` (False for other true captions,
        which are not negatives)."""
        true = self.match_matrix(types)
        pos = torch.multinomial(true.float() + 1e-9, 1, generator=generator).squeeze(1)
        r, t = pos // self.N, pos % self.N
        alt_t = (torch.arange(self.N)[None, :] + torch.arange(self.N)[:, None]) % self.N  # row t: t first
        alt_r = (torch.arange(self.R)[None, :] + torch.arange(self.R)[:, None]) % self.R
        idx = torch.cat([r[:, None] * self.N + alt_t[t], alt_r[r][:, 1:] * self.N + t[:, None]], 1)
        keep = ~true.gather(1, idx)
        keep[:, 0] = True
        return idx, keep

    def readout_accuracy(self, scores, types) -> float:
        """Per occupied slot: is the true caption the top one among the ``N`` captions about that slot?"""
        pred = scores.reshape(len(types), self.R, self.N).argmax(-1)
        return float((pred == types)[types >= 0].float().mean())

    def hard_negative_accuracy(self, scores, types) -> float:
        """Fraction of (true caption, hard negative) pairs of the same image in which the true caption wins."""
        pairs = self.match_matrix(types)[:, :, None] & self.hard_negatives(types)[:, None, :]
        return float(((scores[:, :, None] > scores[:, None, :]) & pairs).sum() / pairs.sum())

    def ideal_rank(self) -> int:
        """Rank of the ideal matcher's score matrix ``a * match + b`` over all full scenes: ``R (N - 1) + 1``."""
        return self.R * (self.N - 1) + 1

    def caption_text(self, idx: int) -> str:
        r, c, s = self.captions()[idx].tolist()
        return f"slot {r}: {COLOUR_NAMES[c]} {SHAPE_NAMES[s]}"

    def show(self, ax, pixels, title: str = ""):
        """Draw one scene (pixels ``(R, 3 px^2)``) on a matplotlib axis."""
        S, px = self.S, self.px
        im = pixels.reshape(S, S, 3, px, px).permute(0, 3, 1, 4, 2).reshape(S * px, S * px, 3)
        ax.imshow(im.clamp(0, 1).cpu().numpy())
        for i in range(1, S):
            ax.axhline(i * px - 0.5, color="w", lw=1)
            ax.axvline(i * px - 0.5, color="w", lw=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        ax.set_title(title, fontsize=9)


def n_params(params) -> int:
    """Parameters of one model in a bank (leading axis = models)."""
    return int(sum(p[0].numel() for p in params))
