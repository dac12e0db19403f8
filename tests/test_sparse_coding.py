"""Tests of coursekit.sparse_coding (soft thresholding, ISTA, FISTA, dictionary learning, LISTA) and data.image_patches."""
import numpy as np
import pytest
import torch
from sklearn.linear_model import Lasso

import coursekit as ck
from coursekit import sparse_coding as sc


def problem(n=20, m=40, batch=6, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    W_d = torch.randn(n, m, generator=g, dtype=dtype)
    W_d = W_d / W_d.norm(dim=0)
    X = torch.randn(batch, n, generator=g, dtype=dtype)
    return X, W_d


def sklearn_codes(X, W_d, alpha):
    # scikit-learn's Lasso minimizes 1/(2 n) ||x - W z||^2 + a ||z||_1: with a = alpha / n it is our energy / n.
    n = W_d.shape[0]
    lasso = Lasso(alpha=alpha / n, fit_intercept=False, tol=1e-14, max_iter=100000)
    return torch.stack([torch.as_tensor(lasso.fit(W_d.numpy(), x.numpy()).coef_.copy()) for x in X])


def test_soft_threshold_values_and_prox_property():
    v = torch.tensor([-2.0, -0.5, 0.0, 0.3, 1.0, 3.0])
    assert torch.equal(sc.soft_threshold(v, 1.0), torch.tensor([-1.0, 0.0, 0.0, 0.0, 0.0, 2.0]))
    assert torch.equal(sc.soft_threshold(v, 0.0), v)
    theta = torch.tensor([0.5, 0.5, 0.5, 0.1, 2.0, 0.0])
    assert torch.allclose(sc.soft_threshold(v, theta), torch.tensor([-1.5, 0.0, 0.0, 0.2, 0.0, 3.0]))
    # h_theta(v) minimizes 1/2 (u - v)^2 + theta |u| (checked on a fine grid of u)
    u = torch.linspace(-4, 4, 80001, dtype=torch.float64)
    for vi in (-2.3, -0.4, 0.0, 0.7, 2.9):
        objective = 0.5 * (u - vi) ** 2 + 0.8 * u.abs()
        assert abs(float(u[objective.argmin()]) - float(sc.soft_threshold(torch.tensor(vi), 0.8))) < 1e-3


def test_soft_threshold_bad_arguments():
    with pytest.raises(ValueError, match="theta"):
        sc.soft_threshold(torch.ones(3), -0.1)
    with pytest.raises(TypeError, match="v"):
        sc.soft_threshold([1.0, 2.0], 0.1)
    with pytest.raises(TypeError, match="theta"):
        sc.soft_threshold(torch.ones(3), torch.ones(3, dtype=torch.long))


def test_energy_and_lipschitz_constant():
    X, W_d = problem()
    Z = torch.randn(len(X), W_d.shape[1], dtype=torch.float64)
    expected = 0.5 * ((X - Z @ W_d.T) ** 2).sum(1) + 0.3 * Z.abs().sum(1)
    assert torch.allclose(sc.energy(X, Z, W_d, 0.3), expected)
    assert torch.allclose(sc.energy(X[0], Z[0], W_d, 0.3), expected[0])
    L = sc.lipschitz_constant(W_d)
    assert abs(L - float(torch.linalg.eigvalsh(W_d.T @ W_d).max())) < 1e-9 * L
    W_e, S, theta = sc.ista_operators(W_d, 0.3)
    assert torch.allclose(W_e, W_d.T / L) and torch.allclose(S, torch.eye(40, dtype=torch.float64) - W_d.T @ W_d / L)
    assert theta == pytest.approx(0.3 / L)


@pytest.mark.parametrize("solver", [sc.ista, sc.fista])
def test_ista_and_fista_reach_the_lasso_optimum_of_sklearn(solver):
    X, W_d = problem()
    alpha = 0.2
    reference = sklearn_codes(X, W_d, alpha)
    run = solver(X, W_d, alpha, num_iters=20000 if solver is sc.ista else 3000)
    assert torch.allclose(run.z, reference, atol=1e-6), (run.z - reference).abs().max()
    E_ref = sc.energy(X, reference, W_d, alpha).mean()
    assert float(run.energy[-1] - E_ref) < 1e-10
    assert run.energy.shape == (20001 if solver is sc.ista else 3001,)


def test_optimal_codes_match_sklearn_and_satisfy_optimality():
    X, W_d = problem(seed=3)
    alpha = 0.15
    Z = sc.optimal_codes(X, W_d, alpha, tol=1e-9)
    assert torch.allclose(Z, sklearn_codes(X, W_d, alpha), atol=1e-7)
    assert float(sc.optimality_violation(X, Z, W_d, alpha).max()) < 1e-9 * 10 * alpha
    assert float(sc.optimality_violation(X, torch.zeros_like(Z), W_d, alpha).max()) > 0.1
    with pytest.raises(RuntimeError, match="max_iters"):
        sc.optimal_codes(X, W_d, alpha, tol=1e-12, max_iters=10)


def test_fista_energy_never_above_ista_and_ista_is_monotone():
    X, W_d = problem(n=30, m=120, batch=50, seed=1)
    ista, fista = sc.ista(X, W_d, 0.1, 300), sc.fista(X, W_d, 0.1, 300)
    assert torch.allclose(ista.energy[:3], fista.energy[:3])       # the first two steps coincide
    assert bool((fista.energy <= ista.energy + 1e-12).all())
    assert bool((ista.energy.diff() <= 1e-12).all())
    E_star = sc.energy(X, sc.optimal_codes(X, W_d, 0.1, tol=1e-8), W_d, 0.1).mean()
    k = 100
    assert float(fista.energy[k] - E_star) < 0.1 * float(ista.energy[k] - E_star)


def test_error_history_and_batching():
    X, W_d = problem()
    Z_star = sc.optimal_codes(X, W_d, 0.2, tol=1e-9)
    run = sc.fista(X, W_d, 0.2, 50, z_star=Z_star)
    assert run.error.shape == (51,)
    assert float(run.error[0]) == pytest.approx(float(Z_star.pow(2).sum(1).mean()))
    assert float(run.error[-1]) < 1e-2 * float(run.error[0])
    single = sc.fista(X[2], W_d, 0.2, 50)
    assert single.z.shape == (40,)
    assert torch.allclose(single.z, run.z[2], atol=1e-12)
    assert sc.ista(X, W_d, 0.2, 0).z.abs().sum() == 0


def test_lista_at_initialization_is_exactly_ista():
    X, W_d = problem(batch=9)
    for T in range(4):
        lista = sc.LISTA(W_d, 0.25, num_iters=T)
        with torch.no_grad():
            assert torch.equal(lista(X), sc.ista(X, W_d, 0.25, T + 1).z)
        assert len(list(lista.parameters())) == 3
    assert "T=2" in repr(sc.LISTA(W_d, 0.25, num_iters=2))


def test_lista_training_reduces_the_code_error():
    X, W_d = problem(n=16, m=32, batch=400, seed=2, dtype=torch.float32)
    Z_star = sc.optimal_codes(X, W_d, 0.2)
    torch.manual_seed(0)
    lista = sc.LISTA(W_d, 0.2, num_iters=1)
    with torch.no_grad():
        before = float(sc.code_error(lista(X), Z_star))
    opt = torch.optim.Adam(lista.parameters(), lr=1e-2)
    ck.train.fit(lista, opt, (X, Z_star), epochs=20, batch_size=50, loss_fn=sc.code_loss, eval_train=False,
                 generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        after = float(sc.code_error(lista(X), Z_star))
    assert after < 0.5 * before, (before, after)


def test_learn_dictionary_unit_atoms_lower_energy_and_determinism():
    g = torch.Generator().manual_seed(0)
    true = torch.randn(16, 24, generator=g)
    true = true / true.norm(dim=0)                                   # a planted dictionary
    codes = torch.randn(600, 24, generator=g) * (torch.rand(600, 24, generator=g) < 0.1)
    X = codes @ true.T + 0.01 * torch.randn(600, 16, generator=g)
    d1 = sc.learn_dictionary(X, 24, 0.05, num_steps=100, batch_size=100, generator=torch.Generator().manual_seed(1))
    d2 = sc.learn_dictionary(X, 24, 0.05, num_steps=100, batch_size=100, generator=torch.Generator().manual_seed(1))
    assert torch.equal(d1.W_d, d2.W_d)
    assert torch.allclose(d1.W_d.norm(dim=0), torch.ones(24), atol=1e-5)
    assert float(d1.energy[-10:].mean()) < 0.8 * float(d1.energy[:3].mean())

    def mean_energy(W):
        return float(sc.energy(X, sc.optimal_codes(X, W, 0.05), W, 0.05).mean())

    random = torch.randn(16, 24, generator=g)
    learned, planted, random = mean_energy(d1.W_d), mean_energy(true), mean_energy(random / random.norm(dim=0))
    assert learned < 0.6 * random and learned < 1.5 * planted, (learned, planted, random)


def test_bad_arguments_raise_clear_errors():
    X, W_d = problem()
    with pytest.raises(ValueError, match="alpha"):
        sc.ista(X, W_d, -1.0)
    with pytest.raises(ValueError, match="W_d"):
        sc.fista(X[:, :5], W_d, 0.1)
    with pytest.raises(ValueError, match="W_d"):
        sc.ista(X, W_d[0], 0.1)
    with pytest.raises(ValueError, match="num_iters"):
        sc.ista(X, W_d, 0.1, -3)
    with pytest.raises(ValueError, match="L must be"):
        sc.ista_operators(W_d, 0.1, L=0.5 * sc.lipschitz_constant(W_d))
    with pytest.raises(ValueError, match="z_star"):
        sc.fista(X, W_d, 0.1, 5, z_star=torch.zeros(3, 40, dtype=torch.float64))
    with pytest.raises(ValueError, match="dtype"):
        sc.ista(X.float(), W_d, 0.1)
    with pytest.raises(ValueError, match="num_iters"):
        sc.LISTA(W_d, 0.1, num_iters=-1)
    with pytest.raises(ValueError, match="num_atoms"):
        sc.learn_dictionary(X, 40, 0.1)
    with pytest.raises(ValueError, match="alpha"):
        sc.optimal_codes(X, W_d, 0.0)
    with pytest.raises(ValueError, match="same shape"):
        sc.code_error(torch.zeros(3, 4), torch.zeros(3, 5))


def test_image_patches():
    X = ck.data.image_patches(200, 8, seed=1)
    assert X.shape == (200, 64) and X.dtype == torch.float32
    assert torch.allclose(X.mean(1), torch.zeros(200), atol=1e-6)
    assert torch.allclose(X.norm(dim=1), torch.ones(200), atol=1e-5)
    assert torch.equal(X, ck.data.image_patches(200, 8, seed=1))
    test = ck.data.image_patches(50, 10, part="test", dtype=torch.float64)
    assert test.shape == (50, 100) and test.dtype == torch.float64
    assert not np.allclose(ck.data.image_patches(50, 10).numpy(), test.float().numpy())
    with pytest.raises(ValueError, match="part"):
        ck.data.image_patches(10, part="validation")
    with pytest.raises(ValueError, match="patch_size"):
        ck.data.image_patches(10, 1)
