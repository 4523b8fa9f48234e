"""Environment: parameter validation, device choice, seeding and the one-line report.

Every chapter calls :func:`setup` in the cell right after its ``parameters`` cell, so a bad
value (``-p scale huge``) fails at once with a message that names the allowed values.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from typing import Any, Mapping

from . import __version__

SCALES = ("ci", "full")
DEVICES = ("auto", "cpu", "cuda")


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised only without torch
        raise ImportError(
            "theorylab chapters need PyTorch. Install it for your machine "
            "(e.g. `pip install torch`); Colab already has it."
        ) from exc
    return torch


def check_choice(name: str, value: Any, allowed: tuple) -> None:
    """Raise ``ValueError`` naming the allowed values when ``value`` is not one of them."""
    if value not in allowed:
        shown = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name} must be one of {shown}; got {value!r}")


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    return seed


def resolve_device(device: str = "auto"):
    """``"auto"`` means CUDA when present, else CPU. Asking for CUDA without one is an error."""
    torch = _torch()
    check_choice("device", device, DEVICES)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device(device)


@dataclass(frozen=True)
class Env:
    """What a chapter runs with. ``pick`` chooses a setting by scale."""

    scale: str
    seed: int
    device: Any
    extras: Mapping[str, Any] = field(default_factory=dict)

    @property
    def full(self) -> bool:
        return self.scale == "full"

    def pick(self, ci: Any, full: Any) -> Any:
        """Return ``ci`` or ``full`` according to the scale."""
        return full if self.scale == "full" else ci

    def generator(self, offset: int = 0):
        """A CPU ``torch.Generator`` seeded with ``seed + offset``.

        Sample on the CPU generator and move the result to ``device``: CPU and GPU runs then see
        the same data.
        """
        torch = _torch()
        return torch.Generator(device="cpu").manual_seed(self.seed + offset)

    def numpy_rng(self, offset: int = 0):
        import numpy as np

        return np.random.default_rng(self.seed + offset)

    def line(self) -> str:
        torch = _torch()
        dev = str(self.device)
        if self.device.type == "cuda":
            dev += f" ({torch.cuda.get_device_name(self.device)})"
        return (
            f"theorylab {__version__} | torch {torch.__version__} | python {platform.python_version()}"
            f" | device {dev} | scale {self.scale} | seed {self.seed}"
        )

    def __str__(self) -> str:  # printed by the chapter's environment cell
        return self.line()


def setup(scale: str = "ci", seed: int = 0, device: str = "auto", *, style: bool = True, **extras) -> Env:
    """Validate a chapter's parameters, choose the device, seed torch and apply the book's plot style.

    ``torch.manual_seed(seed)`` is called so that module initialisations inside the chapter are
    reproducible; data should come from :meth:`Env.generator`.
    """
    torch = _torch()
    check_choice("scale", scale, SCALES)
    check_seed(seed)
    dev = resolve_device(device)
    torch.manual_seed(seed)
    threads = os.environ.get("OMP_NUM_THREADS")
    if threads and threads.isdigit():
        torch.set_num_threads(int(threads))
    if style:
        from .plotting import use_book_style

        use_book_style()
    return Env(scale=scale, seed=seed, device=dev, extras=dict(extras))
