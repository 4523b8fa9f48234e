"""Unit tests of theorylab.papers.holzl2023equivariant: invariance, per-sample gradients, bad input."""

import pytest
import torch
import torch.nn.functional as F
from torch.func import grad, vmap

from theorylab.papers import holzl2023equivariant as eqv


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_orbits_and_rotation_permutation():
    assert eqv.ORBITS.sum(0).eq(4).all() and eqv.ORBITS.sum(1).eq(1).all()
    w = torch.randn(5, 9, generator=gen())
    for r in range(4):
        assert torch.equal(w[:, eqv.PERM[r]].view(5, 3, 3), torch.rot90(w.view(5, 3, 3), r, dims=(-2, -1)))


def test_c4_net_is_invariant_and_cnn_is_not():
    x = torch.rand(6, 8, 8, generator=gen(), dtype=torch.float64)
    for kind, expect in (("c4", True), ("cnn", False)):
        s = eqv.spec(kind, 5)
        P = eqv.init(s, 2, gen(1), dtype=torch.float64)
        P["b1"] = P["b1"] + 0.1
        a = eqv.forward(s, P, eqv.patches(x))
        for k in range(1, 4):
            b = eqv.forward(s, P, eqv.patches(eqv.rotate(x, k)))
            assert torch.allclose(a, b, atol=1e-12) == expect


@pytest.mark.parametrize("kind", ["c4", "cnn"])
def test_per_sample_grads_match_torch_func(kind):
    s = eqv.spec(kind, 4)
    P = eqv.init(s, 3, gen(2), dtype=torch.float64)
    P = {k: v + 0.05 * torch.randn(v.shape, generator=gen(3), dtype=v.dtype) for k, v in P.items()}
    x = torch.rand(7, 8, 8, generator=gen(4), dtype=torch.float64)
    z, y = eqv.patches(x), torch.randint(0, 10, (7,), generator=gen(5))

    def loss(p, zi, yi):
        q = {k: v[None] for k, v in p.items()}
        return F.cross_entropy(eqv.forward(s, q, zi[None])[0], yi[None])

    ref = vmap(vmap(grad(loss), in_dims=(None, 0, 0)), in_dims=(0, None, None))(P, z, y)
    ours = eqv.per_sample_grads(s, P, z, y)
    for k in P:
        assert ours[k].shape == ref[k].shape
        assert torch.allclose(ours[k], ref[k], atol=1e-12), k


def test_parameter_count_and_bad_input():
    s = eqv.spec("c4", 16)
    assert eqv.n_params(s) == sum(v[0].numel() for v in eqv.init(s, 1, gen()).values())
    with pytest.raises(ValueError, match="c4, cnn"):
        eqv.spec("d4", 3)
    with pytest.raises(ValueError, match="positive"):
        eqv.spec("cnn", 0)
