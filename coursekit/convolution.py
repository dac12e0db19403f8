r"""Convolutional layers as formulas: the sums, receptive fields, cost, pooling.

- :func:`cross_correlate2d`, :func:`convolve2d`: the two "valid" 2-D sums,
  written out (deep-learning libraries call the first one convolution).
- :func:`receptive_field`: the input width one unit sees after a stack of
  layers.
- :func:`conv_layer_cost`, :func:`dense_layer_cost`: multiplications of one
  layer, by formula.
- :func:`multiply_counts`: parameters and multiplications of every layer of a
  model, counted while it runs.
- :func:`pooling_unchanged_shifts`: how many of the 8 one-pixel shifts of an
  isolated feature leave a max-pooled map unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import _args
from .nn import _forward_with_hooks

__all__ = [
    "cross_correlate2d",
    "convolve2d",
    "receptive_field",
    "conv_layer_cost",
    "dense_layer_cost",
    "multiply_counts",
    "pooling_unchanged_shifts",
]


def _check_image_and_kernel(x, w):
    _args.tensor("x", x, ndim=2, floating=True)
    _args.tensor("w", w, ndim=2, floating=True)
    if w.shape[0] > x.shape[0] or w.shape[1] > x.shape[1]:
        raise ValueError(
            "w must not be larger than x, got w of shape "
            f"{tuple(w.shape)} and x of shape {tuple(x.shape)}"
        )
    m, n = w.shape
    return m, n, x.shape[0] - m + 1, x.shape[1] - n + 1


def cross_correlate2d(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    r"""The "valid" 2-D cross-correlation of an image with a kernel.

    :math:`s_{ij} = \sum_{u=0}^{m-1} \sum_{v=0}^{n-1} w_{uv}\, x_{i+u,\, j+v}`,
    for every position where the :math:`m \times n` kernel fits inside the
    image. This is what ``torch.nn.functional.conv2d`` computes (one channel,
    stride 1, no padding).

    Args:
        x: the image, shape (M, N), floating.
        w: the kernel, shape (m, n) with m <= M and n <= N.

    Returns:
        s, shape (M - m + 1, N - n + 1).
    """
    m, n, out_h, out_w = _check_image_and_kernel(x, w)
    s = x.new_zeros(out_h, out_w)
    for u in range(m):  # one shifted copy of the image per weight
        for v in range(n):
            s += w[u, v] * x[u : u + out_h, v : v + out_w]
    return s


def convolve2d(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    r"""The "valid" part of the true (flipped-kernel) 2-D convolution.

    :math:`(w * x)_{ij} = \sum_{u} \sum_{v} w_{uv}\, x_{i-u,\, j-v}`, the sum of
    signal processing, kept where the kernel lies inside the image. Indexing
    the output from the first such position,
    :math:`s_{ij} = \sum_{u,v} w_{uv}\, x_{i+m-1-u,\, j+n-1-v}`: the kernel is
    read backwards, i.e. flipped in both directions.

    Args:
        x: the image, shape (M, N), floating.
        w: the kernel, shape (m, n) with m <= M and n <= N.

    Returns:
        s, shape (M - m + 1, N - n + 1).
    """
    m, n, out_h, out_w = _check_image_and_kernel(x, w)
    s = x.new_zeros(out_h, out_w)
    for u in range(m):
        for v in range(n):
            top, left = m - 1 - u, n - 1 - v  # x_{i-u, j-v}, from 0
            s += w[u, v] * x[top : top + out_h, left : left + out_w]
    return s


def receptive_field(kernel_sizes, strides=None) -> list[int]:
    r"""Width of the receptive field, in input units, after each layer.

    With kernel :math:`k_l` and stride :math:`s_l` at layer :math:`l`, and
    :math:`J_l = s_1 \cdots s_l` the input distance between neighbouring units
    of layer l, :math:`r_0 = 1` and :math:`r_l = r_{l-1} + (k_l - 1)\, J_{l-1}`.
    Pooling counts as a layer with kernel and stride equal to its window.

    Args:
        kernel_sizes: the kernel width of each layer, positive ints.
        strides: the stride of each layer (default: all 1).

    Returns:
        ``[r_1, ..., r_L]``.
    """
    kernel_sizes = [
        _args.positive_int(f"kernel_sizes[{i}]", k)
        for i, k in enumerate(kernel_sizes)
    ]
    if strides is None:
        strides = [1] * len(kernel_sizes)
    strides = [
        _args.positive_int(f"strides[{i}]", s) for i, s in enumerate(strides)
    ]
    if len(strides) != len(kernel_sizes):
        raise ValueError(
            "strides must have one entry per layer "
            f"({len(kernel_sizes)}), got {len(strides)}"
        )
    r, jump, widths = 1, 1, []
    for k, s in zip(kernel_sizes, strides):
        r += (k - 1) * jump
        jump *= s
        widths.append(r)
    return widths


def conv_layer_cost(
    M: int, N: int, m: int, n: int, in_maps: int, out_maps: int
) -> int:
    r"""Multiplications of a convolutional layer (stride 1, no padding).

    Each of the :math:`K^\ell` output maps applies an :math:`m \times n` filter
    to each of the :math:`K^{\ell-1}` input maps at every position where it
    fits: :math:`K^\ell \cdot (M-m+1)(N-n+1)\cdot m\, n\, K^{\ell-1}` per input.

    Args:
        M, N: height and width of the input maps.
        m, n: height and width of the filters (m <= M, n <= N).
        in_maps, out_maps: :math:`K^{\ell-1}` and :math:`K^\ell`.
    """
    sizes = {
        "M": M,
        "N": N,
        "m": m,
        "n": n,
        "in_maps": in_maps,
        "out_maps": out_maps,
    }
    M, N, m, n, in_maps, out_maps = (
        _args.positive_int(name, v) for name, v in sizes.items()
    )
    if m > M or n > N:
        raise ValueError(
            f"the filter (m={m}, n={n}) must fit in the maps (M={M}, N={N})"
        )
    return out_maps * (M - m + 1) * (N - n + 1) * m * n * in_maps


def dense_layer_cost(in_units: int, out_units: int) -> int:
    r"""Multiplications of a fully connected layer, per input:
    :math:`K^\ell K^{\ell-1}`."""
    return _args.positive_int("in_units", in_units) * _args.positive_int(
        "out_units", out_units
    )


def multiply_counts(
    model: nn.Module, x: torch.Tensor
) -> list[tuple[str, str, int, int]]:
    """Run ``model`` on ``x`` and count, per convolution or linear layer and
    per example, its parameters and the multiplications of its weights.

    A ``Conv1d``/``Conv2d`` output unit costs ``in_channels / groups`` times
    the kernel size multiplications; a ``Linear`` output unit costs
    ``in_features``. Biases are additions, not counted.

    Returns:
        a list of (name, layer type, parameters, multiplications per example).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, got {type(model).__name__}"
        )
    _args.tensor("x", x, floating=True)
    rows, hooks = [], []

    def count(name, module, out):
        if isinstance(module, nn.Linear):
            per_unit = module.in_features
        else:
            per_unit = module.weight[0].numel()  # (in_channels / groups) * k
        params = sum(p.numel() for p in module.parameters())
        rows.append(
            (name, type(module).__name__, params, out[0].numel() * per_unit)
        )

    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            hooks.append(
                module.register_forward_hook(
                    lambda mod, inp, out, name=name: count(name, mod, out)
                )
            )
    _forward_with_hooks(model, x, hooks)
    return rows


