"""Optimization strategies beyond the update rule: the reparametrization argument behind batch norm,
block coordinate descent, greedy supervised pretraining, Gaussian continuation and curriculum learning.

Each function returns numbers (outputs, objectives, trajectories, models); the chapters draw them.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from . import _args

__all__ = [
    "product_network_step", "product_update_polynomial", "product_network_batch_step",
    "sparse_coding_objective", "block_coordinate_descent",
    "gaussian_smoothing", "continuation",
    "curriculum_batches",
    "greedy_supervised_pretraining",
]


# --------------------------------------------------------------------------------------------------
# Why simultaneous updates are hard to tune: y = x w_1 w_2 ... w_k
# --------------------------------------------------------------------------------------------------

def _weights(ws) -> torch.Tensor:
    if isinstance(ws, torch.Tensor):
        w = ws.detach().to(torch.float64).reshape(-1)
    else:
        try:
            w = torch.tensor([float(v) for v in ws], dtype=torch.float64)
        except (TypeError, ValueError):
            raise TypeError(f"ws must be a sequence of numbers or a 1-D tensor, got {ws!r}") from None
    if w.numel() < 1:
        raise ValueError("ws must hold at least one weight")
    if not torch.isfinite(w).all():
        raise ValueError(f"ws must be finite, got {w.tolist()}")
    return w


def product_network_step(ws, x: float, lr: float, *, shared: bool = False) -> float:
    r"""Output after one gradient step of the deep linear network :math:`\hat y = x\, w_1 w_2 \cdots w_k`.

    To keep the algebra short the loss is the output itself, :math:`L = \hat y`, so every weight moves by
    :math:`-\epsilon\, \partial \hat y/\partial w_i = -\epsilon\, x \prod_{j \ne i} w_j`, all at once.
    The gradient is taken by autograd; the function returns :math:`\hat y` at the new weights.

    Args:
        ws: the weights :math:`w_1, \dots, w_k`.
        x: the input.
        lr: the step :math:`\epsilon`.
        shared: all layers use ONE weight :math:`w` (``ws`` holds it once and ``k = len(ws)`` is ignored:
            pass ``ws=[w] * k``), so :math:`\hat y = x w^k` and the step is
            :math:`w \leftarrow w - \epsilon\, k x w^{k-1}`.
    """
    w = _weights(ws)
    x = _args.real("x", x)
    lr = _args.real("lr", lr, low=0.0)
    if shared:
        if not bool((w == w[0]).all()):
            raise ValueError(f"shared=True needs equal weights (one shared w), got {w.tolist()}")
        w0 = w[:1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(x * w0.pow(len(w)).sum(), w0)
        return float(x * (w0.detach() - lr * g).pow(len(w)).sum())
    w = w.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(x * torch.prod(w), w)    # g_i = x prod_{j != i} w_j
    return float(x * torch.prod(w.detach() - lr * g))    # x prod_i (w_i - eps g_i)


def product_update_polynomial(ws, x: float) -> np.ndarray:
    r"""Coefficients :math:`c_0, \dots, c_k` of the output after one step as a polynomial in the step size,
    :math:`\hat y^{t+1}(\epsilon) = \sum_r c_r \epsilon^r`, for :math:`\hat y = x \prod_i w_i` and :math:`L = \hat y`.

    With :math:`\kappa = \prod_j w_j`, each factor is :math:`w_i - \epsilon x \kappa / w_i`, so
    :math:`\hat y^{t+1} = \frac{x}{\kappa} \prod_i (w_i^2 - \epsilon x \kappa)
    = x\big(\kappa - \epsilon x \sum_i \prod_{j\ne i} w_j^2 + \dots + (-1)^k (\epsilon x)^k \kappa^{k-1}\big)`,
    i.e. :math:`c_r = x (-x)^r \kappa^{r-1} e_{k-r}(w_1^2, \dots, w_k^2)` with :math:`e_j` the elementary
    symmetric polynomials. Computed here by multiplying out :math:`\prod_i (w_i^2 + (-x\kappa)\epsilon)`,
    which needs every :math:`w_i \ne 0`.

    Returns:
        a float64 array of the k + 1 coefficients, lowest order first.
    """
    w = _weights(ws).numpy()
    x = _args.real("x", x)
    if (w == 0).any():
        raise ValueError(f"ws must be non-zero for the expansion (it divides by prod(w)), "
                         f"got {w.tolist()}")
    kappa = float(np.prod(w))
    poly = np.array([1.0])          # coefficients in eps, lowest order first
    for wi in w:                    # multiply by (w_i^2 - eps x kappa)
        poly = np.convolve(poly, [wi ** 2, -x * kappa])
    return x / kappa * poly


def product_network_batch_step(ws, x: torch.Tensor, y: torch.Tensor, lr: float, *, shared: bool = False,
                               normalize: bool = False, gamma: float = 1.0, beta: float = 0.0, eps: float = 0.0) -> dict:
    r"""One gradient step of the deep linear network :math:`h = x\, w_1 \cdots w_k` on a batch, with or without
    batch normalization of its output, under the squared loss :math:`L = \frac{1}{2m}\sum_j (\hat y_j - y_j)^2`.

    - ``normalize=False``: :math:`\hat y = h`; the weights are the parameters.
    - ``normalize=True``: :math:`\hat y = \gamma\, \mathrm{BN}(h) + \beta` (batch statistics, ``eps`` added to the
      variance); the parameters are the weights, :math:`\gamma` and :math:`\beta`.

    All parameters move at once, :math:`\theta \leftarrow \theta - \epsilon \nabla_\theta L` (autograd), and the
    function returns the outputs on the same batch after the step.

    Args:
        ws: the weights :math:`w_1, \dots, w_k`; with ``shared=True`` one weight used k times (pass ``[w] * k``).
        x, y: the batch inputs and targets, 1-D tensors of the same length m >= 2.
        lr: the step :math:`\epsilon`.
        gamma, beta, eps: batch-norm scale, shift and variance offset (``normalize=True`` only).

    Returns:
        ``{"output": outputs after the step, "loss": loss before the step, "grad_w": gradients of the distinct
        weights, "grad_gamma", "grad_beta"}`` (the last two ``None`` without normalization).
    """
    from .nn import batch_norm

    w = _weights(ws)
    _args.tensor("x", x, ndim=1, floating=True)
    _args.tensor("y", y, ndim=1, floating=True)
    _args.same_length(("x", "y"), x, y)
    if len(x) < 2:
        raise ValueError(f"x must hold a batch of at least 2 values, got {len(x)}")
    lr = _args.real("lr", lr, low=0.0)
    eps = _args.real("eps", eps, low=0.0)
    x, y = x.to(torch.float64), y.to(torch.float64)
    k = len(w)
    if shared and not bool((w == w[0]).all()):
        raise ValueError(f"shared=True needs equal weights (one shared w), got {w.tolist()}")
    free = (w[:1] if shared else w).clone().requires_grad_(True)
    g = torch.tensor([_args.real("gamma", gamma)], dtype=torch.float64, requires_grad=normalize)
    b = torch.tensor([_args.real("beta", beta)], dtype=torch.float64, requires_grad=normalize)

    def forward(free, g, b):
        h = x * (free.pow(k).sum() if shared else torch.prod(free))   # x w_1 ... w_k
        if not normalize:
            return h
        y = batch_norm(h.unsqueeze(1), None, None, g, b, training=True, eps=eps)
        return y.squeeze(1)                                           # gamma BN(h) + beta

    loss = 0.5 * ((forward(free, g, b) - y) ** 2).mean()
    params = [free, g, b] if normalize else [free]
    grads = torch.autograd.grad(loss, params)
    with torch.no_grad():
        new = [p - lr * gp for p, gp in zip(params, grads)]
        out = forward(*new) if normalize else forward(new[0], g, b)
    return {"output": out, "loss": float(loss.detach()), "grad_w": grads[0],
            "grad_gamma": grads[1] if normalize else None, "grad_beta": grads[2] if normalize else None}


# --------------------------------------------------------------------------------------------------
# Block coordinate descent: J(H, W) = lam |H|_1 + |X - W'H|^2
# --------------------------------------------------------------------------------------------------

def sparse_coding_objective(X: torch.Tensor, W: torch.Tensor, H: torch.Tensor, lam: float) -> float:
    r""":math:`J(H, W) = \lambda \|H\|_1 + \|X - W^\top H\|_F^2` for data X (d, n), atoms W (k, d), codes H (k, n)."""
    _args.tensor("X", X, ndim=2, floating=True)
    _args.tensor("W", W, ndim=2, floating=True)
    _args.tensor("H", H, ndim=2, floating=True)
    if W.shape[1] != X.shape[0] or H.shape != (W.shape[0], X.shape[1]):
        raise ValueError(f"shapes must be X (d, n), W (k, d), H (k, n); got X {tuple(X.shape)}, "
                         f"W {tuple(W.shape)}, H {tuple(H.shape)}")
    lam = _args.real("lam", lam, low=0.0)
    return float(lam * H.abs().sum() + ((X - W.T @ H) ** 2).sum())


def _soft_threshold(v: torch.Tensor, theta: float) -> torch.Tensor:
    return torch.sign(v) * torch.clamp(v.abs() - theta, min=0.0)


def block_coordinate_descent(X: torch.Tensor, num_atoms: int, lam: float, *, rounds: int = 30, inner_steps: int = 20,
                             generator: torch.Generator | None = None, W0: torch.Tensor | None = None) -> dict:
    r"""Minimize :math:`J(H, W) = \lambda\|H\|_1 + \|X - W^\top H\|_F^2` by alternating over the two blocks.

    J is not jointly convex, but with one block fixed it is convex in the other:

    - **H step** (a lasso, W fixed): ``inner_steps`` iterations of ISTA,
      :math:`H \leftarrow \mathrm{soft}_{\lambda/L}\big(H - \tfrac1L \nabla_H\big)`,
      :math:`\nabla_H = 2W(W^\top H - X)`, :math:`L = 2\|WW^\top\|_2`;
    - **W step** (least squares, H fixed): ``inner_steps`` projected gradient steps
      :math:`W \leftarrow \Pi\big(W - \tfrac1L \nabla_W\big)`, :math:`\nabla_W = 2H(W^\top H - X)^\top`,
      :math:`L = 2\|HH^\top\|_2`, where :math:`\Pi` scales every atom (row of W) back to norm at most 1.
      Without that constraint J has no minimizer worth having: :math:`(cW, H/c)` gives the same fit and
      a penalty :math:`c` times smaller.

    Each inner step with step size 1/L cannot increase J, so J decreases monotonically.

    Args:
        X: data, one example per column, shape (d, n).
        num_atoms: k, the number of atoms (rows of W).
        lam: the sparsity weight :math:`\lambda \ge 0`.
        rounds: number of (H step, W step) rounds.
        inner_steps: iterations inside each block step.
        generator: for the random initial atoms (when ``W0`` is not given).
        W0: optional initial atoms, shape (k, d).

    Returns:
        ``{"W", "H", "objective"}``: the final blocks and J after every block step (2 * rounds + 1 values,
        the first at the start).
    """
    _args.tensor("X", X, ndim=2, floating=True)
    k = _args.positive_int("num_atoms", num_atoms)
    lam = _args.real("lam", lam, low=0.0)
    rounds = _args.positive_int("rounds", rounds)
    inner_steps = _args.positive_int("inner_steps", inner_steps)
    d, n = X.shape
    if W0 is None:
        W = torch.randn(k, d, generator=generator, dtype=X.dtype).to(X.device)
    else:
        W = _args.tensor("W0", W0, ndim=2, floating=True).to(dtype=X.dtype, device=X.device).clone()
        if W.shape != (k, d):
            raise ValueError(f"W0 must have shape {(k, d)}, got {tuple(W.shape)}")
    W = W / W.norm(dim=1, keepdim=True).clamp(min=1.0) if W0 is not None else W / W.norm(dim=1, keepdim=True)
    H = torch.zeros(k, n, dtype=X.dtype, device=X.device)
    history = [sparse_coding_objective(X, W, H, lam)]
    for _ in range(rounds):
        # H step (W fixed): ISTA on a lasso
        L = 2 * torch.linalg.matrix_norm(W @ W.T, ord=2).clamp(min=1e-12)
        for _ in range(inner_steps):
            H = _soft_threshold(H - 2 * W @ (W.T @ H - X) / L, lam / L)
        history.append(sparse_coding_objective(X, W, H, lam))
        # W step (H fixed): projected gradient on least squares
        L = 2 * torch.linalg.matrix_norm(H @ H.T, ord=2).clamp(min=1e-12)
        for _ in range(inner_steps):
            W = W - 2 * H @ (W.T @ H - X).T / L
            W = W / W.norm(dim=1, keepdim=True).clamp(min=1.0)   # atoms into the unit ball
        history.append(sparse_coding_objective(X, W, H, lam))
    return {"W": W, "H": H, "objective": np.array(history)}


# --------------------------------------------------------------------------------------------------
# Continuation: Gaussian smoothing
# --------------------------------------------------------------------------------------------------

def gaussian_smoothing(f, x: torch.Tensor, sigma: float, *, num_nodes: int = 61) -> torch.Tensor:
    r"""The Gaussian smoothing :math:`f_\sigma(x) = \mathbb{E}_{u \sim N(0, 1)}[f(x + \sigma u)]` of a 1-D function.

    The expectation is computed by Gauss-Hermite quadrature with ``num_nodes`` nodes (exact for polynomials
    of degree < 2 * num_nodes, deterministic, and differentiable in ``x``). ``sigma = 0`` returns ``f(x)``.

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
    # nodes u_j and weights for the weight function exp(-u^2 / 2)
    nodes, weights = np.polynomial.hermite_e.hermegauss(num_nodes)
    u = torch.as_tensor(nodes, dtype=x.dtype, device=x.device)
    w = torch.as_tensor(weights / math.sqrt(2 * math.pi), dtype=x.dtype, device=x.device)
    values = f(x.unsqueeze(-1) + sigma * u)             # f(x + sigma u_j)
    return (values * w).sum(dim=-1)                     # sum_j w_j f(x + sigma u_j)


