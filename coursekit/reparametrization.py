"""Reparametrization: the deep linear chain :math:`\\hat y = x\\, w_1 w_2 \\cdots w_k` and batch normalization.

One function of the input written with one, two or k weights moves differently under the same gradient
step: the step's higher-order terms depend on the parametrization. Batch normalization of the output
removes that dependence. These functions compute the steps exactly (autograd) and as polynomials in the
step size; chapter 06 compares them.
"""

from __future__ import annotations

import numpy as np
import torch

from . import _args

__all__ = [
    "product_network_step",
    "chain_step",
    "product_update_polynomial",
    "step_polynomial",
    "product_network_forward",
    "product_network_batch_step",
]


def _weights(ws) -> torch.Tensor:
    if isinstance(ws, torch.Tensor):
        w = ws.detach().to(torch.float64).reshape(-1)
    else:
        try:
            w = torch.tensor([float(v) for v in ws], dtype=torch.float64)
        except (TypeError, ValueError):
            raise TypeError(
                f"ws must be a sequence of numbers or a 1-D tensor, got {ws!r}"
            ) from None
    if w.numel() < 1:
        raise ValueError("ws must hold at least one weight")
    if not torch.isfinite(w).all():
        raise ValueError(f"ws must be finite, got {w.tolist()}")
    return w


def _shared_weights(w: torch.Tensor, shared: bool) -> None:
    if shared and not bool((w == w[0]).all()):
        raise ValueError(
            f"shared=True needs equal weights (one shared w), got {w.tolist()}"
        )


def product_network_step(ws, x: float, lr: float, *, shared: bool = False):
    r"""Output after one gradient step of the deep linear network :math:`\hat y = x\, w_1 w_2 \cdots w_k`.

    To keep the algebra short the loss is the output itself, :math:`L = \hat y`, so every weight moves by
    :math:`-\epsilon\, \partial \hat y/\partial w_i = -\epsilon\, x \prod_{j \ne i} w_j`, all at once.
    The gradient is taken by autograd; the function returns :math:`\hat y` at the new weights.

    Args:
        ws: the weights :math:`w_1, \dots, w_k`.
        x: the input.
        lr: the step :math:`\epsilon`.
        shared: all layers use ONE weight :math:`w` (pass ``ws=[w] * k``), so :math:`\hat y = x w^k` and
            the step is :math:`w \leftarrow w - \epsilon\, k x w^{k-1}`.
    """
    w = _weights(ws)
    x = _args.real("x", x)
    lr = _args.real("lr", lr, low=0.0)
    _shared_weights(w, shared)
    return chain_step(w, x, lr, shared=shared)


def chain_step(
    w: torch.Tensor, x: float, lr: float, *, shared: bool = False
) -> float:
    r""":math:`\hat y` after one gradient step on :math:`L = \hat y = x \prod_i w_i`, by autograd.

    ``w`` is a float64 tensor of the k weights (with ``shared=True``, k copies of one weight).
    Arguments are not checked here: call :func:`product_network_step`.
    """
    k = len(w)
    if shared:  # one weight used k times: y = x w^k
        w = w[:1]
    w = w.clone().requires_grad_(True)
    y = x * (w.pow(k).sum() if shared else torch.prod(w))
    (g,) = torch.autograd.grad(y, w)  # g_i = x prod_{j != i} w_j
    w_new = w.detach() - lr * g  # all weights move at once
    return float(x * (w_new.pow(k).sum() if shared else torch.prod(w_new)))


def product_update_polynomial(ws, x: float) -> np.ndarray:
    r"""Coefficients :math:`c_0, \dots, c_k` of the output after one step as a polynomial in the step size,
    :math:`\hat y^{t+1}(\epsilon) = \sum_r c_r \epsilon^r`, for :math:`\hat y = x \prod_i w_i` and
    :math:`L = \hat y`.

    With :math:`\kappa = \prod_j w_j`, each factor is :math:`w_i - \epsilon x \kappa / w_i`, so
    :math:`\hat y^{t+1} = \frac{x}{\kappa} \prod_i (w_i^2 - \epsilon x \kappa)
    = x\big(\kappa - \epsilon x \sum_i \prod_{j\ne i} w_j^2 + \dots + (-1)^k (\epsilon x)^k \kappa^{k-1}\big)`,
    i.e. :math:`c_r = x (-x)^r \kappa^{r-1} e_{k-r}(w_1^2, \dots, w_k^2)` with :math:`e_j` the elementary
    symmetric polynomials. Computed by multiplying out :math:`\prod_i (w_i^2 + (-x\kappa)\epsilon)`,
    which needs every :math:`w_i \ne 0`.

    Returns:
        a float64 array of the k + 1 coefficients, lowest order first.
    """
    w = _weights(ws).numpy()
    x = _args.real("x", x)
    if (w == 0).any():
        raise ValueError(
            "ws must be non-zero for the expansion "
            f"(it divides by prod(w)), got {w.tolist()}"
        )
    return step_polynomial(w, x)


