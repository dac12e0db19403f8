"""Shared figure style and the few plotting helpers the chapters reuse.

Algorithms return numbers (a history, a trajectory); these functions draw them.

Every figure a chapter shows carries a text alternative for readers who cannot see it (screen
readers, and the PDF): :func:`describe` writes it from the figure itself (title, axes and the
series drawn), followed by the sentence a chapter gives with ``describe(fig, "what to notice")``.
:func:`use_style` installs a notebook display hook that stores it in every PNG the chapter shows
(the PNG's ``Description`` text field, which the book build turns into the image's alt text), so
no chapter needs to do anything for a figure to be described.
"""

from __future__ import annotations

import re

import matplotlib as mpl
import numpy as np
import torch

from . import _args

__all__ = [
    "use_style",
    "describe",
    "png_bytes",
    "curves",
    "contour",
    "path",
    "mosaic",
    "to_numpy",
]

STYLE = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 90,
    "savefig.dpi": 90,
    "figure.autolayout": True,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "lines.linewidth": 1.8,
    "image.cmap": "viridis",
}


def use_style() -> None:
    """Apply the book's matplotlib style (call once in a notebook's first cells).

    In a notebook it also makes every displayed figure carry its alt text (see :func:`describe`).
    """
    mpl.rcParams.update(STYLE)
    _install_png_formatter()


_NOTE = (  # the attribute of a Figure holding the chapter's sentence
    "_coursekit_note"
)


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _plain(text: str) -> str:
    """A label as words: mathtext's ``$``, backslashes and braces dropped, one line."""
    text = re.sub(
        r"\\(mathrm|mathbf|mathit|text|operatorname|left|right|big|Big)\b",
        "",
        text,
    )
    text = re.sub(r"\\([A-Za-z]+)", r"\1", text).replace("\\", "")
    return " ".join(
        text.replace("$", "").replace("{", "").replace("}", "").split()
    )


def _axis(ax, which: str) -> str:
    label = _plain(ax.get_xlabel() if which == "x" else ax.get_ylabel())
    data = ax.dataLim.intervalx if which == "x" else ax.dataLim.intervaly
    lo, hi = (
        data
        if np.all(np.isfinite(data))
        else (ax.get_xlim() if which == "x" else ax.get_ylim())
    )
    scale = ax.get_xscale() if which == "x" else ax.get_yscale()
    name = f"{which} axis" + (f" '{label}'" if label else "")
    log = ", log scale" if scale == "log" else ""
    return f"{name} from {_fmt(min(lo, hi))} to {_fmt(max(lo, hi))}{log}"


def _series(ax) -> list[str]:
    """What is drawn in one Axes, in words: labelled curves by name, the rest counted."""
    from matplotlib.collections import PathCollection
    from matplotlib.contour import ContourSet
    from matplotlib.patches import Rectangle

    parts = []
    labels = [
        label
        for label in ax.get_legend_handles_labels()[1]
        if not label.startswith("_")
    ]
    unlabelled = [
        line
        for line in ax.get_lines()
        if line.get_label().startswith("_") and len(line.get_xdata()) > 2
    ]
    if labels:
        parts.append(
            "series " + ", ".join(f"'{_plain(label)}'" for label in labels)
        )
    if unlabelled and not labels:
        parts.append(
            f"{len(unlabelled)} curve" + ("s" if len(unlabelled) > 1 else "")
        )
    contours = [c for c in ax.collections if isinstance(c, ContourSet)]
    if contours:
        parts.append(
            "filled contours"
            if any(c.filled for c in contours)
            else "contour lines"
        )
    points = sum(
        len(c.get_offsets())
        for c in ax.collections
        if isinstance(c, PathCollection)
    )
    if points:
        parts.append(f"{points} scattered points")
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    if len(bars) > 1:
        parts.append(f"{len(bars)} bars")
    if ax.get_images():
        image = ax.get_images()[0]
        rows, cols = image.get_array().shape[:2]
        parts.append(f"an image of {rows} by {cols} pixels")
    return parts


