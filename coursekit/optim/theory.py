"""Closed-form predictions the chapter checks its experiments against, on quadratics J(θ) = ½ Σ_i h_i θ_i².

On a quadratic every optimizer of this package is a linear recursion per eigen-direction of the
Hessian (curvature h), so its convergence rate and its noise floor have exact formulas. The
functions take the curvatures as a list or tensor and return plain floats.
"""
from __future__ import annotations

import math

import torch

from .. import _args
from ._base import check_lr, check_unit_interval

__all__ = ["gd_rate", "heavy_ball_rate", "nesterov_rate", "optimal_gd", "optimal_heavy_ball", "optimal_nesterov",
           "sgd_noise_floor", "inverse_time_loss", "averaged_sgd_loss"]


def _curvatures(curvatures) -> torch.Tensor:
    h = torch.as_tensor(curvatures, dtype=torch.float64).flatten()
    if h.numel() == 0 or not torch.isfinite(h).all() or (h <= 0).any():
        raise ValueError(f"curvatures must be positive finite numbers, got {curvatures!r}")
    return h


def _spectral_radius(b: torch.Tensor, c: torch.Tensor) -> float:
    """Largest |z| over the roots of z² − b z + c = 0, the eigenvalues of [[b, −c], [1, 0]]."""
    disc = (b * b - 4 * c).to(torch.complex128)
    roots = torch.stack([(b + disc.sqrt()) / 2, (b - disc.sqrt()) / 2])
    return float(roots.abs().max())


def gd_rate(lr: float, curvatures) -> float:
    r"""Rate of gradient descent θ ← θ − ε ∇J: the error shrinks by max_i |1 − ε h_i| per step."""
    lr, h = check_lr(lr), _curvatures(curvatures)
    return float((1 - lr * h).abs().max())


def heavy_ball_rate(lr: float, momentum: float, curvatures) -> float:
    r"""Rate of the heavy ball θ_{k+1} = θ_k − ε ∇J(θ_k) + α (θ_k − θ_{k−1}) on a quadratic.

    Along a direction of curvature h the pair (θ_k, θ_{k−1}) is multiplied by
    [[1 + α − ε h, −α], [1, 0]]; the rate is the largest modulus of its eigenvalues, the roots of
    z² − (1 + α − ε h) z + α = 0, over all curvatures.
    """
    lr, alpha, h = check_lr(lr), check_unit_interval("momentum", momentum, "momentum"), _curvatures(curvatures)
    return _spectral_radius(1 + alpha - lr * h, torch.full_like(h, alpha))


def nesterov_rate(lr: float, momentum: float, curvatures) -> float:
    r"""Rate of Nesterov momentum on a quadratic: roots of z² − (1 + α)(1 − ε h) z + α (1 − ε h) = 0."""
    lr, alpha, h = check_lr(lr), check_unit_interval("momentum", momentum, "momentum"), _curvatures(curvatures)
    q = 1 - lr * h
    return _spectral_radius((1 + alpha) * q, alpha * q)


def _mu_L(mu, L) -> tuple[float, float]:
    mu, L = _args.positive("mu", mu), _args.positive("L", L)
    if mu > L:
        raise ValueError(f"mu must be <= L (the smallest and the largest curvature), got mu={mu}, L={L}")
    return mu, L


def optimal_gd(mu: float, L: float) -> tuple[float, float]:
    r"""Best constant step of gradient descent for curvatures in [μ, L]: ε* = 2/(L + μ), rate (κ − 1)/(κ + 1)."""
    mu, L = _mu_L(mu, L)
    kappa = L / mu
    return 2 / (L + mu), (kappa - 1) / (kappa + 1)


