"""Closed-form predictions the chapter checks its experiments against, on quadratics J(θ) = ½ Σ_i λ_i θ_i².

On a quadratic every optimizer of this package is a linear recursion along each eigen-direction of
the Hessian (curvature λ), so its convergence rate and its noise floor have exact formulas. The
functions take the curvatures (Hessian eigenvalues) as a list or tensor and return plain floats.
"""

from __future__ import annotations

import math

import torch

from .. import _args
from ._base import check_lr, check_unit_interval

__all__ = [
    "gd_rate",
    "heavy_ball_rate",
    "nesterov_rate",
    "optimal_gd",
    "optimal_heavy_ball",
    "optimal_nesterov",
    "sgd_noise_floor",
    "inverse_time_loss",
    "averaged_sgd_loss",
]


def _curvatures(curvatures) -> torch.Tensor:
    h = torch.as_tensor(curvatures, dtype=torch.float64).flatten()
    if h.numel() == 0 or not torch.isfinite(h).all() or (h <= 0).any():
        raise ValueError(
            f"curvatures must be positive finite numbers, got {curvatures!r}"
        )
    return h


def _spectral_radius(b: torch.Tensor, c: torch.Tensor) -> float:
    """Largest |z| over the roots of z² − b z + c = 0, the eigenvalues of [[b, −c], [1, 0]]."""
    disc = (b * b - 4 * c).to(torch.complex128)
    roots = torch.stack([(b + disc.sqrt()) / 2, (b - disc.sqrt()) / 2])
    return float(roots.abs().max())


def gd_rate(lr: float, curvatures) -> float:
    r"""Rate of gradient descent θ ← θ − η ∇J: the error shrinks by max_i |1 − η λ_i| per step."""
    lr, h = check_lr(lr), _curvatures(curvatures)
    return float((1 - lr * h).abs().max())


def heavy_ball_rate(lr: float, momentum: float, curvatures) -> float:
    r"""Rate of the heavy ball θ_{k+1} = θ_k − η ∇J(θ_k) + μ (θ_k − θ_{k−1}) on a quadratic.

    Along a direction of curvature λ the pair (θ_k, θ_{k−1}) is multiplied by
    [[1 + μ − η λ, −μ], [1, 0]]; the rate is the largest modulus of its eigenvalues, the roots of
    z² − (1 + μ − η λ) z + μ = 0, over all curvatures.
    """
    lr, mu, lam = (
        check_lr(lr),
        check_unit_interval("momentum", momentum, "momentum"),
        _curvatures(curvatures),
    )
    return _spectral_radius(1 + mu - lr * lam, torch.full_like(lam, mu))


def nesterov_rate(lr: float, momentum: float, curvatures) -> float:
    r"""Rate of Nesterov momentum on a quadratic: roots of z² − (1 + μ)(1 − η λ) z + μ (1 − η λ) = 0."""
    lr, mu, lam = (
        check_lr(lr),
        check_unit_interval("momentum", momentum, "momentum"),
        _curvatures(curvatures),
    )
    q = 1 - lr * lam
    return _spectral_radius((1 + mu) * q, mu * q)


def _extremes(lam_min, lam_max) -> tuple[float, float]:
    lo, hi = _args.positive("lam_min", lam_min), _args.positive(
        "lam_max", lam_max
    )
    if lo > hi:
        raise ValueError(
            f"lam_min must be <= lam_max, got lam_min={lo}, lam_max={hi}"
        )
    return lo, hi


def optimal_gd(lam_min: float, lam_max: float) -> tuple[float, float]:
    r"""Best constant step of gradient descent for curvatures in [λ_min, λ_max].

    η* = 2/(λ_min + λ_max), rate (κ − 1)/(κ + 1) with κ = λ_max/λ_min.

    Returns:
        (lr, rate).
    """
    lo, hi = _extremes(lam_min, lam_max)
    kappa = hi / lo
    return 2 / (hi + lo), (kappa - 1) / (kappa + 1)


