"""Pieces every coursekit optimizer shares: argument checks in torch's words, and gathering gradients.

The checks raise the same kind of message as ``torch.optim`` (``Invalid learning rate: -0.1``) so a
student who swaps one library for the other sees familiar errors; non-numbers raise a ``TypeError``
naming the argument.
"""
from __future__ import annotations

import math
import numbers

import torch


def _number(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"Invalid {name}: nan")
    return value


def check_lr(lr) -> float:
    """The learning rate: a finite real >= 0."""
    lr = _number("lr", lr)
    if not (0.0 <= lr < math.inf):
        raise ValueError(f"Invalid learning rate: {lr}")
    return lr


def check_nonnegative(name: str, value, what: str) -> float:
    """A finite real >= 0, e.g. ``weight_decay``: the message says ``Invalid <what> value: ...``."""
    value = _number(name, value)
    if not (0.0 <= value < math.inf):
        raise ValueError(f"Invalid {what} value: {value} ({name} must be >= 0)")
    return value


def check_unit_interval(name: str, value, what: str) -> float:
    """A real in [0, 1), e.g. a momentum or a decay rate."""
    value = _number(name, value)
    if not (0.0 <= value < 1.0):
        raise ValueError(f"Invalid {what} value: {value} ({name} must be in [0, 1))")
    return value


def check_positive(name: str, value, what: str) -> float:
    """A finite real > 0, e.g. a coupling strength: the message says ``Invalid <what> value: ...``."""
    value = _number(name, value)
    if not (0.0 < value < math.inf):
        raise ValueError(f"Invalid {what} value: {value} ({name} must be > 0)")
    return value


def check_fraction(name: str, value, what: str) -> float:
    """A real in (0, 1], e.g. the weight of a new sample in a running average."""
    value = _number(name, value)
    if not (0.0 < value <= 1.0):
        raise ValueError(f"Invalid {what} value: {value} ({name} must be in (0, 1])")
    return value


def check_eps(eps) -> float:
    """The stabilizing constant added to a denominator: a finite real > 0."""
    eps = _number("eps", eps)
    if not (0.0 < eps < math.inf):
        raise ValueError(f"Invalid epsilon value: {eps} (eps must be > 0)")
    return eps


def check_betas(betas) -> tuple[float, float]:
    """Adam's pair (beta1, beta2), each in [0, 1)."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    out = []
    for i, beta in enumerate(betas):
        beta = _number(f"betas[{i}]", beta)
        if not (0.0 <= beta < 1.0):
            raise ValueError(f"Invalid beta parameter at index {i}: {beta} (betas must be in [0, 1))")
        out.append(beta)
    return out[0], out[1]


def check_count(name: str, value, what: str, minimum: int) -> int:
    """An integer >= minimum, e.g. a number of inner steps: ``Invalid <what>: ...`` when too small."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer {what}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"Invalid {what}: {value} ({name} must be >= {minimum})")
    return value


def check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def evaluate_closure(closure):
    """Call ``closure`` (which recomputes the loss and its gradients) with gradients enabled."""
    if closure is None:
        return None
    if not callable(closure):
        raise TypeError(f"closure must be callable or None, got {type(closure).__name__}")
    with torch.enable_grad():
        return closure()


def per_tensor(values: list):
    """A list of per-tensor scalars for a ``torch._foreach_*`` op, or one scalar when they are all equal
    (the usual case: all parameters have taken the same number of steps), which is faster."""
    first = values[0]
    return first if all(v == first for v in values) else values


def params_with_grad(group: dict, maximize: bool = False) -> tuple[list, list]:
    """The parameters of ``group`` that have a gradient, and their gradients (negated to maximize).

    Raises:
        RuntimeError: for sparse gradients (these optimizers keep dense state).
        TypeError: for parameters that are not real floating-point tensors.
    """
    params, grads = [], []
    for p in group["params"]:
        g = p.grad
        if g is None:
            continue
        if g.is_sparse:
            raise RuntimeError("coursekit optimizers do not support sparse gradients; use torch.optim.SparseAdam")
        if not p.is_floating_point():
            raise TypeError(f"parameters must have a real floating dtype, got {p.dtype}")
        params.append(p)
        grads.append(g)
    if maximize and grads:
        grads = torch._foreach_neg(grads)
    return params, grads


class ValidatedOptimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` whose hyperparameters are checked, in the defaults and in every param group.

    Subclasses list their checks in ``_checks = {name: check(value) -> value}`` and may override
    ``_check_group(group)`` for conditions that involve several hyperparameters.
    """

    _checks: dict = {}

    def __init__(self, params, defaults: dict):
        super().__init__(params, self._validate(dict(defaults)))

    def _validate(self, group: dict) -> dict:
        for key, check in self._checks.items():
            if key in group:
                group[key] = check(group[key])
        return group

    def add_param_group(self, param_group: dict) -> None:
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        super().add_param_group(self._validate(param_group))
        self._check_group(self.param_groups[-1])

    def _check_group(self, group: dict) -> None:
        """Checks that involve several hyperparameters of one (complete) group."""
