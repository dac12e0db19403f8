"""Losses for classification: the 0-1 loss we care about and the negative log-likelihood we minimize instead.

A classifier outputs *logits* ``z = f(x; theta)``, one score per class. Its class probabilities are
``p_model(y | x; theta) = softmax(z)_y`` and it predicts ``y_hat = argmax_y p_model(y | x; theta) = argmax_k z_k``.
With two classes a single score ``s = z_1 - z_0`` is enough (a 1-D tensor of logits): it predicts class 1
when ``s > 0``. Every function here accepts both forms.

- the **0-1 loss** ``1[y_hat != y]`` is what we want small, but it is piecewise constant in theta;
- the **negative log-likelihood** ``-log p_model(y | x; theta)`` (the cross-entropy) is smooth, and in bits it
  is an upper bound on the 0-1 loss;
- the **margin** ``z_y - max_{k != y} z_k`` is positive exactly when the example is classified correctly.

The last two functions fit a linear classifier by minimizing the empirical negative log-likelihood
(logistic regression): with Newton's method, or with plain gradient descent, recording the path.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import _args

__all__ = [
    "predict",
    "zero_one_loss",
    "nll",
    "margins",
    "logistic_regression",
    "logistic_gradient_descent",
]

_REDUCTIONS = {"mean", "sum", "none"}


def _check_logits(logits, y) -> None:
    _args.tensor("logits", logits, ndim=(1, 2), floating=True)
    _args.tensor("y", y, ndim=1)
    if y.is_floating_point() or y.dtype == torch.bool:
        raise TypeError(
            f"y must hold integer class indices, got dtype {y.dtype}"
        )
    _args.same_length(("logits", "y"), logits, y)
    num_classes = 2 if logits.ndim == 1 else logits.shape[1]
    if logits.ndim == 2 and num_classes < 2:
        raise ValueError(
            "logits must have at least 2 columns (one per class), got shape"
            f" {tuple(logits.shape)}"
        )
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(
            f"y must hold class indices in 0..{num_classes - 1}, got values in "
            f"{int(y.min())}..{int(y.max())}"
        )


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    _args.one_of("reduction", reduction, _REDUCTIONS)
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values


def predict(logits: torch.Tensor) -> torch.Tensor:
    """The classifier's decision ``y_hat = argmax_k z_k`` (for 1-D scores: 1 where ``s > 0``, else 0).

    Args:
        logits: shape (n, K), or (n,) for a two-class score.

    Returns:
        a ``torch.long`` tensor of shape (n,).
    """
    _args.tensor("logits", logits, ndim=(1, 2), floating=True)
    if logits.ndim == 1:
        return (logits > 0).long()
    return logits.argmax(dim=1)


def zero_one_loss(
    logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """The 0-1 loss ``1[argmax_k z_k != y]``; its mean over a data set is the error rate.

    It is piecewise constant in the parameters, so its gradient is zero wherever it exists: gradient
    descent cannot minimize it. The result carries no gradient.

    Args:
        logits: shape (n, K), or (n,) for a two-class score.
        y: class indices, shape (n,).
        reduction: ``"mean"`` (the empirical 0-1 risk), ``"sum"`` (the number of errors) or ``"none"``.

    Returns:
        a tensor with the dtype of ``logits``.
    """
    _check_logits(logits, y)
    wrong = (predict(logits.detach()) != y).to(logits.dtype)
    return _reduce(wrong, reduction)


def nll(
    logits: torch.Tensor,
    y: torch.Tensor,
    reduction: str = "mean",
    *,
    bits: bool = False,
) -> torch.Tensor:
    """Negative log-likelihood of the labels, ``-log p_model(y | x; theta)``, computed stably from logits.

    For K classes ``-log softmax(z)_y = logsumexp(z) - z_y`` (the same value as ``F.cross_entropy``); for a
    two-class score ``s`` it is ``log(1 + exp(-(2y - 1) s))``, the logistic loss of the margin.

    Args:
        logits: shape (n, K), or (n,) for a two-class score.
        y: class indices, shape (n,).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        bits: measure in bits (divide by ln 2). In bits the loss of a misclassified example is at least 1,
            so the NLL bounds the 0-1 loss from above.

    Returns:
        a tensor (differentiable with respect to ``logits``).
    """
    _check_logits(logits, y)
    if logits.ndim == 1:
        sign = 2.0 * y.to(logits.dtype) - 1.0
        values = F.softplus(-sign * logits)  # log(1 + e^{-margin})
    else:
        true_class = logits.gather(1, y[:, None]).squeeze(1)
        values = (
            torch.logsumexp(logits, dim=1) - true_class
        )  # log sum_k e^{z_k} - z_y
    if bits:
        values = values / math.log(2.0)
    return _reduce(values, reduction)


def margins(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example margins ``z_y - max_{k != y} z_k`` (for a two-class score ``s``: ``(2y - 1) s``).

    An example is classified correctly when its margin is positive (ties count as errors), so
    ``zero_one_loss = 1[margin <= 0]``; and ``nll >= log(1 + exp(-margin))``, with equality for two classes.

    Args:
        logits: shape (n, K), or (n,) for a two-class score.
        y: class indices, shape (n,).

    Returns:
        a tensor of shape (n,).
    """
    _check_logits(logits, y)
    if logits.ndim == 1:
        return (2.0 * y.to(logits.dtype) - 1.0) * logits
    true_class = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.scatter(1, y[:, None], float("-inf"))  # hide the true class
    return true_class - others.max(dim=1).values


