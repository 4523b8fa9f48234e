"""Tests for theorylab.privacy: noise multipliers and spent budgets from opacus's RDP accountant."""

import math

import pytest

from theorylab import privacy


def test_noise_multiplier_spends_at_most_the_budget_and_is_nearly_tight():
    for eps, q, steps in [(2.0, 0.05, 100), (8.0, 1.0, 50), (0.5, 1.0, 50)]:
        sigma = privacy.noise_multiplier(eps, 1e-5, steps, q)
        spent = privacy.epsilon([(sigma, q, steps)], 1e-5)
        assert spent <= eps and spent >= eps - 2e-3, (eps, spent)
        # 2 % less noise overspends: sigma is the smallest that fits
        assert privacy.epsilon([(0.98 * sigma, q, steps)], 1e-5) > eps


def test_more_budget_less_noise_and_no_noise_at_infinity():
    sigmas = [privacy.noise_multiplier(e, 1e-5, 60, 0.1) for e in (1.0, 2.0, 4.0)]
    assert sigmas[0] > sigmas[1] > sigmas[2] > 0
    assert privacy.noise_multiplier(math.inf, 1e-5, 60, 0.1) == 0.0


def test_small_budgets_use_large_orders():
    """At eps = 0.036 and delta = 1e-7 the best Renyi order lies far above 63: opacus's defaults alone fail."""
    sigma = privacy.noise_multiplier(0.0357, 1e-7, 100, 0.064)
    _, best = privacy._spent([(sigma, 0.064, 100)], 1e-7, privacy.ORDERS)
    assert best > privacy.BASE_ORDERS[-1]
    assert privacy.epsilon([(sigma, 0.064, 100)], 1e-7) <= 0.0357


def test_composition_adds_up():
    """Two runs of T/2 releases spend what one run of T spends."""
    whole = privacy.epsilon([(3.0, 1.0, 40)], 1e-5)
    assert privacy.epsilon([(3.0, 1.0, 10), (3.0, 1.0, 30)], 1e-5) == pytest.approx(whole, abs=1e-12)


@pytest.mark.parametrize(
    "kw, word",
    [
        (dict(eps=0.0), "eps"),
        (dict(eps=-1.0), "eps"),
        (dict(sample_rate=0.0), "sample_rate"),
        (dict(delta=1.5), "delta"),
    ],
)
def test_bad_input_names_the_allowed_values(kw, word):
    args = dict(eps=1.0, delta=1e-5, steps=10, sample_rate=0.1) | kw
    with pytest.raises(ValueError, match=word):
        privacy.noise_multiplier(**args)
