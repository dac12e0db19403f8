"""Local entropy on small problems: a 1-D landscape with a sharp and a wide valley, the Gibbs distribution,
F(x, gamma) by quadrature, its gradient by Langevin dynamics, and the flatness of a network's minimum.

The local entropy (Chaudhari et al. 2017) of a loss f at x with scope gamma is

    F(x, gamma) = log \\int exp(-f(x') - gamma/2 ||x - x'||^2) dx' ,

the log-partition function of the modified Gibbs distribution P(x'; x, gamma) ~ exp(-f(x') - gamma/2 ||x - x'||^2).
Its gradient is grad F(x, gamma) = -gamma (x - <x'>), with <x'> the mean of P(x'; x, gamma).
In one dimension the integral is computed on a grid; in many dimensions <x'> is estimated by stochastic
gradient Langevin dynamics (SGLD), which is what Entropy-SGD (``coursekit.optim.EntropySGD``) does.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from . import _args

__all__ = [
    "TwoValleys",
    "gibbs",
    "local_entropy",
    "local_entropy_grad",
    "sgld_step",
    "sgld_mean",
    "perturbed_loss",
]


class TwoValleys:
    """A 1-D loss with a deep sharp valley and a shallower wide one.

        f(x) = q x^2 - a_s exp(-(x - c_s)^2 / (2 s_s^2)) - a_w exp(-(x - c_w)^2 / (2 s_w^2))

    The defaults put a sharp minimum (width s_s = 0.25, curvature about 40) at x = 0 with f = -2.52 and a
    wide minimum (s_w = 1, curvature about 2) near x = 2.94 with f = -1.82, separated by a barrier near
    x = 0.75. The weak quadratic q x^2 keeps everything bounded (so the Gibbs distribution exists).

    Args:
        q: the weight of the confining quadratic, > 0.
        sharp, wide: (center c, width s, depth a) of each valley.
        xlim: the range plotted and from which starting points are drawn.

    Works elementwise on a tensor of any shape (many 1-D points, or many independent runs at once).

    Attributes:
        sharp_min, wide_min, barrier: the two local minimizers and the local maximum between them
            (found on a fine grid when the object is built).
    """

    def __init__(
        self,
        q: float = 0.02,
        sharp: tuple = (0.0, 0.25, 2.5),
        wide: tuple = (3.0, 1.0, 2.0),
        xlim: tuple = (-4.0, 6.0),
    ):
        self.q = _args.positive("q", q)
        for name, valley in (("sharp", sharp), ("wide", wide)):
            if not (isinstance(valley, (tuple, list)) and len(valley) == 3):
                raise ValueError(
                    f"{name} must be a triple (center, width, depth), got"
                    f" {valley!r}"
                )
            _args.real(f"{name}[0] (center)", valley[0])
            _args.positive(f"{name}[1] (width)", valley[1])
            _args.positive(f"{name}[2] (depth)", valley[2])
        self.sharp, self.wide = tuple(map(float, sharp)), tuple(
            map(float, wide)
        )
        if not self.sharp[0] < self.wide[0]:
            raise ValueError(
                "the sharp valley's center must lie left of the wide valley's"
                " center"
            )
        self.xlim = (float(xlim[0]), float(xlim[1]))
        grid = torch.linspace(
            self.sharp[0] - 1.0, self.wide[0] + 1.0, 200001, dtype=torch.float64
        )
        v = self(grid)
        inner = slice(1, -1)
        is_min = (v[inner] < v[:-2]) & (v[inner] < v[2:])
        is_max = (v[inner] > v[:-2]) & (v[inner] > v[2:])
        mins, maxs = grid[inner][is_min], grid[inner][is_max]
        if len(mins) != 2 or len(maxs) != 1:
            raise ValueError(
                "these parameters do not give two valleys separated by one"
                " barrier"
            )
        self.sharp_min, self.wide_min, self.barrier = (
            float(mins[0]),
            float(mins[1]),
            float(maxs[0]),
        )

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        _args.tensor("x", x, floating=True)
        (cs, ss, a_s), (cw, sw, aw) = self.sharp, self.wide
        return (
            self.q * x**2
            - a_s * torch.exp(-((x - cs) ** 2) / (2 * ss**2))
            - aw * torch.exp(-((x - cw) ** 2) / (2 * sw**2))
        )

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        """The exact derivative f'(x), elementwise."""
        _args.tensor("x", x, floating=True)
        (cs, ss, a_s), (cw, sw, aw) = self.sharp, self.wide
        return (
            2 * self.q * x
            + a_s * (x - cs) / ss**2 * torch.exp(-((x - cs) ** 2) / (2 * ss**2))
            + aw * (x - cw) / sw**2 * torch.exp(-((x - cw) ** 2) / (2 * sw**2))
        )

    def in_wide_valley(self, x: torch.Tensor) -> torch.Tensor:
        """True where x lies right of the barrier (in the wide valley's basin of attraction)."""
        return x > self.barrier

    def grid(self, n: int = 4001, dtype=torch.float64) -> torch.Tensor:
        """``n`` evenly spaced points over a range wide enough for the integrals (beyond ``xlim``)."""
        n = _args.positive_int("n", n)
        lo, hi = self.xlim
        pad = 0.5 * (hi - lo)
        return torch.linspace(lo - pad, hi + pad, n, dtype=dtype)

    def __repr__(self) -> str:
        return (
            f"TwoValleys(sharp minimum at {self.sharp_min:.3g}, wide minimum at"
            f" {self.wide_min:.3g}, barrier at {self.barrier:.3g})"
        )