def continuation(f, x0, sigmas, *, lr: float = 0.1, steps: int = 100, num_nodes: int = 61) -> dict:
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
        x = _args.tensor("x0", x0, ndim=(0, 1), floating=True).detach().to(torch.float64).reshape(-1).clone()
    else:
        starts = [x0] if not hasattr(x0, "__len__") else list(x0)
        x = torch.tensor([_args.real(f"x0[{i}]", v) for i, v in enumerate(starts)], dtype=torch.float64)
    if x.numel() == 0 or not torch.isfinite(x).all():
        raise ValueError("x0 must hold at least one finite starting point")
    sigmas = [_args.real(f"sigmas[{i}]", s, low=0.0) for i, s in enumerate(sigmas)]
    if not sigmas:
        raise ValueError("sigmas must hold at least one value")
    lr = _args.positive("lr", lr)
    steps = _args.positive_int("steps", steps)
    path, ends = [x.clone()], []
    for sigma in sigmas:
        for _ in range(steps):
            x = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(gaussian_smoothing(f, x, sigma, num_nodes=num_nodes).sum(), x)
            x = (x - lr * g).detach()                            # x <- x - lr * f_sigma'(x)
            path.append(x)
        ends.append(x)
    return {"sigmas": np.array(sigmas), "x": torch.stack(ends).numpy(), "path": torch.stack(path).numpy()}


