"""coursekit.hessian: HVPs and spectra against torch.autograd.functional.hessian and torch.linalg.eigvalsh."""
import math

import pytest
import torch
import torch.nn.functional as F

import coursekit as ck


H_ = ck.hessian


def small_problem(seed=0, hidden=6, dtype=torch.float64):
    """A tiny tanh network on random data, and the same loss as a function of one flat vector."""
    g = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(3, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 2)).to(dtype)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=dtype))
    X = torch.randn(20, 3, generator=g, dtype=dtype)
    y = torch.randint(0, 2, (20,), generator=g)
    params = list(net.parameters())
    closure = lambda: F.cross_entropy(net(X), y)
    flat0 = torch.nn.utils.parameters_to_vector(params).detach()

    def loss_of_flat(theta):
        out, i = X, 0
        ws = []
        for p in params:
            ws.append(theta[i:i + p.numel()].view_as(p))
            i += p.numel()
        out = torch.tanh(out @ ws[0].T + ws[1]) @ ws[2].T + ws[3]
        return F.cross_entropy(out, y)

    return closure, params, flat0, loss_of_flat


def test_hvp_matches_autograd_functional_hessian():
    closure, params, flat0, loss_of_flat = small_problem()
    H_ref = torch.autograd.functional.hessian(loss_of_flat, flat0)
    v = torch.randn(flat0.numel(), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(H_.hvp(closure, params, v), H_ref @ v, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(H_.full_hessian(closure, params), H_ref, rtol=1e-10, atol=1e-12)
    op = H_.HessianOperator(closure, params)
    torch.testing.assert_close(op(v), H_ref @ v, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(op.grad, torch.autograd.functional.jacobian(loss_of_flat, flat0), rtol=1e-10,
                               atol=1e-12)
    assert float(op.loss) == pytest.approx(float(loss_of_flat(flat0)))


def test_hvp_of_a_quadratic_is_the_matrix_product():
    A = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    x = torch.tensor([0.3, -0.7], dtype=torch.float64, requires_grad=True)
    closure = lambda: 0.5 * x @ A @ x
    v = torch.tensor([1.0, 2.0], dtype=torch.float64)
    torch.testing.assert_close(H_.hvp(closure, [x], v), A @ v)
    # a loss linear in the parameters has H = 0, and an unused parameter has zero rows
    unused = torch.zeros(3, requires_grad=True, dtype=torch.float64)
    lin = lambda: (x * torch.tensor([1.0, 2.0], dtype=torch.float64)).sum()
    assert torch.all(H_.full_hessian(lin, [x, unused]) == 0)
    assert torch.all(H_.hvp(lambda: 0.5 * x @ A @ x, [x, unused], torch.ones(5, dtype=torch.float64))[2:] == 0)


def test_eigenvalues_match_eigvalsh():
    closure, params, flat0, loss_of_flat = small_problem(seed=2)
    ref = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss_of_flat, flat0))
    ev = H_.eigenvalues(closure, params)
    torch.testing.assert_close(ev, ref, rtol=1e-9, atol=1e-11)
    assert torch.all(ev[1:] >= ev[:-1])  # ascending
    assert ref.min() < 0 < ref.max()  # a random point is not a minimum: the test covers both signs


def test_top_eigenvalues_match_the_full_spectrum():
    closure, params, flat0, loss_of_flat = small_problem(seed=2, hidden=10)
    ref = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss_of_flat, flat0)).flip(0)
    g = torch.Generator().manual_seed(0)
    top, vecs = H_.top_eigenvalues(closure, params, k=3, generator=g, return_vectors=True, num_iters=60)
    torch.testing.assert_close(top, ref[:3], rtol=1e-6, atol=1e-8)
    assert vecs.shape == (flat0.numel(), 3)
    op = H_.HessianOperator(closure, params)
    for i in range(3):  # H u = lambda u
        torch.testing.assert_close(op(vecs[:, i]), top[i] * vecs[:, i], rtol=0, atol=1e-4 * float(ref.abs().max()))


def test_power_iteration_on_a_network():
    closure, params, flat0, loss_of_flat = small_problem(seed=2, hidden=10)
    ref = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss_of_flat, flat0)).flip(0)
    top = H_.top_eigenvalues(closure, params, method="power", generator=torch.Generator().manual_seed(0),
                             tol=1e-10, num_iters=2000)
    torch.testing.assert_close(top, ref[:1], rtol=1e-4, atol=0)


def test_power_iteration_returns_the_largest_algebraic_eigenvalue_when_a_negative_one_dominates():
    A = torch.diag(torch.tensor([-5.0, 1.0, 2.0, 0.5], dtype=torch.float64))
    x = torch.ones(4, dtype=torch.float64, requires_grad=True)
    closure = lambda: 0.5 * x @ A @ x
    g = torch.Generator().manual_seed(0)
    for method in ("power", "lanczos"):
        top = H_.top_eigenvalues(closure, [x], k=2, method=method, generator=g, tol=1e-12, num_iters=4000)
        torch.testing.assert_close(top, torch.tensor([2.0, 1.0], dtype=torch.float64), rtol=1e-6, atol=1e-8)


