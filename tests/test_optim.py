"""Tests of coursekit.optim: equal to torch.optim where the configurations coincide, the exact mappings
between the textbook's forms and torch's, state_dict round-trips, argument checks, determinism."""
from __future__ import annotations

import io
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import coursekit as ck
from coursekit import optim as ko

# --------------------------------------------------------------------------------------------------
# A real small problem: an MLP on (a slice of) sklearn's digits, in float64.

@pytest.fixture(scope="module")
def digits64():
    split = ck.data.digits(dtype=torch.float64)
    return split.X_train[:512], split.y_train[:512]


def make_model(dtype=torch.float64, device="cpu", seed=0):
    torch.manual_seed(seed)
    return ck.nn.mlp([64, 24, 16, 10], "tanh").to(dtype=dtype, device=device)


def three_groups(model, first: dict, second: dict):
    """Three param groups (one per layer); the first two override some hyperparameters."""
    layers = [m for m in model if isinstance(m, nn.Linear)]
    return [{"params": list(layers[0].parameters()), **first},
            {"params": list(layers[1].parameters()), **second},
            {"params": list(layers[2].parameters())}]


def train(model, opt, data, steps, *, scheduler=None, seed=1, batch=32):
    X, y = data
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(X), (batch,), generator=g)
        opt.zero_grad()
        F.cross_entropy(model(X[idx]), y[idx]).backward()
        opt.step()
        if scheduler is not None:
            scheduler.step()
    return model


def flat(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


# (name, coursekit class, torch class, keyword arguments, overrides of group 1, overrides of group 2)
TORCH_CASES = [
    ("sgd", ko.SGD, torch.optim.SGD, dict(lr=0.1), dict(lr=0.05), dict(weight_decay=1e-3)),
    ("sgd-momentum-dampening", ko.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=1e-4),
     dict(lr=0.02), dict(momentum=0.5)),
    ("sgd-nesterov", ko.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True),
     dict(lr=0.02), dict(weight_decay=1e-3)),
    ("sgd-maximize", ko.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.5, maximize=True), dict(), dict()),
    ("adagrad", ko.AdaGrad, torch.optim.Adagrad, dict(lr=0.05), dict(lr=0.02), dict(weight_decay=1e-3)),
    ("adagrad-decay-init", ko.AdaGrad, torch.optim.Adagrad, dict(lr=0.05, lr_decay=1e-3, initial_accumulator_value=0.1),
     dict(eps=1e-6), dict()),
    ("rmsprop", ko.RMSProp, torch.optim.RMSprop, dict(lr=1e-3), dict(lr=2e-3), dict(weight_decay=1e-3)),
    ("rmsprop-centered-momentum", ko.RMSProp, torch.optim.RMSprop, dict(lr=1e-3, centered=True, momentum=0.9),
     dict(alpha=0.9), dict(weight_decay=1e-3)),
    ("rmsprop-momentum", ko.RMSProp, torch.optim.RMSprop, dict(lr=1e-3, momentum=0.5), dict(eps=1e-6), dict()),
    ("adam", ko.Adam, torch.optim.Adam, dict(lr=1e-2), dict(lr=2e-3), dict(weight_decay=1e-3)),
    ("adam-amsgrad", ko.Adam, torch.optim.Adam, dict(lr=1e-2, amsgrad=True, weight_decay=1e-4),
     dict(betas=(0.8, 0.99)), dict(eps=1e-6)),
    ("adamw", ko.AdamW, torch.optim.AdamW, dict(lr=1e-2), dict(lr=2e-3), dict(weight_decay=0.1)),
    ("adamw-amsgrad", ko.AdamW, torch.optim.AdamW, dict(lr=1e-2, amsgrad=True), dict(), dict(weight_decay=0.0)),
]


@pytest.mark.parametrize("name,ours,theirs,kwargs,first,second", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_equals_torch_after_hundreds_of_steps(digits64, name, ours, theirs, kwargs, first, second):
    """Same model, minibatches, param groups and schedule: the parameters agree to 1e-12 after 300 steps."""
    steps = 300
    runs = []
    for cls in (ours, theirs):
        model = make_model()
        opt = cls(three_groups(model, first, second), **kwargs)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)  # a changing learning rate
        runs.append(flat(train(model, opt, digits64, steps, scheduler=sched)))
    start = flat(make_model())
    assert (runs[0] - start).abs().max() > 1e-3, "the test did not move the parameters"
    assert (runs[0] - runs[1]).abs().max().item() <= 1e-12


@pytest.mark.parametrize("name,ours,theirs,kwargs,first,second", TORCH_CASES[:1] + TORCH_CASES[4:5] + TORCH_CASES[9:10],
                         ids=["sgd", "adagrad", "adam"])
