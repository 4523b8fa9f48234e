"""Tests for theorylab.adversarial: L-inf attacks, per-class accuracy, digits loader, batched MLPs."""

import pytest
import torch

from theorylab import adversarial as adv
from theorylab import data, ensembles, metrics


def _linear(W, b):
    return lambda x: x @ W + b


@pytest.fixture(scope="module")
def digits():
    g = torch.Generator().manual_seed(0)
    return data.load_digits(g, 1200)


@pytest.fixture(scope="module")
def softmax_regression(digits):
    """A trained multinomial logistic regression on digits (a linear classifier)."""
    xtr, ytr, _, _ = digits
    torch.manual_seed(0)
    W = torch.zeros(64, 10, requires_grad=True)
    b = torch.zeros(10, requires_grad=True)
    opt = torch.optim.Adam([W, b], lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        metrics.cross_entropy(xtr @ W + b, ytr, "mean").backward()
        opt.step()
    return W.detach(), b.detach()


def test_digits_loader_split_and_range(digits):
    xtr, ytr, xte, yte = digits
    assert xtr.shape == (1200, 64) and xte.shape == (597, 64)
    assert float(xtr.min()) >= 0.0 and float(xtr.max()) <= 1.0
    assert set(ytr.tolist()) == set(range(10)) and set(yte.tolist()) == set(range(10))
    # deterministic from the generator, and train/test disjoint (no duplicated rows beyond the data's own)
    again = data.load_digits(torch.Generator().manual_seed(0), 1200)
    assert torch.equal(again[0], xtr) and torch.equal(again[3], yte)
    other = data.load_digits(torch.Generator().manual_seed(1), 1200)
    assert not torch.equal(other[0], xtr)
    with pytest.raises(ValueError):
        data.load_digits(torch.Generator().manual_seed(0), 1800)


@pytest.mark.parametrize("attack", ["fgsm", "fgsm_start", "pgd", "pgd_rs"])
def test_perturbations_stay_in_ball_and_range(digits, softmax_regression, attack):
    _, _, x, y = digits
    f = _linear(*softmax_regression)
    eps = 0.15
    g = torch.Generator().manual_seed(3)
    if attack == "fgsm":
        xa = adv.fgsm(f, x, y, eps, generator=g)
    elif attack == "fgsm_start":
        xa = adv.fgsm(f, x, y, eps, start=adv.uniform_noise(x.shape, 3 * eps, g))  # oversized start is projected
    elif attack == "pgd":
        xa = adv.pgd(f, x, y, eps, 7)
    else:
        xa = adv.pgd(f, x, y, eps, 7, random_start=True, generator=g)
    assert (xa - x).abs().max() <= eps + 1e-6
    assert float(xa.min()) >= 0.0 and float(xa.max()) <= 1.0
    assert not xa.requires_grad
    assert (xa - x).abs().max() > 0.5 * eps  # it did move


def test_fgsm_on_two_class_linear_model_is_closed_form_worst_case():
    """For logits x @ W (2 classes) the loss gradient is (p_y - 1)(w_y - w_other): FGSM without a random start
    moves every coordinate by eps * sign(w_other - w_y), which is also the exact worst case of the margin."""
    g = torch.Generator().manual_seed(5)
    d, n, eps = 12, 40, 0.05
    W = torch.randn(d, 2, generator=g, dtype=torch.float64)
    x = 0.2 + 0.6 * torch.rand(n, d, generator=g, dtype=torch.float64)  # far from the range edges
    y = torch.randint(0, 2, (n,), generator=g)
    xa = adv.fgsm(_linear(W, 0.0), x, y, eps, random_start=False)
    w_diff = W[:, 1] - W[:, 0]  # w_1 - w_0
    expected = eps * torch.where(y.unsqueeze(1) == 0, w_diff.sign(), -w_diff.sign())
    assert torch.allclose(xa - x, expected, atol=1e-12)
    # worst case: no corner of the eps-box lowers the margin more than the FGSM point
    margin = lambda z: ((z @ W).gather(1, y.unsqueeze(1)) - (z @ W).gather(1, 1 - y.unsqueeze(1))).squeeze(1)
    for _ in range(20):
        corner = x + eps * torch.randint(0, 2, x.shape, generator=g, dtype=torch.float64).mul(2).sub(1)
        assert (margin(xa) <= margin(corner) + 1e-12).all()
    exact = margin(x) - eps * w_diff.abs().sum()
    assert torch.allclose(margin(xa), exact, atol=1e-12)


def test_pgd_at_least_as_strong_as_fgsm(digits, softmax_regression):
    _, _, x, y = digits
    f = _linear(*softmax_regression)
    for eps in (0.05, 0.1):
        acc_clean = (f(x).argmax(1) == y).float().mean()
        acc_fgsm = (f(adv.fgsm(f, x, y, eps, random_start=False)).argmax(1) == y).float().mean()
        acc_pgd = (f(adv.pgd(f, x, y, eps, 20)).argmax(1) == y).float().mean()
        assert acc_pgd <= acc_fgsm <= acc_clean
        assert acc_clean > 0.9 and acc_pgd < acc_clean - 0.1


def test_per_class_accuracy_sums_back_to_overall():
    g = torch.Generator().manual_seed(2)
    y = torch.randint(0, 5, (3, 200), generator=g)
    pred = torch.where(torch.rand(3, 200, generator=g) < 0.7, y, torch.randint(0, 5, (3, 200), generator=g))
    pc = adv.per_class_accuracy(pred, y, 5)
    assert pc.shape == (3, 5)
    counts = torch.stack([torch.bincount(r, minlength=5) for r in y]).double()
    overall = (pc * counts).sum(-1) / counts.sum(-1)
    assert torch.allclose(overall, (pred == y).double().mean(-1))
    # shared labels broadcast over models; an absent class is NaN
    y1 = torch.tensor([0, 0, 1, 1])
    pc1 = adv.per_class_accuracy(torch.tensor([[0, 1, 1, 1], [0, 0, 0, 0]]), y1, 3)
    assert torch.allclose(pc1[:, :2], torch.tensor([[0.5, 1.0], [1.0, 0.0]], dtype=torch.float64))
    assert torch.isnan(pc1[:, 2]).all()


def test_cross_entropy_hard_and_soft_targets_agree():
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(2, 6, 4, generator=g)
    y = torch.randint(0, 4, (2, 6), generator=g)
    ref = torch.nn.functional.cross_entropy(logits.reshape(-1, 4), y.reshape(-1), reduction="sum")
    assert torch.allclose(metrics.cross_entropy(logits, y), ref)
    soft = torch.nn.functional.one_hot(y, 4).float()
    assert torch.allclose(metrics.cross_entropy(logits, soft, "none"), adv.cross_entropy(logits, y, "none"))
    with pytest.raises(ValueError):
        metrics.cross_entropy(logits, y, "avg")


def test_batched_mlps_are_independent_and_match_single_models():
    g = torch.Generator().manual_seed(7)
    params = ensembles.init_mlps(3, [64, 16, 10], g)
    assert [tuple(p.shape) for p in params] == [(3, 64, 16), (3, 1, 16), (3, 16, 10), (3, 1, 10)]
    x = torch.rand(3, 5, 64, generator=g)
    out = ensembles.mlp_forward(params, x)
    m = 1
    single = torch.relu(x[m] @ params[0][m] + params[1][m]) @ params[2][m] + params[3][m]
    assert torch.allclose(out[m], single, atol=1e-6)
    # the input gradient of the summed loss is each model's own gradient (no cross-talk)
    y = torch.randint(0, 10, (3, 5), generator=g)
    xr = x.clone().requires_grad_(True)
    (gsum,) = torch.autograd.grad(metrics.cross_entropy(ensembles.mlp_forward(params, xr), y), xr)
    x1 = x[m].clone().requires_grad_(True)
    f1 = torch.relu(x1 @ params[0][m] + params[1][m]) @ params[2][m] + params[3][m]
    (g1,) = torch.autograd.grad(metrics.cross_entropy(f1, y[m]), x1)
    assert torch.allclose(gsum[m], g1, atol=1e-6)


def test_margin_is_positive_exactly_on_mistakes():
    z = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
    y = torch.tensor([0, 0])
    assert torch.allclose(adv.margin(z, y), torch.tensor([-1.0, 3.0]))


def test_margin_pgd_is_at_least_as_strong_and_stays_in_ball(digits, softmax_regression):
    _, _, xte, yte = digits
    f = _linear(*softmax_regression)
    x, y = xte[:200], yte[:200]
    xm = adv.pgd(f, x, y, 0.1, 10, loss="margin")
    assert float((xm - x).abs().amax()) <= 0.1 + 1e-6
    assert float((f(xm).argmax(-1) == y).float().mean()) < float((f(x).argmax(-1) == y).float().mean())
    with pytest.raises(ValueError, match="ce, margin"):
        adv.pgd(f, x, y, 0.1, 10, loss="hinge")


def test_per_model_radius_equals_separate_attacks(digits, softmax_regression):
    """One attack with a radius per model (shape (models, 1, 1)) equals one attack per radius."""
    _, _, xte, yte = digits
    f = _linear(*softmax_regression)
    radii = [0.05, 0.2]
    x, y = xte[:50].expand(2, -1, -1), yte[:50].expand(2, -1)
    eps = torch.tensor(radii).view(-1, 1, 1)
    both = adv.pgd(f, x, y, eps, 5, step=eps / 4, random_start=True, generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(1)
    noise = adv.uniform_noise(x.shape, 1.0, g)
    for i, r in enumerate(radii):
        xa = (x[i] + noise[i] * r).clamp(0, 1)
        for _ in range(5):
            xa = adv._project(xa + r / 4 * adv._input_grad(f, xa, y[i]).sign(), x[i], r, 0.0, 1.0)
        assert torch.allclose(both[i], xa, atol=1e-6)
        assert float((both[i] - x[i]).abs().amax()) <= r + 1e-6