def optimal_heavy_ball(
    lam_min: float, lam_max: float
) -> tuple[float, float, float]:
    r"""Best heavy-ball parameters for curvatures in [λ_min, λ_max] (Polyak, 1964).

    η* = 4 / (√λ_max + √λ_min)²,  μ* = ((√κ − 1)/(√κ + 1))²,  rate (√κ − 1)/(√κ + 1), with κ = λ_max/λ_min.

    Returns:
        (lr, momentum, rate).
    """
    lo, hi = _extremes(lam_min, lam_max)
    root = math.sqrt(hi / lo)
    rate = (root - 1) / (root + 1)
    return 4 / (math.sqrt(hi) + math.sqrt(lo)) ** 2, rate**2, rate


def optimal_nesterov(
    lam_min: float, lam_max: float
) -> tuple[float, float, float]:
    r"""Nesterov's standard choice for curvatures in [λ_min, λ_max]: η = 1/λ_max, μ = (√κ − 1)/(√κ + 1).

    Its exact rate on a quadratic is computed by :func:`nesterov_rate`; for large κ it is about
    1 − 1/√κ, slower than the optimal heavy ball's 1 − 2/√κ, but this choice needs only L and μ
    (no tuning of the pair) and its guarantee holds for every smooth strongly convex function.

    Returns:
        (lr, momentum, rate).
    """
    lo, hi = _extremes(lam_min, lam_max)
    root = math.sqrt(hi / lo)
    lr, mu = 1 / hi, (root - 1) / (root + 1)
    return lr, mu, nesterov_rate(lr, mu, [lo, hi])


def sgd_noise_floor(lr: float, curvatures, sigma: float) -> float:
    r"""Stationary expected loss of constant-step SGD on J = ½ Σ λ_i θ_i² with gradient noise N(0, σ² I).

    Per coordinate θ ← (1 − η λ) θ − η σ ξ is an AR(1) process with stationary variance
    η σ² / (λ (2 − η λ)), so E[J] = Σ_i η σ² / (2 (2 − η λ_i)) ≈ d η σ² / 4 for small η:
    proportional to the step size, whatever the curvature. (Needs η λ_i < 2 for every i.)
    """
    lr, h = check_lr(lr), _curvatures(curvatures)
    sigma = _args.real("sigma", sigma, low=0.0)
    if (lr * h >= 2).any():
        raise ValueError(
            f"lr * curvature must be < 2 for a stationary state (lr={lr}, max"
            f" curvature={float(h.max())})"
        )
    return float((lr * sigma**2 / (2 * (2 - lr * h))).sum())


def inverse_time_loss(c: float, curvatures, sigma: float, k: int) -> float:
    r"""Asymptotic expected loss of SGD with steps η_k ≈ c/k on the same noisy quadratic.

    E[θ_i²] ≈ c² σ² / ((2 λ_i c − 1) k) for large k (needs 2 λ_i c > 1), so
    E[J_k] ≈ Σ_i λ_i c² σ² / (2 (2 λ_i c − 1) k): it keeps falling like 1/k instead of stalling.
    """
    c, h = _args.positive("c", c), _curvatures(curvatures)
    sigma = _args.real("sigma", sigma, low=0.0)
    k = _args.positive_int("k", k)
    if (2 * h * c <= 1).any():
        raise ValueError(
            f"2 * curvature * c must exceed 1 for the 1/k rate (c={c}, min"
            f" curvature={float(h.min())})"
        )
    return float((h * c**2 * sigma**2 / (2 * (2 * h * c - 1) * k)).sum())


def averaged_sgd_loss(curvatures, sigma: float, k: int) -> float:
    r"""Asymptotic expected loss of the Polyak average of k constant-step SGD iterates on the noisy quadratic.

    Summing θ_{j+1} − θ_j = −η (λ θ_j + σ ξ_j) over j shows θ̄ ≈ −(σ/λ) ξ̄ for large k, whatever the
    step: E[θ̄_i²] ≈ σ² / (λ_i² k) and E[J(θ̄)] ≈ Σ_i σ² / (2 λ_i k), the Cramér–Rao rate of the problem.
    """
    h = _curvatures(curvatures)
    sigma = _args.real("sigma", sigma, low=0.0)
    k = _args.positive_int("k", k)
    return float((sigma**2 / (2 * h * k)).sum())
