"""coursekit.optim behaves like torch.optim wherever torch has an equivalent.

The configurations and the bad inputs follow torch's own optimizer tests
(torch/testing/_internal/common_optimizers.py: ``optim_inputs_func_*`` and
``optim_error_inputs_func_*`` for SGD, Adagrad, RMSprop, Adam and AdamW): tensor
learning rates, maximize, both weight-decay forms, AMSGrad, named parameters, state_dict
round trips in the middle of training with a scheduler attached, state_dicts passed
between the two libraries, and the exception type of every bad input torch rejects. Each
case runs torch itself next to coursekit.
"""

from __future__ import annotations

import copy
import io
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from coursekit import optim as ko

PAIRS = {  # coursekit class, torch class
    "SGD": (ko.SGD, torch.optim.SGD),
    "Adagrad": (ko.Adagrad, torch.optim.Adagrad),
    "RMSprop": (ko.RMSprop, torch.optim.RMSprop),
    "Adam": (ko.Adam, torch.optim.Adam),
    "AdamW": (ko.AdamW, torch.optim.AdamW),
}


def make_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).double()


def data(seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(64, 6, generator=g, dtype=torch.float64), torch.randint(
        0, 3, (64,), generator=g
    )


def train(model, opt, steps, *, scheduler=None, seed=2):
    X, y = data()
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(X), (16,), generator=g)
        opt.zero_grad()
        F.cross_entropy(model(X[idx]), y[idx]).backward()
        opt.step()
        if scheduler is not None:
            scheduler.step()


def flat(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def lr64(value):
    """A tensor learning rate in float64 (torch computes in the tensor's dtype)."""
    return torch.tensor(value, dtype=torch.float64)


def fresh(kwargs):
    """Fresh tensors for every run: schedulers update a tensor lr in place."""
    return {
        k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()
    }


# torch's optim_inputs_func_* configurations (CPU, float64), plus param groups and a
# scheduler.
CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=lr64(0.1))),
    ("SGD", dict(lr=lr64(0.1), foreach=True)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1, maximize=True)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=lr64(0.001))),
    ("Adagrad", dict(lr=lr64(0.01), foreach=True)),
    ("Adagrad", dict(weight_decay=0.1, maximize=True)),
    ("Adagrad", dict(initial_accumulator_value=0.1, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.5, weight_decay=0.1)),
    ("RMSprop", dict(lr=1e-2)),
    ("RMSprop", dict(lr=lr64(1e-3))),
    ("RMSprop", dict(lr=lr64(1e-3), foreach=True)),
    ("RMSprop", dict(weight_decay=0.1, maximize=True)),
    ("RMSprop", dict(weight_decay=0.1, centered=True, momentum=0.1)),
    ("Adam", dict()),
    ("Adam", dict(lr=lr64(0.001))),
    ("Adam", dict(lr=0.01, foreach=True)),
    ("Adam", dict(weight_decay=0.1, amsgrad=True, maximize=True)),
    ("Adam", dict(weight_decay=0.1, decoupled_weight_decay=True)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, amsgrad=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=lr64(0.001), amsgrad=True)),
    ("AdamW", dict(weight_decay=0.3, maximize=True)),
]


def config_id(config):
    name, kwargs = config
    return (
        name
        + "-"
        + ",".join(
            f"{k}={v.item() if isinstance(v, torch.Tensor) else v}"
            + ("(tensor)" if isinstance(v, torch.Tensor) else "")
            for k, v in kwargs.items()
        )
    )


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[config_id(c) for c in CONFIGS])
def test_every_torch_configuration_gives_torchs_numbers(name, kwargs):
    """Two param groups, a StepLR scheduler, 40 steps: the parameters agree to 1e-12."""
    runs = []
    for cls in PAIRS[name]:
        model = make_model()
        groups = [
            {"params": model[0].parameters()},
            {"params": model[2].parameters(), "lr": 0.02},
        ]
        opt = cls(groups, **fresh(kwargs))
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
        train(model, opt, 40, scheduler=sched)
        runs.append(flat(model))
    assert (runs[0] - flat(make_model())).abs().max() > 1e-3
    assert (runs[0] - runs[1]).abs().max().item() <= 1e-12


def test_tensor_lr_is_kept_and_updated_in_place_by_schedulers():
    lr = torch.tensor(0.1)
    w = nn.Parameter(torch.ones(3))
    opt = ko.Adam([w], lr=lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    w.grad = torch.ones(3)
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] is lr and lr.item() == pytest.approx(0.05)
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        ko.Adam([w], lr=torch.tensor([0.1, 0.1]))


