"""Every figure a chapter shows carries a text alternative (coursekit.plots.describe), in notebooks,
in slider frames and in the built book (tools/book_html.py)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

import coursekit as ck  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import book_html  # noqa: E402
from measure_book import meaningful_alt  # noqa: E402


@pytest.fixture
def loss_figure():
    fig, (left, right) = plt.subplots(1, 2)
    steps = np.arange(1, 101)
    ck.plots.curves(
        left,
        steps,
        {"SGD": 1 / steps, "Adam": 1 / steps**2},
        xlabel="step",
        ylabel="loss",
        title="Training loss",
        logy=True,
    )
    ck.plots.mosaic(right, np.ones((6, 4, 4)), ncols=3, title="atoms")
    fig.suptitle("Two optimizers")
    yield fig
    plt.close(fig)


def test_describe_says_title_axes_series_and_the_chapters_sentence(loss_figure):
    text = ck.plots.describe(loss_figure)
    assert text.startswith("Figure 'Two optimizers' with 2 panels")
    assert "Panel 1 'Training loss': x axis 'step' from 1 to 100" in text
    assert "y axis 'loss' from 0.0001 to 1, log scale" in text
    assert "series 'SGD', 'Adam'" in text
    assert "Panel 2 'atoms': an image of" in text
    note = "Adam's loss falls as the square of SGD's."
    assert ck.plots.describe(loss_figure, note).endswith(note)
    assert ck.plots.describe(loss_figure).endswith(note)  # kept on the figure
    assert meaningful_alt(ck.plots.describe(loss_figure))


def test_describe_counts_what_has_no_label():
    fig, ax = plt.subplots()
    ck.plots.contour(ax, lambda p: (p**2).sum(-1), n=20)
    ax.plot([0, 1, 2], [0, 1, 0])
    ax.scatter([0, 1, 2], [1, 1, 1])
    text = ck.plots.describe(fig)
    plt.close(fig)
    assert (
        "1 curve" in text and "contour lines" in text and "3 scattered points" in text
    )


def test_describe_rejects_what_is_not_a_figure():
    with pytest.raises(TypeError, match="fig must be a matplotlib Figure"):
        ck.plots.describe("a picture")
    fig = plt.figure()
    with pytest.raises(TypeError, match="note must be a string"):
        ck.plots.describe(fig, 3)
    plt.close(fig)


def test_the_png_carries_the_description(loss_figure, tmp_path):
    ck.plots.describe(loss_figure, "Look at the slopes.")
    data = ck.plots.png_bytes(loss_figure)
    assert Image.open(io.BytesIO(data)).text["Description"] == ck.plots.describe(
        loss_figure
    )
    path = tmp_path / "figure.png"
    path.write_bytes(data)
    assert book_html.png_description(path) == ck.plots.describe(loss_figure)
    path.write_bytes(b"not a png")
    assert book_html.png_description(path) is None


def test_use_style_makes_notebook_figures_carry_their_alt_text(loss_figure):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        ck.plots.use_style()
        data, metadata = shell.display_formatter.format(loss_figure)
    finally:
        InteractiveShell.clear_instance()
    png = data["image/png"]
    png = png if isinstance(png, bytes) else __import__("base64").b64decode(png)
    assert Image.open(io.BytesIO(png)).text["Description"] == ck.plots.describe(
        loss_figure
    )
    assert metadata["image/png"]["alt"] == ck.plots.describe(loss_figure)


def test_slider_frames_say_which_values_they_show():
    def draw(lr):
        fig, ax = plt.subplots()
        ax.plot(np.arange(5), np.arange(5) * lr, label="path")
        ax.set(xlabel="step", ylabel="x")
        ax.legend()
        return ck.plots.describe(fig, "Larger steps go further.") and fig

    box = ck.widgets.slider_figure(draw, lr=[0.1, 1.0])
    frames = [child.value for child in box.children[-1].children]
    assert len(frames) == 2
    assert all('alt="Figure: x axis &#x27;step&#x27;' in frame for frame in frames)
    assert "Larger steps go further. Slider frame: lr = 0.1." in frames[0]
    assert "Slider frame: lr = 1." in frames[1]


def test_the_book_takes_the_alt_text_from_the_png(tmp_path, loss_figure):
    from docutils import nodes
    from docutils.utils import new_document
    from docutils.frontend import get_default_settings

    (tmp_path / "_build").mkdir()
    (tmp_path / "_build" / "fig.png").write_bytes(ck.plots.png_bytes(loss_figure))
    (tmp_path / "_build" / "plain.png").write_bytes(b"")
    doctree = new_document("chapter", get_default_settings())
    described, plain, given = (
        nodes.image(uri="/_build/fig.png"),
        nodes.image(uri="/_build/plain.png"),
        nodes.image(uri="/_build/fig.png", alt="given by the chapter"),
    )
    doctree += [described, plain, given]

    class App:
        srcdir = str(tmp_path)
        env = None

    book_html._describe_images(App(), doctree, "chapter")
    assert described["alt"] == ck.plots.describe(loss_figure)
    assert "alt" not in plain
    assert given["alt"] == "given by the chapter"


def test_placeholders_and_file_names_are_not_alt_texts():
    for alt in (
        None,
        "",
        "figure",
        "Figure 3",
        "../_images/4697288df24f5994.png",
        "image",
    ):
        assert not meaningful_alt(alt)
    assert meaningful_alt("Figure: x axis 'step' from 1 to 100; series 'SGD'.")
