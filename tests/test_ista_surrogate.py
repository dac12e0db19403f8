"""ISTA as majorization-minimization: coursekit.sparse_coding.ista_surrogate."""

from __future__ import annotations

import pytest
import torch

from coursekit import sparse_coding as sc


@pytest.fixture
def problem():
    g = torch.Generator().manual_seed(0)
    W_d = torch.randn(16, 40, generator=g, dtype=torch.float64)
    W_d = W_d / W_d.norm(dim=0)
    x = torch.randn(5, 16, generator=g, dtype=torch.float64)
    z_k = torch.randn(5, 40, generator=g, dtype=torch.float64) * (
        torch.rand(5, 40, generator=g) < 0.3
    )
    return x, z_k, W_d, 0.1, g


def test_the_surrogate_lies_above_the_energy_and_touches_it_at_z_k(problem):
    x, z_k, W_d, alpha, g = problem
    L = sc.lipschitz_constant(W_d)
    torch.testing.assert_close(
        sc.ista_surrogate(x, z_k, z_k, W_d, alpha, L),
        sc.energy(x, z_k, W_d, alpha),
        rtol=0,
        atol=1e-12,
    )
    for scale in (1e-3, 1e-1, 10.0):
        z = z_k + scale * torch.randn(z_k.shape, generator=g, dtype=torch.float64)
        gap = sc.ista_surrogate(x, z, z_k, W_d, alpha, L) - sc.energy(x, z, W_d, alpha)
        d = z - z_k
        expected = 0.5 * (L * d.pow(2).sum(1) - (d @ W_d.T).pow(2).sum(1))
        torch.testing.assert_close(gap, expected, rtol=1e-10, atol=1e-10)
        assert bool((gap >= -1e-10).all())


def test_the_ista_step_minimizes_the_surrogate(problem):
    x, z_k, W_d, alpha, g = problem
    L = sc.lipschitz_constant(W_d)
    W_e, S, theta = sc.ista_operators(W_d, alpha)
    z_next = sc.soft_threshold(x @ W_e.T + z_k @ S.T, theta)
    best = sc.ista_surrogate(x, z_next, z_k, W_d, alpha, L)
    for _ in range(50):
        z = z_next + 0.05 * torch.randn(z_next.shape, generator=g, dtype=torch.float64)
        assert bool((sc.ista_surrogate(x, z, z_k, W_d, alpha, L) >= best - 1e-12).all())
    assert bool(
        (
            sc.energy(x, z_next, W_d, alpha) <= sc.energy(x, z_k, W_d, alpha) + 1e-12
        ).all()
    )


def test_a_too_small_L_does_not_majorize(problem):
    x, z_k, W_d, alpha, _ = problem
    L = sc.lipschitz_constant(W_d)
    top = torch.linalg.eigh(W_d.T @ W_d).eigenvectors[:, -1]
    z = z_k + top
    gap = sc.ista_surrogate(x, z, z_k, W_d, alpha, L / 2) - sc.energy(x, z, W_d, alpha)
    torch.testing.assert_close(
        gap, torch.full((5,), -L / 4, dtype=torch.float64), rtol=1e-9, atol=1e-9
    )


def test_single_inputs_and_bad_arguments(problem):
    x, z_k, W_d, alpha, _ = problem
    L = sc.lipschitz_constant(W_d)
    assert sc.ista_surrogate(x[0], z_k[0], z_k[0], W_d, alpha, L).ndim == 0
    with pytest.raises(ValueError, match="L"):
        sc.ista_surrogate(x, z_k, z_k, W_d, alpha, 0.0)
    with pytest.raises(ValueError, match="z_k"):
        sc.ista_surrogate(x, z_k, z_k[:, :3], W_d, alpha, L)
    with pytest.raises(TypeError, match="z"):
        sc.ista_surrogate(x, z_k.numpy(), z_k, W_d, alpha, L)