def test_tensor_betas_are_accepted_as_torch_accepts_them():
    runs = []
    for cls in PAIRS["Adam"]:
        model = make_model()
        train(
            model,
            cls(
                model.parameters(),
                lr=0.01,
                betas=(torch.tensor(0.8), torch.tensor(0.9)),
            ),
            20,
        )
        runs.append(flat(model))
    # torch keeps the betas as float32 tensors and computes its bias corrections in
    # float32
    assert torch.allclose(runs[0], runs[1], rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", list(PAIRS))
def test_named_parameters(name):
    """Parameters given as (name, tensor) pairs: same numbers, and the names are in the
    state_dict."""
    runs, dicts = [], []
    for cls in PAIRS[name]:
        model = make_model()
        opt = cls(list(model.named_parameters()), lr=0.01)
        train(model, opt, 10)
        runs.append(flat(model))
        dicts.append(opt.state_dict())
    assert (runs[0] - runs[1]).abs().max().item() <= 1e-12
    assert dicts[0]["param_groups"][0]["param_names"] == [
        n for n, _ in make_model().named_parameters()
    ]
    assert (
        dicts[0]["param_groups"][0]["param_names"]
        == dicts[1]["param_groups"][0]["param_names"]
    )


ROUND_TRIP = [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=lr64(0.01))),
]


@pytest.mark.parametrize("name,kwargs", ROUND_TRIP, ids=[n for n, _ in ROUND_TRIP])
def test_state_dict_round_trip_mid_training_with_a_scheduler(name, kwargs):
    """Save model, optimizer and scheduler after 15 steps (through torch.save), resume
    in fresh objects: the same parameters as a run that never stopped, bit for bit."""

    def build(model):
        opt = PAIRS[name][0](model.parameters(), **fresh(kwargs))
        # OneCycleLR also cycles the momentum (or beta1) of the optimizers that have one
        return opt, torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=0.05, total_steps=40, cycle_momentum=name != "Adagrad"
        )

    model = make_model()
    opt, sched = build(model)
    train(model, opt, 15, scheduler=sched, seed=3)
    buffer = io.BytesIO()
    torch.save(
        {
            "model": model.state_dict(),
            "opt": opt.state_dict(),
            "sched": sched.state_dict(),
        },
        buffer,
    )
    train(model, opt, 15, scheduler=sched, seed=4)

    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    resumed = make_model(seed=7)
    resumed.load_state_dict(saved["model"])
    opt2, sched2 = build(resumed)
    opt2.load_state_dict(saved["opt"])
    sched2.load_state_dict(saved["sched"])
    train(resumed, opt2, 15, scheduler=sched2, seed=4)
    assert torch.equal(flat(model), flat(resumed))