# --------------------------------------------------------------------------------------------------
# Curriculum learning
# --------------------------------------------------------------------------------------------------

def curriculum_batches(difficulty: torch.Tensor, batch_size: int, num_steps: int, *, start_fraction: float = 0.2,
                       full_at: float = 0.5, generator: torch.Generator | None = None):
    r"""Yield the indices of ``num_steps`` minibatches drawn easy-to-hard (a pacing schedule).

    At step :math:`t` the batch is drawn uniformly, without replacement, from the
    :math:`\lceil p(t)\, n \rceil` easiest examples, where the pool grows linearly,
    :math:`p(t) = \min\big(1, p_0 + (1 - p_0)\, t / (T_{full})\big)`, from ``start_fraction`` :math:`p_0` to the
    whole set at step :math:`T_{full}` = ``full_at * num_steps``. ``start_fraction=1`` is ordinary random sampling.

    Args:
        difficulty: one score per example (lower is easier), shape (n,).
        batch_size: examples per batch (at most the initial pool size).
        num_steps: number of batches.
        start_fraction: :math:`p_0` in (0, 1].
        full_at: fraction of the steps after which every example is in the pool, in [0, 1].
        generator: a CPU ``torch.Generator`` for the draws.
    """
    _args.tensor("difficulty", difficulty, ndim=1)
    n = len(difficulty)
    batch_size = _args.positive_int("batch_size", batch_size)
    num_steps = _args.positive_int("num_steps", num_steps)
    p0 = _args.real("start_fraction", start_fraction, low=0.0, high=1.0, low_open=True)
    full_at = _args.real("full_at", full_at, low=0.0, high=1.0)
    if batch_size > math.ceil(p0 * n):
        raise ValueError(f"batch_size={batch_size} is larger than the first pool ({math.ceil(p0 * n)} examples = "
                         f"start_fraction * n); lower batch_size or raise start_fraction")
    order = torch.argsort(difficulty.detach().cpu(), stable=True)     # easiest first
    t_full = max(full_at * num_steps, 1e-12)
    for t in range(num_steps):
        fraction = min(1.0, p0 + (1.0 - p0) * t / t_full)
        pool = order[: math.ceil(fraction * n)]
        pick = torch.randperm(len(pool), generator=generator)[:batch_size]
        yield pool[pick].to(difficulty.device)