def pooling_unchanged_shifts(
    window: int, size: int | None = None
) -> torch.Tensor:
    r"""For an isolated feature (one positive unit in a map of zeros) at each
    position of a ``window`` x ``window`` pooling block, the number of the 8
    one-pixel shifts (diagonals included) after which the max-pooled map is
    unchanged.

    The count is measured: each shifted map goes through
    ``max_pool2d(window)`` and is compared with the pooled original. The
    pooled output stays the same exactly when the shift keeps the feature
    inside its block.

    Args:
        window: the pooling window (and stride), >= 1.
        size: side of the test maps (default ``3 * window``; the block in the
            middle is used).

    Returns:
        an int tensor (window, window): entry (a, b) is the count for the
        feature at offset (a, b) inside its block.
    """
    window = _args.positive_int("window", window)
    size = 3 * window if size is None else _args.positive_int("size", size)
    if size < 3 * window:
        raise ValueError(
            f"size must be at least 3 * window = {3 * window}, got {size}"
        )
    shifts = [
        (di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1) if (di, dj) != (0, 0)
    ]
    counts = torch.zeros(window, window, dtype=torch.long)
    for a in range(window):
        for b in range(window):
            i, j = window + a, window + b  # inside the middle block
            base = torch.zeros(1, 1, size, size)
            base[0, 0, i, j] = 1.0
            pooled = F.max_pool2d(base, window)
            for di, dj in shifts:
                moved = torch.zeros_like(base)
                moved[0, 0, i + di, j + dj] = 1.0
                same = torch.equal(F.max_pool2d(moved, window), pooled)
                counts[a, b] += int(same)
    return counts
