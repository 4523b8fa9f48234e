import math

import pytest
import torch

from theorylab.papers import nguyen2025improving as svh


def test_hv2d_staircase_and_invariances():
    Y = torch.tensor([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]], dtype=torch.float64)
    ref = torch.tensor([4.0, 4.0], dtype=torch.float64)
    assert float(svh.hv2d(Y, ref)) == pytest.approx(1 + 2 + 3)
    extra = torch.cat([Y, torch.tensor([[3.5, 3.5], [5.0, 0.0]], dtype=torch.float64)])  # dominated, beyond ref
    assert float(svh.hv2d(extra, ref)) == pytest.approx(6.0)
    batch = torch.stack([Y, Y.flip(0)])  # order of points does not matter; batched
    assert torch.allclose(svh.hv2d(batch, ref), torch.tensor([6.0, 6.0], dtype=torch.float64))


def test_true_hv_zdt1_matches_integral():
    r1, r2 = svh.REF["zdt1"]
    exact = r1 * r2 - (r1 - 2 / 3 * r1**1.5)
    assert svh.true_hv("zdt1") == pytest.approx(exact, abs=1e-4)
    assert svh.true_hv("zdt3") > svh.true_hv("zdt1")  # ZDT3's front dips below zero


def test_zdt_rejects_unknown_problem():
    with pytest.raises(ValueError, match="zdt1, zdt3"):
        svh.zdt(torch.zeros(3, 4), "zdt2")


def test_nondominated_mask():
    Y = torch.tensor([[1.0, 3.0], [2.0, 2.0], [2.5, 2.5], [3.0, 1.0]])
    assert svh.nondominated(Y).tolist() == [True, True, False, True]


def test_lhs_is_stratified():
    X = svh.lhs(torch.Generator().manual_seed(0), 2, 10, 3)
    for b in range(2):
        for j in range(3):
            assert sorted((X[b, :, j] * 10).floor().long().tolist()) == list(range(10))


def test_gp_interpolates_and_lcb_lies_below_mean():
    g = torch.Generator().manual_seed(1)
    X = torch.rand(2, 15, 3, generator=g, dtype=torch.float64)
    Y = torch.stack([torch.sin(3 * X[..., 0]), X.sum(-1) ** 2], -1)
    gp = svh.gp_fit(X, Y, math.sqrt(3) * torch.logspace(-1.3, 0.7, 9, dtype=torch.float64))
    assert torch.allclose(svh.gp_lcb(gp, X, beta=0.0), Y, atol=1e-2)
    x = torch.rand(2, 7, 3, generator=g, dtype=torch.float64)
    assert (svh.gp_lcb(gp, x, beta=0.1) <= svh.gp_lcb(gp, x, beta=0.0)).all()


def test_greedy_batch_prefers_largest_improvement():
    Y = torch.tensor([[[1.0, 3.0], [3.0, 1.0]]], dtype=torch.float64)
    C = torch.tensor([[[2.9, 2.9], [2.0, 2.0], [1.5, 1.5]]], dtype=torch.float64)
    assert svh.greedy_batch(Y, C, 1).tolist() == [[2]]
