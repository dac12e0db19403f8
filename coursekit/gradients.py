"""Per-example gradients and minibatch gradient estimates: the statistics behind stochastic gradient descent.

The training loss is an average over the n training examples, so its gradient is an average too:

    J(theta) = (1/n) sum_i L(f(x_i; theta), y_i),        grad J(theta) = (1/n) sum_i g_i,
    g_i = grad_theta L(f(x_i; theta), y_i)               (the per-example gradients).

A minibatch of m examples drawn at random gives the estimate ``g_hat = (1/m) sum_{i in batch} g_i``. It is
unbiased, and drawn with replacement its mean squared error is ``E ||g_hat - grad J||^2 = sigma^2 / m`` with
``sigma^2 = (1/n) sum_i ||g_i - grad J||^2``: the standard error falls like ``sigma / sqrt(m)`` while the cost
grows like m. Drawn without replacement (as in a shuffled epoch) the error is smaller by the factor
``(n - m) / (n - 1)`` and vanishes at m = n.

Here: per-example gradients of any ``nn.Module`` (``torch.func``), many minibatch estimates at once, the
standard error predicted by the formula above, the gradient noise scale, and the time of a training step.
"""

from __future__ import annotations

import copy
import functools
import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

from . import _args

__all__ = [
    "per_example_grads",
    "full_grad",
    "minibatch_grads",
    "standard_error",
    "noise_scale",
    "logistic_per_example_grads",
    "time_per_step",
]


def _check_model_data(model, X, y):
    if not isinstance(model, torch.nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, got {type(model).__name__}"
        )
    _args.tensor("X", X)
    _args.tensor("y", y)
    _args.same_length(("X", "y"), X, y)
    if len(X) == 0:
        raise ValueError("X must contain at least one example")