def _grid(name: str, grid: torch.Tensor) -> torch.Tensor:
    _args.tensor(name, grid, ndim=1, floating=True)
    if len(grid) < 3:
        raise ValueError(f"{name} needs at least 3 points, got {len(grid)}")
    d = grid.diff()
    if not bool((d > 0).all()) or float(
        (d.max() - d.min()).abs()
    ) > 1e-6 * float(d.mean()):
        raise ValueError(f"{name} must be increasing and evenly spaced")
    return grid


def gibbs(f: Callable, grid: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """The Gibbs density P(x; beta) = exp(-beta f(x)) / Z_beta on an evenly spaced 1-D grid.

    Returns:
        the density values on the grid (they integrate to 1 with the grid's spacing).
    """
    grid = _grid("grid", grid)
    beta = _args.positive("beta", beta)
    log_p = -beta * f(grid)
    dx = float(grid[1] - grid[0])
    return torch.exp(log_p - torch.logsumexp(log_p, 0) - math.log(dx))


def _checked(x, gamma, grid):
    _args.tensor("x", x, floating=True)
    return _args.positive("gamma", gamma), _grid("grid", grid).to(x.dtype)


def _local_terms(f, x, gamma, grid):
    gamma, grid = _checked(x, gamma, grid)
    # log of the unnormalized P(x'; x, gamma) for every x (rows) and x' on the
    # grid (columns)
    return -f(grid) - gamma / 2 * (x.reshape(-1, 1) - grid) ** 2, grid, gamma


def local_entropy(
    f: Callable, x: torch.Tensor, gamma: float, grid: torch.Tensor
) -> torch.Tensor:
    """F(x, gamma) = log \\int exp(-f(x') - gamma/2 (x - x')^2) dx', by quadrature on a 1-D grid.

    Args:
        f: the loss, elementwise on a tensor.
        x: the points where to evaluate F (any shape).
        gamma: the scope, > 0 (large gamma: F ~ -f(x) + const; small gamma: F is a smoothed landscape).
        grid: evenly spaced points x' covering the region where exp(-f) matters.

    Returns:
        F at each x (same shape as x).
    """
    gamma, grid = _checked(x, gamma, grid)
    log_w = (
        -f(grid) - gamma / 2 * (x.reshape(-1, 1) - grid) ** 2
    )  # row: x, column: x'
    dx = float(grid[1] - grid[0])
    F = torch.logsumexp(log_w, 1) + math.log(dx)  # log of sum_x' exp(log_w) dx
    return F.reshape(x.shape)


def local_entropy_grad(
    f: Callable, x: torch.Tensor, gamma: float, grid: torch.Tensor
):
    """The local-entropy gradient, -grad F(x, gamma) = gamma (x - <x'>), by quadrature on a 1-D grid.

    Returns:
        ``(g, mean)``: g = gamma (x - <x'>) and <x'>, the mean of P(x'; x, gamma), both shaped like x.
    """
    log_w, grid, gamma = _local_terms(f, x, gamma, grid)
    p = torch.softmax(log_w, 1)
    mean = (p * grid).sum(1).reshape(x.shape)
    return gamma * (x - mean), mean


def sgld_step(
    x_prime: torch.Tensor,
    x: torch.Tensor,
    grad_f_xprime: torch.Tensor,
    gamma: float,
    lr: float,
    noise: float,
    xi: torch.Tensor,
) -> torch.Tensor:
    """One Langevin step on f(x') + gamma/2 ||x - x'||^2, with given standard normal draws ``xi``:

        x' <- x' - lr (grad f(x') - gamma (x - x')) + sqrt(2 lr) noise xi

    Args:
        x_prime: the current sample x'; x: the anchor; grad_f_xprime: grad f(x') (all the same shape).
        gamma: the scope (>= 0); lr: the step eta' (> 0); noise: the thermal noise eps (>= 0).
        xi: standard normal draws, shaped like x'.

    Returns:
        the new x'.
    """
    for name, t in (
        ("x_prime", x_prime),
        ("x", x),
        ("grad_f_xprime", grad_f_xprime),
        ("xi", xi),
    ):
        _args.tensor(name, t, floating=True)
        if t.shape != x_prime.shape:
            raise ValueError(
                f"{name} must have the shape of x_prime {tuple(x_prime.shape)},"
                f" got {tuple(t.shape)}"
            )
    gamma = _args.real("gamma", gamma, low=0.0)
    lr = _args.positive("lr", lr)
    noise = _args.real("noise", noise, low=0.0)
    return (
        x_prime
        - lr * (grad_f_xprime - gamma * (x - x_prime))
        + math.sqrt(2 * lr) * noise * xi
    )


def sgld_mean(
    grad_f: Callable,
    x: torch.Tensor,
    gamma: float,
    *,
    steps: int,
    lr: float,
    noise: float = 1.0,
    chains: int = 1,
    burn_in: int = 0,
    checkpoints=None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Estimate <x'> under P(x'; x, gamma) with stochastic gradient Langevin dynamics.

    Runs ``chains`` independent chains from x' = x (for every entry of x at once)::

        x' <- x' - lr (f'(x') - gamma (x - x')) + sqrt(2 lr) noise N(0, 1)

    and averages x' over the chains and over the steps after ``burn_in``. With noise = 1 the chains
    sample exp(-f(x') - gamma/2 (x - x')^2), the distribution in F's definition (as lr -> 0).

    Args:
        grad_f: the derivative f'(x'), elementwise (e.g. ``TwoValleys().grad``).
        x: the anchor points (any shape).
        gamma: the scope, > 0.
        steps: Langevin steps per chain (> burn_in).
        lr: the step size, > 0 (below 2 / (largest curvature + gamma) for stability).
        noise: the thermal noise eps >= 0 (the chains sample at temperature eps^2).
        chains: independent chains per anchor.
        burn_in: initial steps left out of the average.
        checkpoints: optional increasing step counts (each in (burn_in, steps]) at which to also
            return the running estimate, to see how it converges with the number of steps.
        generator: for the noise.

    Returns:
        the estimate of <x'>, shaped like x; with ``checkpoints``, a tensor of shape
        (len(checkpoints), *x.shape) holding the estimate after each of those step counts.
    """
    _args.tensor("x", x, floating=True)
    gamma = _args.positive("gamma", gamma)
    steps = _args.positive_int("steps", steps)
    lr = _args.positive("lr", lr)
    noise = _args.real("noise", noise, low=0.0)
    chains = _args.positive_int("chains", chains)
    burn_in = _args.positive_int("burn_in", burn_in, allow_zero=True)
    if burn_in >= steps:
        raise ValueError(
            f"burn_in must be < steps, got burn_in={burn_in}, steps={steps}"
        )
    marks = [steps] if checkpoints is None else [int(c) for c in checkpoints]
    if (
        not marks
        or any(not burn_in < c <= steps for c in marks)
        or any(a >= b for a, b in zip(marks, marks[1:]))
    ):
        raise ValueError(
            f"checkpoints must increase and lie in ({burn_in}, {steps}], got"
            f" {checkpoints!r}"
        )
    # region: langevin
    anchor = x.reshape(1, -1)
    xp = anchor.repeat(chains, 1)
    total = torch.zeros_like(xp)
    estimates = []
    for k in range(1, steps + 1):
        xi = torch.randn(xp.shape, generator=generator, dtype=xp.dtype).to(
            xp.device
        )
        xp = sgld_step(
            xp, anchor.expand_as(xp), grad_f(xp), gamma, lr, noise, xi
        )
        if k > burn_in:
            total += xp
        if k in marks:
            estimates.append(
                (total.sum(0) / (chains * (k - burn_in))).reshape(x.shape)
            )
    # endregion
    return estimates[0] if checkpoints is None else torch.stack(estimates)


@torch.no_grad()
def perturbed_loss(
    loss: Callable[[], torch.Tensor],
    params,
    sigma: float,
    *,
    samples: int = 20,
    generator: torch.Generator | None = None,
) -> float:
    """The mean loss after random perturbations of the weights: E_{u ~ N(0, sigma^2 I)} f(x + u).

    A flat minimum keeps a low loss when its weights are shaken; a sharp one does not. The weights are
    restored afterwards.

    Args:
        loss: a function of no arguments returning the scalar loss at the current weights.
        params: the parameters to perturb (e.g. ``model.parameters()``).
        sigma: the standard deviation of the perturbation of every weight, >= 0.
        samples: how many perturbations to average.
        generator: a CPU ``torch.Generator`` for the perturbations.

    Returns:
        the average loss over the perturbations (a float).
    """
    if not callable(loss):
        raise TypeError(f"loss must be callable, got {type(loss).__name__}")
    params = [p for p in params]
    if not params or not all(isinstance(p, torch.Tensor) for p in params):
        raise ValueError("params must be a non-empty iterable of tensors")
    sigma = _args.real("sigma", sigma, low=0.0)
    samples = _args.positive_int("samples", samples)
    saved = [p.detach().clone() for p in params]
    total = 0.0
    try:
        for _ in range(samples):
            for p, p0 in zip(params, saved):
                u = torch.randn(p.shape, generator=generator, dtype=p.dtype).to(
                    p.device
                )
                p.copy_(p0 + sigma * u)
            total += float(loss())
    finally:
        for p, p0 in zip(params, saved):
            p.copy_(p0)
    return total / samples
