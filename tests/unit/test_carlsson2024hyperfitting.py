"""Unit tests of theorylab.papers.carlsson2024hyperfitting: the Markov source, the stacked causal transformer
(causality, replica independence), greedy decoding and the repetition / copying metrics."""

import pytest
import torch

from theorylab.papers import carlsson2024hyperfitting as hyp


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_markov_source_rows_are_distributions_and_samples_follow_them():
    P = hyp.markov_source(2, 5, 0.3, gen())
    assert P.shape == (2, 5, 5)
    torch.testing.assert_close(P.sum(-1), torch.ones(2, 5))
    x = hyp.sample_sequences(P, 4000, 3, gen(1))
    assert x.shape == (2, 4000, 3) and int(x.min()) >= 0 and int(x.max()) < 5
    counts = torch.zeros(5, 5)
    counts.index_put_((x[0, :, 0], x[0, :, 1]), torch.ones(4000), accumulate=True)
    emp = counts / counts.sum(-1, keepdim=True)
    assert float((emp - P[0]).abs().max()) < 0.08
    with pytest.raises(ValueError, match="alpha"):
        hyp.markov_source(2, 5, 0.0, gen())


def test_stack_is_causal_and_replicas_are_independent():
    p = hyp.init_stack(3, 7, 8, 2, 10, gen())
    x = torch.randint(0, 7, (3, 2, 10), generator=gen(1))
    y = x.clone()
    y[:, :, 6:] = (y[:, :, 6:] + 1) % 7  # change the future only
    with torch.no_grad():
        a, b = hyp.stack_logits(p, x), hyp.stack_logits(p, y)
        torch.testing.assert_close(a[:, :, :6], b[:, :, :6])
        z = x.clone()
        z[1] = (z[1] + 3) % 7  # change replica 1's tokens only
        c = hyp.stack_logits(p, z)
    torch.testing.assert_close(a[[0, 2]], c[[0, 2]])
    assert a.shape == (3, 2, 10, 7)


def test_nll_entropy_and_greedy_agree_with_logits():
    p = hyp.init_stack(2, 6, 8, 1, 12, gen(2))
    x = torch.randint(0, 6, (2, 3, 12), generator=gen(3))
    with torch.no_grad():
        lg = hyp.stack_logits(p, x)
        logp = lg.log_softmax(-1)[:, :, :-1]
        ref = -logp.gather(-1, x[:, :, 1:, None]).squeeze(-1).mean((1, 2))
        torch.testing.assert_close(hyp.nll(p, x), ref)
        assert bool((hyp.entropy(p, x) <= torch.log(torch.tensor(6.0)) + 1e-6).all())
        out = hyp.greedy(p, x[:, :, :4], 3, 12)
        assert out.shape == (2, 3, 3)
        assert torch.equal(out[:, :, 0], hyp.stack_logits(p, x[:, :, :4])[:, :, -1].argmax(-1))


def test_type_token_ratio_and_copy_rate():
    y = torch.tensor([[1, 2, 1, 2], [0, 1, 2, 3]])
    torch.testing.assert_close(hyp.type_token_ratio(y), torch.tensor([0.5, 1.0]))
    train = torch.tensor([[[1, 2, 3, 4, 5]]])  # (R=1, n=1, L=5)
    gen_ = torch.tensor([[[1, 2, 3, 0]]])  # 3-grams: (1,2,3) in train, (2,3,0) not
    torch.testing.assert_close(hyp.copy_rate(gen_, train, 3, 6), torch.tensor([0.5]))
    assert hyp.as_text([0, 1, 27]) == "abB"
