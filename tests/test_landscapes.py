"""coursekit.landscapes: values, exact gradients/Hessians vs autograd, trajectories vs hand-written loops."""
import math

import pytest
import torch

import coursekit as ck


L = ck.landscapes

ALL_2D = [
    L.eps_quadratic(0.1),
    L.eps_quadratic(3.0),
    L.rotated_quadratic(0.05, angle=0.7, center=(0.5, -1.0)),
    L.quadratic([[2.0, 0.5], [0.5, 1.0]], center=(1.0, 2.0)),
    L.rosenbrock(),
    L.rosenbrock(a=-0.5, b=10.0),
    L.saddle(),
    L.double_well(),
    L.cliff(),
    L.cliff(height=5.0, steepness=2.0, position=-0.5),
    L.plateau(),
    L.plateau(width=0.5),
    L.random_field(2, 64, seed=3),
]


@pytest.mark.parametrize("f", ALL_2D + [L.random_field(5, 32, seed=1), L.quadratic(torch.eye(3))], ids=repr)
def test_exact_gradient_and_hessian_match_autograd(f):
    g = torch.Generator().manual_seed(0)
    pts = torch.randn(6, f.dim, generator=g, dtype=torch.float64)
    xy = pts.clone().requires_grad_(True)
    values = f(xy)
    assert values.shape == (6,)
    grad_auto = torch.autograd.grad(values.sum(), xy)[0]
    torch.testing.assert_close(f.grad(pts), grad_auto, rtol=1e-10, atol=1e-10)
    for i in range(len(pts)):
        H_auto = torch.autograd.functional.hessian(f, pts[i])
        torch.testing.assert_close(f.hessian(pts[i]), H_auto, rtol=1e-10, atol=1e-10)
    assert f.hessian(pts).shape == (6, f.dim, f.dim)


@pytest.mark.parametrize("f", ALL_2D, ids=repr)
def test_batched_evaluation_on_a_grid_and_float32(f):
    grid = torch.stack(torch.meshgrid(torch.linspace(-1, 1, 5), torch.linspace(-1, 1, 4), indexing="xy"), -1)
    out = f(grid)
    assert out.shape == (4, 5) and out.dtype == torch.float32
    assert torch.allclose(out.double(), f(grid.double()), rtol=1e-5, atol=1e-4)
    assert f.grad(grid).shape == (4, 5, 2)


def test_closed_forms_of_the_quadratics():
    f = L.eps_quadratic(0.1)
    xy = torch.tensor([2.0, 3.0], dtype=torch.float64)
    assert float(f(xy)) == pytest.approx(0.5 * (0.1 * 4 + 9))
    torch.testing.assert_close(f.grad(xy), torch.tensor([0.2, 3.0], dtype=torch.float64))
    assert f.condition_number == pytest.approx(10.0)
    assert f.minimum == (0.0, 0.0)
    r = L.rotated_quadratic(0.01, angle=math.pi / 3)
    torch.testing.assert_close(r.eigenvalues, torch.tensor([0.01, 1.0], dtype=torch.float64))
    assert r.condition_number == pytest.approx(100.0)
    flat = torch.tensor([math.cos(math.pi / 3), math.sin(math.pi / 3)], dtype=torch.float64)
    torch.testing.assert_close(r.hessian(flat) @ flat, 0.01 * flat)  # the flat direction has curvature eps
    assert L.saddle().minimum is None and L.quadratic([[1.0, 0.0], [0.0, -1.0]]).condition_number == math.inf


def test_gradient_descent_rates_of_a_quadratic():
    f = L.rotated_quadratic(0.1, angle=0.3)
    assert f.best_lr == pytest.approx(2 / 1.1)
    assert f.best_rate == pytest.approx(0.9 / 1.1)
    assert f.gd_rate(f.best_lr) == pytest.approx(f.best_rate)
    assert f.gd_rate(0.5) == pytest.approx(1 - 0.05)
    assert f.gd_rate(2.5) == pytest.approx(1.5)  # beyond 2 / lambda_max: diverges
    path = L.trajectory(torch.optim.SGD, f, (1.0, 0.0), 400, lr=1.3)
    measured = float((path[-1].norm() / path[-101].norm()) ** (1 / 100))
    assert measured == pytest.approx(f.gd_rate(1.3), rel=1e-6)
    indefinite = L.quadratic([[1.0, 0.0], [0.0, -1.0]])
    with pytest.raises(ValueError, match="positive definite"):
        indefinite.best_lr
    with pytest.raises(ValueError, match="positive definite"):
        indefinite.best_rate
    with pytest.raises(ValueError, match="lr"):
        f.gd_rate(0.0)


