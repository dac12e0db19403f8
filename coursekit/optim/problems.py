"""Small problems whose answers are known in closed form, for checking what an optimizer does."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .. import _args
from .averaging import PolyakAverage

__all__ = ["NoisyQuadratic", "QuadraticRun", "trajectories"]


def trajectories(
    optimizer_class: type, f, x0, steps: int, settings: list[dict]
) -> torch.Tensor:
    """Paths of one optimizer class on a 2-D landscape under several hyperparameter settings at once.

    Each setting becomes one param group (holding its own copy of the point) of a single optimizer,
    so one ``optimizer.step()`` advances every path: the batched version of
    ``coursekit.landscapes.trajectory``, for sweeps over learning rates and momenta. Gradients come
    from the landscape's exact ``f.grad`` when it has one (else from autograd on ``f``).

    Args:
        optimizer_class: a ``torch.optim.Optimizer`` subclass.
        f: a landscape (a callable on points of shape (..., d)).
        x0: the common starting point (d numbers).
        steps: number of steps (>= 0).
        settings: one dict of hyperparameters per path, e.g. ``[{"lr": 0.1}, {"lr": 0.1, "momentum": 0.9}]``.

    Returns:
        a float64 tensor of shape (len(settings), steps + 1, d); diverging paths hold inf/NaN.
    """
    if not (
        isinstance(optimizer_class, type)
        and issubclass(optimizer_class, torch.optim.Optimizer)
    ):
        raise TypeError(
            "optimizer_class must be a torch.optim.Optimizer subclass, got"
            f" {optimizer_class!r}"
        )
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    steps = _args.positive_int("steps", steps, allow_zero=True)
    if (
        not isinstance(settings, (list, tuple))
        or not settings
        or not all(isinstance(s, dict) for s in settings)
    ):
        raise ValueError(
            "settings must be a non-empty list of dicts of hyperparameters"
        )
    start = torch.as_tensor(x0, dtype=torch.float64).flatten()
    points = [start.clone().requires_grad_(True) for _ in settings]
    optimizer = optimizer_class(
        [{"params": [p], **s} for p, s in zip(points, settings)]
    )
    exact_grad = getattr(f, "grad", None)
    paths = torch.empty(
        len(settings), steps + 1, start.numel(), dtype=torch.float64
    )
    paths[:, 0] = start
    for k in range(steps):
        here = torch.stack([p.detach() for p in points])
        if exact_grad is not None:
            grads = exact_grad(here)
        else:
            here.requires_grad_(True)
            grads = torch.autograd.grad(f(here).sum(), here)[0]
        for p, g in zip(points, grads):
            p.grad = g.clone()
        optimizer.step()
        paths[:, k + 1] = torch.stack([p.detach() for p in points])
    return paths


@dataclass
class QuadraticRun:
    """What :meth:`NoisyQuadratic.run` records, one entry per step k = 0..steps (means over the runs).

    Attributes:
        loss: E[J(θ_k)], shape (steps + 1,).
        lr: the learning rate used for step k + 1 (of the first param group), shape (steps + 1,).
        averaged_loss: E[J(θ̂_k)] of the Polyak average, when one was requested (else ``None``).
        theta: the final iterates, shape (runs, d).
    """

    loss: torch.Tensor
    lr: torch.Tensor
    theta: torch.Tensor
    averaged_loss: torch.Tensor | None = field(default=None)


class NoisyQuadratic:
    r"""The quadratic J(θ) = ½ Σ_i λ_i θ_i² seen through noisy gradients ĝ = H θ + σ ξ, ξ ~ N(0, I).

    It is the simplest model of minibatch SGD near a minimum: the gradient noise does not vanish
    at the minimum, so a constant step leaves the iterate jittering at a noise floor
    (:func:`coursekit.optim.theory.sgd_noise_floor`). :meth:`run` simulates many independent
    runs at once (one row of a parameter tensor per run) and averages their losses.

    Args:
        curvatures: the Hessian's eigenvalues λ_i > 0 (the problem is diagonal; d = their number).
        sigma: σ >= 0, the standard deviation of the gradient noise per coordinate.
    """

    def __init__(self, curvatures, sigma: float = 1.0):
        h = torch.as_tensor(curvatures, dtype=torch.float64).flatten()
        if h.numel() == 0 or not torch.isfinite(h).all() or (h <= 0).any():
            raise ValueError(
                "curvatures must be positive finite numbers, got"
                f" {curvatures!r}"
            )
        self.h = h
        self.sigma = _args.real("sigma", sigma, low=0.0)

    @property
    def dim(self) -> int:
        return self.h.numel()

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        """J(θ) for each row of ``theta`` (shape (..., d)) -> shape (...)."""
        _args.tensor("theta", theta, floating=True)
        if theta.shape[-1] != self.dim:
            raise ValueError(
                f"theta must have shape (..., {self.dim}), got"
                f" {tuple(theta.shape)}"
            )
        return 0.5 * (self.h.to(theta) * theta**2).sum(-1)

    def run(
        self,
        make_optimizer,
        steps: int,
        *,
        start=3.0,
        runs: int = 1000,
        seed: int = 0,
        scheduler=None,
        average: str | None = None,
        alpha: float = 0.99,
        device=None,
    ) -> QuadraticRun:
        """Run ``runs`` independent copies of an optimizer for ``steps`` noisy steps.

        Args:
            make_optimizer: ``params -> optimizer``, e.g. ``lambda p: coursekit.optim.SGD(p, lr=0.1)``.
            steps: number of steps (>= 1).
            start: the starting value of every coordinate (a number), or a (d,) tensor.
            runs: number of independent runs (rows), averaged in the records.
            seed: seed of the noise, so two calls give the same numbers.
            scheduler: optional ``optimizer -> lr scheduler``, stepped after every step.
            average: also track a Polyak average, ``"mean"`` or ``"ema"`` (with ``alpha``).
            device: where to compute (default CPU).

        Returns:
            a :class:`QuadraticRun`.
        """
        steps = _args.positive_int("steps", steps)
        runs = _args.positive_int("runs", runs)
        seed = _args.positive_int("seed", seed, allow_zero=True)
        if average is not None:
            _args.one_of("average", average, {"mean", "ema"})
        h = self.h.to(device)
        theta = torch.empty(runs, self.dim, dtype=torch.float64, device=device)
        theta[:] = torch.as_tensor(start, dtype=torch.float64)
        theta.requires_grad_(True)
        opt = make_optimizer([theta])
        if not isinstance(opt, torch.optim.Optimizer):
            raise TypeError(
                "make_optimizer must return a torch.optim.Optimizer, got"
                f" {type(opt).__name__}"
            )
        sched = scheduler(opt) if scheduler is not None else None
        avg = (
            PolyakAverage([theta], mode=average, alpha=alpha)
            if average is not None
            else None
        )
        g = torch.Generator().manual_seed(seed)
        loss = torch.empty(steps + 1, dtype=torch.float64)
        lr = torch.empty(steps + 1, dtype=torch.float64)
        averaged = (
            torch.full((steps + 1,), float("nan"), dtype=torch.float64)
            if avg is not None
            else None
        )
        weights = (0.5 * h / runs).expand(runs, self.dim).flatten()
        mean_loss = (
            lambda t: t.detach().square().flatten().dot(weights)
        )  # noqa: E731 - E[J] over the runs
        # draw the noise in blocks: one call per block instead of one per step
        chunk = 256
        for k in range(steps + 1):
            loss[k] = mean_loss(theta)
            if avg is not None and avg.num_averaged > 0:
                averaged[k] = mean_loss(avg.averaged[0])
            lr[k] = opt.param_groups[0]["lr"]
            if k == steps:
                break
            if k % chunk == 0:
                noise = torch.randn(
                    min(chunk, steps - k),
                    runs,
                    self.dim,
                    generator=g,
                    dtype=torch.float64,
                )
                noise = (self.sigma * noise).to(device)
            theta.grad = h * theta.detach() + noise[k % chunk]  # ĝ = Hθ + σξ
            opt.step()
            if avg is not None:
                avg.update()
            if sched is not None:
                sched.step()
        return QuadraticRun(
            loss=loss, lr=lr, theta=theta.detach(), averaged_loss=averaged
        )