def per_example_grads(
    model: torch.nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable = F.cross_entropy,
    *,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """The gradient of the loss on each example separately, ``g_i = grad_theta L(f(x_i; theta), y_i)``.

    Uses ``torch.func``: ``grad`` differentiates the loss of one example with respect to the parameters
    and ``vmap`` maps that over the rows of ``X`` in one vectorized call (no Python loop over examples).
    The model is evaluated as it is (call ``model.eval()`` first if it has dropout or batch norm).

    Args:
        model: the network; its parameters that require grad are differentiated, in ``model.parameters()`` order.
        X, y: n examples and their targets.
        loss_fn: ``loss_fn(outputs, targets)`` averaging over the batch; cross-entropy by default.
        chunk_size: evaluate this many examples at a time (less memory); ``None`` does all at once.

    Returns:
        a tensor G of shape (n, p), row i the flattened gradient on example i (p = number of parameters).
        Its row mean is the gradient of the mean loss, :func:`full_grad`.
    """
    _check_model_data(model, X, y)
    if chunk_size is not None:
        chunk_size = _args.positive_int("chunk_size", chunk_size)
    params = {
        name: p.detach()
        for name, p in model.named_parameters()
        if p.requires_grad
    }
    if not params:
        raise ValueError("model has no parameters that require grad")
    buffers = {name: b.detach() for name, b in model.named_buffers()}

    def loss_one(params, x, target):
        # the loss on a batch of one example, as a function of the parameters
        out = functional_call(model, (params, buffers), (x.unsqueeze(0),))
        return loss_fn(out, target.unsqueeze(0))

    grads = vmap(grad(loss_one), in_dims=(None, 0, 0), chunk_size=chunk_size)(
        params, X, y
    )
    return torch.cat([g.reshape(len(X), -1) for g in grads.values()], dim=1)


def full_grad(
    model: torch.nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable = F.cross_entropy,
) -> torch.Tensor:
    """The gradient of the mean loss over all of (X, y), ``grad J(theta)``, flattened like :func:`per_example_grads`.

    Computed by ordinary backpropagation through the batch; the parameters' ``.grad`` are left untouched.
    """
    _check_model_data(model, X, y)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no parameters that require grad")
    grads = torch.autograd.grad(loss_fn(model(X), y), params)
    return torch.cat([g.reshape(-1) for g in grads])


def _check_G(G):
    _args.tensor("G", G, ndim=2, floating=True)
    if len(G) < 2:
        raise ValueError(
            "G must hold the gradients of at least 2 examples, got shape"
            f" {tuple(G.shape)}"
        )


def _check_batch_size(G, batch_size, replace):
    """Check per-example gradients G and a batch size m; returns n and m."""
    _check_G(G)
    n = len(G)
    m = _args.positive_int("batch_size", batch_size)
    if not replace and m > n:
        raise ValueError(
            f"batch_size must be <= the number of examples ({n}) without"
            f" replacement, got {m}"
        )
    return n, m


def minibatch_grads(
    G: torch.Tensor,
    batch_size: int,
    num_batches: int,
    *,
    replace: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Many minibatch gradient estimates ``g_hat = (1/m) sum_{i in batch} g_i`` from per-example gradients.

    Each batch draws m = ``batch_size`` of the n rows of ``G`` uniformly at random, with replacement
    (independent draws from the empirical distribution) or without (a random subset, like one batch of a
    shuffled epoch). All batches are computed at once as ``W @ G``, where row k of ``W`` holds weight 1/m
    on each example drawn for batch k (summed when an example is drawn twice). ``W`` is stored sparse,
    and made dense for large batches, where a dense product is faster.

    Args:
        G: per-example gradients, shape (n, p).
        batch_size: m, examples per batch (at most n without replacement).
        num_batches: how many independent batches to draw.
        replace: draw with replacement.
        generator: a CPU ``torch.Generator`` for reproducible draws.

    Returns:
        a tensor of shape (num_batches, p).
    """
    n, m = _check_batch_size(G, batch_size, replace)
    num_batches = _args.positive_int("num_batches", num_batches)
    if replace:
        idx = torch.randint(0, n, (num_batches, m), generator=generator)
    else:
        idx = torch.rand(num_batches, n, generator=generator).argsort(dim=1)[
            :, :m
        ]
    rows = torch.arange(num_batches).repeat_interleave(m)
    weights = torch.full((num_batches * m,), 1.0 / m, dtype=G.dtype)
    W = torch.sparse_coo_tensor(
        torch.stack([rows, idx.reshape(-1)]),
        weights,
        (num_batches, n),
        check_invariants=True,
    ).coalesce()  # sums repeated draws
    if 16 * m > n:
        W = W.to_dense()
    return W.to(G.device) @ G


def standard_error(
    G: torch.Tensor, batch_size: int, *, replace: bool = True
) -> float:
    """The standard error of a minibatch gradient estimate predicted by theory, ``sqrt(E ||g_hat - grad J||^2)``.

        with replacement:     sigma / sqrt(m)
        without replacement:  sigma / sqrt(m) * sqrt((n - m) / (n - 1))
        where sigma^2 = (1/n) sum_i ||g_i - grad J||^2   (the total variance, trace of the covariance)

    Args:
        G: per-example gradients, shape (n, p), computed at one parameter value.
        batch_size: m.
        replace: whether the batch is drawn with replacement.

    Returns:
        the standard error, a float.
    """
    n, m = _check_batch_size(G, batch_size, replace)
    sigma2 = float(((G - G.mean(dim=0)) ** 2).sum(dim=1).mean())
    variance = sigma2 / m
    if not replace:
        variance *= (n - m) / (n - 1)  # finite-population correction
    return math.sqrt(variance)


def noise_scale(G: torch.Tensor) -> float:
    """The gradient noise scale ``B_noise = sigma^2 / ||grad J||^2`` (McCandlish et al., 2018).

    A minibatch of m examples has relative error ``E ||g_hat - grad J||^2 / ||grad J||^2 = B_noise / m``:
    batches much smaller than ``B_noise`` are dominated by noise, batches much larger waste computation
    on precision the step does not need.

    Args:
        G: per-example gradients, shape (n, p).

    Returns:
        ``B_noise``, a float (``inf`` when the mean gradient is exactly zero).
    """
    _check_G(G)
    mean = G.mean(dim=0)
    sigma2 = float(((G - mean) ** 2).sum(dim=1).mean())
    signal = float((mean**2).sum())
    return math.inf if signal == 0.0 else sigma2 / signal


def logistic_per_example_grads(
    w: torch.Tensor, X: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """Per-example gradients of the logistic loss ``L_i(w) = log(1 + exp(-(2 y_i - 1) w'x_i))``, by autodiff.

    Args:
        w: weights, shape (d,).
        X: inputs, shape (n, d).
        y: labels 0/1, shape (n,).

    Returns:
        a tensor of shape (n, d), row i the gradient of ``L_i`` at ``w``.
    """
    _args.tensor("w", w, ndim=1, floating=True)
    _args.tensor("X", X, ndim=2, floating=True)
    _args.tensor("y", y, ndim=1)
    _args.same_length(("X", "y"), X, y)
    if X.shape[1] != len(w):
        raise ValueError(
            f"X must have {len(w)} columns (the length of w), got shape"
            f" {tuple(X.shape)}"
        )

    def loss_one(w, x, label):
        return F.softplus(-(2.0 * label - 1.0) * (w @ x))

    return vmap(grad(loss_one), in_dims=(None, 0, 0))(
        w.detach(), X, y.to(X.dtype)
    )


def _check_timing(model, X, y, batch_sizes, lr, steps, repeats, warmup):
    """The argument checks of :func:`time_per_step`; returns the checked values."""
    _check_model_data(model, X, y)
    sizes = (
        list(batch_sizes) if not isinstance(batch_sizes, (str, bytes)) else None
    )
    if not sizes:
        raise ValueError(
            "batch_sizes must be a non-empty list of batch sizes, got"
            f" {batch_sizes!r}"
        )
    for i, b in enumerate(sizes):
        _args.positive_int(f"batch_sizes[{i}]", b)
        if b > len(X):
            raise ValueError(
                f"batch_sizes[{i}] = {b} is larger than the number of examples"
                f" ({len(X)})"
            )
    return (
        sizes,
        _args.positive("lr", lr),
        _args.positive_int("steps", steps),
        _args.positive_int("repeats", repeats),
        _args.positive_int("warmup", warmup, allow_zero=True),
    )


def _fastest_time(run: Callable[[], None], repeats: int, device) -> float:
    """The shortest wall time of ``repeats`` calls of ``run()``, in seconds.

    On a GPU the device is synchronized before and after each call, so that
    queued work is counted in the call that queued it.
    """
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    best = math.inf
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        run()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def time_per_step(
    model: torch.nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    batch_sizes,
    *,
    loss_fn: Callable = F.cross_entropy,
    lr: float = 0.01,
    steps: int = 1,
    repeats: int = 20,
    warmup: int = 3,
) -> dict:
    """Measure the wall time of one SGD step (forward, backward, update) for each batch size.

    A copy of ``model`` is trained on the first ``batch_size`` rows of (X, y) (the model passed in is not
    changed). For each batch size, ``repeats`` blocks of ``steps`` consecutive steps are timed after
    ``warmup`` untimed steps; the fastest block counts, which filters out interruptions by other programs.

    Args:
        model, X, y, loss_fn: as for training.
        batch_sizes: the batch sizes to time (each at most ``len(X)``).
        lr: step size of the SGD update.
        steps, repeats, warmup: as above.

    Returns:
        ``{batch_size: seconds per step}``.
    """
    sizes, lr, steps, repeats, warmup = _check_timing(
        model, X, y, batch_sizes, lr, steps, repeats, warmup
    )
    net = copy.deepcopy(model)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)

    def sgd_steps(Xb, yb, n):  # n SGD steps on the batch (Xb, yb)
        for _ in range(n):
            optimizer.zero_grad()
            loss_fn(net(Xb), yb).backward()
            optimizer.step()

    result = {}
    for b in sizes:
        sgd_steps(X[:b], y[:b], warmup)  # untimed
        block = functools.partial(sgd_steps, X[:b], y[:b], steps)
        result[int(b)] = _fastest_time(block, repeats, X.device) / steps
    return result
