"""Proposition 2 of Goodfellow et al. (2014) on a finite set.

coursekit.gan.generator_criterion and coursekit.gan.function_space_descent.
"""

from __future__ import annotations

import math

import pytest
import torch

from coursekit import gan


def _random_distribution(n, seed):
    p = (
        torch.rand(
            n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
        )
        + 0.05
    )
    return p / p.sum()


def test_criterion_is_minus_log_4_plus_twice_the_jensen_shannon_divergence():
    p, q = _random_distribution(12, 0), _random_distribution(12, 1)
    m = (p + q) / 2
    jsd = 0.5 * float((p * (p / m).log()).sum() + (q * (q / m).log()).sum())
    assert gan.generator_criterion(p, q) == pytest.approx(
        -math.log(4) + 2 * jsd, abs=1e-12
    )
    assert gan.generator_criterion(p, p) == pytest.approx(-math.log(4), abs=1e-12)
    disjoint = torch.tensor([0.5, 0.5, 0.0, 0.0], dtype=torch.float64)
    assert gan.generator_criterion(disjoint, disjoint.flip(0)) == pytest.approx(
        0.0, abs=1e-12
    )


def test_the_step_direction_is_the_gradient_of_the_criterion():
    """Danskin: d/dp_g max_D U(p_g, D) = dU/dp_g at D = D*, which is log(1 - D*)."""
    p_data, p_g = (
        _random_distribution(10, 2),
        _random_distribution(10, 3).requires_grad_(True),
    )
    total = p_data + p_g
    criterion = (p_data * (p_data / total).log() + p_g * (p_g / total).log()).sum()
    (grad,) = torch.autograd.grad(criterion, p_g)
    d_star = gan.optimal_discriminator(p_data, p_g.detach())
    torch.testing.assert_close(grad, torch.log1p(-d_star), rtol=0, atol=1e-12)


def test_function_space_descent_converges_to_the_data_distribution_monotonically():
    p_data, p_g = _random_distribution(20, 4), _random_distribution(20, 5)
    run = gan.function_space_descent(p_data, p_g, lr=0.5, steps=60)
    assert len(run.criterion) == 61
    assert bool((run.criterion.diff() <= 1e-15).all())  # C(G) never goes up
    assert float(run.criterion[-1]) == pytest.approx(-math.log(4), abs=1e-10)
    torch.testing.assert_close(run.p_g, p_data, rtol=0, atol=1e-6)


def test_a_unit_step_averages_with_the_data():
    p_data, p_g = _random_distribution(7, 6), _random_distribution(7, 7)
    run = gan.function_space_descent(p_data, p_g, lr=1.0, steps=1)
    torch.testing.assert_close(run.p_g, (p_g + p_data) / 2, rtol=0, atol=1e-14)


def test_bad_arguments_are_named():
    p = _random_distribution(5, 8)
    with pytest.raises(ValueError, match="p_g must be strictly positive"):
        gan.function_space_descent(
            p, torch.tensor([1.0, 0, 0, 0, 0], dtype=torch.float64), 0.5, 3
        )
    with pytest.raises(ValueError, match="p_data must be a probability vector"):
        gan.generator_criterion(2 * p, p)
    with pytest.raises(ValueError, match="same length"):
        gan.generator_criterion(p, _random_distribution(6, 9))
    with pytest.raises(ValueError, match="lr"):
        gan.function_space_descent(p, p, -1.0, 3)
    with pytest.raises(TypeError, match="p_g"):
        gan.generator_criterion(p, [0.2] * 5)
