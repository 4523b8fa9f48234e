"""Datasets that ship inside a pip package (nothing is downloaded), with seeded splits.

Used by chapters that train small models on small real data (digits today; more bundled scikit-learn sets as
chapters need them).
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch

Tensor = torch.Tensor


def load_digits(
    generator: torch.Generator,
    n_train: Optional[int] = None,
    n_test: Optional[int] = None,
    *,
    device=None,
    dtype=torch.float32,
) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """scikit-learn's bundled 8x8 digits (1797 images, 10 classes) as flat vectors in ``[0, 1]``.

    The split is a random permutation drawn from ``generator`` (deterministic for a given seed): the first
    ``n_train`` images train, the next ``n_test`` test (defaults: 1200 and the rest). Returns
    ``x_train (n_train, 64), y_train, x_test (n_test, 64), y_test`` on ``device``.
    """
    from sklearn.datasets import load_digits as _load

    d = _load()
    x = torch.tensor(d.data, dtype=dtype) / 16.0
    y = torch.tensor(d.target, dtype=torch.long)
    n = x.shape[0]
    n_train = 1200 if n_train is None else int(n_train)
    n_test = n - n_train if n_test is None else int(n_test)
    if n_train <= 0 or n_test <= 0 or n_train + n_test > n:
        raise ValueError(f"need 0 < n_train, 0 < n_test and n_train + n_test <= {n}; got {n_train}, {n_test}")
    perm = torch.randperm(n, generator=generator)
    tr, te = perm[:n_train], perm[n_train : n_train + n_test]
    return x[tr].to(device), y[tr].to(device), x[te].to(device), y[te].to(device)


class EpochBatches:
    """Minibatch indices for ``models`` independent runs over ``n`` examples: at the start of every epoch each
    model draws its own random order (``torch.randperm`` on the CPU ``generator``) and walks through it in
    batches of ``batch`` (a last partial batch is dropped). ``batches(step)`` gives the indices ``(models,
    batch)`` on ``device`` for training step ``step`` (the same indices if asked again). Ask for the steps in order from 0:
    an epoch's order is drawn when its first step is asked for, so the generator is used exactly as by a loop
    over epochs that shuffles first. ``per_epoch``: steps per epoch."""

    def __init__(self, n: int, batch: int, models: int, generator: torch.Generator, device=None):
        if not 0 < batch <= n or models < 1:
            raise ValueError(f"need 0 < batch <= n and models >= 1; got n={n}, batch={batch}, models={models}")
        self.n, self.batch, self.models, self.generator, self.device = n, batch, models, generator, device
        self.per_epoch = n // batch
        self._order: Optional[Tensor] = None
        self._epoch = -1

    def __call__(self, step: int) -> Tensor:
        epoch, k = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            if epoch != self._epoch + 1:
                raise ValueError(f"steps must come in order from 0: step {step} after epoch {self._epoch}")
            perms = [torch.randperm(self.n, generator=self.generator) for _ in range(self.models)]
            self._order, self._epoch = torch.stack(perms).to(self.device), epoch
        return self._order[:, k * self.batch : (k + 1) * self.batch]
