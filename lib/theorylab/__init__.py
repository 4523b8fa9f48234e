"""theorylab: the shared building blocks of *Deep Learning Theory, Executed*.

Organised by building block: ``env`` (parameters, device, seeding), ``claims`` (the claim checker),
``training``, ``metrics``, ``plotting``, ``widgets``, ``progress``, the research blocks (``icl``,
``deeplinear``, ``hdlinear``, ...) and ``book`` (the tooling that runs and publishes the book).
"""
__version__ = "0.1.0"

from . import claims, env, metrics, plotting, progress, training, widgets  # noqa: E402
from .claims import ClaimFailure, Claims  # noqa: E402
from .env import Env, setup  # noqa: E402
from .widgets import explore  # noqa: E402

__all__ = ["setup", "Env", "Claims", "ClaimFailure", "explore", "claims", "env", "metrics", "plotting",
           "progress", "training", "widgets", "__version__"]
