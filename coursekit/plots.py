"""Shared figure style and the few plotting helpers the chapters reuse.

Algorithms return numbers (a history, a trajectory); these functions draw them.
"""
from __future__ import annotations

import matplotlib as mpl
import numpy as np
import torch

from . import _args

__all__ = ["use_style", "curves", "contour", "path", "mosaic", "to_numpy"]

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
    """Apply the book's matplotlib style (call once in a notebook's first cells)."""
    mpl.rcParams.update(STYLE)


def to_numpy(x) -> np.ndarray:
    """A tensor (any device), list or array as a NumPy float array."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=float)


def curves(ax, x, series: dict, *, xlabel: str, ylabel: str, title: str | None = None,
           logx: bool = False, logy: bool = False, styles: dict | None = None):
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
            raise ValueError(f"series {label!r} has {len(ys)} values but x has {len(xs)}")
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


def contour(ax, f, xlim=(-2.0, 2.0), ylim=(-2.0, 2.0), *, levels: int = 20, n: int = 200, log: bool = False,
            filled: bool = False, **kwargs):
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
        lo = max(np.nanmin(Z), 1e-12) if np.nanmin(Z) > 0 else np.nanmin(Z[Z > 0])
        levels = np.geomspace(lo, np.nanmax(Z), levels)
    draw = ax.contourf if filled else ax.contour
    cs = draw(to_numpy(X), to_numpy(Y), Z, levels=levels, **{"cmap": "viridis", **kwargs})
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal", adjustable="box")
    return cs


def path(ax, points, *, label: str | None = None, color=None, marker: str = "o", markersize: float = 3.0, **kwargs):
    """Draw an optimizer's trajectory: points of shape (steps + 1, 2), start marked with a square."""
    pts = to_numpy(points)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2), got {pts.shape}")
    (line,) = ax.plot(pts[:, 0], pts[:, 1], marker=marker, markersize=markersize, label=label, color=color, **kwargs)
    ax.plot(pts[0, 0], pts[0, 1], "s", color=line.get_color(), markersize=6)
    return line


def mosaic(ax, images, ncols: int, title: str | None = None, *, normalize: bool = False, vmin=None, vmax=None,
           cmap: str = "gray", pad: int = 1):
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
            raise ValueError(f"images of shape (n, d) need a square d, got d = {imgs.shape[1]}")
        imgs = imgs.reshape(-1, side, side)
    if imgs.ndim != 3 or len(imgs) == 0:
        raise ValueError(f"images must have shape (n, h, w) or (n, d) with n >= 1, got {imgs.shape}")
    ncols = _args.positive_int("ncols", ncols)
    pad = _args.positive_int("pad", pad, allow_zero=True)
    if normalize:
        largest = np.abs(imgs).reshape(len(imgs), -1).max(1)[:, None, None]
        imgs = imgs / np.where(largest > 0, largest, 1.0)          # an all-zero image stays zero
        vmin = -1.0 if vmin is None else vmin
        vmax = 1.0 if vmax is None else vmax
    n, h, w = imgs.shape
    nrows = -(-n // ncols)
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad), np.nan)
    for i, img in enumerate(imgs):
        r, c = divmod(i, ncols)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        grid[top:top + h, left:left + w] = img
    shown = ax.imshow(grid, cmap=cmap, vmin=vmin, vmax=vmax)
    if title:
        ax.set_title(title)
    ax.set_axis_off()
    return shown
