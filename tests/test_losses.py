"""Tests of coursekit.losses: 0-1 loss, NLL, margins, and the logistic-regression solvers."""
import math

import pytest
import torch
import torch.nn.functional as F

import coursekit as ck
from coursekit import losses as L


def _logits(n=50, k=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=g, dtype=torch.float64), torch.randint(0, k, (n,), generator=g)


# ---------------------------------------------------------------- predict and the 0-1 loss
def test_predict_is_argmax_and_sign_for_scores():
    z = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 0.5]])
    assert L.predict(z).tolist() == [1, 0]
    assert L.predict(torch.tensor([-0.5, 0.0, 0.2])).tolist() == [0, 0, 1]
    assert L.predict(z).dtype == torch.long


def test_zero_one_loss_counts_errors():
    z = torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 3.0], [5.0, -1.0]])
    y = torch.tensor([0, 1, 0, 1])
    assert L.zero_one_loss(z, y, "none").tolist() == [0.0, 0.0, 1.0, 1.0]
    assert float(L.zero_one_loss(z, y)) == 0.5
    assert float(L.zero_one_loss(z, y, "sum")) == 2.0
    assert L.zero_one_loss(z.double(), y).dtype == torch.float64


def test_zero_one_loss_has_no_gradient():
    z, y = _logits()
    z.requires_grad_(True)
    assert not L.zero_one_loss(z, y).requires_grad


def test_zero_one_matches_error_of_evaluate():
    torch.manual_seed(0)
    model = ck.nn.mlp([4, 8, 3])
    X = torch.randn(40, 4)
    y = torch.randint(0, 3, (40,))
    with torch.no_grad():
        ours = float(L.zero_one_loss(model(X), y))
    assert math.isclose(ours, ck.train.evaluate(model, X, y)["error"], abs_tol=1e-6)  # float32 mean


# ---------------------------------------------------------------- NLL
def test_nll_equals_cross_entropy():
    z, y = _logits()
    torch.testing.assert_close(L.nll(z, y), F.cross_entropy(z, y))
    torch.testing.assert_close(L.nll(z, y, "none"), F.cross_entropy(z, y, reduction="none"))
    torch.testing.assert_close(L.nll(z, y, "sum"), F.cross_entropy(z, y, reduction="sum"))


def test_nll_binary_score_equals_bce_and_two_column_softmax():
    g = torch.Generator().manual_seed(1)
    s = torch.randn(30, generator=g, dtype=torch.float64)
    y = torch.randint(0, 2, (30,), generator=g)
    torch.testing.assert_close(L.nll(s, y), F.binary_cross_entropy_with_logits(s, y.double()))
    two = torch.stack([torch.zeros_like(s), s], dim=1)           # logits (0, s): the same model
    torch.testing.assert_close(L.nll(s, y, "none"), L.nll(two, y, "none"))


def test_nll_in_bits_bounds_zero_one_loss():
    z, y = _logits(n=500, k=7, seed=3)
    bits = L.nll(z, y, "none", bits=True)
    torch.testing.assert_close(bits, L.nll(z, y, "none") / math.log(2))
    assert (bits >= L.zero_one_loss(z, y, "none")).all()


def test_nll_is_stable_for_huge_logits():
    z = torch.tensor([[1000.0, -1000.0], [-1000.0, 1000.0]])
    y = torch.tensor([0, 0])
    values = L.nll(z, y, "none")
    assert torch.isfinite(values).all()
    torch.testing.assert_close(values, torch.tensor([0.0, 2000.0]))
    assert torch.isfinite(L.nll(torch.tensor([800.0, -800.0]), torch.tensor([0, 1]), "none")).all()


# ---------------------------------------------------------------- margins
def test_margins_closed_form():
    z = torch.tensor([[3.0, 1.0, 2.5], [0.0, 4.0, 1.0]])
    y = torch.tensor([0, 2])
    torch.testing.assert_close(L.margins(z, y), torch.tensor([0.5, -3.0]))
    torch.testing.assert_close(L.margins(torch.tensor([2.0, 2.0]), torch.tensor([1, 0])), torch.tensor([2.0, -2.0]))


def test_margin_sign_is_correctness_and_bounds_nll():
    z, y = _logits(n=400, k=6, seed=5)
    margin = L.margins(z, y)
    torch.testing.assert_close((margin <= 0).double(), L.zero_one_loss(z, y, "none"))
    assert (L.nll(z, y, "none") >= F.softplus(-margin) - 1e-12).all()
    # two classes: the NLL is exactly the logistic loss of the margin
    z2, y2 = _logits(n=100, k=2, seed=6)
    torch.testing.assert_close(L.nll(z2, y2, "none"), F.softplus(-L.margins(z2, y2)))


def test_ties_count_as_errors():
    z = torch.tensor([[1.0, 1.0]])
    assert float(L.margins(z, torch.tensor([0]))) == 0.0
    assert float(L.zero_one_loss(z, torch.tensor([1]))) == 1.0     # argmax picks class 0


# ---------------------------------------------------------------- logistic regression
def test_logistic_regression_gradient_is_zero_at_solution():
    prob = ck.data.GaussianClasses(3, 1.0, seed=0)
    X, y = prob.sample(300, torch.Generator().manual_seed(0))
    l2 = 1e-2
    w, b = L.logistic_regression(X, y, l2=l2)
    v = torch.cat([w, b[None]]).requires_grad_(True)
    J = L.nll(X @ v[:-1] + v[-1], y) + 0.5 * l2 * (v * v).sum()
    (g,) = torch.autograd.grad(J, v)
    assert g.norm() < 1e-8