INTEROP = [
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("Adagrad", dict(lr=0.1)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
]


@pytest.mark.parametrize("direction", ["torch-to-coursekit", "coursekit-to-torch"])
@pytest.mark.parametrize("name,kwargs", INTEROP, ids=[n for n, _ in INTEROP])
def test_state_dicts_load_across_the_two_libraries(name, kwargs, direction):
    """Train 10 steps with one library, save, load into the other one's optimizer of the
    same name and continue 10 steps: the same parameters as the first library continuing
    (to 1e-12)."""
    ours, theirs = PAIRS[name]
    first, second = (
        (theirs, ours) if direction == "torch-to-coursekit" else (ours, theirs)
    )
    model = make_model()
    opt = first(model.parameters(), **kwargs)
    train(model, opt, 10, seed=5)
    saved_model, saved_opt = copy.deepcopy(model.state_dict()), copy.deepcopy(
        opt.state_dict()
    )
    train(model, opt, 10, seed=6)

    other = make_model(seed=9)
    other.load_state_dict(saved_model)
    opt2 = second(other.parameters(), **kwargs)
    opt2.load_state_dict(saved_opt)
    train(other, opt2, 10, seed=6)
    assert (flat(model) - flat(other)).abs().max().item() <= 1e-12
    if second is ours:  # the coursekit-only keys took their defaults
        for key, value in opt2.defaults.items():
            assert key in opt2.param_groups[0]


def test_a_torch_adam_state_dict_fills_bias_correction():
    model = make_model()
    opt = torch.optim.Adam(model.parameters())
    train(model, opt, 3)
    ours = ko.Adam(model.parameters())
    ours.load_state_dict(copy.deepcopy(opt.state_dict()))
    assert ours.param_groups[0]["bias_correction"] is True
    assert all(isinstance(s["step"], int) for s in ours.state.values())
    train(model, ours, 1)  # used to raise KeyError: 'bias_correction'


# --------------------------------------------------------------------------------------
# Bad inputs: coursekit raises the exception type torch raises.


def _param():
    return nn.Parameter(torch.randn(1, 1, dtype=torch.float64))


# (optimizers, params factory, keyword arguments); the params factory is None for
# [param]
ERRORS = [
    (list(PAIRS), lambda: _param(), {}),  # a tensor, not an iterable
    (
        list(PAIRS),
        lambda: [{"params": p} for p in [_param()] * 2],
        {},
    ),  # duplicates across groups
    (list(PAIRS), None, dict(lr=torch.tensor([0.001, 0.001]))),
    (
        list(PAIRS),
        lambda: [("weight", _param()), _param()],
        {},
    ),  # names on some params only
    (
        list(PAIRS),
        lambda: [
            {"params": [_param()], "lr": 1e-2},
            {"params": [("weight", _param())]},
        ],
        {},
    ),
    (list(PAIRS), None, dict(lr=-0.1)),
    (list(PAIRS), None, dict(lr="0.1")),
    (list(PAIRS), None, dict(weight_decay=-1)),
    (["SGD"], None, dict(lr=1e-2, momentum=-0.5)),
    (["SGD"], None, dict(lr=1e-2, momentum=0.9, dampening=0.5, nesterov=True)),
    (["SGD"], None, dict(lr=1e-2, nesterov=True)),
    (["Adagrad"], None, dict(lr=1e-2, lr_decay=-0.5)),
    (["Adagrad"], None, dict(initial_accumulator_value=-1.0)),
    (["Adagrad", "RMSprop", "Adam", "AdamW"], None, dict(eps=-1e-8)),
    (["RMSprop"], None, dict(lr=1e-2, momentum=-1.0)),
    (["RMSprop"], None, dict(alpha=-0.5)),
    (["Adam", "AdamW"], None, dict(lr=1e-2, betas=(1.0, 0.0))),
    (["Adam", "AdamW"], None, dict(lr=1e-2, betas=(0.9, -0.1))),
    (["Adam", "AdamW"], None, dict(lr=torch.tensor(0.001), foreach=True)),
    (["Adam", "AdamW"], None, dict(lr=1e-2, betas=(0.9, torch.tensor(0.99)))),
    (["Adam", "AdamW"], None, dict(lr=1e-2, betas=(torch.tensor(0.9), 0.99))),
    (
        ["Adam", "AdamW"],
        None,
        dict(lr=1e-2, betas=(torch.tensor(0.9), torch.tensor(0.99)), foreach=True),
    ),
    (["Adam", "AdamW"], None, dict(betas=0.9)),
]
ERROR_CASES = [
    (name, params, kwargs) for names, params, kwargs in ERRORS for name in names
]


def _error_of(cls, params, kwargs):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            cls(params() if params is not None else [_param()], **kwargs)
    except Exception as exc:  # noqa: BLE001 - the type is what is compared
        return type(exc), str(exc)
    return None, ""


@pytest.mark.parametrize(
    "name,params,kwargs",
    ERROR_CASES,
    ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(ERROR_CASES)],
)
def test_bad_inputs_raise_the_exception_type_torch_raises(name, params, kwargs):
    ours, theirs = PAIRS[name]
    torch_type, torch_message = _error_of(theirs, params, kwargs)
    our_type, our_message = _error_of(ours, params, kwargs)
    assert torch_type is not None, "torch accepts this input: it is not a bad input"
    assert our_type is torch_type, (our_message, torch_message)
    assert our_message  # a message, naming the argument


def test_duplicate_parameters_in_a_group_warn_as_in_torch():
    for cls in PAIRS["Adam"]:
        p = _param()
        with pytest.warns(UserWarning, match="duplicate parameters"):
            cls([p, p])


@pytest.mark.parametrize("name", list(PAIRS))
def test_torch_only_implementations_are_accepted_switched_off(name):
    """Code written for torch may pass capturable/differentiable/fused: off is accepted (the
    same numbers as torch), on raises a NotImplementedError naming the option."""
    import inspect

    ours, theirs = PAIRS[name]
    options = [o for o in ("capturable", "differentiable", "fused")
               if o in inspect.signature(theirs).parameters]
    off = {o: None if o == "fused" else False for o in options}
    runs = []
    for cls in PAIRS[name]:
        model = make_model()
        train(model, cls(model.parameters(), lr=0.01, **off), 10)
        runs.append(flat(model))
    assert (runs[0] - runs[1]).abs().max().item() <= 1e-12
    for option in options:
        with pytest.raises(NotImplementedError, match=f"no {option} implementation"):
            ours(make_model().parameters(), **{option: True})
        with pytest.raises(TypeError, match=f"{option} must be True or False"):
            ours(make_model().parameters(), **{option: "yes"})
    assert set(options) <= set(inspect.signature(ours).parameters)
