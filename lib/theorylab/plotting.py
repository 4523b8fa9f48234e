"""One plot style for the book: modest PNG figures (small stored notebooks, identical re-runs)."""

from __future__ import annotations

from typing import Optional, Sequence

BOOK_STYLE = {
    "figure.dpi": 90,
    "savefig.dpi": 90,
    "figure.figsize": (6.4, 3.6),
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "lines.linewidth": 1.6,
    "image.cmap": "RdBu_r",
    "svg.hashsalt": "theorylab",
}

# A colour-blind-safe cycle (Okabe-Ito).
COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]


def use_book_style() -> None:
    """Apply the book style to matplotlib and make inline figures PNG (nbval ignores PNG)."""
    import matplotlib as mpl
    from cycler import cycler

    mpl.rcParams.update(BOOK_STYLE)
    mpl.rcParams["axes.prop_cycle"] = cycler(color=COLORS)
    try:
        from IPython import get_ipython

        if get_ipython() is not None:
            from matplotlib_inline.backend_inline import set_matplotlib_formats

            set_matplotlib_formats("png")
    except ImportError:  # pragma: no cover
        pass


def subplots(ncols: int = 1, nrows: int = 1, *, width: float = 3.4, height: float = 2.8, **kw):
    """``plt.subplots`` sized per panel, with ``constrained_layout``."""
    import matplotlib.pyplot as plt

    kw.setdefault("constrained_layout", True)
    kw.setdefault("squeeze", False)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), **kw)
    return fig, axes if not kw["squeeze"] else axes


def heatmap(ax, matrix, *, title: str = "", symmetric: bool = True, labels: Optional[Sequence[str]] = None):
    """A matrix as an image with a symmetric colour scale around zero."""
    import numpy as np

    m = np.asarray(matrix, dtype=float)
    lim = float(np.abs(m).max()) or 1.0
    im = ax.imshow(m, vmin=-lim if symmetric else None, vmax=lim if symmetric else None)
    ax.set_title(title)
    ax.grid(False)
    if labels is not None:
        ax.set_xticks(range(len(labels)), labels)
        ax.set_yticks(range(len(labels)), labels)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    ax.figure.colorbar(im, ax=ax, shrink=0.8)
    return im