def test_float32_close_to_torch(digits64, name, ours, theirs, kwargs, first, second):
    X, y = digits64
    data = (X.float(), y)
    runs = []
    for cls in (ours, theirs):
        model = make_model(torch.float32)
        runs.append(flat(train(model, cls(three_groups(model, first, second), **kwargs), data, 50)))
    assert (runs[0] - runs[1]).abs().max().item() <= 1e-5


# --------------------------------------------------------------------------------------------------
# The textbook's forms and torch's: exact mappings.

def quadratic_grad(H):
    return lambda theta: H @ theta


@pytest.fixture
def quadratic():
    g = torch.Generator().manual_seed(3)
    A = torch.randn(6, 6, generator=g, dtype=torch.float64)
    H = A @ A.T / 6 + 0.1 * torch.eye(6, dtype=torch.float64)
    theta0 = torch.randn(6, generator=g, dtype=torch.float64)
    return H, theta0


def run_on_quadratic(opt_factory, H, theta0, steps, lr_at=None):
    """Run a coursekit optimizer on J(θ) = θ'Hθ/2; returns the iterates (steps+1, d) and the optimizer."""
    theta = theta0.clone().requires_grad_(True)
    opt = opt_factory([theta])
    path = [theta.detach().clone()]
    for k in range(steps):
        if lr_at is not None:
            opt.param_groups[0]["lr"] = lr_at(k)
        theta.grad = H @ theta.detach()
        opt.step()
        path.append(theta.detach().clone())
    return torch.stack(path), opt


def test_goodfellow_velocity_is_minus_lr_times_torch_buffer(quadratic):
    """v ← αv − εg, θ ← θ + v  equals torch's  b ← μb + g, θ ← θ − εb  with v = −ε b (constant ε)."""
    H, theta0 = quadratic
    eps, alpha, steps = 0.1, 0.9, 200
    ours, opt = run_on_quadratic(lambda p: ko.SGD(p, lr=eps, momentum=alpha), H, theta0, steps)
    theta, v = theta0.clone(), torch.zeros_like(theta0)
    for _ in range(steps):
        v = alpha * v - eps * (H @ theta)
        theta = theta + v
    assert torch.allclose(ours[-1], theta, rtol=0, atol=1e-12)
    buf = opt.state[opt.param_groups[0]["params"][0]]["momentum_buffer"]
    assert torch.allclose(v, -eps * buf, rtol=0, atol=1e-12)


def test_velocity_and_buffer_differ_when_lr_changes(quadratic):
    """With a schedule the velocity remembers old step sizes: the two forms are different algorithms."""
    H, theta0 = quadratic
    alpha, steps = 0.9, 40
    lr_at = lambda k: 0.1 / (1 + k)  # noqa: E731
    ours, _ = run_on_quadratic(lambda p: ko.SGD(p, lr=0.1, momentum=alpha), H, theta0, steps, lr_at)
    theta, v = theta0.clone(), torch.zeros_like(theta0)
    for k in range(steps):
        v = alpha * v - lr_at(k) * (H @ theta)
        theta = theta + v
    assert (ours[-1] - theta).abs().max() > 1e-4


def test_torch_nesterov_stores_the_look_ahead_point(quadratic):
    """Sutskever's Nesterov (gradient at θ + αv) is torch's nesterov=True on θ̃ = θ + αv, exactly."""
    H, theta0 = quadratic
    eps, alpha, steps = 0.1, 0.9, 200
    ours, opt = run_on_quadratic(lambda p: ko.SGD(p, lr=eps, momentum=alpha, nesterov=True), H, theta0, steps)
    theta, v = theta0.clone(), torch.zeros_like(theta0)
    for k in range(steps):
        v = alpha * v - eps * (H @ (theta + alpha * v))
        theta = theta + v
        assert torch.allclose(ours[k + 1], theta + alpha * v, rtol=0, atol=1e-12)
    buf = opt.state[opt.param_groups[0]["params"][0]]["momentum_buffer"]
    assert torch.allclose(v, -eps * buf, rtol=0, atol=1e-12)


def test_adam_eps_placement_and_kingmas_efficient_form(quadratic):
    """Adam divides by √r̂ + δ. Kingma & Ba's efficient form folds the corrections into the step size
    and uses δ̂ = δ √(1 − β2^t); it is the same algorithm."""
    H, theta0 = quadratic
    lr, (b1, b2), delta, steps = 0.05, (0.9, 0.999), 1e-3, 200  # a large δ so that its placement matters
    ours, _ = run_on_quadratic(lambda p: ko.Adam(p, lr=lr, betas=(b1, b2), eps=delta), H, theta0, steps)
    theta, s, r = theta0.clone(), torch.zeros_like(theta0), torch.zeros_like(theta0)
    for t in range(1, steps + 1):
        g = H @ theta
        s = b1 * s + (1 - b1) * g
        r = b2 * r + (1 - b2) * g * g
        lr_t = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        theta = theta - lr_t * s / (r.sqrt() + delta * math.sqrt(1 - b2 ** t))
    assert torch.allclose(ours[-1], theta, rtol=0, atol=1e-12)
    # The slide typo "√r̂ + 1" is a different (much slower) algorithm.
    theta1, s, r = theta0.clone(), torch.zeros_like(theta0), torch.zeros_like(theta0)
    for t in range(1, steps + 1):
        g = H @ theta1
        s, r = b1 * s + (1 - b1) * g, b2 * r + (1 - b2) * g * g
        theta1 = theta1 - lr * (s / (1 - b1 ** t)) / ((r / (1 - b2 ** t)).sqrt() + 1)
    assert (theta1 - ours[-1]).abs().max() > 1e-3


