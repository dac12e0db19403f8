"""coursekit.sparse_coding.block_coordinate_descent: codes and atoms learned by turns, in the module's
conventions (inputs in rows, atoms in the columns of W_d, E = 1/2 ||x - W_d z||^2 + alpha ||z||_1)."""
import numpy as np
import pytest
import torch

from coursekit import sparse_coding as sc

DT = torch.float64


def _sparse_problem():
    g = torch.Generator().manual_seed(0)
    n, m, B = 12, 6, 300
    W_d = torch.randn(n, m, generator=g, dtype=DT)
    W_d = W_d / W_d.norm(dim=0, keepdim=True)
    Z = torch.randn(B, m, generator=g, dtype=DT) * (torch.rand(B, m, generator=g, dtype=DT) < 0.25)
    return Z @ W_d.T + 0.01 * torch.randn(B, n, generator=g, dtype=DT), W_d


def test_block_coordinate_descent_decreases_the_energy_and_finds_the_atoms():
    X, W_true = _sparse_problem()
    r = sc.block_coordinate_descent(X, 6, 0.1, rounds=40, inner_steps=20,
                                    generator=torch.Generator().manual_seed(1))
    J = r["energy"].numpy()
    assert len(J) == 81
    assert (np.diff(J) <= 1e-9 * J[0]).all()
    assert J[-1] < 0.3 * J[0]
    assert r["W_d"].shape == (12, 6) and r["Z"].shape == (300, 6)
    assert (r["W_d"].norm(dim=0) <= 1 + 1e-12).all()
    assert J[-1] == pytest.approx(float(sc.energy(X, r["Z"], r["W_d"], 0.1).sum()), rel=1e-12)
    match = (r["W_d"].T @ W_true).abs().max(dim=0).values
    assert (match > 0.95).all(), match


def test_the_energy_convention_gives_the_same_iterates_as_the_transposed_one():
    """J = lam |H|_1 + ||X' - W'H||^2 with atoms in the rows of W and lam = 2 alpha is twice our energy:
    the same ISTA and projected steps, written in that convention, give the same blocks."""
    X, _ = _sparse_problem()
    alpha, rounds, inner = 0.1, 3, 5
    r = sc.block_coordinate_descent(X, 6, alpha, rounds=rounds, inner_steps=inner,
                                    generator=torch.Generator().manual_seed(1))
    Xc, lam = X.T, 2 * alpha                                     # examples in columns
    W = torch.randn(6, 12, generator=torch.Generator().manual_seed(1), dtype=DT)
    W = W / W.norm(dim=1, keepdim=True)
    H = torch.zeros(6, 300, dtype=DT)
    for _ in range(rounds):
        L = 2 * torch.linalg.matrix_norm(W @ W.T, ord=2)
        for _ in range(inner):
            V = H - 2 * W @ (W.T @ H - Xc) / L
            H = torch.sign(V) * torch.clamp(V.abs() - lam / L, min=0)
        L = 2 * torch.linalg.matrix_norm(H @ H.T, ord=2)
        for _ in range(inner):
            W = W - 2 * H @ (W.T @ H - Xc).T / L
            W = W / W.norm(dim=1, keepdim=True).clamp(min=1.0)
    torch.testing.assert_close(r["W_d"], W.T, rtol=0, atol=1e-10)
    torch.testing.assert_close(r["Z"], H.T, rtol=0, atol=1e-10)
    J_rows = float(lam * H.abs().sum() + ((Xc - W.T @ H) ** 2).sum())
    assert 2 * float(r["energy"][-1]) == pytest.approx(J_rows, rel=1e-10)


def test_block_coordinate_descent_bad_arguments():
    X, _ = _sparse_problem()
    with pytest.raises(ValueError, match="alpha"):
        sc.block_coordinate_descent(X, 6, -1.0)
    with pytest.raises(ValueError, match="W_d0 must have shape"):
        sc.block_coordinate_descent(X, 6, 0.1, W_d0=torch.zeros(6, 12, dtype=DT))
    with pytest.raises(TypeError, match="num_atoms"):
        sc.block_coordinate_descent(X, 6.0, 0.1)
    with pytest.raises(ValueError, match="X must have 2"):
        sc.block_coordinate_descent(X[0], 6, 0.1)
