"""Feedback for exercises: compare a function with a reference and say clearly what differs.

The test cells of every exercise call these helpers. They are silent on success and
raise a :class:`CheckError` (an ``AssertionError``) with a one-line message on failure,
naming the case and what differs: the type, the shape, the dtype, a NaN, or the values.
The autograder uses the same helpers, so a student sees the same message in class and in
the grade report.
"""

from __future__ import annotations

import numbers
import secrets
from collections.abc import Callable, Sequence

import numpy as np
import torch

__all__ = ["CheckError", "assert_close", "compare", "random_cases", "raises"]


class CheckError(AssertionError):
    """A check failed. The message says what differs, in one line."""


def _describe(x) -> str:
    if isinstance(x, torch.Tensor):
        return f"tensor of shape {tuple(x.shape)} ({x.dtype})"
    if isinstance(x, np.ndarray):
        return f"array of shape {x.shape} ({x.dtype})"
    if isinstance(x, (list, tuple)):
        return f"{type(x).__name__} of length {len(x)}"
    return (
        f"{type(x).__name__} {x!r}"
        if isinstance(x, numbers.Number)
        else type(x).__name__
    )


def assert_close(
    actual,
    expected,
    *,
    name: str = "result",
    rtol: float = 1e-5,
    atol: float = 1e-8,
    check_dtype: bool = True,
) -> None:
    """Check that ``actual`` matches ``expected`` (tensors, arrays, numbers, or tuples/lists/dicts of them).

    Raises:
        CheckError: naming the first difference: type, length, shape, dtype, NaN/inf, or values
        (with the largest absolute difference and where it is).
    """
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(actual) != set(expected):
            raise CheckError(
                f"{name}: expected a dict with keys {sorted(expected)}, got"
                f" {_describe(actual)}"
                + (
                    f" with keys {sorted(actual)}"
                    if isinstance(actual, dict)
                    else ""
                )
            )
        for key in expected:
            assert_close(
                actual[key],
                expected[key],
                name=f"{name}[{key!r}]",
                rtol=rtol,
                atol=atol,
                check_dtype=check_dtype,
            )
        return
    if isinstance(expected, (tuple, list)):
        if not isinstance(actual, (tuple, list)) or len(actual) != len(
            expected
        ):
            raise CheckError(
                f"{name}: expected a {type(expected).__name__} of length"
                f" {len(expected)}, got {_describe(actual)}"
            )
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_close(
                a,
                e,
                name=f"{name}[{i}]",
                rtol=rtol,
                atol=atol,
                check_dtype=check_dtype,
            )
        return
    if isinstance(expected, torch.Tensor):
        if not isinstance(actual, torch.Tensor):
            raise CheckError(
                f"{name}: expected a torch.Tensor, got {_describe(actual)}"
            )
        if tuple(actual.shape) != tuple(expected.shape):
            raise CheckError(
                f"{name}: expected shape {tuple(expected.shape)}, got"
                f" {tuple(actual.shape)}"
            )
        if check_dtype and actual.dtype != expected.dtype:
            raise CheckError(
                f"{name}: expected dtype {expected.dtype}, got {actual.dtype}"
            )
        a = (
            actual.detach().cpu().to(torch.float64).numpy()
            if actual.dtype != torch.bool
            else actual.cpu().numpy()
        )
        e = (
            expected.detach().cpu().to(torch.float64).numpy()
            if expected.dtype != torch.bool
            else expected.cpu().numpy()
        )
        _compare_arrays(a, e, name, rtol, atol)
        return
    if isinstance(expected, np.ndarray):
        actual_arr = np.asarray(
            actual.detach().cpu()
            if isinstance(actual, torch.Tensor)
            else actual
        )
        if actual_arr.shape != expected.shape:
            raise CheckError(
                f"{name}: expected shape {expected.shape}, got"
                f" {actual_arr.shape}"
            )
        _compare_arrays(actual_arr, expected, name, rtol, atol)
        return
    if isinstance(expected, numbers.Number):
        if isinstance(actual, torch.Tensor) and actual.numel() == 1:
            actual = actual.item()
        if isinstance(actual, np.generic):
            actual = actual.item()
        if not isinstance(actual, numbers.Number):
            raise CheckError(
                f"{name}: expected a number, got {_describe(actual)}"
            )
        _compare_arrays(
            np.asarray(actual, dtype=float),
            np.asarray(expected, dtype=float),
            name,
            rtol,
            atol,
        )
        return
    if actual != expected:
        raise CheckError(f"{name}: expected {expected!r}, got {actual!r}")


def _compare_arrays(
    a: np.ndarray, e: np.ndarray, name: str, rtol: float, atol: float
) -> None:
    a = a.astype(float) if a.dtype != bool else a
    e = e.astype(float) if e.dtype != bool else e
    if a.dtype == bool or e.dtype == bool:
        bad = np.argwhere(a != e)
        if len(bad):
            raise CheckError(
                f"{name}: {len(bad)} of {e.size} entries differ, first at index"
                f" {tuple(int(i) for i in bad[0])}"
            )
        return
    a_nan, e_nan = ~np.isfinite(a), ~np.isfinite(e)
    if (a_nan & ~e_nan).any():
        idx = tuple(int(i) for i in np.argwhere(a_nan & ~e_nan)[0])
        raise CheckError(
            f"{name}: contains NaN/inf ({int((a_nan & ~e_nan).sum())} entries,"
            f" first at index {idx}) where the reference is finite"
        )
    ok = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
    if not ok.all():
        diff = np.where(ok, 0.0, np.abs(np.nan_to_num(a - e)))
        idx = np.unravel_index(np.argmax(diff), diff.shape) if diff.ndim else ()
        where = f" at index {tuple(int(i) for i in idx)}" if diff.ndim else ""
        raise CheckError(
            f"{name}: values differ in {int((~ok).sum())} of {e.size} entries;"
            f" largest difference {diff.max():.3g}{where} (got {a[idx]:.6g},"
            f" expected {e[idx]:.6g})"
        )