def test_bias_correction_flag(quadratic):
    """Without bias correction the first Adam step is ε (1 − β1)/√(1 − β2) ≈ 3.16 ε per coordinate."""
    H, theta0 = quadratic
    lr = 1e-3
    path, _ = run_on_quadratic(lambda p: ko.Adam(p, lr=lr, eps=1e-12, bias_correction=False), H, theta0, 1)
    step = (path[1] - path[0]).abs()
    assert torch.allclose(step, torch.full_like(step, lr * 0.1 / math.sqrt(0.001)), rtol=1e-6)
    path, _ = run_on_quadratic(lambda p: ko.Adam(p, lr=lr, eps=1e-12), H, theta0, 1)
    assert torch.allclose((path[1] - path[0]).abs(), torch.full_like(step, lr), rtol=1e-6)


@pytest.mark.parametrize("cls,key", [(ko.RMSProp, "square_avg"), (ko.AdaGrad, "sum")])
def test_eps_inside_or_outside_the_root(quadratic, cls, key):
    """eps_inside_sqrt divides by √(δ + r) (Goodfellow et al.); the default by √r + δ (torch, Hinton's slides).
    The two are within a factor √2 of each other when the inside δ is the square of the outside one."""
    H, theta0 = quadratic
    delta = 1e-2
    for inside in (False, True):
        theta = theta0.clone().requires_grad_(True)
        opt = cls([theta], lr=0.01, eps=delta ** 2 if inside else delta, eps_inside_sqrt=inside)
        theta.grad = H @ theta0
        opt.step()
        r = opt.state[theta][key]
        denom = (r + delta ** 2).sqrt() if inside else r.sqrt() + delta
        assert torch.allclose(theta.detach(), theta0 - 0.01 * (H @ theta0) / denom, rtol=0, atol=1e-14)
    r = torch.logspace(-8, 2, 50, dtype=torch.float64)
    ratio = (r.sqrt() + delta) / (r + delta ** 2).sqrt()
    assert ratio.min() >= 1 - 1e-12 and ratio.max() <= math.sqrt(2) + 1e-12


# --------------------------------------------------------------------------------------------------
# Checkpoints, determinism, param groups, dtypes, devices.

ALL = [
    ("sgd-nesterov", lambda p: ko.SGD(p, lr=0.05, momentum=0.9, nesterov=True)),
    ("adagrad", lambda p: ko.AdaGrad(p, lr=0.05)),
    ("rmsprop-centered", lambda p: ko.RMSProp(p, lr=1e-3, centered=True, momentum=0.5)),
    ("adam-amsgrad", lambda p: ko.Adam(p, lr=1e-2, amsgrad=True)),
    ("adamw", lambda p: ko.AdamW(p, lr=1e-2)),
    ("delta-bar-delta", lambda p: ko.DeltaBarDelta(p, lr=1e-2, kappa=1e-4)),
]


@pytest.mark.parametrize("name,factory", ALL, ids=[a[0] for a in ALL])
def test_state_dict_round_trip(digits64, name, factory):
    """Save after 20 steps (through torch.save), load into a fresh optimizer, continue: identical to not stopping."""
    model = make_model()
    opt = factory(model.parameters())
    train(model, opt, digits64, 20, seed=5)
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buffer)
    train(model, opt, digits64, 20, seed=6)

    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    resumed = make_model(seed=99)
    resumed.load_state_dict(saved["model"])
    opt2 = factory(resumed.parameters())
    opt2.load_state_dict(saved["opt"])
    train(resumed, opt2, digits64, 20, seed=6)
    assert torch.equal(flat(model), flat(resumed))


@pytest.mark.parametrize("name,factory", ALL, ids=[a[0] for a in ALL])
def test_deterministic(digits64, name, factory):
    runs = []
    for _ in range(2):
        model = make_model()
        runs.append(flat(train(model, factory(model.parameters()), digits64, 30)))
    assert torch.equal(runs[0], runs[1])


