r"""Continuation methods: solve a sequence of easier problems that ends with the one we care about.

Gaussian continuation smooths the objective, :math:`f_\sigma(x) = \mathbb{E}_{u \sim N(0,1)}[f(x + \sigma u)]`,
and follows its minimum as :math:`\sigma` shrinks to 0; curriculum learning, a continuation in the data,
trains on easy examples first and lets harder ones in as training goes on (Bengio et al. 2009).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import _args

__all__ = [
    "gaussian_smoothing",
    "gauss_hermite_smoothing",
    "continuation",
    "curriculum_batches",
    "paced_batches",
]


def gaussian_smoothing(
    f, x: torch.Tensor, sigma: float, *, num_nodes: int = 61
):
    r"""The Gaussian smoothing :math:`f_\sigma(x) = \mathbb{E}_{u \sim N(0, 1)}[f(x + \sigma u)]`
    of a 1-D function.

    The expectation is computed by Gauss-Hermite quadrature with ``num_nodes`` nodes
    (:func:`gauss_hermite_smoothing`: exact for polynomials of degree < 2 * num_nodes,
    deterministic, and differentiable in ``x``). ``sigma = 0`` returns ``f(x)``.

    Args:
        f: an elementwise torch function of a tensor.
        x: the points, any shape.
        sigma: the smoothing width :math:`\sigma \ge 0`.
        num_nodes: quadrature nodes.
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    _args.tensor("x", x, floating=True)
    sigma = _args.real("sigma", sigma, low=0.0)
    num_nodes = _args.positive_int("num_nodes", num_nodes)
    if sigma == 0.0:
        return f(x)
    return gauss_hermite_smoothing(f, x, sigma, num_nodes)


def gauss_hermite_smoothing(f, x: torch.Tensor, sigma: float, num_nodes: int):
    r""":math:`f_\sigma(x) \approx \sum_j w_j f(x + \sigma u_j)`, Gauss-Hermite quadrature.

    The nodes :math:`u_j` and weights :math:`w_j` integrate exactly, against the density of
    N(0, 1), every polynomial of degree < 2 * num_nodes. Arguments are not checked here:
    call :func:`gaussian_smoothing`.
    """
    # nodes u_j and weights for the weight function exp(-u^2 / 2)
    nodes, weights = np.polynomial.hermite_e.hermegauss(num_nodes)
    u = torch.as_tensor(nodes, dtype=x.dtype, device=x.device)
    weights = weights / math.sqrt(2 * math.pi)  # for the density of N(0, 1)
    w = torch.as_tensor(weights, dtype=x.dtype, device=x.device)
    values = f(x.unsqueeze(-1) + sigma * u)  # f(x + sigma u_j)
    return (values * w).sum(dim=-1)  # sum_j w_j f(x + sigma u_j)