def describe(fig, note: str | None = None) -> str:
    """The figure's text alternative (alt text): what it shows, then what to notice.

    Built from the figure itself: its title, then for each panel its title, axes (label, range,
    log scale) and what is drawn (named series, curves, contours, points, bars, images). A chapter
    adds the one thing to notice with ``note``, which is kept on the figure, so the alt text of
    the displayed figure ends with it::

        fig, ax = plt.subplots()
        ...
        ck.plots.describe(fig, "Momentum reaches the minimum in a third of the steps.")

    Args:
        fig: a matplotlib Figure.
        note: an optional sentence saying what to notice (replaces a previous one).

    Returns:
        the alt text, for example: Figure 'Loss': x axis 'step' from 0 to 100, y axis
        'loss' from 0.01 to 1, log scale; series 'SGD', 'Adam'. Adam ...
    """
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise TypeError(
            f"fig must be a matplotlib Figure, got {type(fig).__name__}"
        )
    if note is not None:
        if not isinstance(note, str):
            raise TypeError(f"note must be a string, got {type(note).__name__}")
        setattr(fig, _NOTE, note.strip())
    panels = [
        ax
        for ax in fig.get_axes()
        if ax.get_visible() and ax.get_label() != "<colorbar>"
    ]
    suptitle = (
        _plain(fig._suptitle.get_text()) if fig._suptitle is not None else ""
    )
    head = f"Figure '{suptitle}'" if suptitle else "Figure"
    if len(panels) > 1:
        head += f" with {len(panels)} panels"
    sentences = []
    for number, ax in enumerate(panels, start=1):
        title = _plain(ax.get_title() or ax.get_title(loc="left"))
        name = f"Panel {number}" if len(panels) > 1 else ""
        name += (" " if name else "") + (f"'{title}'" if title else "")
        bits = []
        if ax.axison and any(
            t.get_visible() for t in ax.get_xticklabels() + ax.get_yticklabels()
        ):
            bits.append(f"{_axis(ax, 'x')}, {_axis(ax, 'y')}")
        drawn = _series(ax)
        if drawn:
            bits.append(", ".join(drawn))
        sentences.append(
            (f"{name}: " if name else "") + "; ".join(bits or ["empty"])
        )
    text = head + (": " if sentences else "") + ". ".join(sentences) + "."
    extra = getattr(fig, _NOTE, "")
    return f"{text} {extra}".strip() if extra else text


def png_bytes(fig, *, dpi: float | None = None, crop: bool = True) -> bytes:
    """The figure as PNG bytes with its alt text (:func:`describe`) in the ``Description`` field."""
    import io

    buffer = io.BytesIO()
    fig.savefig(
        buffer,
        format="png",
        dpi=dpi or fig.dpi,
        bbox_inches="tight" if crop else None,
        metadata={"Description": describe(fig)},
    )
    return buffer.getvalue()


def _png_for_display(fig):
    """IPython's image/png formatter for Figures: the PNG with its alt text, and the alt text
    as output metadata for front ends that use it."""
    if not fig.axes:
        return None
    return png_bytes(fig), {"alt": describe(fig)}


def _install_png_formatter() -> None:
    """Show every matplotlib Figure in a notebook through :func:`_png_for_display`."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    # Load the backend now: the inline backend installs its own PNG formatter
    # when it is loaded,
    # which would replace this one if it came later (at the first figure).
    plt._get_backend_mod()

    shell.display_formatter.formatters["image/png"].for_type(
        Figure, _png_for_display
    )


def to_numpy(x) -> np.ndarray:
    """A tensor (any device), list or array as a NumPy float array."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=float)


def curves(
    ax,
    x,
    series: dict,
    *,
    xlabel: str,
    ylabel: str,
    title: str | None = None,
    logx: bool = False,
    logy: bool = False,
    styles: dict | None = None,
):
    """Plot several labelled curves sharing one x axis.

    Args:
        ax: a matplotlib Axes.
        x: the common x values, or ``None`` to use 1, 2, ... for each series.
        series: ``{label: y values}``.
        xlabel, ylabel: axis labels (name and unit).
        title: optional title.
        logx, logy: logarithmic axes.
        styles: optional ``{label: dict of Line2D keyword arguments}``.

    Returns:
        ax.
    """
    if not isinstance(series, dict) or not series:
        raise ValueError("series must be a non-empty dict {label: values}")
    styles = styles or {}
    for label, ys in series.items():
        ys = to_numpy(ys)
        xs = np.arange(1, len(ys) + 1) if x is None else to_numpy(x)
        if len(xs) != len(ys):
            raise ValueError(
                f"series {label!r} has {len(ys)} values but x has {len(xs)}"
            )
        ax.plot(xs, ys, label=label, **styles.get(label, {}))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.legend()
    return ax