def test_logistic_regression_batched_equals_one_by_one():
    prob = ck.data.GaussianClasses(2, 1.5, seed=1)
    g = torch.Generator().manual_seed(1)
    X, y = prob.sample(4 * 25, g)
    X, y = X.view(4, 25, 2), y.view(4, 25)
    w, b = L.logistic_regression(X, y)
    for k in range(4):
        wk, bk = L.logistic_regression(X[k], y[k])
        torch.testing.assert_close(w[k], wk)
        torch.testing.assert_close(b[k], bk)


def test_logistic_regression_approaches_bayes_risk_and_is_finite_when_separable():
    prob = ck.data.GaussianClasses(2, 1.0, seed=2)
    X, y = prob.sample(20000, torch.Generator().manual_seed(2))
    w, b = L.logistic_regression(X, y)
    assert prob.risk(w, b) - prob.bayes_risk < 2e-3
    Xs = torch.tensor([[-2.0, 0.0], [-1.0, 0.5], [1.0, 0.0], [2.0, -0.5]], dtype=torch.float64)
    ws, bs = L.logistic_regression(Xs, torch.tensor([0, 0, 1, 1]))
    assert torch.isfinite(ws).all() and torch.isfinite(bs) and ws[0] > 0


def test_gradient_descent_path_matches_manual_steps_and_grows_on_separable_data():
    X = torch.tensor([[-2.0, 0.3], [-1.0, 0.5], [1.0, 0.1], [2.0, -0.5]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1])
    path = L.logistic_gradient_descent(X, y, lr=0.5, steps=200, record=[0, 1, 2, 200])
    assert path["step"].tolist() == [0, 1, 2, 200]
    assert path["w"].shape == (4, 2) and path["b"].shape == (4,)
    v = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    for t in range(1, 3):                       # two steps by autograd
        (g,) = torch.autograd.grad(L.nll(X @ v[:2] + v[2], y), v)
        with torch.no_grad():
            v -= 0.5 * g
        torch.testing.assert_close(path["w"][t], v[:2].detach())
        torch.testing.assert_close(path["b"][t], v[2].detach())
    norms = path["w"].norm(dim=1)
    assert (norms[1:] > norms[:-1]).all()       # separable: ||w|| keeps growing
    full = L.logistic_gradient_descent(X, y, lr=0.5, steps=5)
    assert full["step"].tolist() == list(range(6))


def test_determinism():
    z, y = _logits(seed=9)
    assert torch.equal(L.nll(z, y, "none"), L.nll(z, y, "none"))
    prob = ck.data.GaussianClasses(2, 1.0)
    X, y = prob.sample(100, torch.Generator().manual_seed(0))
    a, b = L.logistic_regression(X, y), L.logistic_regression(X, y)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


# ---------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("call, exc, word", [
    (lambda: L.zero_one_loss([[1.0, 2.0]], torch.tensor([0])), TypeError, "logits"),
    (lambda: L.zero_one_loss(torch.zeros(2, 3, 4), torch.tensor([0, 1])), ValueError, "logits"),
    (lambda: L.nll(torch.zeros(3, 2, dtype=torch.long), torch.tensor([0, 1, 0])), TypeError, "logits"),
    (lambda: L.nll(torch.zeros(3, 2), torch.tensor([0.0, 1.0, 0.0])), TypeError, "y"),
    (lambda: L.nll(torch.zeros(3, 2), torch.tensor([0, 1])), ValueError, "same length"),
    (lambda: L.nll(torch.zeros(3, 2), torch.tensor([0, 1, 2])), ValueError, "y must hold class indices"),
    (lambda: L.nll(torch.zeros(3), torch.tensor([0, 1, -1])), ValueError, "y must hold class indices"),
    (lambda: L.nll(torch.zeros(3, 1), torch.tensor([0, 0, 0])), ValueError, "logits"),
    (lambda: L.nll(torch.zeros(3, 2), torch.tensor([0, 1, 0]), "avg"), ValueError, "reduction"),
    (lambda: L.margins(torch.zeros(3, 2), torch.zeros(3, 1, dtype=torch.long)), ValueError, "y"),
    (lambda: L.logistic_regression(torch.zeros(5, 2), torch.zeros(4, dtype=torch.long)), ValueError, "y"),
    (lambda: L.logistic_regression(torch.zeros(4, 2), torch.tensor([0, 1, 2, 0])), ValueError, "0 or 1"),
    (lambda: L.logistic_regression(torch.zeros(4, 2), torch.zeros(4)), TypeError, "y"),
    (lambda: L.logistic_regression(torch.zeros(4), torch.zeros(4, dtype=torch.long)), ValueError, "X"),
    (lambda: L.logistic_regression(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), l2=0.0), ValueError, "l2"),
    (lambda: L.logistic_regression(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), steps=0), ValueError, "steps"),
    (lambda: L.logistic_gradient_descent(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), lr=-1, steps=3),
     ValueError, "lr"),
    (lambda: L.logistic_gradient_descent(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), lr=1, steps=3,
                                         record=[5]), ValueError, "record"),
    (lambda: L.logistic_gradient_descent(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), lr=1, steps=3,
                                         record=[1.5]), TypeError, "record"),
    (lambda: L.logistic_gradient_descent(torch.zeros(2, 4, 2), torch.zeros(2, 4, dtype=torch.long), lr=1, steps=3),
     ValueError, "X"),
])
def test_bad_inputs_name_the_argument(call, exc, word):
    with pytest.raises(exc, match=word):
        call()