# --------------------------------------------------------------------------------------------------
# Greedy supervised pretraining
# --------------------------------------------------------------------------------------------------

def greedy_supervised_pretraining(sizes, train: tuple, *, activation: str = "sigmoid", epochs_per_layer: int = 5,
                                  lr: float = 0.1, batch_size: int = 64, generator: torch.Generator | None = None,
                                  loss_fn=None):
    r"""Greedy layer-wise supervised pretraining of an MLP.

    Stage :math:`l = 1, \dots, L-1`: on top of the hidden layers already trained (frozen), add one new
    hidden layer and a new output layer, and train only those two for ``epochs_per_layer`` epochs of SGD.
    The result is the full network (trained hidden layers + the last output layer), ready to be
    fine-tuned end to end.

    Args:
        sizes: widths of the final network, input first, output last (at least one hidden layer).
        train: the training set ``(X, y)``.
        activation: hidden activation (one of ``coursekit.nn.ACTIVATIONS``).
        epochs_per_layer, lr, batch_size: SGD settings of each stage.
        generator: for the minibatch order.
        loss_fn: the loss (cross-entropy by default).

    Returns:
        ``(model, histories)``: an ``nn.Sequential`` with the same layout as ``coursekit.nn.mlp(sizes, activation)``
        and the :class:`coursekit.train.History` of each stage.
    """
    from . import nn as cknn
    from . import train as cktrain
    import torch.nn.functional as F

    sizes = list(sizes)
    if len(sizes) < 3:
        raise ValueError(f"sizes must have at least one hidden layer (3 entries), got {sizes!r}")
    for i, s in enumerate(sizes):
        _args.positive_int(f"sizes[{i}]", s)
    _args.one_of("activation", activation, cknn.ACTIVATIONS)
    epochs_per_layer = _args.positive_int("epochs_per_layer", epochs_per_layer)
    lr = _args.positive("lr", lr)
    loss_fn = F.cross_entropy if loss_fn is None else loss_fn
    trained: list[nn.Module] = []
    histories = []
    for l in range(1, len(sizes) - 1):
        new_hidden = [nn.Linear(sizes[l - 1], sizes[l]), cknn.ACTIVATIONS[activation]()]
        head = nn.Linear(sizes[l], sizes[-1])
        for p in (p for m in trained for p in m.parameters()):
            p.requires_grad_(False)           # earlier layers stay as they are
        model = nn.Sequential(*trained, *new_hidden, head)
        new_params = [p for m in (*new_hidden, head) for p in m.parameters()]
        opt = torch.optim.SGD(new_params, lr=lr)
        histories.append(cktrain.fit(model, opt, train, epochs=epochs_per_layer, batch_size=batch_size,
                                     loss_fn=loss_fn, generator=generator))
        trained += new_hidden
    model = nn.Sequential(*trained, head)
    for p in model.parameters():
        p.requires_grad_(True)
    return model, histories