def continuation(
    f, x0, sigmas, *, lr: float = 0.1, steps: int = 100, num_nodes: int = 61
) -> dict:
    r"""Gradient descent on a sequence of smoothed objectives :math:`f_{\sigma_0}, f_{\sigma_1}, \dots`.

    Starting at ``x0``, run ``steps`` gradient steps :math:`x \leftarrow x - \eta f_{\sigma_i}'(x)` on each
    :math:`f_{\sigma_i}` in turn, each stage starting where the previous one ended. With decreasing sigmas
    ending at 0 this is the continuation method: easy (smooth, nearly convex) problems first, the original
    objective last. ``sigmas=[0]`` is plain gradient descent on f.

    Args:
        f: an elementwise torch function (the 1-D objective).
        x0: a starting point, or a sequence / 1-D tensor of starting points (all run at once, independently).
        sigmas: the smoothing widths of the stages, in order.
        lr: the step size :math:`\eta`.
        steps: gradient steps per stage.
        num_nodes: quadrature nodes of :func:`gaussian_smoothing`.

    Returns:
        ``{"sigmas", "x", "path"}``: the sigmas; the points reached at the end of each stage, shape
        (len(sigmas), starts); every iterate, shape (1 + len(sigmas) * steps, starts). A scalar ``x0`` gives
        one start (the last axis has length 1).
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    if isinstance(x0, torch.Tensor):
        x = _args.tensor("x0", x0, ndim=(0, 1), floating=True)
        x = x.detach().to(torch.float64).reshape(-1).clone()
    else:
        starts = [x0] if not hasattr(x0, "__len__") else list(x0)
        x = torch.tensor(
            [_args.real(f"x0[{i}]", v) for i, v in enumerate(starts)],
            dtype=torch.float64,
        )
    if x.numel() == 0 or not torch.isfinite(x).all():
        raise ValueError("x0 must hold at least one finite starting point")
    sigmas = [
        _args.real(f"sigmas[{i}]", s, low=0.0) for i, s in enumerate(sigmas)
    ]
    if not sigmas:
        raise ValueError("sigmas must hold at least one value")
    lr = _args.positive("lr", lr)
    steps = _args.positive_int("steps", steps)
    path, ends = [x.clone()], []
    for sigma in sigmas:
        for _ in range(steps):
            x = x.detach().requires_grad_(True)
            f_sigma = gaussian_smoothing(f, x, sigma, num_nodes=num_nodes).sum()
            (g,) = torch.autograd.grad(f_sigma, x)
            x = (x - lr * g).detach()  # x <- x - lr * f_sigma'(x)
            path.append(x)
        ends.append(x)
    return {
        "sigmas": np.array(sigmas),
        "x": torch.stack(ends).numpy(),
        "path": torch.stack(path).numpy(),
    }


def curriculum_batches(
    difficulty,
    batch_size: int,
    num_steps: int,
    *,
    start_fraction=0.2,
    full_at=0.5,
    generator=None,
):
    r"""The indices of ``num_steps`` minibatches drawn easy-to-hard (a pacing schedule).

    At step :math:`t` the batch is drawn uniformly, without replacement, from the
    :math:`\lceil p(t)\, n \rceil` easiest examples, where the pool grows linearly,
    :math:`p(t) = \min\big(1, p_0 + (1 - p_0)\, t / T_{full}\big)`, from ``start_fraction``
    :math:`p_0` to the whole set at step :math:`T_{full}` = ``full_at * num_steps``
    (:func:`paced_batches`). ``start_fraction=1`` is ordinary random sampling.

    Args:
        difficulty: one score per example (lower is easier), shape (n,).
        batch_size: examples per batch (at most the initial pool size).
        num_steps: number of batches.
        start_fraction: :math:`p_0` in (0, 1].
        full_at: fraction of the steps after which every example is in the pool, in [0, 1].
        generator: a CPU ``torch.Generator`` for the draws.

    Returns:
        an iterator over ``num_steps`` index tensors of length ``batch_size``.
    """
    _args.tensor("difficulty", difficulty, ndim=1)
    n = len(difficulty)
    batch_size = _args.positive_int("batch_size", batch_size)
    num_steps = _args.positive_int("num_steps", num_steps)
    p0 = _args.real(
        "start_fraction", start_fraction, low=0.0, high=1.0, low_open=True
    )
    full_at = _args.real("full_at", full_at, low=0.0, high=1.0)
    if batch_size > math.ceil(p0 * n):
        raise ValueError(
            f"batch_size={batch_size} is larger than the first pool "
            f"({math.ceil(p0 * n)} examples = start_fraction * n)"
        )
    return paced_batches(
        difficulty, batch_size, num_steps, p0, full_at, generator
    )


def paced_batches(
    difficulty, batch_size, num_steps, p0, full_at, generator=None
):
    r"""Yield minibatch indices from the :math:`\lceil p(t)\, n \rceil` easiest examples,
    :math:`p(t) = \min(1, p_0 + (1 - p_0)\, t / T_{full})`, :math:`T_{full}` = ``full_at *
    num_steps``. Arguments are not checked here: call :func:`curriculum_batches`.
    """
    n = len(difficulty)
    order = torch.argsort(
        difficulty.detach().cpu(), stable=True
    )  # easiest first
    t_full = max(full_at * num_steps, 1e-12)
    for t in range(num_steps):
        p = min(1.0, p0 + (1.0 - p0) * t / t_full)  # p(t)
        pool = order[: math.ceil(p * n)]
        pick = torch.randperm(len(pool), generator=generator)[:batch_size]
        yield pool[pick].to(difficulty.device)
