"""runtime (device, seeds, FULL switch), source display, plots and widgets."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import coursekit as ck


def test_device_defaults_to_an_available_device(monkeypatch):
    monkeypatch.delenv("COURSEKIT_DEVICE", raising=False)
    dev = ck.device()
    assert isinstance(dev, torch.device)
    assert dev.type == ("cuda" if torch.cuda.is_available() else dev.type)
    torch.zeros(1, device=dev)  # usable
    assert ck.device("cpu") == torch.device("cpu")
    monkeypatch.setenv("COURSEKIT_DEVICE", "cpu")
    assert ck.device() == torch.device("cpu")


def test_device_bad_arguments():
    with pytest.raises(TypeError, match="prefer"):
        ck.device(3)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            ck.device("cuda")


def test_seed_everything_makes_draws_repeatable():
    g = ck.seed_everything(3)
    a = (torch.rand(2), np.random.rand(), torch.rand(2, generator=g))
    g = ck.seed_everything(3)
    b = (torch.rand(2), np.random.rand(), torch.rand(2, generator=g))
    assert torch.equal(a[0], b[0]) and a[1] == b[1] and torch.equal(a[2], b[2])
    with pytest.raises(ValueError, match="seed"):
        ck.seed_everything(-1)
    with pytest.raises(TypeError, match="seed"):
        ck.seed_everything(1.5)


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("YES", True), ("0", False), ("no", False)])
def test_full_mode_reads_environment(monkeypatch, value, expected):
    monkeypatch.setenv("COURSEKIT_FULL", value)
    assert ck.full_mode(False) is expected and ck.full_mode(True) is expected


def test_full_mode_default_and_errors(monkeypatch):
    monkeypatch.delenv("COURSEKIT_FULL", raising=False)
    assert ck.full_mode(True) is True and ck.full_mode() is False
    monkeypatch.setenv("COURSEKIT_FULL", "maybe")
    with pytest.raises(ValueError, match="COURSEKIT_FULL"):
        ck.full_mode()
    with pytest.raises(TypeError, match="default"):
        ck.full_mode("yes")


def test_lazy_submodules_and_unknown_attribute():
    assert ck.data.digits is not None
    with pytest.raises(AttributeError, match="no attribute or submodule 'nope'"):
        ck.nope


def test_show_renders_source_without_docstring_by_default():
    shown = ck.show(ck.data.batches)
    md = shown._repr_markdown_()
    assert md.startswith("*coursekit.data.batches*") and "```python" in md
    assert "def batches(" in shown.text and "Yield minibatches" not in shown.text
    assert "Yield minibatches" in ck.show(ck.data.batches, docstring=True).text
    assert "coursekit.data.batches" in repr(shown)


def test_show_bad_arguments():
    with pytest.raises(TypeError, match="obj must be"):
        ck.show(3)
    with pytest.raises(TypeError, match="start"):      # free-text anchors are gone: regions
        ck.show(ck.data.batches, start="def batches")
    with pytest.raises(ValueError, match="region='nope' is not marked"):
        ck.show(ck.data.batches, region="nope")


def test_plot_helpers_draw_labelled_axes():
    ck.plots.use_style()
    fig, ax = plt.subplots()
    ck.plots.curves(ax, None, {"a": [3, 2, 1], "b": torch.tensor([1.0, 2.0, 4.0])}, xlabel="step", ylabel="loss",
                    title="t", logy=True)
    assert ax.get_xlabel() == "step" and ax.get_yscale() == "log" and len(ax.get_lines()) == 2
    with pytest.raises(ValueError, match="has 3 values but x has 2"):
        ck.plots.curves(ax, [1, 2], {"a": [1, 2, 3]}, xlabel="x", ylabel="y")
    with pytest.raises(ValueError, match="series"):
        ck.plots.curves(ax, None, {}, xlabel="x", ylabel="y")
    fig2, ax2 = plt.subplots()
    quad = lambda xy: 0.5 * (0.1 * xy[..., 0] ** 2 + xy[..., 1] ** 2)
    cs = ck.plots.contour(ax2, quad, n=30, log=True)
    assert len(cs.levels) > 5
    ck.plots.path(ax2, torch.tensor([[1.0, 1.0], [0.5, 0.2], [0.0, 0.0]]), label="GD")
    with pytest.raises(ValueError, match="points must have shape"):
        ck.plots.path(ax2, torch.zeros(3))
    plt.close("all")


def test_mosaic_tiles_images_with_blank_gaps():
    fig, ax = plt.subplots()
    images = torch.arange(2 * 9, dtype=torch.float64).reshape(2, 9)        # two flattened 3x3 images
    grid = ck.plots.mosaic(ax, images, ncols=2, title="t").get_array().filled(np.nan)   # NaN gaps are masked
    assert grid.shape == (1 * 4 + 1, 2 * 4 + 1)
    assert np.array_equal(grid[1:4, 1:4], images[0].reshape(3, 3).numpy())
    assert np.array_equal(grid[1:4, 5:8], images[1].reshape(3, 3).numpy())
    assert np.isnan(grid[0]).all() and np.isnan(grid[:, 4]).all()        # the gaps are blank
    normalized = ck.plots.mosaic(ax, -images, ncols=1, normalize=True)
    assert np.nanmin(normalized.get_array()) == -1.0 and normalized.get_clim() == (-1.0, 1.0)
    with pytest.raises(ValueError, match="square"):
        ck.plots.mosaic(ax, torch.zeros(2, 10), ncols=2)
    with pytest.raises(ValueError, match="ncols"):
        ck.plots.mosaic(ax, torch.zeros(2, 9), ncols=0)
    plt.close(fig)


def test_slider_figure_prerenders_every_combination_and_links_sliders():
    import ipywidgets as W

    calls = []

    def draw(a, b):
        calls.append((a, b))
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot([0, 1], [0, a * b])
        return fig

    box = ck.widgets.slider_figure(draw, a=[1, 2, 3], b=[0.5, 1.0])
    assert sorted(calls) == sorted((a, b) for a in [1, 2, 3] for b in [0.5, 1.0])
    sliders = [c for c in box.children if isinstance(c, W.SelectionSlider)]
    outer = box.children[-1]
    assert [s.description for s in sliders] == ["a", "b"]
    assert isinstance(outer, W.Stack) and len(outer.children) == 3
    assert all(isinstance(inner, W.Stack) and len(inner.children) == 2 for inner in outer.children)
    assert "data:image/png;base64," in outer.children[2].children[1].value
    # moving a slider on the Python side moves the picture too (the jslink does the same in a browser)
    assert sliders[0].index == 0 and outer.selected_index == 0
    assert not plt.get_fignums()  # every pre-rendered figure was closed


def test_figure_to_html_crops_only_figures_that_are_not_laid_out():
    import base64
    import io

    from PIL import Image

    def size(html):
        data = html.split("base64,", 1)[1].split('"', 1)[0]
        return Image.open(io.BytesIO(base64.b64decode(data))).size

    def figure(layout):
        fig, ax = plt.subplots(figsize=(4, 3), layout=layout)
        ax.plot([0, 1], [0, 1])
        return fig

    full = (4 * 50, 3 * 50)                                           # inches x dpi
    assert size(ck.widgets.figure_to_html(figure("tight"), dpi=50)) == full       # laid out: not cropped
    assert size(ck.widgets.figure_to_html(figure("none"), dpi=50)) != full        # by hand: cropped
    assert size(ck.widgets.figure_to_html(figure("none"), dpi=50, crop=False)) == full
    assert not plt.get_fignums()


def test_slider_figure_bad_arguments():
    with pytest.raises(TypeError, match="draw must be callable"):
        ck.widgets.slider_figure(3, a=[1])
    with pytest.raises(ValueError, match="at least one parameter"):
        ck.widgets.slider_figure(lambda: None)
    with pytest.raises(ValueError, match="parameter 'a' needs a non-empty list"):
        ck.widgets.slider_figure(lambda a: None, a=[])
    with pytest.raises(TypeError, match="must return a matplotlib Figure"):
        ck.widgets.slider_figure(lambda a: None, a=[1])
