import pytest
import torch

import theorylab as tl
from theorylab.env import check_choice, resolve_device


def test_setup_validates_scale_and_names_allowed_values():
    with pytest.raises(ValueError, match=r"scale must be one of 'ci', 'full'; got 'huge'"):
        tl.setup(scale="huge", style=False)


def test_setup_validates_device_and_seed():
    with pytest.raises(ValueError, match=r"device must be one of 'auto', 'cpu', 'cuda'"):
        tl.setup(device="tpu", style=False)
    for bad in (-1, 1.5, "3", True):
        with pytest.raises(ValueError, match="seed must be a non-negative integer"):
            tl.setup(seed=bad, style=False)


def test_auto_device_and_missing_cuda():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")


def test_env_line_and_pick_and_generators_are_deterministic():
    env = tl.setup(scale="ci", seed=7, device="cpu", style=False)
    line = env.line()
    for part in ("theorylab", "device cpu", "scale ci", "seed 7"):
        assert part in line
    assert env.pick(ci=1, full=2) == 1 and not env.full
    a = torch.randn(5, generator=env.generator())
    b = torch.randn(5, generator=env.generator())
    c = torch.randn(5, generator=env.generator(offset=1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert (env.numpy_rng().random(3) == env.numpy_rng().random(3)).all()


def test_check_choice_message():
    with pytest.raises(ValueError, match="x must be one of 'a', 'b'; got 'c'"):
        check_choice("x", "c", ("a", "b"))
