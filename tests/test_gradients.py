"""Tests of coursekit.gradients: per-example gradients, minibatch estimates, standard error, noise scale, timing."""
import math

import pytest
import torch
import torch.nn.functional as F

import coursekit as ck
from coursekit import gradients as Gr


@pytest.fixture(scope="module")
def problem():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(60, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (60,), generator=g)
    torch.manual_seed(0)
    model = ck.nn.mlp([5, 7, 3], activation="tanh").double()
    return model, X, y


def test_per_example_grads_match_one_backward_per_example(problem):
    model, X, y = problem
    G = Gr.per_example_grads(model, X, y)
    p = sum(q.numel() for q in model.parameters())
    assert G.shape == (60, p)
    for i in (0, 17, 59):
        model.zero_grad()
        F.cross_entropy(model(X[i:i + 1]), y[i:i + 1]).backward()
        expected = torch.cat([q.grad.reshape(-1) for q in model.parameters()])
        torch.testing.assert_close(G[i], expected)
    model.zero_grad()


def test_mean_of_per_example_grads_is_full_gradient(problem):
    model, X, y = problem
    G = Gr.per_example_grads(model, X, y, chunk_size=16)
    torch.testing.assert_close(G.mean(dim=0), Gr.full_grad(model, X, y))
    assert all(q.grad is None or q.grad.abs().sum() == 0 for q in model.parameters())   # .grad untouched


def test_per_example_grads_with_a_custom_loss():
    g = torch.Generator().manual_seed(1)
    X = torch.randn(20, 3, generator=g, dtype=torch.float64)
    y = torch.randn(20, 1, generator=g, dtype=torch.float64)
    model = torch.nn.Linear(3, 1).double()
    G = Gr.per_example_grads(model, X, y, F.mse_loss)
    residual = (model(X) - y).detach()                  # d/dW (Wx + b - y)^2 = 2 r x, d/db = 2 r
    torch.testing.assert_close(G, torch.cat([2 * residual * X, 2 * residual], dim=1))


def test_logistic_per_example_grads_closed_form():
    g = torch.Generator().manual_seed(2)
    X = torch.randn(30, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 2, (30,), generator=g)
    w = torch.randn(4, generator=g, dtype=torch.float64)
    s = 2.0 * y.double() - 1.0
    expected = -(s * torch.sigmoid(-s * (X @ w)))[:, None] * X
    torch.testing.assert_close(Gr.logistic_per_example_grads(w, X, y), expected)


def test_minibatch_grads_shapes_and_exact_cases():
    G = torch.arange(12.0).reshape(4, 3)
    est = Gr.minibatch_grads(G, 4, 5, replace=False, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(est, G.mean(0).expand(5, 3))        # m = n without replacement: exact
    one = Gr.minibatch_grads(G, 1, 50, generator=torch.Generator().manual_seed(0))
    assert one.shape == (50, 3)
    assert all(any(torch.equal(row, r) for r in G) for row in one)    # m = 1: a single row each time


def test_minibatch_grads_are_unbiased_and_match_standard_error():
    g = torch.Generator().manual_seed(3)
    G = torch.randn(200, 6, generator=g, dtype=torch.float64) * torch.linspace(0.5, 3, 6, dtype=torch.float64) + 1.0
    mean = G.mean(0)
    for m in (1, 10, 100):
        for replace in (True, False):
            est = Gr.minibatch_grads(G, m, 20000, replace=replace, generator=g)
            se = Gr.standard_error(G, m, replace=replace)
            assert (est.mean(0) - mean).norm() < 4 * se / math.sqrt(20000) * 1.5
            measured = float((est - mean).pow(2).sum(1).mean().sqrt())
            assert abs(measured / se - 1) < 0.03, (m, replace, measured, se)


def test_standard_error_closed_form():
    G = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]], dtype=torch.float64)
    sigma2 = (1 + 1 + 4 + 4) / 4                                      # mean squared distance to the mean 0
    assert math.isclose(Gr.standard_error(G, 1), math.sqrt(sigma2))
    assert math.isclose(Gr.standard_error(G, 2), math.sqrt(sigma2 / 2))
    assert math.isclose(Gr.standard_error(G, 2, replace=False), math.sqrt(sigma2 / 2 * (4 - 2) / 3))
    assert Gr.standard_error(G, 4, replace=False) == 0.0
    assert math.isclose(Gr.standard_error(G, 1, replace=False), Gr.standard_error(G, 1))


