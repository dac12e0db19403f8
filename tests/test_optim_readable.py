"""The readable per-tensor update functions the book prints, and the fast path.

Every optimizer class runs either path: ``foreach=False`` calls ``sgd_update``,
``adam_update``, ... once per tensor; the default batches each operation over tensors.
Here both run from the same start on the same gradients, for every configuration the
classes support, and must agree bit for bit in float64 (and float32). The functions
themselves are checked to be short, whole, free of private torch API, and to hold the
equations of their docstrings.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import math

import pytest
import torch

import coursekit as ck
from coursekit import optim as ko


def sizes_model(dtype=torch.float64, seed=0):
    """Tensors of several shapes (a matrix, vectors, a scalar), as in a network."""
    g = torch.Generator().manual_seed(seed)
    shapes = [(7, 5), (5,), (3, 2, 4), (), (1,)]
    return [
        torch.randn(s, generator=g, dtype=dtype).requires_grad_(True) for s in shapes
    ]


def run(
    factory, *, foreach, steps=25, dtype=torch.float64, skip_every=3, scheduler=False
):
    """Run ``steps`` steps on a fixed sequence of gradients; the last tensor gets a
    gradient only on every ``skip_every``-th step (so tensors have different step
    counts). Returns the parameters and states."""
    params = sizes_model(dtype)
    opt = factory(params, foreach)
    sched = (
        torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.5)
        if scheduler
        else None
    )
    g = torch.Generator().manual_seed(1)
    for k in range(steps):
        for i, p in enumerate(params):
            skip = i == len(params) - 1 and k % skip_every != 0
            p.grad = (
                None
                if skip
                else torch.randn(p.shape, generator=g, dtype=dtype) + 0.3 * p.detach()
            )
        opt.step()
        if sched is not None:
            sched.step()
    states = [{k: v for k, v in opt.state[p].items()} for p in params]
    return [p.detach().clone() for p in params], states


def assert_same_run(a, b):
    (params_a, states_a), (params_b, states_b) = a, b
    for pa, pb in zip(params_a, params_b):
        assert torch.equal(pa, pb), (pa - pb).abs().max()
    for sa, sb in zip(states_a, states_b):
        assert sa.keys() == sb.keys()
        for key in sa:
            va, vb = sa[key], sb[key]
            assert (
                torch.equal(va, vb) if isinstance(va, torch.Tensor) else va == vb
            ), key


def fresh(kwargs: dict) -> dict:
    """A copy of the keyword arguments with fresh tensors (schedulers update a tensor lr
    in place)."""

    def copy(v):
        if isinstance(v, torch.Tensor):
            return v.clone()
        return tuple(copy(x) for x in v) if isinstance(v, tuple) else v

    return {k: copy(v) for k, v in kwargs.items()}


def grid(**options):
    keys = list(options)
    return [dict(zip(keys, values)) for values in itertools.product(*options.values())]


CONFIGS = (
    [
        ("SGD", ko.SGD, c)
        for c in grid(
            lr=[0.05, torch.tensor(0.05)],
            momentum=[0.0, 0.9],
            weight_decay=[0.0, 1e-2],
            maximize=[False, True],
        )
    ]
    + [("SGD", ko.SGD, dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=1e-2))]
    + [
        (
            "SGD",
            ko.SGD,
            dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=w, maximize=m),
        )
        for w, m in [(0.0, False), (1e-2, True)]
    ]
    + [
        ("AdaGrad", ko.AdaGrad, c)
        for c in grid(
            lr_decay=[0.0, 0.1],
            weight_decay=[0.0, 1e-2],
            eps_inside_sqrt=[False, True],
            maximize=[False, True],
        )
    ]
    + [
        (
            "AdaGrad",
            ko.AdaGrad,
            dict(lr=torch.tensor(0.1), initial_accumulator_value=0.5),
        )
    ]
    + [
        ("RMSProp", ko.RMSProp, c)
        for c in grid(
            momentum=[0.0, 0.5],
            centered=[False, True],
            eps_inside_sqrt=[False, True],
            weight_decay=[0.0, 1e-2],
            maximize=[False, True],
        )
    ]
    + [
        ("Adam", ko.Adam, c)
        for c in grid(
            amsgrad=[False, True],
            weight_decay=[0.0, 1e-2],
            decoupled_weight_decay=[False, True],
            bias_correction=[False, True],
            maximize=[False, True],
        )
    ]
    + [
        (
            "Adam",
            ko.Adam,
            dict(lr=torch.tensor(0.01), betas=(torch.tensor(0.8), torch.tensor(0.99))),
        )
    ]
    + [
        ("AdamW", ko.AdamW, c)
        for c in grid(amsgrad=[False, True], lr=[1e-2, torch.tensor(1e-2)])
    ]
)


@pytest.mark.parametrize(
    "name,cls,kwargs",
    CONFIGS,
    ids=[f"{n}-" + ",".join(f"{k}={v}" for k, v in c.items()) for n, _, c in CONFIGS],
)
def test_readable_path_equals_fast_path_bit_for_bit(name, cls, kwargs):
    def factory(params, foreach):
        # two param groups: the second overrides the learning rate
        lr = kwargs.get("lr", 0.01)
        second_lr = lr.item() / 2 if isinstance(lr, torch.Tensor) else lr / 2
        return cls(
            [{"params": params[:2]}, {"params": params[2:], "lr": second_lr}],
            **fresh(kwargs),
            foreach=foreach,
        )

    fast = run(factory, foreach=None, scheduler=True)
    readable = run(factory, foreach=False, scheduler=True)
    assert_same_run(fast, readable)
    tensors = any(
        isinstance(v, torch.Tensor)
        for v in [*kwargs.values(), *kwargs.get("betas", ())]
    )
    if not (
        tensors and issubclass(cls, ko.Adam)
    ):  # Adam refuses tensor lr/betas with foreach=True
        assert_same_run(fast, run(factory, foreach=True, scheduler=True))
    start = sizes_model()
    assert (
        max((p - s).abs().max().item() for p, s in zip(fast[0], start)) > 1e-3
    )  # the runs moved


@pytest.mark.parametrize(
    "name,cls,kwargs",
    [CONFIGS[2], CONFIGS[-3], CONFIGS[-1]],
    ids=["sgd", "adam", "adamw"],
)
def test_readable_path_equals_fast_path_in_float32(name, cls, kwargs):
    def factory(params, foreach):
        return cls(params, **fresh(kwargs), foreach=foreach)

    assert_same_run(
        run(factory, foreach=None, dtype=torch.float32),
        run(factory, foreach=False, dtype=torch.float32),
    )


@pytest.mark.parametrize("mode", ["mean", "ema"])
def test_polyak_average_readable_equals_fast(mode):
    averages = []
    for foreach in (None, False):
        params = sizes_model()
        avg = ko.PolyakAverage(params, mode=mode, alpha=0.9, foreach=foreach)
        g = torch.Generator().manual_seed(2)
        for _ in range(12):
            with torch.no_grad():
                for p in params:
                    p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype))
            avg.update()
        averages.append(avg.averaged)
    for a, b in zip(*averages):
        assert torch.equal(a, b)


def test_the_functions_hold_the_math_of_their_docstrings():
    """Each function against the equations written out with plain tensor arithmetic."""
    g = torch.Generator().manual_seed(4)
    theta, grad, s1, s2 = (
        torch.randn(6, generator=g, dtype=torch.float64) for _ in range(4)
    )
    s2 = s2.abs()
    lr, mu = 0.1, 0.9

    t = theta.clone()
    ko.sgd_update(t, grad, lr)
    assert torch.allclose(t, theta - lr * grad, rtol=0, atol=1e-15)

    t, b = theta.clone(), s1.clone()
    b = ko.momentum_update(t, grad, b, lr, mu, dampening=0.25)
    b_ref = mu * s1 + 0.75 * grad
    assert torch.allclose(b, b_ref, atol=1e-15) and torch.allclose(
        t, theta - lr * b_ref, atol=1e-15
    )
    t = theta.clone()
    assert torch.equal(
        ko.momentum_update(t, grad, None, lr, mu, 0.25), grad
    )  # b_1 = g_1

    t, b = theta.clone(), s1.clone()
    ko.nesterov_update(t, grad, b, lr, mu)
    b_ref = mu * s1 + grad
    assert torch.allclose(t, theta - lr * (grad + mu * b_ref), atol=1e-15)

    t, r = theta.clone(), s2.clone()
    ko.adagrad_update(t, grad, r, lr, 1e-10)
    assert torch.allclose(
        t, theta - lr * grad / (1e-10 + (s2 + grad**2).sqrt()), atol=1e-15
    )

    t, v, m, b = theta.clone(), s2.clone(), s1.clone() * 0.1, s1.clone()
    ko.rmsprop_update(t, grad, v, lr, 0.9, 1e-8, momentum=mu, b=b, m=m)
    v_ref = 0.9 * s2 + 0.1 * grad**2
    m_ref = 0.9 * s1 * 0.1 + 0.1 * grad
    b_ref = mu * s1 + grad / ((v_ref - m_ref**2).sqrt() + 1e-8)
    assert torch.allclose(t, theta - lr * b_ref, atol=1e-14)

    t, m, v = theta.clone(), s1.clone(), s2.clone()
    ko.adam_update(t, grad, m, v, 3, lr, 0.9, 0.999, 1e-8)
    m_ref, v_ref = 0.9 * s1 + 0.1 * grad, 0.999 * s2 + 0.001 * grad**2
    ref = theta - lr * (m_ref / (1 - 0.9**3)) / ((v_ref / (1 - 0.999**3)).sqrt() + 1e-8)
    assert torch.allclose(t, ref, atol=1e-14)
    t, m, v, v_max = theta.clone(), s1.clone(), s2.clone(), s2.clone() + 1.0
    ko.adam_update(t, grad, m, v, 3, lr, 0.9, 0.999, 1e-8, v_max=v_max)
    assert torch.equal(v_max, torch.maximum(s2 + 1.0, v))

    t, rate, bar = theta.clone(), torch.full((6,), 0.1, dtype=torch.float64), s1.clone()
    ko.delta_bar_delta_update(t, grad, rate, bar, 0.01, 0.5, 0.7)
    agree = s1 * grad
    rate_ref = torch.where(agree > 0, 0.11, torch.where(agree < 0, 0.05, 0.1)).double()
    assert torch.allclose(rate, rate_ref, atol=1e-15)
    assert torch.allclose(t, theta - rate_ref * grad, atol=1e-15)
    assert torch.allclose(bar, 0.3 * grad + 0.7 * s1, atol=1e-15)

    avg = s1.clone()
    ko.polyak_update(avg, theta, 4)
    assert torch.allclose(avg, s1 + (theta - s1) / 4, atol=1e-15)

    x_prime, mu_avg, xi = theta.clone(), s1.clone(), s2.clone()
    ko.langevin_step(x_prime, grad, s1, mu_avg, 0.5, 0.1, 0.01, 0.25, xi)
    x_ref = theta - 0.1 * (grad - 0.5 * (s1 - theta)) + math.sqrt(0.2) * 0.01 * s2
    assert torch.allclose(x_prime, x_ref, atol=1e-15)
    assert torch.allclose(mu_avg, 0.75 * s1 + 0.25 * x_ref, atol=1e-15)

    x, center = theta.clone(), s1.clone()
    ko.elastic_update(x, center, theta - s1, 3 * (theta - s1), 0.2)
    assert torch.allclose(center, s1 + 0.6 * (theta - s1), atol=1e-15)
    assert torch.allclose(x, theta - 0.2 * (theta - s1), atol=1e-15)


READABLE = [
    ko.sgd_update,
    ko.momentum_update,
    ko.nesterov_update,
    ko.adagrad_update,
    ko.rmsprop_update,
    ko.adam_update,
    ko.adadelta_update,
    ko.delta_bar_delta_update,
    ko.polyak_update,
    ko.langevin_step,
    ko.elastic_update,
]


@pytest.mark.parametrize("fn", READABLE, ids=[f.__name__ for f in READABLE])
def test_readable_functions_are_short_whole_and_public_api_only(fn):
    source = inspect.getsource(fn)
    tree = ast.parse(source)
    assert (
        isinstance(tree.body[0], ast.FunctionDef) and tree.body[0].name == fn.__name__
    )
    printed = ck.show(fn).text.splitlines()  # what the book prints: no docstring
    assert len(printed) <= 30, f"{fn.__name__} prints {len(printed)} lines"
    assert max(len(line) for line in printed) <= 80  # the page width
    assert "_foreach" not in source and "torch._" not in source
    assert "raise" not in source  # validation lives in the classes
    assert fn.__doc__ and ("math::" in fn.__doc__ or "←" in fn.__doc__)
    assert fn.__name__ in ko.__dict__ and fn.__module__.startswith("coursekit.optim.")
