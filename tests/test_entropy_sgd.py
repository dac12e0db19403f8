"""Tests of coursekit.optim.EntropySGD, MinibatchClosure and coursekit.local_entropy."""
import copy
import math

import pytest
import torch

import coursekit as ck
from coursekit import local_entropy as le
from coursekit.optim import EntropySGD, MinibatchClosure


def regression(seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(64, 5, generator=g, dtype=torch.float64)
    y = X @ torch.randn(5, 1, generator=g, dtype=torch.float64) + 0.1 * torch.randn(64, 1, generator=g, dtype=torch.float64)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    return X, y, model


@pytest.mark.parametrize("momentum,nesterov,weight_decay", [(0.9, True, 0.0), (0.5, True, 1e-2), (0.9, False, 0.0),
                                                            (0.0, False, 0.0)])
def test_L0_is_torch_sgd(momentum, nesterov, weight_decay):
    X, y, model = regression()
    twin = copy.deepcopy(model)
    ours = EntropySGD(model.parameters(), lr=0.05, L=0, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    ref = torch.optim.SGD(twin.parameters(), lr=0.05, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    for step in range(30):
        idx = torch.arange(step % 4 * 16, step % 4 * 16 + 16)
        for net, opt in ((model, ours), (twin, ref)):
            def closure(net=net, opt=opt):
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(net(X[idx]), y[idx])
                loss.backward()
                return loss
            opt.step(closure)
    for p, q in zip(model.parameters(), twin.parameters()):
        assert torch.equal(p, q)


def test_one_step_follows_algorithm_1_by_hand():
    # f(x) = 1/2 ||x||^2 (gradient x), no noise: every quantity can be written down.
    x0 = torch.tensor([1.0, -2.0], dtype=torch.float64)
    x = x0.clone().requires_grad_(True)
    opt = EntropySGD([x], lr=0.5, gamma=2.0, scoping=0.0, L=3, sgld_lr=0.1, noise=0.0, alpha=0.25)

    def closure():
        opt.zero_grad()
        loss = 0.5 * (x ** 2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == pytest.approx(2.5)              # f at x' = x
    xp, mu = x0.clone(), x0.clone()
    for _ in range(3):
        xp = xp - 0.1 * (xp - 2.0 * (x0 - xp))
        mu = 0.75 * mu + 0.25 * xp
    expected = x0 - 0.5 * 2.0 * (x0 - mu)
    assert torch.allclose(x.detach(), expected, atol=1e-14)
    assert torch.allclose(x.grad, 2.0 * (x0 - mu), atol=1e-14)


def test_scoping_gamma_grows_geometrically():
    x = torch.zeros(3, requires_grad=True)
    opt = EntropySGD([x], lr=0.1, gamma=0.5, scoping=0.1, L=2, noise=0.0)

    def closure():
        opt.zero_grad()
        loss = ((x - 1) ** 2).sum()
        loss.backward()
        return loss

    seen = []
    for _ in range(5):
        seen.append(opt.scope()[0])
        opt.step(closure)
    assert seen == pytest.approx([0.5 * 1.1 ** t for t in range(5)])


def test_noise_scale_and_determinism_with_generator():
    # Pure noise (f = 0, gamma tiny, one Langevin step): x' - x = sqrt(2 eta') eps N(0, 1).
    def run(seed):
        x = torch.zeros(20000, dtype=torch.float64, requires_grad=True)
        opt = EntropySGD([x], lr=1.0, gamma=1e-12, scoping=0.0, L=1, sgld_lr=0.02, noise=0.5, alpha=1.0,
                         generator=torch.Generator().manual_seed(seed))

        def closure():
            opt.zero_grad()
            loss = 0.0 * x.sum()
            loss.backward()
            return loss

        opt.step(closure)
        return opt.state[x]["mu"] - opt.state[x]["anchor"]

    a, b = run(0), run(0)
    assert torch.equal(a, b)
    assert float(a.std()) == pytest.approx(0.5 * math.sqrt(2 * 0.02), rel=0.03)


def test_entropy_sgd_trains_a_network_with_fresh_minibatches():
    X, y, model = regression()
    closure = MinibatchClosure(model, torch.nn.functional.mse_loss, X, y, batch_size=16,
                               generator=torch.Generator().manual_seed(0))
    opt = EntropySGD(model.parameters(), lr=0.2, gamma=0.1, scoping=1e-2, L=5, sgld_lr=0.05, noise=1e-4,
                     momentum=0.9, nesterov=True)
    with torch.no_grad():
        before = float(torch.nn.functional.mse_loss(model(X), y))
    for _ in range(60):
        opt.step(closure)
    with torch.no_grad():
        after = float(torch.nn.functional.mse_loss(model(X), y))
    assert closure.calls == 60 * 5
    assert after < 0.3 * before, (before, after)


def test_works_inside_coursekit_fit():
    X, y, model = regression()
    opt = EntropySGD(model.parameters(), lr=0.1, L=3, gamma=0.5, noise=0.0)
    history = ck.train.fit(model, opt, (X, y), epochs=2, batch_size=16, loss_fn=torch.nn.functional.mse_loss)
    assert len(history.steps) == 8


def test_bad_arguments_raise_clear_errors():
    x = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match="learning rate"):
        EntropySGD(x, lr=-1.0)
    with pytest.raises(ValueError, match="gamma"):
        EntropySGD(x, gamma=0.0)
    with pytest.raises(ValueError, match="L must be"):
        EntropySGD(x, L=-1)
    with pytest.raises(TypeError, match="L must be"):
        EntropySGD(x, L=2.5)
    with pytest.raises(ValueError, match="alpha"):
        EntropySGD(x, alpha=1.5)
    with pytest.raises(ValueError, match="noise"):
        EntropySGD(x, noise=-0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        EntropySGD(x, nesterov=True)
    with pytest.raises(TypeError, match="generator"):
        EntropySGD(x, generator=0)
    with pytest.raises(ValueError, match="closure"):
        EntropySGD(x).step(None)
    with pytest.raises(ValueError, match="same number of Langevin"):
        EntropySGD([{"params": x}, {"params": [torch.zeros(1, requires_grad=True)], "L": 3}], L=2)


# --------------------------------------------------------------------------------------------
# coursekit.local_entropy

def test_two_valleys_geometry_and_gradient():
    f = le.TwoValleys()
    assert abs(f.sharp_min) < 1e-2 and 2.8 < f.wide_min < 3.1 and f.sharp_min < f.barrier < f.wide_min
    x = torch.linspace(-3, 3, 31, dtype=torch.float64, requires_grad=True)
    f(x).sum().backward()
    assert torch.allclose(x.grad, f.grad(x.detach()))
    assert f(torch.tensor([f.sharp_min])) < f(torch.tensor([f.wide_min]))
    with pytest.raises(ValueError, match="two valleys"):
        le.TwoValleys(wide=(0.3, 2.0, 0.1))
    with pytest.raises(ValueError, match="width"):
        le.TwoValleys(sharp=(0.0, -0.1, 4.0))


def test_local_entropy_limits_and_gradient():
    f = le.TwoValleys()
    grid = f.grid(8001)
    x = torch.linspace(-2, 3, 11, dtype=torch.float64)
    # large gamma: F(x) ~ -f(x) + 1/2 log(2 pi / gamma) (up to 1/2 log(gamma / (gamma + f"(x))) ~ -f"/(2 gamma))
    gamma = 1e6
    F = le.local_entropy(f, x, gamma, torch.linspace(-4, 5, 400001, dtype=torch.float64))
    assert torch.allclose(F, -f(x) + 0.5 * math.log(2 * math.pi / gamma), atol=1e-3)
    # the gradient identity -dF/dx = gamma (x - <x'>), against a finite difference
    g, mean = le.local_entropy_grad(f, x, 2.0, grid)
    h = 1e-5
    fd = (le.local_entropy(f, x + h, 2.0, grid) - le.local_entropy(f, x - h, 2.0, grid)) / (2 * h)
    assert torch.allclose(-fd, g, atol=1e-6)
    # small gamma prefers the wide valley, large gamma the deep sharp one
    xs = torch.linspace(-3, 4, 701, dtype=torch.float64)
    assert f.in_wide_valley(xs[le.local_entropy(f, xs, 1.0, grid).argmax()])
    assert not f.in_wide_valley(xs[le.local_entropy(f, xs, 30.0, grid).argmax()])
    p = le.gibbs(f, grid)
    assert float(p.sum() * (grid[1] - grid[0])) == pytest.approx(1.0)


def test_sgld_mean_estimates_the_gibbs_mean():
    f = le.TwoValleys()
    x = torch.tensor([-1.0, 1.0, 3.0], dtype=torch.float64)
    _, exact = le.local_entropy_grad(f, x, 3.0, f.grid(8001))
    est = le.sgld_mean(f.grad, x, 3.0, steps=3000, lr=5e-3, chains=64, burn_in=500,
                       generator=torch.Generator().manual_seed(0))
    assert torch.allclose(est, exact, atol=0.1), (est, exact)
    with pytest.raises(ValueError, match="burn_in"):
        le.sgld_mean(f.grad, x, 3.0, steps=10, lr=1e-3, burn_in=10)


def test_perturbed_loss_restores_weights_and_sees_sharpness():
    x = torch.zeros(10, dtype=torch.float64)
    sharp, flat = lambda: 50.0 * (x ** 2).sum(), lambda: 0.5 * (x ** 2).sum()
    g = torch.Generator().manual_seed(0)
    s = le.perturbed_loss(sharp, [x], 0.1, samples=200, generator=g)
    fl = le.perturbed_loss(flat, [x], 0.1, samples=200, generator=g)
    assert torch.equal(x, torch.zeros(10, dtype=torch.float64))
    assert s == pytest.approx(50.0 * 10 * 0.01, rel=0.15) and fl == pytest.approx(0.5 * 10 * 0.01, rel=0.15)
    with pytest.raises(ValueError, match="sigma"):
        le.perturbed_loss(sharp, [x], -1.0)


def test_sgld_step_formula_and_checks():
    xp, x = torch.tensor([0.5, -1.0]), torch.tensor([0.0, 0.0])
    g, xi = torch.tensor([1.0, 2.0]), torch.tensor([0.3, -0.2])
    out = le.sgld_step(xp, x, g, 0.5, 0.1, 1.0, xi)
    assert torch.allclose(out, xp - 0.1 * (g - 0.5 * (x - xp)) + math.sqrt(0.2) * xi)
    assert torch.equal(le.sgld_step(xp, x, g, 0.5, 0.1, 0.0, xi), xp - 0.1 * (g - 0.5 * (x - xp)))
    with pytest.raises(ValueError, match="xi"):
        le.sgld_step(xp, x, g, 0.5, 0.1, 1.0, torch.zeros(3))
    with pytest.raises(ValueError, match="lr"):
        le.sgld_step(xp, x, g, 0.5, 0.0, 1.0, xi)
    est = le.sgld_mean(le.TwoValleys().grad, torch.tensor([2.9], dtype=torch.float64), 5.0, steps=200, lr=0.01,
                       chains=50, checkpoints=[50, 200], generator=torch.Generator().manual_seed(0))
    assert est.shape == (2, 1)
    with pytest.raises(ValueError, match="checkpoints"):
        le.sgld_mean(le.TwoValleys().grad, torch.zeros(1), 1.0, steps=10, lr=0.01, checkpoints=[20])
