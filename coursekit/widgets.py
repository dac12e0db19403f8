"""Interactive figures that still move in the static book.

A kernel can redraw a figure when a slider moves; a static web page cannot. So the
figures here are *precomputed*: every slider position is drawn once, while the notebook
runs, and the slider only chooses which picture to show. The link between slider and
picture is a JavaScript link (``ipywidgets.jslink``), so it works in JupyterLab and in
the HTML book, where the widget state is embedded in the page.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable

import matplotlib.pyplot as plt
import ipywidgets as W

from .plots import describe, png_bytes

__all__ = ["slider_figure", "figure_to_html"]


def figure_to_html(
    fig, *, dpi: int = 80, crop: bool | None = None, frame: str = ""
) -> str:
    """Render a matplotlib figure to an ``<img>`` tag with the PNG inlined, and close the figure.

    The tag's alt text is the figure's description (:func:`coursekit.plots.describe`, with the
    sentence a chapter gave), followed by ``frame`` (for a slider figure: which values it shows).

    Cropping the image to its contents costs a second drawing pass. By default (``crop=None``) only a
    figure without a layout engine is cropped: one with a layout engine (the book's style turns on
    ``figure.autolayout``) is already laid out to fit. Pass ``crop=False`` for a figure laid out by hand
    (``fig.subplots_adjust``).
    """
    if crop is None:
        crop = fig.get_layout_engine() is None
    alt = f"{describe(fig)} {frame}".strip()
    data = base64.b64encode(png_bytes(fig, dpi=dpi, crop=crop)).decode("ascii")
    plt.close(fig)
    tag = (
        f'<img src="data:image/png;base64,{data}" class="coursekit-figure" '
        f'style="max-width:100%;height:auto" alt="{html.escape(alt)}"/>'
    )
    if (
        frame
        # shown under each frame where all frames are shown at once (the printed
        # book)
    ):
        tag += (
            f'<div class="coursekit-frame-caption">{html.escape(frame)}</div>'
        )
    return tag


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def slider_figure(
    draw: Callable, *, dpi: int = 80, crop: bool | None = None, **params
) -> W.VBox:
    """A figure with one slider per parameter, every combination drawn in advance.

    Args:
        draw: ``draw(**values)`` returns a matplotlib Figure for one combination of parameter values.
        dpi: resolution of the pre-rendered images.
        crop: whether to crop each image to its contents (see :func:`figure_to_html`).
        **params: ``name=[values...]`` for each slider (at least one, each with at least one value).
            The number of drawn frames is the product of the lengths, so keep them short.

    Returns:
        an ``ipywidgets.VBox``: the sliders on top, the figure below. Moving a slider swaps the picture
        with no kernel involved.

    Example::

        def draw(lr):
            fig, ax = plt.subplots()
            ax.plot(...)
            return fig
        slider_figure(draw, lr=[0.01, 0.1, 1.0])
    """
    if not callable(draw):
        raise TypeError(f"draw must be callable, got {type(draw).__name__}")
    if not params:
        raise ValueError("give at least one parameter, as name=[values...]")
    names = list(params)
    for name in names:
        values = params[name]
        if (
            isinstance(values, (str, bytes))
            or not hasattr(values, "__len__")
            or len(values) == 0
        ):
            raise ValueError(
                f"parameter {name!r} needs a non-empty list of values, got"
                f" {values!r}"
            )
    values = [list(params[name]) for name in names]

    sliders = [
        W.SelectionSlider(
            options=[(_format(v), i) for i, v in enumerate(vals)],
            value=0,
            description=name,
            continuous_update=True,
            layout=W.Layout(width="420px"),
            style={"description_width": "initial"},
        )
        for name, vals in zip(names, values)
    ]

    def build(level: int, chosen: tuple):
        # One Stack per level of the parameter tree; each Stack follows its own
        # slider.
        if level == len(names):
            fig = draw(
                **{
                    name: vals[i]
                    for name, vals, i in zip(names, values, chosen)
                }
            )
            if fig is None or not hasattr(fig, "savefig"):
                raise TypeError(
                    "draw must return a matplotlib Figure, got"
                    f" {type(fig).__name__}"
                )
            shown = ", ".join(
                f"{name} = {_format(vals[i])}"
                for name, vals, i in zip(names, values, chosen)
            )
            return W.HTML(
                figure_to_html(
                    fig, dpi=dpi, crop=crop, frame=f"Slider frame: {shown}."
                )
            )
        children = [
            build(level + 1, chosen + (i,)) for i in range(len(values[level]))
        ]
        stack = W.Stack(children, selected_index=0)
        W.jslink((sliders[level], "index"), (stack, "selected_index"))
        return stack

    return W.VBox([*sliders, build(0, ())])