@pytest.mark.parametrize("name,factory", ALL, ids=[a[0] for a in ALL])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_any_floating_dtype(name, factory, dtype):
    """State tensors take the parameter's dtype and the loss goes down in low precision too."""
    torch.manual_seed(0)
    w = torch.randn(10, dtype=dtype, requires_grad=True)
    opt = factory([w])
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = (w.float() ** 2).sum()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    for value in opt.state[w].values():
        if isinstance(value, torch.Tensor):
            assert value.dtype == dtype


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name,factory", ALL, ids=[a[0] for a in ALL])
def test_state_lives_on_the_parameters_device(device, name, factory):
    w = torch.randn(5, device=device, requires_grad=True)
    opt = factory([w])
    (w ** 2).sum().backward()
    opt.step()
    for value in opt.state[w].values():
        if isinstance(value, torch.Tensor):
            assert value.device == w.device


def test_params_without_grad_are_skipped_and_groups_keep_their_settings():
    a = torch.ones(3, requires_grad=True)
    b = torch.ones(3, requires_grad=True)
    frozen = torch.ones(3, requires_grad=True)
    opt = ko.SGD([{"params": [a], "lr": 0.1}, {"params": [b, frozen]}], lr=0.5)
    (a.sum() + b.sum()).backward()
    opt.step()
    assert torch.allclose(a, torch.full((3,), 0.9)) and torch.allclose(b, torch.full((3,), 0.5))
    assert torch.equal(frozen, torch.ones(3)) and len(opt.state[frozen]) == 0
    opt.add_param_group({"params": [torch.zeros(2, requires_grad=True)], "momentum": 0.9})
    assert opt.param_groups[-1]["lr"] == 0.5 and opt.param_groups[-1]["momentum"] == 0.9