def test_noise_scale():
    G = torch.tensor([[3.0, 0.0], [1.0, 0.0]], dtype=torch.float64)  # mean (2, 0), deviations +-1
    assert math.isclose(Gr.noise_scale(G), 1.0 / 4.0)
    assert Gr.noise_scale(torch.tensor([[1.0], [-1.0]])) == math.inf
    G2 = torch.randn(50, 4, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    # at m = B_noise the minibatch error equals the size of the gradient
    m_noise = Gr.noise_scale(G2)
    assert math.isclose(Gr.standard_error(G2, 1) ** 2 / m_noise, float(G2.mean(0).pow(2).sum()))


def test_determinism():
    G = torch.randn(40, 3, generator=torch.Generator().manual_seed(5))
    a = Gr.minibatch_grads(G, 5, 10, generator=torch.Generator().manual_seed(7))
    b = Gr.minibatch_grads(G, 5, 10, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_time_per_step_returns_positive_times_and_leaves_model_alone(problem):
    model, X, y = problem
    before = [q.detach().clone() for q in model.parameters()]
    times = Gr.time_per_step(model, X, y, [1, 8, 60], repeats=3)
    assert list(times) == [1, 8, 60] and all(t > 0 for t in times.values())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


@pytest.mark.parametrize("call, exc, word", [
    (lambda m, X, y: Gr.per_example_grads("net", X, y), TypeError, "model"),
    (lambda m, X, y: Gr.per_example_grads(m, X.numpy(), y), TypeError, "X"),
    (lambda m, X, y: Gr.per_example_grads(m, X, y[:5]), ValueError, "same length"),
    (lambda m, X, y: Gr.per_example_grads(m, X, y, chunk_size=0), ValueError, "chunk_size"),
    (lambda m, X, y: Gr.full_grad(m, X[:0], y[:0]), ValueError, "X"),
    (lambda m, X, y: Gr.minibatch_grads(torch.zeros(5), 2, 3), ValueError, "G"),
    (lambda m, X, y: Gr.minibatch_grads(torch.zeros(1, 3), 1, 3), ValueError, "G"),
    (lambda m, X, y: Gr.minibatch_grads(torch.zeros(5, 3), 0, 3), ValueError, "batch_size"),
    (lambda m, X, y: Gr.minibatch_grads(torch.zeros(5, 3), 6, 3, replace=False), ValueError, "batch_size"),
    (lambda m, X, y: Gr.minibatch_grads(torch.zeros(5, 3), 2, 0), ValueError, "num_batches"),
    (lambda m, X, y: Gr.minibatch_grads(torch.zeros(5, 3, dtype=torch.long), 2, 3), TypeError, "G"),
    (lambda m, X, y: Gr.standard_error(torch.zeros(5, 3), 2.5), TypeError, "batch_size"),
    (lambda m, X, y: Gr.noise_scale([[1.0, 2.0]]), TypeError, "G"),
    (lambda m, X, y: Gr.logistic_per_example_grads(torch.zeros(3), torch.zeros(4, 2), torch.zeros(4)),
     ValueError, "columns"),
    (lambda m, X, y: Gr.time_per_step(m, X, y, []), ValueError, "batch_sizes"),
    (lambda m, X, y: Gr.time_per_step(m, X, y, [1, 100]), ValueError, "batch_sizes"),
    (lambda m, X, y: Gr.time_per_step(m, X, y, [1], lr=0), ValueError, "lr"),
])
def test_bad_inputs_name_the_argument(problem, call, exc, word):
    with pytest.raises(exc, match=word):
        call(*problem)
