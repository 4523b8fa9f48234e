"""theorylab.transformer: shapes, masks, determinism, and that it learns a trivial in-context task."""

import pytest
import torch

from theorylab.transformer import Transformer, causal_mask, context_mask, interleave, prefix_mask


def test_masks():
    assert causal_mask(3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    m = context_mask(4, 2)
    assert m[3].tolist() == [True, True, False, True] and m[0].tolist() == [True, True, False, False]
    with pytest.raises(ValueError):
        context_mask(3, 0)
    p = prefix_mask(3, [0, 2])
    assert p.shape == (5, 5)
    assert p[:3, :3].tolist() == causal_mask(3).tolist() and not p[:3, 3:].any()
    assert p[3].tolist() == [False, False, False, True, False]
    assert p[4].tolist() == [True, True, False, False, True]
    with pytest.raises(ValueError, match="0..3"):
        prefix_mask(3, [4])


@pytest.mark.parametrize("attention", ["softmax", "linear"])
@pytest.mark.parametrize("mlp,norm", [(True, True), (False, False)])
def test_shapes_hidden_states_and_causality(attention, mlp, norm):
    torch.manual_seed(0)
    net = Transformer(3, 2, d_model=16, layers=3, heads=2, attention=attention, mlp=mlp, norm=norm, max_len=8)
    x = torch.randn(5, 6, 3)
    out, states = net(x, causal_mask(6), hidden=True, record=True)
    assert out.shape == (5, 6, 2) and len(states) == 4 and states[-1].shape == (5, 6, 16)
    assert all(w.shape == (5, 2, 6, 6) for w in net.attention_maps())
    x2 = x.clone()
    x2[:, 4:] += 1.0  # changing later tokens leaves earlier outputs alone
    assert torch.allclose(net(x2, causal_mask(6))[:, :4], out[:, :4], atol=1e-6)
    with pytest.raises(ValueError, match="max_len"):
        net(torch.randn(1, 9, 3))


def test_bad_arguments_name_the_allowed_values():
    with pytest.raises(ValueError, match="softmax, linear"):
        Transformer(2, attention="relu")
    with pytest.raises(ValueError, match="divisible"):
        Transformer(2, d_model=10, heads=3)


def test_interleave():
    x = torch.arange(6.0).view(1, 3, 2)
    y = torch.tensor([[10.0, 11.0, 12.0]])
    t = interleave(x, y)
    assert t.shape == (1, 6, 3)
    assert t[0, 0].tolist() == [0.0, 1.0, 0.0] and t[0, 1].tolist() == [0.0, 0.0, 10.0]


def test_learns_to_copy_the_context_mean():
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    net = Transformer(1, 1, d_model=16, layers=1, heads=1, attention="softmax", mlp=False, norm=False)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    mask = context_mask(9, 8)
    for _ in range(300):
        v = torch.randn(64, 1, 1, generator=g) + 0.1 * torch.randn(64, 9, 1, generator=g)
        tokens = v.expand(64, 9, 1).clone()
        tokens[:, :8] += 0.1 * torch.randn(64, 8, 1, generator=g)
        tokens[:, 8] = 0.0  # the query token carries no value
        loss = (net(tokens, mask)[:, 8, 0] - tokens[:, :8, 0].mean(1)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.02