def test_known_critical_points():
    rb = L.rosenbrock()
    one = torch.tensor([1.0, 1.0], dtype=torch.float64)
    assert float(rb(one)) == 0.0 and torch.all(rb.grad(one) == 0)
    assert torch.linalg.cond(rb.hessian(one)) == pytest.approx(2508.0, rel=1e-3)
    dw = L.double_well()
    for point, eig in [((0.0, 0.0), [-1.0, 1.0]), ((0.0, 1.0), [1.0, 2.0]), ((0.0, -1.0), [1.0, 2.0])]:
        p = torch.tensor(point, dtype=torch.float64)
        assert torch.all(dw.grad(p) == 0)
        torch.testing.assert_close(torch.linalg.eigvalsh(dw.hessian(p)), torch.tensor(eig, dtype=torch.float64))
    cl = L.cliff(height=50.0, steepness=10.0, position=1.0)
    face = torch.tensor([1.0, 0.0], dtype=torch.float64)
    assert float(cl.grad(face)[0]) == pytest.approx(1.0 + 50 * 10 / 4)  # bowl slope + h k / 4
    pl = L.plateau(1.0)
    far = torch.tensor([3.0, 4.0], dtype=torch.float64)
    assert float(torch.linalg.vector_norm(pl.grad(far))) == pytest.approx(5 * math.exp(-12.5))


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="eps"):
        L.eps_quadratic(0.0)
    with pytest.raises(TypeError, match="eps"):
        L.eps_quadratic("small")
    with pytest.raises(ValueError, match="symmetric"):
        L.quadratic([[1.0, 2.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="square"):
        L.quadratic(torch.ones(2, 3))
    with pytest.raises(ValueError, match="center"):
        L.quadratic(torch.eye(2), center=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="b"):
        L.rosenbrock(b=-1.0)
    with pytest.raises(ValueError, match="height"):
        L.cliff(height=0.0)
    with pytest.raises(ValueError, match="width"):
        L.plateau(width=-1.0)
    with pytest.raises(ValueError, match="dim"):
        L.random_field(0)
    f = L.eps_quadratic(0.1)
    with pytest.raises(ValueError, match=r"xy must have shape \(\.\.\., 2\)"):
        f(torch.zeros(3))
    with pytest.raises(TypeError, match="xy"):
        f([1.0, 2.0])
    with pytest.raises(TypeError, match="floating"):
        f(torch.tensor([1, 2]))


def test_trajectory_matches_a_hand_written_sgd_loop():
    f = L.rosenbrock()
    x0, lr, mom, steps = (-1.0, 1.5), 1e-3, 0.9, 40
    path = L.trajectory(torch.optim.SGD, f, x0, steps, lr=lr, momentum=mom)
    assert path.shape == (steps + 1, 2) and path.dtype == torch.float64
    x = torch.tensor(x0, dtype=torch.float64)
    v = torch.zeros(2, dtype=torch.float64)
    expected = [x.clone()]
    for _ in range(steps):  # torch's heavy ball: v <- mu v + g, x <- x - lr v
        v = mom * v + f.grad(x)
        x = x - lr * v
        expected.append(x.clone())
    torch.testing.assert_close(path, torch.stack(expected), rtol=1e-12, atol=1e-12)


def test_trajectory_on_the_eps_quadratic_is_the_closed_form():
    eps, eta, r = 0.05, 0.9, torch.arange(31, dtype=torch.float64)
    path = L.trajectory(torch.optim.SGD, L.eps_quadratic(eps), torch.tensor([1.0, -2.0]), 30, lr=eta)
    closed = torch.stack([(1 - eps * eta) ** r * 1.0, (1 - eta) ** r * -2.0], -1)
    torch.testing.assert_close(path, closed, rtol=1e-13, atol=1e-15)


def test_trajectory_with_other_optimizers_clipping_and_divergence():
    f = L.eps_quadratic(0.1)
    for cls, kw in [(torch.optim.Adam, {"lr": 0.1}), (torch.optim.RMSprop, {"lr": 0.01}),
                    (torch.optim.LBFGS, {"lr": 1.0})]:
        path = L.trajectory(cls, f, (1.0, 1.0), 5, **kw)
        assert path.shape == (6, 2) and torch.isfinite(path).all()
        assert float(f(path[-1])) < float(f(path[0]))
    clipped = L.trajectory(torch.optim.SGD, L.cliff(), (1.2, 0.0), 1, lr=0.1, max_grad_norm=1.0)
    assert float(torch.linalg.vector_norm(clipped[1] - clipped[0])) == pytest.approx(0.1)
    diverged = L.trajectory(torch.optim.SGD, L.eps_quadratic(1.0), (1.0, 1.0), 60, lr=1e10)
    assert diverged.shape == (61, 2) and not torch.isfinite(diverged[-1]).all()
    assert L.trajectory(torch.optim.SGD, f, (1.0, 1.0), 0, lr=0.1).shape == (1, 2)
    # any torch callable works, not only landscapes
    path = L.trajectory(torch.optim.SGD, lambda p: (p ** 2).sum(), (1.0, 2.0, 3.0), 2, lr=0.25)
    torch.testing.assert_close(path[-1], torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))


def test_trajectory_bad_inputs():
    f = L.eps_quadratic(0.1)
    with pytest.raises(TypeError, match="optimizer_class"):
        L.trajectory(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1), f, (1.0, 1.0), 3)
    with pytest.raises(TypeError, match="optimizer_class"):
        L.trajectory(dict, f, (1.0, 1.0), 3)
    with pytest.raises(TypeError, match="f must be callable"):
        L.trajectory(torch.optim.SGD, 3.0, (1.0, 1.0), 3, lr=0.1)
    with pytest.raises(ValueError, match="x0"):
        L.trajectory(torch.optim.SGD, f, (1.0, 1.0, 1.0), 3, lr=0.1)
    with pytest.raises(ValueError, match="x0"):
        L.trajectory(torch.optim.SGD, f, (float("nan"), 1.0), 3, lr=0.1)
    with pytest.raises(TypeError, match="x0"):
        L.trajectory(torch.optim.SGD, f, "start", 3, lr=0.1)
    with pytest.raises(ValueError, match="steps"):
        L.trajectory(torch.optim.SGD, f, (1.0, 1.0), -1, lr=0.1)
    with pytest.raises(ValueError, match="max_grad_norm"):
        L.trajectory(torch.optim.SGD, f, (1.0, 1.0), 3, lr=0.1, max_grad_norm=0.0)
    with pytest.raises(ValueError, match="scalar"):
        L.trajectory(torch.optim.SGD, lambda p: p * 2, (1.0, 1.0), 3, lr=0.1)