def random_cases(
    make_case: Callable[[torch.Generator], object],
    n: int = 5,
    *,
    seed: int | None = None,
) -> list:
    """Draw ``n`` test cases with ``make_case(generator)``.

    With ``seed=None`` a fresh random seed is used each call, so a hard-coded answer cannot pass;
    the seed is kept on the returned list (``cases.seed``) and named in failure messages.
    """
    if not callable(make_case):
        raise TypeError(
            f"make_case must be callable, got {type(make_case).__name__}"
        )
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    seed = secrets.randbelow(2**31) if seed is None else seed
    g = torch.Generator().manual_seed(seed)
    cases = _Cases(make_case(g) for _ in range(n))
    cases.seed = seed
    return cases


class _Cases(list):
    seed: int | None = None


def _as_call(case):
    if isinstance(case, dict):
        return (), case
    if (
        isinstance(case, tuple)
        and len(case) == 2
        and isinstance(case[1], dict)
        and isinstance(case[0], tuple)
    ):
        return case
    if isinstance(case, tuple):
        return case, {}
    return (case,), {}


def _brief(args, kwargs) -> str:
    parts = [_describe(a) for a in args] + [
        f"{k}={_describe(v)}" for k, v in kwargs.items()
    ]
    return ", ".join(parts)


def _clone(x):
    if isinstance(x, torch.Tensor):
        return x.clone()
    if isinstance(x, np.ndarray):
        return x.copy()
    if isinstance(x, (list, tuple)):
        return type(x)(_clone(v) for v in x)
    if isinstance(x, dict):
        return {k: _clone(v) for k, v in x.items()}
    return x


def compare(
    fn: Callable,
    reference: Callable,
    cases: Sequence,
    *,
    name: str | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    check_dtype: bool = True,
) -> None:
    """Call ``fn`` and ``reference`` on every case and check the results agree.

    Args:
        fn: the function under test (a student's answer).
        reference: the reference implementation.
        cases: a sequence of inputs; each is a single argument, a tuple of arguments, a dict of keyword
            arguments, or a pair ``(args_tuple, kwargs_dict)``. Inputs are copied before each call, so a
            function that modifies its inputs in place cannot corrupt the comparison.
        name: how to call ``fn`` in messages (defaults to its ``__name__``).
        rtol, atol, check_dtype: as in :func:`assert_close`.

    Raises:
        CheckError: on the first case where ``fn`` raises or its output differs, saying which case.
    """
    if not callable(fn):
        raise CheckError(f"expected a function, got {_describe(fn)}")
    if not callable(reference):
        raise TypeError(
            f"reference must be callable, got {type(reference).__name__}"
        )
    if len(cases) == 0:
        raise ValueError("cases must contain at least one case")
    name = name or getattr(fn, "__name__", "function")
    seed = getattr(cases, "seed", None)
    for i, case in enumerate(cases):
        args, kwargs = _as_call(case)
        where = (
            f"{name} on case {i + 1} of {len(cases)} ({_brief(args, kwargs)})"
        )
        if seed is not None:
            where += f" [seed {seed}]"
        expected = reference(*_clone(args), **_clone(kwargs))
        try:
            actual = fn(*_clone(args), **_clone(kwargs))
        except NotImplementedError:
            raise CheckError(
                f"{name} is not implemented yet (it raised NotImplementedError)"
            ) from None
        except (
            Exception
        ) as exc:  # noqa: BLE001 - any error of the student's code is feedback
            raise CheckError(
                f"{where} raised {type(exc).__name__}: {exc}"
            ) from None
        if actual is None and expected is not None:
            raise CheckError(
                f"{where} returned None; did you forget a return statement?"
            )
        assert_close(
            actual,
            expected,
            name=where,
            rtol=rtol,
            atol=atol,
            check_dtype=check_dtype,
        )


def raises(
    fn: Callable,
    exception: type = ValueError,
    *args,
    match: str | None = None,
    **kwargs,
) -> None:
    """Check that ``fn(*args, **kwargs)`` raises ``exception`` (whose message contains ``match``, if given)."""
    name = getattr(fn, "__name__", "function")
    try:
        fn(*args, **kwargs)
    except exception as exc:
        if match is not None and match not in str(exc):
            raise CheckError(
                f"{name} raised {exception.__name__} as expected, but its"
                f" message {str(exc)!r} does not mention {match!r}"
            ) from None
        return
    except Exception as exc:  # noqa: BLE001
        raise CheckError(
            f"{name} raised {type(exc).__name__} ({exc}); expected"
            f" {exception.__name__}"
        ) from None
    raise CheckError(
        f"{name}({_brief(args, kwargs)}) did not raise {exception.__name__}"
    )
