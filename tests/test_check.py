import numpy as np
import pytest
import torch

from coursekit import check
from coursekit.check import CheckError


def test_check_error_is_an_assertion_error():
    assert issubclass(CheckError, AssertionError)


def test_assert_close_silent_on_match():
    check.assert_close(torch.ones(3), torch.ones(3) + 1e-9)
    check.assert_close(1.0, 1.0 + 1e-12)
    check.assert_close((torch.zeros(2), 3.0), (torch.zeros(2), 3.0))
    check.assert_close({"a": 1.0}, {"a": 1.0})
    check.assert_close(np.arange(3.0), np.arange(3.0))
    check.assert_close(torch.tensor([True, False]), torch.tensor([True, False]))
    check.assert_close("relu", "relu")


@pytest.mark.parametrize("actual, expected, words", [
    (torch.ones(3), torch.ones(4), "expected shape (4,), got (3,)"),
    (torch.ones(3, dtype=torch.float64), torch.ones(3), "expected dtype torch.float32, got torch.float64"),
    (np.ones(3), torch.ones(3), "expected a torch.Tensor, got array"),
    (torch.tensor([1.0, float("nan")]), torch.tensor([1.0, 2.0]), "contains NaN/inf (1 entries, first at index (1,))"),
    (torch.tensor([1.0, 2.5]), torch.tensor([1.0, 2.0]), "values differ in 1 of 2 entries; largest difference 0.5 at index (1,)"),
    ("3", 3.0, "expected a number, got str"),
    ((1.0,), (1.0, 2.0), "expected a tuple of length 2"),
    ({"a": 1.0}, {"b": 1.0}, "expected a dict with keys ['b']"),
    (torch.tensor([True, True]), torch.tensor([True, False]), "1 of 2 entries differ, first at index (1,)"),
    ("tanh", "relu", "expected 'relu', got 'tanh'"),
])
def test_assert_close_names_what_differs(actual, expected, words):
    with pytest.raises(CheckError) as info:
        check.assert_close(actual, expected, name="answer")
    message = str(info.value)
    assert message.startswith("answer") and words in message and "\n" not in message


def test_compare_passes_and_copies_inputs():
    def doubles_in_place(x):
        x.mul_(2)
        return x

    x = torch.arange(3.0)
    check.compare(doubles_in_place, lambda x: 2 * x, [x])
    assert torch.equal(x, torch.arange(3.0))  # the caller's tensor was not modified


def test_compare_reports_case_exception_none_and_not_implemented():
    cases = [(torch.tensor([1.0]),), (torch.tensor([-1.0]),)]
    with pytest.raises(CheckError, match=r"relu on case 2 of 2 \(tensor of shape \(1,\)"):
        check.compare(torch.abs, torch.relu, cases, name="relu")

    def broken(x):
        raise RuntimeError("boom")

    with pytest.raises(CheckError, match="raised RuntimeError: boom"):
        check.compare(broken, torch.relu, cases)

    def forgot_return(x):
        x + 1

    with pytest.raises(CheckError, match="returned None; did you forget a return statement"):
        check.compare(forgot_return, torch.relu, cases)

    def stub(x):
        raise NotImplementedError()

    with pytest.raises(CheckError, match="not implemented yet"):
        check.compare(stub, torch.relu, cases)
    with pytest.raises(CheckError, match="expected a function"):
        check.compare(None, torch.relu, cases)


def test_compare_accepts_kwargs_cases():
    check.compare(lambda a, b=0: a + b, lambda a, b=0: b + a, [((1.0,), {"b": 2.0}), {"a": 3.0}])


def test_random_cases_fresh_seed_by_default_and_named_in_messages():
    make = lambda g: torch.randn(4, generator=g)
    a, b = check.random_cases(make, 3), check.random_cases(make, 3)
    assert len(a) == 3 and a.seed != b.seed
    fixed = check.random_cases(make, 2, seed=7)
    assert torch.equal(fixed[0], check.random_cases(make, 2, seed=7)[0])
    with pytest.raises(CheckError, match=r"\[seed 7\]"):
        check.compare(lambda x: x + 1, lambda x: x, fixed)
    with pytest.raises(ValueError, match="n must be"):
        check.random_cases(make, 0)
    with pytest.raises(TypeError, match="make_case"):
        check.random_cases(3)


def test_raises_helper():
    def bad(lr):
        if lr < 0:
            raise ValueError(f"Invalid learning rate: {lr}")

    check.raises(bad, ValueError, -1, match="learning rate")
    with pytest.raises(CheckError, match="did not raise ValueError"):
        check.raises(bad, ValueError, 1)
    with pytest.raises(CheckError, match="does not mention 'momentum'"):
        check.raises(bad, ValueError, -1, match="momentum")
    with pytest.raises(CheckError, match="raised TypeError"):
        check.raises(lambda: 1 + "a", ValueError)
