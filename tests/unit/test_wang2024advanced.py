"""Tests for theorylab.papers.wang2024advanced: scenes, captions, candidates and the matching metrics."""

import pytest
import torch

from theorylab.papers import wang2024advanced as itm


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_sizes_and_captions():
    task = itm.Task()
    assert (task.R, task.N, task.n_captions, task.pixels) == (9, 16, 144, 108)
    caps = task.captions()
    assert caps.shape == (144, 3)
    assert caps[17].tolist() == [1, 0, 1]  # place 1, type 1 = red disc
    assert task.ideal_rank() == 136
    with pytest.raises(ValueError):
        itm.Task(NC=5)
    with pytest.raises(ValueError):
        task.sample(2, 10, gen())


def test_scenes_and_match_matrix():
    task = itm.Task()
    types, img = task.sample(50, 3, gen(1))
    assert img.shape == (50, 9, 108)
    assert ((types >= 0).sum(1) == 3).all()
    M = task.match_matrix(types)
    assert (M.sum(1) == 3).all()
    # the ideal matcher's score matrix over full scenes has rank R (N - 1) + 1
    full, _ = task.sample(2000, 9, gen(2))
    assert torch.linalg.matrix_rank(task.match_matrix(full).double()) == task.ideal_rank()


def test_hard_negatives_are_false_and_near():
    task = itm.Task()
    types = torch.full((1, 9), -1)
    types[0, 0] = 0  # slot 0: red ring
    hard = task.hard_negatives(types)[0]
    assert not hard[0]  # the true caption is not a negative
    assert hard[1 * 16 + 0]  # red ring at another place
    assert hard[0 * 16 + 1]  # slot 0, red disc (wrong shape)
    assert hard[0 * 16 + 4]  # slot 0, green ring (wrong colour)
    assert not hard[1 * 16 + 5]  # slot 1, green disc: two tokens off, colour and shape absent


def test_candidates_and_metrics():
    task = itm.Task()
    types, _ = task.sample(40, 9, gen(3))
    idx, keep = task.candidates(types, gen(4))
    assert idx.shape == (40, 16 + 8)
    assert task.match_matrix(types).gather(1, idx[:, :1]).all()  # index 0 is a true caption
    assert keep[:, 0].all()
    ideal = task.match_matrix(types).float()
    assert task.readout_accuracy(ideal, types) == 1.0
    assert task.hard_negative_accuracy(ideal, types) == 1.0
    assert task.readout_accuracy(-ideal, types) == 0.0


def test_n_params():
    P = [torch.zeros(3, 4, 5), torch.zeros(3, 1, 5)]
    assert itm.n_params(P) == 25
