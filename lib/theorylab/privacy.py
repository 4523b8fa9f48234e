"""Privacy accounting for DP-SGD-style training, from opacus's Rényi-DP accountant.

A run is a list of *releases* ``(sigma, sample_rate, steps)``: ``steps`` Gaussian mechanisms, each on a sum of
per-example vectors clipped to norm ``C`` (Poisson-sampled with probability ``sample_rate``; 1 for full-batch),
with noise standard deviation ``sigma * C``. :func:`noise_multiplier` finds the smallest ``sigma`` for a target
``(eps, delta)`` and checks what it spends; :func:`epsilon` is what a run spends.

Rényi orders: opacus's defaults (at most 63, :data:`BASE_ORDERS`) and, when the best order is the largest of
them (small ``eps`` and ``delta``), orders up to 4,000 as well (:data:`ORDERS`). The optimum is then inside
the list; with the defaults alone the accountant cannot certify such budgets. Large orders are slow to
evaluate for subsampled releases, so they are used only when they matter.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Iterable, Sequence, Tuple

import numpy as np

BASE_ORDERS: Tuple[float, ...] = tuple([1 + k / 10 for k in range(1, 100)] + list(range(12, 64)))
ORDERS: Tuple[float, ...] = BASE_ORDERS + tuple(sorted({int(a) for a in np.geomspace(64, 4000, 30)}))


def _spent(releases, delta: float, orders: Sequence[float]) -> Tuple[float, float]:
    from opacus.accountants import RDPAccountant

    if not 0 < delta < 1:
        raise ValueError(f"delta must lie in (0, 1); got {delta!r}")
    acc = RDPAccountant()
    acc.history = [(float(s), float(q), int(n)) for s, q, n in releases]
    with warnings.catch_warnings():  # at the defaults a best order at the top is expected: callers extend
        if orders is BASE_ORDERS:
            warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        eps, best = acc.get_privacy_spent(delta=delta, alphas=list(orders))
    return float(eps), float(best)


def epsilon(releases: Iterable[Sequence[float]], delta: float) -> float:
    """The ``eps`` at ``delta`` that the composition of ``releases`` ``(sigma, sample_rate, steps)`` spends."""
    releases = list(releases)
    eps, best = _spent(releases, delta, BASE_ORDERS)
    return eps if best < BASE_ORDERS[-1] else _spent(releases, delta, ORDERS)[0]


@functools.lru_cache(maxsize=256)
def noise_multiplier(eps: float, delta: float, steps: int, sample_rate: float = 1.0, tolerance: float = 1e-3) -> float:
    """The smallest noise multiplier ``sigma`` (to ``tolerance`` in ``eps``) for ``steps`` releases at
    ``sample_rate`` to spend at most ``(eps, delta)``; ``eps = inf`` gives 0 (no noise). Raises if the
    accountant's own check of the result spends more than ``eps``."""
    from opacus.accountants.utils import get_noise_multiplier

    if eps == math.inf:
        return 0.0
    if not eps > 0:
        raise ValueError(f"eps must be positive or math.inf; got {eps!r}")
    if not 0 < sample_rate <= 1:
        raise ValueError(f"sample_rate must lie in (0, 1]; got {sample_rate!r}")
    if not 0 < delta < 1:
        raise ValueError(f"delta must lie in (0, 1); got {delta!r}")
    for orders in (BASE_ORDERS, ORDERS):
        with warnings.catch_warnings():  # at the defaults a best order at the top is expected: we extend
            if orders is BASE_ORDERS:
                warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
            try:
                sigma = get_noise_multiplier(
                    target_epsilon=eps,
                    target_delta=delta,
                    sample_rate=sample_rate,
                    steps=steps,
                    alphas=list(orders),
                    epsilon_tolerance=tolerance,
                )
            except ValueError:  # opacus: "the privacy budget is too low" for these orders
                if orders is ORDERS:
                    raise
                continue
            spent, best = _spent([(sigma, sample_rate, steps)], delta, orders)
        if best < orders[-1]:
            break
    if spent > eps + 1e-9:
        raise AssertionError(f"sigma = {sigma} spends eps = {spent} > {eps}")
    return float(sigma)
