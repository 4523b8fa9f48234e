"""theorylab: the shared building blocks of *Deep Learning Theory, Executed*.

A small core (``env``: parameters, device, seeding; ``claims``: the claim checker; ``plotting``; ``widgets``;
``progress``), shared building blocks used by two or more chapters (``training``, ``ensembles``, ``data``,
``metrics``, ``hessian``, the in-context family ``icl``/``prompts``/``baselines``/``transformer``, ``patches``,
``diffusion``, ``adversarial``, ``privacy``), code that serves one chapter in ``theorylab.papers.<bibkey>``,
and ``book`` (the tooling that runs and publishes the book). Submodules load on first use: ``tl.metrics``.
"""

__version__ = "0.2.0"

import importlib as _importlib

from .claims import ClaimDesignError, ClaimFailure, Claims  # noqa: E402
from .env import Env, setup  # noqa: E402
from .widgets import explore  # noqa: E402

_LAZY = {
    "adversarial",
    "baselines",
    "claims",
    "data",
    "diffusion",
    "ensembles",
    "env",
    "hessian",
    "icl",
    "metrics",
    "papers",
    "patches",
    "plotting",
    "privacy",
    "progress",
    "prompts",
    "training",
    "transformer",
    "widgets",
}


def __getattr__(name):
    if name in _LAZY:
        return _importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'theorylab' has no attribute {name!r}")


__all__ = ["setup", "Env", "Claims", "ClaimFailure", "ClaimDesignError", "explore", "__version__"]
