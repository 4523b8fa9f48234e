import math

import torch

from theorylab.papers import hess2023generalized as gtf


def test_lorenz_is_on_the_attractor_and_chaotic_rate():
    g = torch.Generator().manual_seed(0)
    x = gtf.lorenz63(4, 500, 0.02, g)
    assert x.shape == (4, 500, 3)
    assert 10 < float(x[..., 2].mean()) < 35 and float(x[..., 0].abs().max()) < 25


def test_divergences_vanish_on_identical_inputs_and_grow_apart():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(2000, 3, generator=g, dtype=torch.float64)
    b = torch.randn(2000, 3, generator=g, dtype=torch.float64) * 0.3 + 1.5
    pa, pb = gtf.occupancy(a, 10), gtf.occupancy(b, 10)
    assert abs(float(gtf.state_space_kl(pa, pa))) < 1e-12 and float(gtf.state_space_kl(pa, pb)) > 1.0
    sa = gtf.power_spectra(a, smooth=5)
    assert torch.allclose(sa.sum(0), torch.ones(3, dtype=torch.float64))
    assert float(gtf.hellinger(sa, sa)) < 1e-6


def test_lyapunov_of_a_linear_map():
    J = torch.diag(torch.tensor([2.0, 0.5], dtype=torch.float64))
    lam = gtf.max_lyapunov([J] * 50)
    assert abs(float(lam) - math.log(2.0)) < 1e-6