def test_lanczos_weights_and_exact_ritz_values_on_a_small_matrix():
    A = torch.diag(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype=torch.float64))
    x = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    closure = lambda: 0.5 * x @ A @ x
    theta, w = H_.lanczos(closure, [x], num_iters=5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(theta, torch.arange(1.0, 6.0, dtype=torch.float64), rtol=1e-10, atol=1e-10)
    assert float(w.sum()) == pytest.approx(1.0) and torch.all(w >= 0)
    theta, w, V = H_.lanczos(closure, [x], num_iters=50, return_vectors=True)  # capped at n = 5
    assert theta.numel() == 5 and V.shape == (5, 5)


def test_taylor_terms_predict_the_change_of_the_loss():
    closure, params, flat0, _ = small_problem(seed=3)
    lr = 1e-3
    terms = H_.taylor_terms(closure, params, lr)
    op = H_.HessianOperator(closure, params)
    assert terms.gg == pytest.approx(float(op.grad @ op.grad))
    assert terms.decrease == pytest.approx(lr * terms.gg)
    assert terms.curvature == pytest.approx(0.5 * lr ** 2 * float(op.grad @ op(op.grad)))
    with torch.no_grad():  # take the step and measure the actual change
        torch.nn.utils.vector_to_parameters(flat0 - lr * op.grad, params)
        actual = float(closure()) - terms.loss
        torch.nn.utils.vector_to_parameters(flat0, params)
    measured = H_.taylor_terms(closure, params, lr, measure=True)
    assert measured.actual_change == pytest.approx(actual, rel=1e-9)
    torch.testing.assert_close(torch.nn.utils.parameters_to_vector(params), flat0, rtol=0, atol=0)  # restored
    assert math.isnan(terms.actual_change)
    first_order_error = abs(actual + terms.decrease)
    second_order_error = abs(actual - terms.predicted_change)
    assert second_order_error < 0.01 * first_order_error  # the error drops from O(lr^2) to O(lr^3)


def test_taylor_monitor_records_columns():
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 3)
    X, y = torch.randn(10, 4), torch.randint(0, 3, (10,))
    mon = H_.TaylorMonitor(net, X, y)
    mon.record(0.1, step=0)
    mon.record(0.1, step=1, measure=False)
    assert len(mon) == 2 and mon["step"].tolist() == [0.0, 1.0]
    assert mon["actual_change"][0] < 0 and math.isnan(mon["actual_change"][1])
    assert mon["curvature"].shape == (2,) and (mon["gHg"] >= 0).all()  # softmax regression is convex
    with pytest.raises(KeyError, match="gg"):
        mon["nope"]
    with pytest.raises(TypeError, match="model"):
        H_.TaylorMonitor("net", X, y)
    with pytest.raises(ValueError, match="same length"):
        H_.TaylorMonitor(net, X, y[:3])


def test_bad_inputs_name_the_argument():
    closure, params, flat0, _ = small_problem()
    n = flat0.numel()
    with pytest.raises(TypeError, match="params"):
        H_.hvp(closure, params[0], torch.zeros(n, dtype=torch.float64))
    with pytest.raises(ValueError, match="params"):
        H_.hvp(closure, [], torch.zeros(n, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"params\[0\].*requires_grad"):
        H_.hvp(closure, [torch.zeros(2)], torch.zeros(2))
    with pytest.raises(TypeError, match="params\\[1\\]"):
        H_.hvp(closure, [params[0], "w"], torch.zeros(n, dtype=torch.float64))
    with pytest.raises(ValueError, match="v must have"):
        H_.hvp(closure, params, torch.zeros(n + 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="v must have 1"):
        H_.hvp(closure, params, torch.zeros(n, 1, dtype=torch.float64))
    with pytest.raises(TypeError, match="closure"):
        H_.hvp(3.0, params, torch.zeros(n, dtype=torch.float64))
    with pytest.raises(TypeError, match="scalar"):
        H_.hvp(lambda: torch.zeros(3, requires_grad=True), params, torch.zeros(n, dtype=torch.float64))
    with pytest.raises(ValueError, match="does not depend"):
        H_.hvp(lambda: closure().detach(), params, torch.zeros(n, dtype=torch.float64))
    with pytest.raises(ValueError, match="max_size"):
        H_.full_hessian(closure, params, max_size=10)
    with pytest.raises(ValueError, match="k must be at most"):
        H_.top_eigenvalues(closure, params, k=n + 1)
    with pytest.raises(ValueError, match="method"):
        H_.top_eigenvalues(closure, params, method="qr")
    with pytest.raises(ValueError, match="k"):
        H_.top_eigenvalues(closure, params, k=0)
    with pytest.raises(ValueError, match="lr"):
        H_.taylor_terms(closure, params, lr=0.0)
    with pytest.raises(ValueError, match="num_iters"):
        H_.lanczos(closure, params, num_iters=0)


def test_works_in_float32_and_is_deterministic():
    closure, params, flat0, loss_of_flat = small_problem(dtype=torch.float32)
    ref = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss_of_flat, flat0).double())
    ev = H_.eigenvalues(closure, params)
    assert ev.dtype == torch.float32
    assert torch.allclose(ev.double(), ref, atol=1e-4 * float(ref.abs().max()))
    a = H_.top_eigenvalues(closure, params, k=2, generator=torch.Generator().manual_seed(4))
    b = H_.top_eigenvalues(closure, params, k=2, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and math.isfinite(float(a[0]))


def test_full_hessian_falls_back_to_one_product_per_row(monkeypatch):
    closure, params, flat0, loss_of_flat = small_problem(seed=5)
    reference = H_.full_hessian(closure, params, max_size=1000)
    real_grad = torch.autograd.grad

    def no_batching(*args, **kwargs):
        if kwargs.get("is_grads_batched"):
            raise RuntimeError("batching rule not implemented")
        return real_grad(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", no_batching)
    op = H_.HessianOperator(closure, params)
    torch.testing.assert_close(op.matrix(chunk_size=7), reference, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="chunk_size"):
        op.matrix(chunk_size=0)
