"""Argument checks shared by coursekit's public functions.

Every public function validates its inputs with these helpers so that a wrong
argument fails at once with a message naming it, instead of failing later with
a shape error deep inside torch (or, worse, returning a silently wrong answer).
"""
from __future__ import annotations

import math
import numbers

import torch


def positive_int(name: str, value, *, allow_zero: bool = False) -> int:
    """Return ``value`` as an int, or raise if it is not a (non-)negative integer."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else ">= 1"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return int(value)


def real(name: str, value, *, low=None, high=None, low_open=False, high_open=False) -> float:
    """Return ``value`` as a float after checking it is a finite real in the given interval."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value}")
    return value


def positive(name: str, value) -> float:
    """A finite real > 0."""
    return real(name, value, low=0.0, low_open=True)


def fraction(name: str, value, *, open_right: bool = True) -> float:
    """A real in [0, 1) (or [0, 1] with ``open_right=False``)."""
    return real(name, value, low=0.0, high=1.0, high_open=open_right)


def one_of(name: str, value, choices) -> str:
    """A value among ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def tensor(name: str, value, *, ndim=None, floating: bool = False) -> torch.Tensor:
    """Check that ``value`` is a tensor (optionally of a given rank and floating dtype)."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.ndim not in allowed:
            raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimensions, got shape {tuple(value.shape)}")
    if floating and not value.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {value.dtype}")
    return value


def same_length(names: tuple[str, str], a: torch.Tensor, b: torch.Tensor) -> None:
    """Check two tensors have the same number of rows."""
    if len(a) != len(b):
        raise ValueError(f"{names[0]} and {names[1]} must have the same length, got {len(a)} and {len(b)}")
