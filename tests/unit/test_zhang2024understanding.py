"""Chapter 19's paper module: the InfoNCE objective."""

import math

import torch

from theorylab.papers import zhang2024understanding as simclr


def test_info_nce():
    z = torch.eye(4, dtype=torch.float64) * 10
    perfect = simclr.info_nce(z, z, temperature=0.1)
    shuffled = simclr.info_nce(z, z.roll(1, dims=0), temperature=0.1)
    assert float(perfect) < 1e-3 < float(shuffled)
    # identical embeddings for all rows: loss = log(n)
    same = torch.ones(2, 5, 3, dtype=torch.float64)
    assert torch.allclose(simclr.info_nce(same, same), torch.full((2,), math.log(5), dtype=torch.float64))
    one_way = simclr.info_nce(z, z.roll(1, dims=0), symmetric=False)
    assert one_way.shape == ()