def _check_xy(X, y):
    _args.tensor("X", X, floating=True)
    _args.tensor("y", y)
    if X.ndim < 2:
        raise ValueError(
            f"X must have shape (..., m, d), got shape {tuple(X.shape)}"
        )
    if tuple(y.shape) != tuple(X.shape[:-1]):
        raise ValueError(
            f"y must have shape {tuple(X.shape[:-1])} (one label per row of X),"
            f" got {tuple(y.shape)}"
        )
    if y.is_floating_point():
        raise TypeError(f"y must hold integer labels 0/1, got dtype {y.dtype}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) > 1):
        raise ValueError("y must hold labels 0 or 1")


def _logistic_objective(v, Z, sign, l2):
    # J(v) = mean_i log(1 + exp(-s_i v'z_i)) + l2/2 ||v||^2, batched over the
    # leading dimensions
    margin = sign * (Z @ v.unsqueeze(-1)).squeeze(-1)
    return F.softplus(-margin).mean(-1) + 0.5 * l2 * (v * v).sum(-1)


def logistic_newton_direction(
    v: torch.Tensor, Z: torch.Tensor, sign: torch.Tensor, l2: float
):
    """The gradient g and Newton direction H^{-1} g of the regularized logistic NLL at v = (w, b).

    With rows z_i = (x_i, 1), signs s_i = 2 y_i - 1 and p_i = sigma(-s_i z_i'v) (the
    probability the model gives to the wrong class):

        g = -(1/m) sum_i s_i p_i z_i + l2 v,
        H = (1/m) sum_i p_i (1 - p_i) z_i z_i' + l2 I.

    Shapes: v (..., d + 1), Z (..., m, d + 1), sign (..., m); returns two like v.
    """
    m, p = Z.shape[-2], Z.shape[-1]
    margin = sign * (Z @ v.unsqueeze(-1)).squeeze(-1)
    p_wrong = torch.sigmoid(-margin)  # 1 - p_model(y_i | x_i)
    grad = -((sign * p_wrong).unsqueeze(-2) @ Z).squeeze(-2) / m + l2 * v
    curvature = (p_wrong * (1 - p_wrong)).unsqueeze(-2)
    eye = torch.eye(p, dtype=Z.dtype, device=Z.device)
    H = (Z.transpose(-1, -2) * curvature) @ Z / m + l2 * eye
    direction = torch.linalg.solve(H, grad.unsqueeze(-1)).squeeze(-1)
    return grad, direction


def logistic_regression(
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    l2: float = 1e-3,
    steps: int = 50,
    tol: float = 1e-16,
):
    """Fit a linear classifier by minimizing the empirical NLL (logistic regression) with Newton's method.

    Minimizes, over ``v = (w, b)``,

        J(w, b) = (1/m) sum_i log(1 + exp(-s_i (w'x_i + b))) + (l2 / 2) (||w||^2 + b^2),   s_i = 2 y_i - 1,

    the empirical risk of the logistic surrogate plus a small weight decay, which keeps the minimum finite
    when the sample happens to be linearly separable. Each Newton step is ``v <- v - t H^{-1} grad J(v)``
    with t = 1, halved while that would increase J (so J never increases). Leading dimensions of ``X``
    are independent problems, solved together (e.g. many resampled training sets).

    Args:
        X: inputs, shape (..., m, d).
        y: labels 0/1, shape (..., m).
        l2: weight decay (> 0).
        steps: at most this many Newton steps.
        tol: stop when every Newton decrement ``grad' H^{-1} grad`` (about twice ``J - min J``) is below this.

    Returns:
        ``(w, b)`` of shapes (..., d) and (...): the classifier predicts class 1 when ``w'x + b > 0``.
    """
    _check_xy(X, y)
    l2 = _args.positive("l2", l2)
    steps = _args.positive_int("steps", steps)
    tol = _args.positive("tol", tol)
    Z = torch.cat(
        [X, torch.ones_like(X[..., :1])], dim=-1
    )  # append a 1 for the bias
    sign = 2.0 * y.to(X.dtype) - 1.0
    v = torch.zeros(
        *Z.shape[:-2], Z.shape[-1], dtype=X.dtype, device=X.device
    )  # w, b
    value = _logistic_objective(v, Z, sign, l2)
    for _ in range(steps):
        grad, direction = logistic_newton_direction(v, Z, sign, l2)
        active = (grad * direction).sum(
            -1
        ) > tol  # Newton decrement, ~ 2 (J - min J)
        if not bool(active.any()):
            break
        t = torch.ones_like(value)
        for _ in range(30):  # halve t where J would rise
            candidate = v - t.unsqueeze(-1) * direction
            new_value = _logistic_objective(candidate, Z, sign, l2)
            worse = active & (new_value > value)
            if not bool(worse.any()):
                break
            t = torch.where(worse, t / 2, t)
        accept = active & ~worse
        v = torch.where(accept.unsqueeze(-1), candidate, v)
        value = torch.where(accept, new_value, value)
    return v[..., :-1], v[..., -1]


def _check_gradient_descent(X, y, lr, steps, record):
    """The checks of :func:`logistic_gradient_descent`; returns lr, steps, steps to keep."""
    _check_xy(X, y)
    if X.ndim != 2:
        raise ValueError(
            f"X must have shape (m, d), got shape {tuple(X.shape)}"
        )
    lr = _args.positive("lr", lr)
    steps = _args.positive_int("steps", steps)
    if record is None:
        return lr, steps, set(range(steps + 1))
    values = (
        record.tolist() if isinstance(record, torch.Tensor) else list(record)
    )
    keep = {_args.positive_int("record", t, allow_zero=True) for t in values}
    if any(t > steps for t in keep):
        raise ValueError(
            f"record must hold steps between 0 and steps={steps}, got"
            f" {max(keep)}"
        )
    return lr, steps, keep


def logistic_gradient_descent(
    X: torch.Tensor, y: torch.Tensor, *, lr: float, steps: int, record=None
):
    """Plain gradient descent on the unregularized logistic NLL from ``w = 0, b = 0``, recording the path.

    Repeats ``v <- v - lr * grad J(v)`` with ``J(w, b) = (1/m) sum_i log(1 + exp(-s_i (w'x_i + b)))``.
    On linearly separable data ``J`` has no minimum: ``||w||`` grows without bound (like log t) while the
    direction ``w / ||w||`` turns, slowly, towards the maximum-margin separator (Soudry et al., 2018).

    Args:
        X: inputs, shape (m, d).
        y: labels 0/1, shape (m,).
        lr: step size (> 0).
        steps: number of steps.
        record: the steps at which to record ``(w, b)`` (0 is the start); default: every step.

    Returns:
        a dict with ``"step"`` (long tensor of the recorded steps, sorted), ``"w"`` of shape (k, d) and
        ``"b"`` of shape (k,).
    """
    lr, steps, keep = _check_gradient_descent(X, y, lr, steps, record)
    sign = 2.0 * y.to(X.dtype) - 1.0
    Z = sign[:, None] * torch.cat(
        [X, torch.ones_like(X[:, :1])], dim=1
    )  # rows s_i (x_i, 1)
    v = torch.zeros(Z.shape[1], dtype=X.dtype, device=X.device)
    path = []
    for t in range(steps + 1):
        if t in keep:
            path.append((t, v.clone()))
        if t == steps:
            break
        grad = -(torch.sigmoid(-(Z @ v)) @ Z) / len(
            Z
        )  # grad of mean log(1 + e^{-margin})
        v -= lr * grad
    V = torch.stack([v_t for _, v_t in path])
    return {
        "step": torch.tensor([t for t, _ in path]),
        "w": V[:, :-1],
        "b": V[:, -1],
    }