def test_newton_is_attracted_to_the_saddle_and_gradient_descent_is_not():
    f = L.double_well()
    newton = L.newton_trajectory(f, (0.5, 0.3), 10)
    assert torch.linalg.vector_norm(newton[-1]) < 1e-12  # converged to the saddle (0, 0)
    gd = L.trajectory(torch.optim.SGD, f, (0.5, 0.3), 200, lr=0.2)
    torch.testing.assert_close(gd[-1], torch.tensor([0.0, 1.0], dtype=torch.float64), atol=1e-8, rtol=0)
    quad = L.eps_quadratic(0.01)
    one_step = L.newton_trajectory(quad, (3.0, -2.0), 1)
    torch.testing.assert_close(one_step[1], torch.zeros(2, dtype=torch.float64))  # Newton solves a quadratic at once
    with pytest.raises(TypeError, match="hessian"):
        L.newton_trajectory(lambda p: p.sum(), (1.0, 1.0), 3)
    with pytest.raises(ValueError, match="damping"):
        L.newton_trajectory(f, (1.0, 1.0), 3, damping=-1.0)


def test_newton_critical_points_finds_all_kinds():
    f = L.double_well()
    starts = torch.tensor([[0.3, 0.1], [0.2, 0.9], [-0.4, -1.3]], dtype=torch.float64)
    pts, ok = L.newton_critical_points(f, starts)
    assert ok.all()
    torch.testing.assert_close(pts, torch.tensor([[0.0, 0.0], [0.0, 1.0], [0.0, -1.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match="starts"):
        L.newton_critical_points(f, torch.zeros(3, 4, dtype=torch.float64))
    with pytest.raises(TypeError, match="floating"):
        L.newton_critical_points(f, torch.zeros(3, 2, dtype=torch.long))


def test_random_field_is_reproducible_and_unit_variance():
    a, b = L.random_field(4, 128, seed=5), L.random_field(4, 128, seed=5)
    x = torch.randn(2000, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 10
    torch.testing.assert_close(a(x), b(x))
    assert float(a(x).var()) == pytest.approx(1.0, abs=0.25)
    assert not torch.allclose(a(x), L.random_field(4, 128, seed=6)(x))
