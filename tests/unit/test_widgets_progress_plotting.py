import matplotlib

matplotlib.use("Agg")
import ipywidgets as w  # noqa: E402
import pytest  # noqa: E402

from theorylab import plotting, progress  # noqa: E402
from theorylab.widgets import _control, explore  # noqa: E402


def test_controls_from_specs():
    assert isinstance(_control("a", (0.0, 1.0, 0.1, 0.5)), w.FloatSlider)
    assert isinstance(_control("b", (1, 10, 1, 3)), w.IntSlider)
    assert isinstance(_control("c", ["x", "y"]), w.Dropdown)
    assert isinstance(_control("d", [0.1, 1.0, 10.0]), w.SelectionSlider)
    assert isinstance(_control("e", True), w.Checkbox)
    with pytest.raises(TypeError, match="control 'f'"):
        _control("f", object())


@pytest.mark.parametrize("batch", ["0", "1"])
def test_explore_calls_the_function_once(monkeypatch, batch):
    monkeypatch.setenv("THEORYLAB_BATCH", batch)
    seen = []
    explore(lambda k=2, name="x": seen.append((k, name)), {"k": (1, 5, 1, 3), "name": ["x", "y"]})
    assert seen == [(3, "x")]


def test_progress_is_silent_in_batch_mode(monkeypatch, capsys):
    monkeypatch.setenv("THEORYLAB_BATCH", "1")
    assert progress.batch_mode()
    assert list(progress.progress(range(3))) == [0, 1, 2]
    assert capsys.readouterr().err == ""


def test_book_style_and_subplots():
    plotting.use_book_style()
    assert matplotlib.rcParams["figure.dpi"] == plotting.BOOK_STYLE["figure.dpi"]
    fig, axes = plotting.subplots(2, 1)
    assert axes.shape == (1, 2)
    plotting.heatmap(axes[0, 0], [[1, -1], [0, 2]], title="m")