def test_closure_is_evaluated_and_its_loss_returned():
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    opt = ko.Adam([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w ** 2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == pytest.approx(5.0)
    assert w.grad is not None


def test_maximize_is_minimizing_the_negative():
    runs = []
    for maximize in (False, True):
        w = torch.tensor([1.0, -2.0], requires_grad=True)
        opt = ko.RMSProp([w], lr=0.01, momentum=0.5, maximize=maximize)
        for _ in range(10):
            opt.zero_grad()
            ((w ** 2).sum() * (-1 if maximize else 1)).backward()
            opt.step()
        runs.append(w.detach().clone())
    assert torch.equal(runs[0], runs[1])


# --------------------------------------------------------------------------------------------------
# Bad arguments raise clear errors.

BAD = [
    (lambda p: ko.SGD(p, lr=-0.1), ValueError, "Invalid learning rate: -0.1"),
    (lambda p: ko.Adam(p, lr=-1), ValueError, "Invalid learning rate: -1.0"),
    (lambda p: ko.SGD(p, lr="0.1"), TypeError, "lr must be a real number"),
    (lambda p: ko.SGD(p, lr=0.1, momentum=-0.5), ValueError, "Invalid momentum value"),
    (lambda p: ko.SGD(p, lr=0.1, momentum=1.0), ValueError, "momentum must be in [0, 1)"),
    (lambda p: ko.SGD(p, lr=0.1, weight_decay=-1e-4), ValueError, "Invalid weight_decay value"),
    (lambda p: ko.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError,
     "Nesterov momentum requires a momentum > 0 and zero dampening"),
    (lambda p: ko.SGD(p, lr=0.1, nesterov=True), ValueError, "Nesterov momentum requires"),
    (lambda p: ko.Adam(p, betas=(1.0, 0.999)), ValueError, "Invalid beta parameter at index 0: 1.0"),
    (lambda p: ko.Adam(p, betas=(0.9, -0.1)), ValueError, "Invalid beta parameter at index 1: -0.1"),
    (lambda p: ko.Adam(p, betas=0.9), TypeError, "betas must be a pair"),
    (lambda p: ko.Adam(p, eps=0.0), ValueError, "Invalid epsilon value: 0.0"),
    (lambda p: ko.RMSProp(p, eps=-1e-8), ValueError, "Invalid epsilon value"),
    (lambda p: ko.AdaGrad(p, eps=0), ValueError, "Invalid epsilon value"),
    (lambda p: ko.RMSProp(p, alpha=1.0), ValueError, "Invalid alpha value"),
    (lambda p: ko.AdaGrad(p, lr_decay=-1), ValueError, "Invalid lr_decay value"),
    (lambda p: ko.DeltaBarDelta(p, phi=1.5), ValueError, "Invalid phi value"),
    (lambda p: ko.DeltaBarDelta(p, kappa=-1), ValueError, "Invalid kappa value"),
    (lambda p: ko.Adam(p, amsgrad="yes"), TypeError, "amsgrad must be True or False"),
    (lambda p: ko.SGD([{"params": p, "lr": -0.5}], lr=0.1), ValueError, "Invalid learning rate: -0.5"),
    (lambda p: ko.Adam([{"params": p, "betas": (0.9, 1.2)}]), ValueError, "Invalid beta parameter at index 1"),
    (lambda p: ko.SGD(p, lr=float("nan")), ValueError, "Invalid lr: nan"),
]


@pytest.mark.parametrize("factory,error,message", BAD, ids=[m for _, _, m in BAD])
def test_bad_arguments_raise_clear_errors(factory, error, message):
    with pytest.raises(error, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        factory([torch.zeros(2, requires_grad=True)])


def test_sparse_and_complex_parameters_are_refused():
    emb = nn.Embedding(5, 3, sparse=True)
    opt = ko.Adam(emb.parameters())
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="sparse"):
        opt.step()
    z = torch.zeros(2, dtype=torch.complex64, requires_grad=True)
    z.grad = torch.ones_like(z)
    with pytest.raises(TypeError, match="real floating dtype"):
        ko.SGD([z], lr=0.1).step()


# --------------------------------------------------------------------------------------------------
# Delta-bar-delta, schedules, Polyak averaging, EWMA.

def test_delta_bar_delta_follows_its_rule():
    """Rates grow by κ while the gradient keeps its sign and lose a fraction φ on a flip."""
    w = torch.tensor([1.0, 1.0], dtype=torch.float64, requires_grad=True)
    opt = ko.DeltaBarDelta([w], lr=0.1, kappa=0.05, phi=0.5, gamma=0.0)
    grads = [torch.tensor([1.0, 1.0]), torch.tensor([1.0, -1.0]), torch.tensor([1.0, -1.0]), torch.tensor([1.0, 1.0])]
    expected_lr = [[0.1, 0.1], [0.15, 0.05], [0.2, 0.1], [0.25, 0.05]]
    for g, lr in zip(grads, expected_lr):
        w.grad = g.double()
        before = w.detach().clone()
        opt.step()
        rates = opt.state[w]["lr"]
        assert torch.allclose(rates, torch.tensor(lr, dtype=torch.float64))
        assert torch.allclose(w.detach(), before - rates * g.double())


def test_delta_bar_delta_speeds_up_on_a_gentle_slope_and_calms_oscillations():
    """On J = (0.01 x² + 1.9 y²)/2 from lr = 1 (y oscillates): the x rate grows by κ every step, the y rate
    drops below the stability limit 1/1.9, and the point ends far closer to the minimum than plain GD."""
    curv = torch.tensor([0.01, 1.9], dtype=torch.float64)
    w = torch.tensor([5.0, 5.0], dtype=torch.float64, requires_grad=True)
    opt = ko.DeltaBarDelta([w], lr=1.0, kappa=0.1, phi=0.5, gamma=0.5)
    for _ in range(100):
        w.grad = curv * w.detach()
        opt.step()
    rates = opt.state[w]["lr"]
    assert rates[0].item() == pytest.approx(1 + 99 * 0.1) and rates[1] < 1 / 1.9
    gd = 5.0 * (1 - 0.01) ** 100  # plain GD with lr = 1 along x
    assert w.detach().abs().max() < gd / 100


def test_inverse_time_decay_values_and_robbins_monro():
    w = torch.zeros(1, requires_grad=True)
    opt = ko.SGD([{"params": [w]}, {"params": [torch.zeros(1, requires_grad=True)], "lr": 0.5}], lr=1.0)
    sched = ko.InverseTimeDecay(opt, time_scale=10)
    lrs = []
    for _ in range(100):
        lrs.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    for k, (a, b) in enumerate(lrs):
        assert a == pytest.approx(1 / (1 + k / 10), rel=1e-15) and b == pytest.approx(0.5 / (1 + k / 10), rel=1e-15)
    with pytest.raises(ValueError, match="time_scale"):
        ko.InverseTimeDecay(opt, time_scale=0)


def test_linear_decay_equals_torch_linear_lr_and_stays_constant_after_tau():
    tau, final = 50, 0.01
    runs = []
    for make in (lambda o: ko.LinearDecay(o, tau=tau, final_factor=final),
                 lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=1.0, end_factor=final, total_iters=tau)):
        opt = ko.SGD([{"params": [torch.zeros(1, requires_grad=True)]},
                      {"params": [torch.zeros(1, requires_grad=True)], "lr": 0.3}], lr=0.1)
        sched = make(opt)
        lrs = []
        for _ in range(80):
            lrs.append([g["lr"] for g in opt.param_groups])
            opt.step()
            sched.step()
        runs.append(torch.tensor(lrs, dtype=torch.float64))
    assert torch.allclose(runs[0], runs[1], rtol=1e-12, atol=0)
    k = torch.arange(80, dtype=torch.float64).clamp(max=tau) / tau
    assert torch.allclose(runs[0][:, 0], 0.1 * ((1 - k) + k * final), rtol=1e-14, atol=0)
    assert torch.all(runs[0][tau:, 1] == 0.3 * final)
    with pytest.raises(ValueError, match="final_factor"):
        ko.LinearDecay(opt, tau=10, final_factor=2.0)
    with pytest.raises(TypeError, match="tau"):
        ko.LinearDecay(opt, tau=2.5)


def test_schedule_state_dict_round_trip():
    def fresh():
        opt = ko.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        return opt, ko.LinearDecay(opt, tau=20)
    opt, sched = fresh()
    for _ in range(7):
        opt.step()
        sched.step()
    opt2, sched2 = fresh()
    sched2.load_state_dict(sched.state_dict())
    opt2.load_state_dict(opt.state_dict())
    for _ in range(5):
        for o, s in ((opt, sched), (opt2, sched2)):
            o.step()
            s.step()
    assert opt.param_groups[0]["lr"] == opt2.param_groups[0]["lr"] == pytest.approx(0.1 * (1 - 12 / 20 * 0.99))


@pytest.mark.parametrize("mode", ["mean", "ema"])
def test_polyak_average_matches_torch_averaged_model(digits64, mode):
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    model = make_model()
    avg = ko.PolyakAverage(model, mode=mode, alpha=0.9)
    reference = AveragedModel(model) if mode == "mean" else AveragedModel(
        model, multi_avg_fn=get_ema_multi_avg_fn(0.9))
    opt = ko.SGD(model.parameters(), lr=0.1)
    X, y = digits64
    iterates = []
    for k in range(40):
        opt.zero_grad()
        F.cross_entropy(model(X[:64]), y[:64]).backward()
        opt.step()
        avg.update()
        reference.update_parameters(model)
        iterates.append(flat(model))
    ours = torch.cat([a.flatten() for a in avg.averaged])
    assert torch.allclose(ours, flat(reference.module), rtol=0, atol=1e-12)
    if mode == "mean":
        assert torch.allclose(ours, torch.stack(iterates).mean(0), rtol=0, atol=1e-12)
    else:
        weights = torch.tensor([0.9 ** 39] + [0.1 * 0.9 ** (39 - i) for i in range(1, 40)], dtype=torch.float64)
        assert torch.allclose(ours, weights @ torch.stack(iterates), rtol=0, atol=1e-12)


def test_polyak_swapped_restores_and_state_dict():
    model = make_model()
    avg = ko.PolyakAverage(model.parameters(), mode="mean")
    current = flat(model)
    avg.update()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    avg.update()
    moved = flat(model)
    with avg.swapped():
        assert torch.allclose(flat(model), current + 0.5)
    assert torch.equal(flat(model), moved)
    other = ko.PolyakAverage(make_model(seed=3), mode="mean")
    other.load_state_dict(avg.state_dict())
    assert other.num_averaged == 2 and all(torch.equal(a, b) for a, b in zip(other.averaged, avg.averaged))
    with pytest.raises(ValueError, match="mode"):
        ko.PolyakAverage(model, mode="median")
    with pytest.raises(ValueError, match="alpha"):
        ko.PolyakAverage(model, mode="ema", alpha=1.0)
    with pytest.raises(TypeError, match="single tensor"):
        ko.PolyakAverage(torch.zeros(2))


def test_ewma_early_bias_and_its_correction():
    x = torch.full((50,), 3.0, dtype=torch.float64)
    beta = 0.9
    t = torch.arange(1, 51, dtype=torch.float64)
    assert torch.allclose(ko.ewma(x, beta), 3.0 * (1 - beta ** t), rtol=1e-14)
    assert torch.allclose(ko.ewma(x, beta, bias_correction=True), x, rtol=1e-14)
    with pytest.raises(ValueError, match="beta"):
        ko.ewma(x, 1.0)
    with pytest.raises(ValueError, match="non-empty"):
        ko.ewma([], 0.5)


def test_docstrings_state_the_update_rules():
    """The book shows these docstrings next to the math: each names its update."""
    assert "b_k = μ b_{k-1}" in ko.SGD.__doc__ and "v ← μ v − η g" in ko.SGD.__doc__
    assert "r_k = r_{k-1} + g_k ⊙ g_k" in ko.AdaGrad.__doc__
    assert "√v̂_t + δ" in ko.Adam.__doc__
    assert "Δη_i = κ" in ko.DeltaBarDelta.__doc__


def test_parameters_with_different_step_counts_match_torch():
    """A parameter that skips steps (no gradient) has its own step count t: bias corrections per tensor."""
    runs = []
    for cls in (ko.Adam, torch.optim.Adam):
        torch.manual_seed(0)
        a = torch.randn(4, dtype=torch.float64, requires_grad=True)
        b = torch.randn(3, dtype=torch.float64, requires_grad=True)
        opt = cls([a, b], lr=0.01)
        for k in range(30):
            opt.zero_grad()
            loss = (a ** 2).sum() + ((b ** 2).sum() if k % 3 == 0 else 0.0)
            loss.backward()
            opt.step()
        runs.append(torch.cat([a.detach(), b.detach()]))
    assert torch.allclose(runs[0], runs[1], rtol=0, atol=1e-15)


# --------------------------------------------------------------------------------------------------
# Closed-form theory, the noisy quadratic, functional steps, the spurious-features data.

from coursekit.optim import theory  # noqa: E402


def test_heavy_ball_rate_matches_the_iteration_matrix():
    lam = [0.01, 0.3, 1.0]
    for lr, mu in [(0.5, 0.0), (1.2, 0.8), (3.3, 0.67)]:
        radius = max(float(torch.linalg.eigvals(torch.tensor([[1 + mu - lr * l, -mu], [1.0, 0.0]],
                                                               dtype=torch.float64)).abs().max()) for l in lam)
        assert theory.heavy_ball_rate(lr, mu, lam) == pytest.approx(radius, rel=1e-7)
    assert theory.heavy_ball_rate(0.5, 0.0, lam) == pytest.approx(theory.gd_rate(0.5, lam))


def test_optimal_parameters():
    lr, rate = theory.optimal_gd(0.01, 1.0)
    assert lr == pytest.approx(2 / 1.01) and rate == pytest.approx(0.99 / 1.01)
    assert theory.gd_rate(lr, [0.01, 1.0]) == pytest.approx(rate)
    lr, mu, rate = theory.optimal_heavy_ball(0.01, 1.0)
    assert rate == pytest.approx(9 / 11) and mu == pytest.approx((9 / 11) ** 2) and lr == pytest.approx(4 / 1.1 ** 2)
    assert theory.heavy_ball_rate(lr, mu, torch.linspace(0.01, 1.0, 50, dtype=torch.float64)) == pytest.approx(rate, rel=1e-6)
    lr, mu, rate = theory.optimal_nesterov(0.01, 1.0)
    assert lr == 1.0 and mu == pytest.approx(9 / 11) and rate == pytest.approx(0.9, rel=1e-6)
    with pytest.raises(ValueError, match="lam_min must be <= lam_max"):
        theory.optimal_gd(2.0, 1.0)
    with pytest.raises(ValueError, match="curvatures"):
        theory.gd_rate(0.1, [1.0, -1.0])


def test_noise_floor_and_polyak_average_on_the_noisy_quadratic():
    problem = ko.NoisyQuadratic([1.0, 0.25], sigma=1.0)
    run = problem.run(lambda p: ko.SGD(p, lr=0.2), 1500, runs=2000, average="mean")
    floor = theory.sgd_noise_floor(0.2, [1.0, 0.25], 1.0)
    assert run.loss[500:].mean().item() == pytest.approx(floor, rel=0.03)
    assert run.averaged_loss[-1].item() == pytest.approx(theory.averaged_sgd_loss([1.0, 0.25], 1.0, 1500), rel=0.2)
    again = problem.run(lambda p: ko.SGD(p, lr=0.2), 1500, runs=2000, average="mean")
    assert torch.equal(run.loss, again.loss)
    with pytest.raises(ValueError, match="lr \\* curvature must be < 2"):
        theory.sgd_noise_floor(3.0, [1.0], 1.0)


def test_inverse_time_decay_reaches_the_1_over_k_loss():
    problem = ko.NoisyQuadratic([1.0, 0.25], sigma=1.0)
    run = problem.run(lambda p: ko.SGD(p, lr=0.2), 3000, runs=2000,
                      scheduler=lambda o: ko.InverseTimeDecay(o, time_scale=50))
    predicted = theory.inverse_time_loss(0.2 * 50, [1.0, 0.25], 1.0, 3000 + 50)
    assert run.loss[-1].item() == pytest.approx(predicted, rel=0.1)


def test_functional_steps_equal_the_classes():
    theta, g = torch.tensor([1.0, -2.0], dtype=torch.float64), torch.tensor([0.5, 3.0], dtype=torch.float64)
    m, v = torch.tensor([0.1, 0.2], dtype=torch.float64), torch.tensor([0.01, 0.5], dtype=torch.float64)
    new, m2, v2 = ko.functional.adam_step(theta, g, m, v, 3, lr=0.1)
    m_ref, v_ref = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
    ref = theta - 0.1 * (m_ref / (1 - 0.9 ** 3)) / ((v_ref / (1 - 0.999 ** 3)).sqrt() + 1e-8)
    assert torch.allclose(new, ref, rtol=1e-12) and torch.allclose(m2, m_ref) and torch.allclose(v2, v_ref)
    new, vel = ko.functional.momentum_step(theta, g, torch.tensor([0.3, 0.0], dtype=torch.float64), 0.1, 0.9)
    assert torch.allclose(vel, 0.9 * torch.tensor([0.3, 0.0], dtype=torch.float64) - 0.1 * g, rtol=1e-12)
    assert torch.allclose(new, theta + vel, rtol=1e-12)
    with pytest.raises(ValueError, match="same shape"):
        ko.functional.adam_step(theta, g[:1], m, v, 1)
    assert ko.schedules.linear_decay(5, 1.0, 0.01, 10) == pytest.approx(0.505)
    assert ko.schedules.linear_decay(50, 1.0, 0.01, 10) == 0.01


def test_spurious_features_construction():
    X, y, Xt, yt = ck.data.spurious_features(20, 10, p=0.7, seed=1)
    assert X.shape == (20, 3 + 5 * 30) and Xt.shape == (10, 3 + 5 * 30)
    assert torch.equal(X[:, 0], y) and (X[:, 1:3] == 1).all()
    assert torch.equal(X[:, 3:].sum(1), torch.where(y > 0, 1.0, 5.0).double())
    assert (X[:, 3:] != 0).sum(0).max() == 1  # each unique feature belongs to one example
    assert (X[:, 3:] != 0).any(0).logical_and((Xt[:, 3:] != 0).any(0)).sum() == 0  # test blocks are new
    with pytest.raises(ValueError, match="p must be > 0.5"):
        ck.data.spurious_features(10, 10, p=0.5)


def test_trajectories_equal_one_landscape_trajectory_per_setting():
    f = ck.landscapes.rosenbrock()
    settings = [{"lr": 1e-3}, {"lr": 1e-3, "momentum": 0.9}, {"lr": 5e-4, "momentum": 0.9, "nesterov": True}]
    batched = ko.trajectories(ko.SGD, f, (-1.0, 1.5), 50, settings)
    assert batched.shape == (3, 51, 2)
    for path, setting in zip(batched, settings):
        single = ck.landscapes.trajectory(ko.SGD, f, (-1.0, 1.5), 50, **setting)
        assert torch.allclose(path, single, rtol=0, atol=1e-12)
    # a plain callable (no exact .grad) goes through autograd
    bowl = lambda xy: (xy ** 2).sum(-1)  # noqa: E731
    (path,) = ko.trajectories(ko.Adam, bowl, (1.0, -1.0), 20, [{"lr": 0.1}])
    assert torch.allclose(path, ck.landscapes.trajectory(ko.Adam, bowl, (1.0, -1.0), 20, lr=0.1), atol=1e-12)
    with pytest.raises(ValueError, match="settings"):
        ko.trajectories(ko.SGD, f, (0.0, 0.0), 5, [])
    with pytest.raises(TypeError, match="optimizer_class"):
        ko.trajectories(ko.SGD([torch.zeros(1, requires_grad=True)]), f, (0.0, 0.0), 5, [{}])


def test_noisy_quadratic_checks_its_arguments():
    with pytest.raises(ValueError, match="curvatures"):
        ko.NoisyQuadratic([1.0, 0.0])
    problem = ko.NoisyQuadratic([1.0])
    with pytest.raises(TypeError, match="make_optimizer"):
        problem.run(lambda p: None, 3)
    with pytest.raises(ValueError, match="average"):
        problem.run(lambda p: ko.SGD(p, lr=0.1), 3, average="median")
    with pytest.raises(ValueError, match="theta"):
        problem.loss(torch.zeros(3, 2))


def test_one_validation_vocabulary():
    """coursekit._args holds every check: numpy numbers are numbers, intervals named."""
    import numpy as np

    from coursekit import _args

    w = [torch.zeros(2, requires_grad=True)]
    opt = ko.EntropySGD(w, lr=np.float32(0.1), L=np.int64(2), alpha=np.float64(1.0))
    assert opt.param_groups[0]["L"] == 2 and type(opt.param_groups[0]["L"]) is int
    assert ko.EASGD(w, tau=np.int32(3)).tau == 3
    assert _args.count("L", np.int16(4), "number of Langevin steps", 0) == 4
    assert _args.positive_int("n", np.uint8(5)) == 5
    with pytest.raises(TypeError, match="tau must be an integer"):
        ko.EASGD(w, tau=np.float64(3.0))
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.0"):
        _args.fraction("dropout", 1.0)
    assert _args.fraction("dropout", 0.0) == 0.0
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\]"):
        ko.EntropySGD(w, alpha=0.0)
    assert _args.unit_interval("w", 1.0, "(0, 1]") == 1.0
    message = r"Invalid momentum value: 1.0 \(momentum must be in \[0, 1\)\)"
    with pytest.raises(ValueError, match=message):
        ko.SGD(w, momentum=1.0)
    with pytest.raises(TypeError, match="flag must be True or False"):
        _args.flag("flag", 1)
    assert _args.flag("flag", np.bool_(True)) is True