def optimal_heavy_ball(mu: float, L: float) -> tuple[float, float, float]:
    r"""Best heavy-ball parameters for curvatures in [μ, L] (Polyak, 1964).

    ε* = 4 / (√L + √μ)²,  α* = ((√κ − 1)/(√κ + 1))²,  rate (√κ − 1)/(√κ + 1), with κ = L/μ.

    Returns:
        (lr, momentum, rate).
    """
    mu, L = _mu_L(mu, L)
    root = math.sqrt(L / mu)
    rate = (root - 1) / (root + 1)
    return 4 / (math.sqrt(L) + math.sqrt(mu)) ** 2, rate ** 2, rate


def optimal_nesterov(mu: float, L: float) -> tuple[float, float, float]:
    r"""Nesterov's standard choice for curvatures in [μ, L]: ε = 1/L, α = (√κ − 1)/(√κ + 1).

    Its exact rate on a quadratic is computed by :func:`nesterov_rate`; for large κ it is about
    1 − 1/√κ, slower than the optimal heavy ball's 1 − 2/√κ, but this choice needs only L and μ
    (no tuning of the pair) and its guarantee holds for every smooth strongly convex function.

    Returns:
        (lr, momentum, rate).
    """
    mu, L = _mu_L(mu, L)
    root = math.sqrt(L / mu)
    lr, alpha = 1 / L, (root - 1) / (root + 1)
    return lr, alpha, nesterov_rate(lr, alpha, [mu, L])


def sgd_noise_floor(lr: float, curvatures, sigma: float) -> float:
    r"""Stationary expected loss of constant-step SGD on J = ½ Σ h_i θ_i² with gradient noise N(0, σ² I).

    Per coordinate θ ← (1 − ε h) θ − ε σ ξ is an AR(1) process with stationary variance
    ε σ² / (h (2 − ε h)), so E[J] = Σ_i ε σ² / (2 (2 − ε h_i)) ≈ d ε σ² / 4 for small ε:
    proportional to the step size, whatever the curvature. (Needs ε h_i < 2 for every i.)
    """
    lr, h = check_lr(lr), _curvatures(curvatures)
    sigma = _args.real("sigma", sigma, low=0.0)
    if (lr * h >= 2).any():
        raise ValueError(f"lr * curvature must be < 2 for a stationary state (lr={lr}, max curvature={float(h.max())})")
    return float((lr * sigma ** 2 / (2 * (2 - lr * h))).sum())


def inverse_time_loss(c: float, curvatures, sigma: float, k: int) -> float:
    r"""Asymptotic expected loss of SGD with steps ε_k ≈ c/k on the same noisy quadratic.

    E[θ_i²] ≈ c² σ² / ((2 h_i c − 1) k) for large k (needs 2 h_i c > 1), so
    E[J_k] ≈ Σ_i h_i c² σ² / (2 (2 h_i c − 1) k): it keeps falling like 1/k instead of stalling.
    """
    c, h = _args.positive("c", c), _curvatures(curvatures)
    sigma = _args.real("sigma", sigma, low=0.0)
    k = _args.positive_int("k", k)
    if (2 * h * c <= 1).any():
        raise ValueError(f"2 * curvature * c must exceed 1 for the 1/k rate (c={c}, min curvature={float(h.min())})")
    return float((h * c ** 2 * sigma ** 2 / (2 * (2 * h * c - 1) * k)).sum())


def averaged_sgd_loss(curvatures, sigma: float, k: int) -> float:
    r"""Asymptotic expected loss of the Polyak average of k constant-step SGD iterates on the noisy quadratic.

    Summing θ_{j+1} − θ_j = −ε (h θ_j + σ ξ_j) over j shows θ̄ ≈ −(σ/h) ξ̄ for large k, whatever the
    step: E[θ̄_i²] ≈ σ² / (h_i² k) and E[J(θ̄)] ≈ Σ_i σ² / (2 h_i k), the Cramér–Rao rate of the problem.
    """
    h = _curvatures(curvatures)
    sigma = _args.real("sigma", sigma, low=0.0)
    k = _args.positive_int("k", k)
    return float((sigma ** 2 / (2 * h * k)).sum())
