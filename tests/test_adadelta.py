"""Tests of coursekit.optim.adadelta: equal to torch.optim.Adadelta, the update written out by hand,
the step laws the chapter quotes, and argument checks."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import coursekit as ck
from coursekit import optim as ko


def _model(seed=0):
    torch.manual_seed(seed)
    return ck.nn.mlp([64, 24, 16, 10], "tanh").to(torch.float64)


def _train(model, opt, steps=60, seed=1):
    split = ck.data.digits(dtype=torch.float64)
    X, y = split.X_train[:512], split.y_train[:512]
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(X), (32,), generator=g)
        opt.zero_grad()
        F.cross_entropy(model(X[idx]), y[idx]).backward()
        opt.step()
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize("kwargs", [
    {},
    {"lr": 0.5, "rho": 0.95, "eps": 1e-5},
    {"lr": 2.0, "rho": 0.0, "eps": 1e-8, "weight_decay": 1e-2},
    {"maximize": True, "weight_decay": 1e-3},
])
def test_equals_torch_adadelta(kwargs):
    ours, theirs = _model(), _model()
    a = _train(ours, ko.Adadelta(ours.parameters(), **kwargs))
    b = _train(theirs, torch.optim.Adadelta(theirs.parameters(), **kwargs))
    assert torch.isfinite(a).all()
    assert (a - b).abs().max().item() < 1e-12


def test_param_groups_and_state_dict():
    ours, theirs = _model(), _model()
    layers = [m for m in ours if isinstance(m, torch.nn.Linear)]
    groups = [{"params": list(layers[0].parameters()), "lr": 0.3},
              {"params": [p for m in layers[1:] for p in m.parameters()]}]
    opt = ko.Adadelta(groups, rho=0.8)
    _train(ours, opt, steps=10)
    state = opt.state_dict()
    copy = ko.Adadelta([{"params": list(layers[0].parameters()), "lr": 0.3},
                        {"params": [p for m in layers[1:] for p in m.parameters()]}], rho=0.8)
    copy.load_state_dict(state)
    p = layers[0].weight
    assert torch.equal(copy.state[p]["acc_delta"], opt.state[p]["acc_delta"])
    t_layers = [m for m in theirs if isinstance(m, torch.nn.Linear)]
    t_opt = torch.optim.Adadelta(
        [{"params": list(t_layers[0].parameters()), "lr": 0.3},
         {"params": [p for m in t_layers[1:] for p in m.parameters()]}], rho=0.8)
    _train(theirs, t_opt, steps=10)
    diff = max((a - b).abs().max().item() for a, b in zip(ours.parameters(), theirs.parameters()))
    assert diff < 1e-12


def test_update_by_hand():
    g = torch.Generator().manual_seed(3)
    theta = torch.randn(5, generator=g, dtype=torch.float64)
    v = torch.rand(5, generator=g, dtype=torch.float64)
    u = torch.rand(5, generator=g, dtype=torch.float64) / 10
    grad = torch.randn(5, generator=g, dtype=torch.float64)
    rho, eps, lr, lam = 0.9, 1e-6, 0.7, 0.01
    gw = grad + lam * theta
    v_new = rho * v + (1 - rho) * gw**2
    delta = torch.sqrt(u + eps) / torch.sqrt(v_new + eps) * gw
    u_new = rho * u + (1 - rho) * delta**2
    expected = theta - lr * delta
    t, vv, uu = theta.clone(), v.clone(), u.clone()
    out = ko.adadelta_update(t, grad, vv, uu, lr=lr, rho=rho, eps=eps, weight_decay=lam)
    torch.testing.assert_close(out, delta, rtol=0, atol=1e-15)
    torch.testing.assert_close(t, expected, rtol=0, atol=1e-15)
    torch.testing.assert_close(vv, v_new, rtol=0, atol=1e-15)
    torch.testing.assert_close(uu, u_new, rtol=0, atol=1e-15)


def test_step_has_no_side_effects_and_matches_update():
    g = torch.Generator().manual_seed(4)
    theta, grad, v, u = (f(4, generator=g, dtype=torch.float64)
                         for f in (torch.randn, torch.randn, torch.rand, torch.rand))
    copies = [t.clone() for t in (theta, grad, v, u)]
    new_theta, new_v, new_u = ko.adadelta_step(theta, grad, v, u, lr=0.5, rho=0.8, eps=1e-5)
    for t, c in zip((theta, grad, v, u), copies):
        assert torch.equal(t, c)
    ko.adadelta_update(theta, grad, v, u, lr=0.5, rho=0.8, eps=1e-5)
    assert torch.equal(new_theta, theta) and torch.equal(new_v, v) and torch.equal(new_u, u)


def test_first_step_and_constant_slope_law():
    """First step: sqrt(eps / ((1 - rho) g^2 + eps)) g; on a constant slope the squared step
    grows linearly, by (1 - rho) eps per step: AdaDelta accelerates where AdaGrad slows down."""
    rho, eps, gval = 0.9, 1e-6, 2.0
    w = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = ko.Adadelta([w], rho=rho, eps=eps)
    positions = [0.0]
    for _ in range(2000):
        w.grad = torch.full_like(w, gval)
        opt.step()
        positions.append(w.item())
    steps = -torch.diff(torch.tensor(positions, dtype=torch.float64))
    first = math.sqrt(eps / ((1 - rho) * gval**2 + eps)) * gval
    assert abs(steps[0].item() / first - 1) < 1e-12
    slope = (steps[1999] ** 2 - steps[999] ** 2).item() / 1000
    assert abs(slope / ((1 - rho) * eps) - 1) < 0.01, slope
    assert (torch.diff(steps[100:]) > 0).all() and steps[-1] > 4 * steps[0]


def test_argument_checks():
    p = torch.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match="learning rate"):
        ko.Adadelta([p], lr=-1.0)
    with pytest.raises(ValueError, match="rho"):
        ko.Adadelta([p], rho=1.0)
    with pytest.raises(ValueError, match="eps"):
        ko.Adadelta([p], eps=0.0)
    with pytest.raises(ValueError, match="weight_decay"):
        ko.Adadelta([p], weight_decay=-0.1)
    with pytest.raises(TypeError, match="rho"):
        ko.Adadelta([p], rho="0.9")
    z = torch.zeros(3)
    with pytest.raises(ValueError, match="square_avg"):
        ko.adadelta_step(z.clone(), z, torch.zeros(4), z.clone())
    with pytest.raises(TypeError, match="grad"):
        ko.adadelta_step(z.clone(), [0.0, 0.0, 0.0], z.clone(), z.clone())
    with pytest.raises(ValueError, match="rho"):
        ko.adadelta_step(z.clone(), z, z.clone(), z.clone(), rho=-0.1)
