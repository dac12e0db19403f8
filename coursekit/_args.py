"""Argument checks shared by coursekit's functions and optimizers: one vocabulary.

Every public function validates its inputs with these helpers so that a wrong
argument fails at once with a message naming it, instead of failing later with
a shape error deep inside torch (or, worse, returning a silently wrong answer).

Conventions, the same everywhere: a non-number raises ``TypeError`` naming the
argument, a number out of range raises ``ValueError`` naming it and the allowed
range; integers are any ``numbers.Integral`` (Python and numpy integers, not
``bool``); reals are any ``numbers.Real`` (Python and numpy numbers, not ``bool``).
A *fraction* is always a real in [0, 1); other unit intervals are spelled out with
:func:`unit_interval`. The second half of the module holds the optimizer checks,
worded as ``torch.optim`` words them (``Invalid learning rate: -0.1``) and raising
the same exception types.
"""

from __future__ import annotations

import math
import numbers

import numpy
import torch


def positive_int(name: str, value, *, allow_zero: bool = False) -> int:
    """Return ``value`` as an int, or raise if it is not a (non-)negative integer."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be an integer, got {type(value).__name__} {value!r}"
        )
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else ">= 1"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return int(value)


def _real_number(name: str, value) -> float:
    """``value`` as a float: any real (Python or numpy, not bool); NaN is refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        kind = type(value).__name__
        raise TypeError(f"{name} must be a real number, got {kind} {value!r}")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"Invalid {name}: nan")
    return value


def real(
    name: str, value, *, low=None, high=None, low_open=False, high_open=False
) -> float:
    """Return ``value`` as a float after checking it is a finite real in the given interval."""
    value = _real_number(name, value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(
            f"{name} must be {'>' if low_open else '>='} {low}, got {value}"
        )
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(
            f"{name} must be {'<' if high_open else '<='} {high}, got {value}"
        )
    return value


def positive(name: str, value) -> float:
    """A finite real > 0."""
    return real(name, value, low=0.0, low_open=True)


def fraction(name: str, value) -> float:
    """A fraction: a real in [0, 1) (e.g. a dropout probability or a decay rate)."""
    return unit_interval(name, value, "[0, 1)")


_INTERVALS = {  # interval: (open at 0, open at 1)
    "[0, 1)": (False, True),
    "(0, 1]": (True, False),
    "[0, 1]": (False, False),
    "(0, 1)": (True, True),
}


def unit_interval(name: str, value, interval: str) -> float:
    """A real in ``interval``, one of "[0, 1)", "(0, 1]", "[0, 1]", "(0, 1)"."""
    low_open, high_open = _INTERVALS[interval]
    value = _real_number(name, value)
    above = 0.0 < value if low_open else 0.0 <= value
    below = value < 1.0 if high_open else value <= 1.0
    if not (above and below):
        raise ValueError(f"{name} must be in {interval}, got {value}")
    return value


def one_of(name: str, value, choices) -> str:
    """A value among ``choices``."""
    if value not in choices:
        raise ValueError(
            f"{name} must be one of {sorted(choices)}, got {value!r}"
        )
    return value


def tensor(
    name: str, value, *, ndim=None, floating: bool = False
) -> torch.Tensor:
    """Check that ``value`` is a tensor (optionally of a given rank and floating dtype)."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor, got {type(value).__name__}"
        )
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.ndim not in allowed:
            raise ValueError(
                f"{name} must have {' or '.join(map(str, allowed))} dimensions,"
                f" got shape {tuple(value.shape)}"
            )
    if floating and not value.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {value.dtype}")
    return value


def same_length(
    names: tuple[str, str], a: torch.Tensor, b: torch.Tensor
) -> None:
    """Check two tensors have the same number of rows."""
    if len(a) != len(b):
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same length, got {len(a)}"
            f" and {len(b)}"
        )


# ------------------------------------------------------------------------------
# Optimizer hyperparameters, in torch.optim's words, with torch's exception
# types.


def lr(value):
    """The learning rate: a finite real >= 0, or a 1-element tensor (kept as a tensor,
    as torch keeps it, so that schedulers can update it in place)."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not value.is_floating_point():
            raise TypeError(
                f"Tensor lr must have a floating dtype, got {value.dtype}"
            )
        number = float(value)
    else:
        number = _real_number("lr", value)
    if not (0.0 <= number < math.inf):
        raise ValueError(f"Invalid learning rate: {number}")
    return value if isinstance(value, torch.Tensor) else number


def nonnegative(name: str, value, what: str) -> float:
    """A finite real >= 0, e.g. ``weight_decay``: ``Invalid <what> value: ...``."""
    value = _real_number(name, value)
    if not (0.0 <= value < math.inf):
        raise ValueError(f"Invalid {what} value: {value} ({name} must be >= 0)")
    return value


def positive_hyper(name: str, value, what: str) -> float:
    """A finite real > 0, e.g. a coupling strength: ``Invalid <what> value: ...``."""
    value = _real_number(name, value)
    if not (0.0 < value < math.inf):
        raise ValueError(f"Invalid {what} value: {value} ({name} must be > 0)")
    return value


def unit_interval_hyper(
    name: str, value, what: str, interval: str = "[0, 1)"
) -> float:
    """A real in ``interval`` (by default [0, 1), e.g. a momentum)."""
    try:
        return unit_interval(name, value, interval)
    except ValueError:
        message = (
            f"Invalid {what} value: {float(value)} ({name} must be in"
            f" {interval})"
        )
        raise ValueError(message) from None


def eps(value) -> float:
    """The stabilizing constant added to a denominator: a finite real > 0."""
    value = _real_number("eps", value)
    if not (0.0 < value < math.inf):
        raise ValueError(f"Invalid epsilon value: {value} (eps must be > 0)")
    return value


def betas(value) -> tuple[float, float]:
    """Adam's (beta1, beta2) in [0, 1): two reals or two 1-element tensors, as torch."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"betas must be a pair (beta1, beta2), got {value!r}")
    if isinstance(value[0], torch.Tensor) != isinstance(value[1], torch.Tensor):
        raise ValueError("betas must be either both floats or both Tensors")
    out = []
    for i, beta in enumerate(value):
        if isinstance(beta, torch.Tensor):
            if beta.numel() != 1:
                raise ValueError(f"Tensor betas[{i}] must be 1-element")
            beta = beta.item()
        beta = _real_number(f"betas[{i}]", beta)
        if not (0.0 <= beta < 1.0):
            raise ValueError(
                f"Invalid beta parameter at index {i}: {beta} "
                "(betas must be in [0, 1))"
            )
        out.append(beta)
    return out[0], out[1]


def count(name: str, value, what: str, minimum: int) -> int:
    """An integer >= minimum, e.g. a number of inner steps: ``Invalid <what>: ...``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        kind = type(value).__name__
        raise TypeError(
            f"{name} must be an integer {what}, got {kind} {value!r}"
        )
    if value < minimum:
        raise ValueError(
            f"Invalid {what}: {value} ({name} must be >= {minimum})"
        )
    return int(value)


def flag(name: str, value) -> bool:
    """True or False (numpy booleans too)."""
    if isinstance(value, (bool, numpy.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r}")