def contour(
    ax,
    f,
    xlim=(-2.0, 2.0),
    ylim=(-2.0, 2.0),
    *,
    levels: int = 20,
    n: int = 200,
    log: bool = False,
    filled: bool = False,
    **kwargs,
):
    """Contours of a 2-D function ``f`` that maps a tensor of points of shape (..., 2) to values (...).

    Args:
        ax: a matplotlib Axes.
        f: the function (torch callable, e.g. one of ``coursekit.landscapes``).
        xlim, ylim: the plotted box.
        levels: number of contour levels.
        n: grid points per axis.
        log: space the levels logarithmically (for functions ranging over decades, like Rosenbrock).
        filled: use filled contours.

    Returns:
        the contour set.
    """
    n = _args.positive_int("n", n)
    xs = torch.linspace(*map(float, xlim), n, dtype=torch.float64)
    ys = torch.linspace(*map(float, ylim), n, dtype=torch.float64)
    X, Y = torch.meshgrid(xs, ys, indexing="xy")
    with torch.no_grad():
        Z = to_numpy(f(torch.stack([X, Y], dim=-1)))
    if log:
        lo = (
            max(np.nanmin(Z), 1e-12)
            if np.nanmin(Z) > 0
            else np.nanmin(Z[Z > 0])
        )
        levels = np.geomspace(lo, np.nanmax(Z), levels)
    draw = ax.contourf if filled else ax.contour
    cs = draw(
        to_numpy(X),
        to_numpy(Y),
        Z,
        levels=levels,
        **{"cmap": "viridis", **kwargs},
    )
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal", adjustable="box")
    return cs


def path(
    ax,
    points,
    *,
    label: str | None = None,
    color=None,
    marker: str = "o",
    markersize: float = 3.0,
    **kwargs,
):
    """Draw an optimizer's trajectory: points of shape (steps + 1, 2), start marked with a square."""
    pts = to_numpy(points)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2), got {pts.shape}")
    (line,) = ax.plot(
        pts[:, 0],
        pts[:, 1],
        marker=marker,
        markersize=markersize,
        label=label,
        color=color,
        **kwargs,
    )
    ax.plot(pts[0, 0], pts[0, 1], "s", color=line.get_color(), markersize=6)
    return line


def mosaic(
    ax,
    images,
    ncols: int,
    title: str | None = None,
    *,
    normalize: bool = False,
    vmin=None,
    vmax=None,
    cmap: str = "gray",
    pad: int = 1,
):
    """Tile square images into a grid on ``ax`` (gaps left blank), e.g. digits, patches or learned atoms.

    Args:
        images: shape (n, h, w), or (n, d) with d a square number (each row one flattened image).
        ncols: images per row of the grid.
        title: optional title.
        normalize: divide each image by its largest absolute value (for filters and atoms, whose
            scale does not matter); then ``vmin, vmax`` default to -1, 1.
        vmin, vmax, cmap: passed to ``imshow``.
        pad: blank pixels between the images.

    Returns:
        the ``AxesImage``.
    """
    imgs = to_numpy(images)
    if imgs.ndim == 2:
        side = int(round(imgs.shape[1] ** 0.5))
        if side * side != imgs.shape[1]:
            raise ValueError(
                "images of shape (n, d) need a square d, got d ="
                f" {imgs.shape[1]}"
            )
        imgs = imgs.reshape(-1, side, side)
    if imgs.ndim != 3 or len(imgs) == 0:
        raise ValueError(
            "images must have shape (n, h, w) or (n, d) with n >= 1, got"
            f" {imgs.shape}"
        )
    ncols = _args.positive_int("ncols", ncols)
    pad = _args.positive_int("pad", pad, allow_zero=True)
    if normalize:
        largest = np.abs(imgs).reshape(len(imgs), -1).max(1)[:, None, None]
        imgs = imgs / np.where(
            largest > 0, largest, 1.0
        )  # an all-zero image stays zero
        vmin = -1.0 if vmin is None else vmin
        vmax = 1.0 if vmax is None else vmax
    n, h, w = imgs.shape
    nrows = -(-n // ncols)
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad), np.nan)
    for i, img in enumerate(imgs):
        r, c = divmod(i, ncols)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        grid[top : top + h, left : left + w] = img
    shown = ax.imshow(grid, cmap=cmap, vmin=vmin, vmax=vmax)
    if title:
        ax.set_title(title)
    ax.set_axis_off()
    return shown