def step_polynomial(w: np.ndarray, x: float) -> np.ndarray:
    r"""Coefficients of :math:`\hat y^{t+1}(\epsilon) = \frac{x}{\kappa} \prod_i (w_i^2 - \epsilon x
    \kappa)`, lowest order first. Arguments are not checked here: call
    :func:`product_update_polynomial`.
    """
    kappa = float(np.prod(w))
    poly = np.array([1.0])  # coefficients in eps, lowest order first
    for wi in w:  # multiply by (w_i^2 - eps x kappa)
        poly = np.convolve(poly, [wi**2, -x * kappa])
    return x / kappa * poly


def product_network_forward(
    x, w, gamma=None, beta=None, *, k: int, eps: float = 0.0
):
    r"""The chain's outputs on a batch (1-D tensor ``x``), :math:`h = x\, w_1 \cdots w_k`, batch-normalized when ``gamma`` is given.

    ``w`` holds the k weights, or ONE weight used by all k layers (``len(w) == 1``: :math:`h = x w^k`).
    With ``gamma`` and ``beta`` the output is :math:`\hat y = \gamma\, \mathrm{BN}(h) + \beta`, with
    the batch's mean and variance (``eps`` added to the variance).
    """
    from .nn import batch_norm

    h = x * (w.pow(k).sum() if len(w) == 1 else torch.prod(w))  # x w_1 ... w_k
    if gamma is None:
        return h
    y = batch_norm(h[:, None], None, None, gamma, beta, training=True, eps=eps)
    return y[:, 0]  # gamma BN(h) + beta


def product_network_batch_step(
    ws,
    x: torch.Tensor,
    y: torch.Tensor,
    lr: float,
    *,
    shared: bool = False,
    normalize: bool = False,
    gamma: float = 1.0,
    beta: float = 0.0,
    eps: float = 0.0,
) -> dict:
    r"""One gradient step of the deep linear network :math:`h = x\, w_1 \cdots w_k` on a batch, with or
    without batch normalization of its output, under the squared loss
    :math:`L = \frac{1}{2m}\sum_j (\hat y_j - y_j)^2`.

    - ``normalize=False``: :math:`\hat y = h`; the weights are the parameters.
    - ``normalize=True``: :math:`\hat y = \gamma\, \mathrm{BN}(h) + \beta` (batch statistics, ``eps`` added to
      the variance); the parameters are the weights, :math:`\gamma` and :math:`\beta`.

    All parameters move at once, :math:`\theta \leftarrow \theta - \epsilon \nabla_\theta L` (autograd), and
    the function returns the outputs on the same batch after the step (see :func:`product_network_forward`).

    Args:
        ws: the weights :math:`w_1, \dots, w_k`; with ``shared=True`` one weight used k times
            (pass ``[w] * k``).
        x, y: the batch inputs and targets, 1-D tensors of the same length m >= 2.
        lr: the step :math:`\epsilon`.
        gamma, beta, eps: batch-norm scale, shift and variance offset (``normalize=True`` only).

    Returns:
        a dict with ``"output"`` (the outputs after the step), ``"loss"`` (the loss before it),
        ``"grad_w"`` (the gradients of the distinct weights), ``"grad_gamma"`` and ``"grad_beta"``
        (``None`` without normalization).
    """
    w = _weights(ws)
    _args.tensor("x", x, ndim=1, floating=True)
    _args.tensor("y", y, ndim=1, floating=True)
    _args.same_length(("x", "y"), x, y)
    if len(x) < 2:
        raise ValueError(
            f"x must hold a batch of at least 2 values, got {len(x)}"
        )
    lr = _args.real("lr", lr, low=0.0)
    eps = _args.real("eps", eps, low=0.0)
    x, y = x.to(torch.float64), y.to(torch.float64)
    k = len(w)
    _shared_weights(w, shared)
    free = (w[:1] if shared else w).clone().requires_grad_(True)
    gamma = _args.real("gamma", gamma)
    beta = _args.real("beta", beta)
    params = [free]
    if normalize:
        params += [
            torch.tensor([gamma], dtype=torch.float64, requires_grad=True),
            torch.tensor([beta], dtype=torch.float64, requires_grad=True),
        ]
    loss = (
        0.5
        * ((product_network_forward(x, *params, k=k, eps=eps) - y) ** 2).mean()
    )
    grads = torch.autograd.grad(loss, params)
    with torch.no_grad():
        new = [p - lr * gp for p, gp in zip(params, grads)]
        out = product_network_forward(x, *new, k=k, eps=eps)
    return {
        "output": out,
        "loss": float(loss.detach()),
        "grad_w": grads[0],
        "grad_gamma": grads[1] if normalize else None,
        "grad_beta": grads[2] if normalize else None,
    }
