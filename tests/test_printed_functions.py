"""The small functions the chapters print hold the math the library runs.

Each test checks a printed function against an independent computation (autograd,
torch's own implementation, or the formula written out) and against the library code
that calls it.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import coursekit as ck
from coursekit import autoencoders as A
from coursekit import gan
from coursekit import sparse_coding as sc

f64 = torch.float64


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _sparse_coding_problem(seed: int = 0):
    g = _generator(seed)
    W_d = torch.randn(8, 12, generator=g, dtype=f64)
    W_d = W_d / W_d.norm(dim=0)
    x = torch.randn(5, 8, generator=g, dtype=f64)
    return x, W_d, 0.3


def test_ista_iterates_are_ista_steps():
    x, W_d, alpha = _sparse_coding_problem()
    W_e, S, theta = sc.ista_operators(W_d, alpha)
    iterates = list(sc.ista_iterates(x @ W_e.T, S, theta, 10))
    assert len(iterates) == 11 and torch.equal(
        iterates[0], torch.zeros(5, 12, dtype=f64)
    )
    L = sc.lipschitz_constant(W_d)
    Z = torch.zeros(5, 12, dtype=f64)
    for Z_k in iterates[1:]:
        # a step of size 1/L on 1/2 ||x - W_d z||^2, then soft thresholding at alpha/L
        V = Z - (Z @ W_d.T - x) @ W_d / L
        Z = torch.sign(V) * torch.clamp(V.abs() - alpha / L, min=0)
        torch.testing.assert_close(Z_k, Z, rtol=0, atol=1e-12)
    result = sc.ista(x, W_d, alpha, 10)
    assert torch.equal(result.z, iterates[-1])
    energies = torch.stack([sc.energy(x, Z_k, W_d, alpha).mean() for Z_k in iterates])
    assert torch.equal(result.energy, energies)
    assert bool(
        (energies[1:] <= energies[:-1] + 1e-12).all()
    )  # ISTA never increases the energy


def test_fista_iterates_match_fista_and_converge_faster():
    x, W_d, alpha = _sparse_coding_problem(1)
    W_e, S, theta = sc.ista_operators(W_d, alpha)
    iterates = list(sc.fista_iterates(x @ W_e.T, S, theta, 30))
    assert torch.equal(sc.fista(x, W_d, alpha, 30).z, iterates[-1])
    z_star = sc.optimal_codes(x, W_d, alpha)
    ista_last = list(sc.ista_iterates(x @ W_e.T, S, theta, 30))[-1]
    assert sc.code_error(iterates[-1], z_star) < sc.code_error(ista_last, z_star)


def test_lista_forward_is_the_module_and_ista_at_initialization():
    x, W_d, alpha = _sparse_coding_problem(2)
    model = sc.LISTA(W_d, alpha, num_iters=3)
    Z = sc.lista_forward(x, model.W_e, model.S, model.theta, 3)
    assert torch.equal(model(x), Z)
    torch.testing.assert_close(Z, sc.ista(x, W_d, alpha, 4).z, rtol=0, atol=1e-12)


def test_dictionary_learning_step_updates_statistics_and_keeps_unit_atoms():
    x, W_d, alpha = _sparse_coding_problem(3)
    A0 = torch.zeros(12, 12, dtype=f64)
    B0 = torch.zeros(8, 12, dtype=f64)
    D, A_new, B_new, E = sc.dictionary_learning_step(
        x, W_d, A0, B0, alpha, coding_iters=20, update_iters=3, forget=0.9
    )
    Z = sc.fista(x, W_d, alpha, 20).z
    torch.testing.assert_close(A_new, Z.T @ Z / 5, rtol=0, atol=1e-12)
    torch.testing.assert_close(B_new, x.T @ Z / 5, rtol=0, atol=1e-12)
    assert float(E) == pytest.approx(
        float(sc.energy(x, Z, W_d, alpha).mean()), abs=1e-12
    )
    torch.testing.assert_close(
        D.norm(dim=0), torch.ones(12, dtype=f64), rtol=0, atol=1e-12
    )

    # the surrogate 1/2 tr(D'DA) - tr(D'B) does not increase
    def surrogate(D):
        return float(0.5 * torch.trace(D.T @ D @ A_new) - torch.trace(D.T @ B_new))

    assert surrogate(D) <= surrogate(W_d) + 1e-12


@pytest.mark.parametrize("shape", [(16, 3), (8, 3, 4, 5)])
def test_batch_norm_forward_and_backward_match_torch(shape):
    g = _generator(4)
    x = torch.randn(*shape, generator=g, dtype=f64, requires_grad=True)
    weight = torch.rand(3, generator=g, dtype=f64, requires_grad=True)
    bias = torch.randn(3, generator=g, dtype=f64, requires_grad=True)
    dy = torch.randn(*shape, generator=g, dtype=f64)
    y, x_hat, inv_std, mean, var = ck.nn.batch_norm_forward(
        x.detach(), weight.detach(), bias.detach(), 1e-5
    )
    y_torch = F.batch_norm(x, None, None, weight, bias, training=True, eps=1e-5)
    torch.testing.assert_close(y, y_torch.detach(), rtol=0, atol=1e-12)
    dx, dweight, dbias = ck.nn.batch_norm_backward(dy, x_hat, inv_std, weight.detach())
    expected = torch.autograd.grad(y_torch, (x, weight, bias), dy)
    for got, want in zip((dx, dweight, dbias), expected):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)
    # the library's autograd Function runs the same two functions
    y_ck = ck.nn.batch_norm(x, weight=weight, bias=bias, training=True, eps=1e-5)
    assert torch.equal(y_ck.detach(), y)
    assert torch.equal(torch.autograd.grad(y_ck, x, dy)[0], dx)


def test_batch_norm_backward_without_affine_parameters():
    x = torch.randn(10, 4, generator=_generator(5), dtype=f64, requires_grad=True)
    dy = torch.randn(10, 4, generator=_generator(6), dtype=f64)
    _, x_hat, inv_std, _, _ = ck.nn.batch_norm_forward(x.detach(), None, None, 1e-5)
    dx, dweight, _ = ck.nn.batch_norm_backward(dy, x_hat, inv_std, None)
    assert dweight is None
    want = torch.autograd.grad(
        F.batch_norm(x, None, None, training=True, eps=1e-5), x, dy
    )[0]
    torch.testing.assert_close(dx, want, rtol=0, atol=1e-10)


def test_logistic_newton_direction_is_gradient_and_hessian_solve():
    g = _generator(7)
    X = torch.randn(30, 3, generator=g, dtype=f64)
    y = (torch.rand(30, generator=g) < 0.5).long()
    Z = torch.cat([X, torch.ones(30, 1, dtype=f64)], dim=1)
    sign = 2.0 * y.to(f64) - 1.0
    v = torch.randn(4, generator=g, dtype=f64)
    l2 = 1e-2

    def J(v):
        return F.softplus(-sign * (Z @ v)).mean() + l2 / 2 * v.dot(v)

    grad, direction = ck.losses.logistic_newton_direction(v, Z, sign, l2)
    torch.testing.assert_close(grad, torch.func.grad(J)(v), rtol=0, atol=1e-12)
    H = torch.autograd.functional.hessian(J, v)
    torch.testing.assert_close(
        direction, torch.linalg.solve(H, grad), rtol=0, atol=1e-10
    )
    # and logistic_regression, built on it, ends at a point where the gradient vanishes
    w, b = ck.losses.logistic_regression(X, y, l2=l2)
    final_grad, _ = ck.losses.logistic_newton_direction(
        torch.cat([w, b[None]]), Z, sign, l2
    )
    assert float(final_grad.norm()) < 1e-7


def test_lsuv_layer_reaches_unit_variance_and_reports_it():
    layer = torch.nn.Linear(20, 10).double()
    x = 3.0 * torch.randn(256, 20, generator=_generator(8), dtype=f64)
    v_before, v_after, steps = ck.init.lsuv_layer_(layer, x, tol=0.01, max_iter=10)
    with torch.no_grad():
        assert v_after == pytest.approx(float(layer(x).var()), abs=1e-12)
    assert (
        abs(v_after - 1.0) <= 0.01 and abs(v_before - 1.0) > 0.01 and 1 <= steps <= 10
    )


def test_local_entropy_is_log_of_the_integral():
    def f(x):
        return (x**2 - 1) ** 2

    grid = torch.linspace(-4, 4, 4001, dtype=f64)
    x = torch.tensor([0.0, 0.7], dtype=f64)
    F_x = ck.local_entropy.local_entropy(f, x, 2.0, grid)
    for xi, Fi in zip(x, F_x):
        integrand = torch.exp(-f(grid) - 1.0 * (xi - grid) ** 2)
        assert float(Fi) == pytest.approx(
            math.log(float(torch.trapezoid(integrand, grid))), abs=1e-6
        )


def test_checks_moved_out_of_printed_functions_still_reject_bad_input():
    with pytest.raises(ValueError, match="L must be >="):
        sc.ista_operators(torch.eye(3, dtype=f64), 0.1, L=0.5)
    with pytest.raises(ValueError, match="x_hat and x must have the same shape"):
        A.psnr(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="mu must have shape"):
        A.gaussian_kl(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="p_data and p_g must be densities"):
        gan.optimal_discriminator(torch.tensor([-1.0]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="every class"):
        ck.init.class_log_priors(torch.tensor([0, 2]), 3)
    with pytest.raises(ValueError, match="training=False needs running_mean"):
        ck.nn.batch_norm(torch.zeros(4, 2), training=False)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        ck.nn.batch_norm(torch.zeros(1, 2), training=True)
    with pytest.raises(TypeError, match="exact .grad and .hessian"):
        ck.landscapes.newton_trajectory(lambda x: x, [0.0, 0.0], 3)
    with pytest.raises(ValueError, match="batch_size must be <="):
        ck.gradients.standard_error(torch.zeros(4, 2), 5, replace=False)
