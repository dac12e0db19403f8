"""Generative adversarial nets (Goodfellow et al., 2014): the two-player game, its losses and its training loop.

A generator G maps noise z ~ p_z to samples G(z) with distribution p_g; a discriminator D(x) in (0, 1)
estimates the probability that x came from the data rather than from G. They play

    min_G max_D V(D, G) = E_{x ~ p_data}[log D(x)] + E_{z ~ p_z}[log(1 - D(G(z)))].

Discriminators here output a *logit* a(x), with D(x) = sigmoid(a(x)), so that log D = logsigmoid(a) and
log(1 - D) = logsigmoid(-a) are computed without overflow. The module holds:

* :func:`generator`, :func:`discriminator` (MLP builders);
* :func:`value`, :func:`discriminator_loss`, :func:`generator_loss` (minimax or non-saturating);
* :func:`train_step` (one iteration of Algorithm 1, with k discriminator steps) and :func:`train`;
* :func:`optimal_discriminator` D* = p_data / (p_data + p_g), :func:`jensen_shannon` and
  :func:`value_of_densities` to check the theory on densities known in closed form;
* toy data: :func:`mixture_1d`, :func:`ring_of_gaussians`, :func:`ring_centers`, and
  :func:`mode_coverage` to measure mode collapse;
* :func:`generator_criterion`, :func:`function_space_descent`: Proposition 2
  (p_g converges to p_data when updated in function space against D*).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import _args
from .nn import mlp
from .train import History, check_divergence

__all__ = [
    "generator",
    "discriminator",
    "value",
    "discriminator_loss",
    "generator_loss",
    "LOSSES",
    "train_step",
    "train",
    "generator_grad_norm",
    "bilinear_game",
    "optimal_discriminator",
    "jensen_shannon",
    "value_of_densities",
    "mixture_1d",
    "ring_centers",
    "ring_of_gaussians",
    "ModeCoverage",
    "mode_coverage",
]

LOSSES = ("minimax", "non_saturating")


# ------------------------------------------------------------------------------
# The two players
# ------------------------------------------------------------------------------


def _hidden(hidden) -> list[int]:
    hidden = [hidden] if isinstance(hidden, int) else list(hidden)
    for i, h in enumerate(hidden):
        _args.positive_int(f"hidden[{i}]", h)
    return hidden


def generator(
    noise_dim: int,
    data_dim: int,
    hidden: Sequence[int] = (32, 32),
    activation: str = "relu",
) -> nn.Sequential:
    """The generator G(z; theta_g): an MLP from noise (m, noise_dim) to samples (m, data_dim), linear output."""
    noise_dim = _args.positive_int("noise_dim", noise_dim)
    data_dim = _args.positive_int("data_dim", data_dim)
    return mlp([noise_dim, *_hidden(hidden), data_dim], activation)


def discriminator(
    data_dim: int, hidden: Sequence[int] = (32, 32), activation: str = "relu"
) -> nn.Sequential:
    """The discriminator as an MLP from samples (m, data_dim) to one logit a(x) each; D(x) = sigmoid(a(x))."""
    data_dim = _args.positive_int("data_dim", data_dim)
    return mlp([data_dim, *_hidden(hidden), 1], activation)


# ------------------------------------------------------------------------------
# The value function and the losses (all from logits)
# ------------------------------------------------------------------------------


def _logits(name: str, a: torch.Tensor) -> torch.Tensor:
    _args.tensor(name, a, floating=True)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a.squeeze(1)
    if a.ndim != 1 or len(a) == 0:
        raise ValueError(
            f"{name} must hold one logit per example, shape (m,) or (m, 1), got"
            f" {tuple(a.shape)}"
        )
    return a


def value(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Minibatch estimate of V(D, G) = E_data[log D(x)] + E_z[log(1 - D(G(z)))].

    Args:
        real_logits: a(x) on data samples, shape (m,) or (m, 1).
        fake_logits: a(G(z)) on generated samples, shape (m',) or (m', 1).

    Returns:
        a scalar tensor; its maximum over D is -log 4 + 2 JSD(p_data || p_g) (-log 4 when p_g = p_data).
    """
    real_logits = _logits("real_logits", real_logits)
    fake_logits = _logits("fake_logits", fake_logits)
    return (
        F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean()
    )  # log D, log(1 - D)


def discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor
) -> torch.Tensor:
    """-V(D, G): the discriminator ascends V by descending this (the binary cross-entropy, data = 1, fake = 0)."""
    return -value(real_logits, fake_logits)


def generator_loss(
    fake_logits: torch.Tensor, kind: str = "non_saturating"
) -> torch.Tensor:
    """The loss the generator descends.

    * ``"minimax"``: (1/m) sum_i log(1 - D(G(z_i))), the generator's part of V. Its gradient vanishes
      where D(G(z)) is near 0, i.e. early in training, when D rejects the samples with confidence.
    * ``"non_saturating"``: -(1/m) sum_i log D(G(z_i)). Same fixed point, strong gradients early.

    In logits a = a(G(z)): d/da log(1 - sigmoid(a)) = -sigmoid(a), d/da -log sigmoid(a) = -(1 - sigmoid(a)).

    Args:
        fake_logits: a(G(z)) on generated samples, shape (m,) or (m, 1).
        kind: ``"minimax"`` or ``"non_saturating"``.
    """
    fake_logits = _logits("fake_logits", fake_logits)
    _args.one_of("kind", kind, LOSSES)
    if kind == "minimax":
        return F.logsigmoid(-fake_logits).mean()
    return -F.logsigmoid(fake_logits).mean()


# ------------------------------------------------------------------------------
# Algorithm 1
# ------------------------------------------------------------------------------


def _descend(optimizer, loss: torch.Tensor) -> None:
    """One step of ``optimizer`` on ``loss``: zero grads, backward, update."""
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def train_step(
    G: nn.Module,
    D: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    sample_data: Callable[[int], torch.Tensor],
    sample_noise: Callable[[int], torch.Tensor],
    *,
    batch_size: int = 64,
    k: int = 1,
    loss: str = "non_saturating",
) -> dict:
    """One iteration of Algorithm 1 of Goodfellow et al. (2014): k discriminator steps, then one generator step.

        for k steps:
            sample z_1..z_m ~ p_z and x_1..x_m ~ p_data
            update D by ascending  (1/m) sum_i [log D(x_i) + log(1 - D(G(z_i)))]
        sample z_1..z_m ~ p_z
        update G by descending (1/m) sum_i log(1 - D(G(z_i)))   (or -log D(G(z_i)), non-saturating)

    Any optimizers work (the paper used momentum).

    Args:
        G, D: generator and discriminator (D returns logits).
        opt_g, opt_d: optimizers over G's and D's parameters.
        sample_data, sample_noise: ``f(m)`` returns m data samples / m noise vectors.
        batch_size: m.
        k: discriminator steps per generator step.
        loss: the generator loss, ``"minimax"`` or ``"non_saturating"``.

    Returns:
        ``{"d_loss", "g_loss", "d_real", "d_fake"}``: the last discriminator loss, the generator loss, and
        the mean of D on the last real and fake minibatches (detached tensors).
    """
    batch_size = _args.positive_int("batch_size", batch_size)
    k = _args.positive_int("k", k)
    _args.one_of("loss", loss, LOSSES)
    for _ in range(k):
        x = sample_data(batch_size)
        with torch.no_grad():
            fake = G(sample_noise(batch_size))  # G is held fixed while D learns
        real_logits, fake_logits = D(x), D(fake)
        d_loss = discriminator_loss(real_logits, fake_logits)
        _descend(opt_d, d_loss)
    g_loss = generator_loss(D(G(sample_noise(batch_size))), loss)
    _descend(opt_g, g_loss)  # also fills D's .grad, cleared by opt_d later
    return {
        "d_loss": d_loss.detach(),
        "g_loss": g_loss.detach(),
        "d_real": torch.sigmoid(real_logits.detach()).mean(),
        "d_fake": torch.sigmoid(fake_logits.detach()).mean(),
    }


def train(
    G: nn.Module,
    D: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    sample_data: Callable[[int], torch.Tensor],
    sample_noise: Callable[[int], torch.Tensor],
    *,
    steps: int,
    batch_size: int = 64,
    k: int = 1,
    loss: str = "non_saturating",
    record_every: int = 10,
    callback: Callable[[int, nn.Module, nn.Module], None] | None = None,
    callback_every: int = 100,
) -> History:
    """Run ``steps`` iterations of Algorithm 1 (see :func:`train_step`).

    Args:
        steps: generator steps (each preceded by k discriminator steps).
        record_every: record the losses and D's mean outputs every this many steps.
        callback: optional ``callback(step, G, D)`` called at step 0 and every ``callback_every`` steps
            (for snapshots of the samples); it runs under ``torch.no_grad()``.
        other arguments: as in :func:`train_step`.

    Returns:
        a :class:`coursekit.train.History` whose ``steps`` table has columns step, d_loss, g_loss, d_real, d_fake.

    Raises:
        coursekit.train.DivergenceError: when a loss becomes NaN or infinite.
    """
    # Not coursekit.train.fit: two models and two optimizers take turns (k steps
    # of D, one of G) on
    # fresh samples from two distributions, with no dataset to iterate over; the
    # divergence policy is fit's.
    steps = _args.positive_int("steps", steps)
    record_every = _args.positive_int("record_every", record_every)
    callback_every = _args.positive_int("callback_every", callback_every)
    history = History()
    if callback is not None:
        with torch.no_grad():
            callback(0, G, D)
    for step in range(1, steps + 1):
        out = train_step(
            G,
            D,
            opt_g,
            opt_d,
            sample_data,
            sample_noise,
            batch_size=batch_size,
            k=k,
            loss=loss,
        )
        if step % record_every == 0 or step == steps:
            row = {key: float(v) for key, v in out.items()}
            history.steps.append(step=step, **row)
            check_divergence(
                row["d_loss"] + row["g_loss"],
                history,
                where=(
                    f"GAN step {step} (d_loss {row['d_loss']}, g_loss"
                    f" {row['g_loss']})"
                ),
            )
        if callback is not None and step % callback_every == 0:
            with torch.no_grad():
                callback(step, G, D)
    return history


def generator_grad_norm(
    G: nn.Module, D: nn.Module, z: torch.Tensor, kind: str
) -> float:
    """||grad_{theta_g} generator_loss(D(G(z)), kind)||: how hard the generator is pushed, for one loss.

    Gradients are computed with ``torch.autograd.grad``, so no ``.grad`` field is touched.
    """
    _args.tensor("z", z, ndim=2, floating=True)
    _args.one_of("kind", kind, LOSSES)
    params = [p for p in G.parameters() if p.requires_grad]
    grads = torch.autograd.grad(generator_loss(D(G(z)), kind), params)
    return float(torch.sqrt(sum(g.pow(2).sum() for g in grads)))


def bilinear_game(
    steps: int,
    lr: float,
    momentum: float = 0.0,
    *,
    start: tuple[float, float] = (1.0, 1.0),
    alternating: bool = True,
) -> torch.Tensor:
    """Gradient descent-ascent with heavy-ball momentum on the simplest game, min_x max_y f(x, y) = x y.

    The only equilibrium is (0, 0). The players update in turn (as in Algorithm 1) or simultaneously,
    with step eta = ``lr`` and momentum mu = ``momentum``:

        v_x <- mu v_x + d f / d x = mu v_x + y,     x <- x - eta v_x
        v_y <- mu v_y + d f / d y = mu v_y + x,     y <- y + eta v_y   (x already updated when alternating)

    The gradient field (y, -x) rotates around the equilibrium instead of pointing at it; with
    alternating steps and mu = 0 the iterates circle at a bounded distance, while positive momentum
    makes them spiral outward (Gidel et al., 2019).

    Returns:
        the trajectory, a float64 tensor of shape (steps + 1, 2).
    """
    steps, lr = _args.positive_int("steps", steps), _args.positive("lr", lr)
    momentum = _args.real(
        "momentum", momentum, low=-1.0, high=1.0, low_open=True, high_open=True
    )
    x, y = (float(v) for v in start)
    vx = vy = 0.0
    path = [(x, y)]
    for _ in range(steps):
        x_old = x
        vx = momentum * vx + y
        x = x - lr * vx  # the minimizing player descends
        vy = momentum * vy + (x if alternating else x_old)
        y = y + lr * vy  # the maximizing player ascends
        path.append((x, y))
    return torch.tensor(path, dtype=torch.float64)


# ------------------------------------------------------------------------------
# Theory on known densities
# ------------------------------------------------------------------------------


def _check_densities(p_data, p_g) -> None:
    _args.tensor("p_data", p_data, floating=True)
    _args.tensor("p_g", p_g, floating=True)
    if p_data.shape != p_g.shape:
        raise ValueError(
            "p_data and p_g must have the same shape, got"
            f" {tuple(p_data.shape)} and {tuple(p_g.shape)}"
        )
    if bool((p_data < 0).any()) or bool((p_g < 0).any()):
        raise ValueError("p_data and p_g must be densities (non-negative)")


def optimal_discriminator(
    p_data: torch.Tensor, p_g: torch.Tensor
) -> torch.Tensor:
    """The best discriminator for a fixed generator (Proposition 1): D*(x) = p_data(x) / (p_data(x) + p_g(x)).

    Pointwise, y -> p_data log y + p_g log(1 - y) is maximized on (0, 1) at y = p_data / (p_data + p_g).

    Args:
        p_data, p_g: the two densities evaluated at the same points (same shape, non-negative).

    Returns:
        D* at those points; 1/2 where both densities vanish (any value is optimal there).
    """
    _check_densities(p_data, p_g)
    total = p_data + p_g
    return torch.where(
        total > 0,
        p_data / torch.where(total > 0, total, torch.ones_like(total)),
        torch.full_like(total, 0.5),
    )


def _trapezoid_check(p: torch.Tensor, q: torch.Tensor, x: torch.Tensor) -> None:
    _args.tensor("p", p, ndim=1, floating=True)
    _args.tensor("q", q, ndim=1, floating=True)
    _args.tensor("x", x, ndim=1, floating=True)
    if not (len(p) == len(q) == len(x)) or len(x) < 2:
        raise ValueError(
            f"p, q and x must be 1-D of the same length >= 2, got {len(p)},"
            f" {len(q)}, {len(x)}"
        )
    if bool((x[1:] <= x[:-1]).any()):
        raise ValueError("x must be increasing")


def _xlogy(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(
        a > 0,
        a * torch.log(torch.where(a > 0, b, torch.ones_like(b))),
        torch.zeros_like(a),
    )


def jensen_shannon(p: torch.Tensor, q: torch.Tensor, x: torch.Tensor) -> float:
    """JSD(p || q) = KL(p || m)/2 + KL(q || m)/2, m = (p + q)/2, for 1-D densities on a grid (trapezoid rule).

    Args:
        p, q: density values at the grid points x (increasing); both should integrate to about 1.

    Returns:
        the divergence in nats, between 0 (p = q) and log 2 (disjoint supports).
    """
    _trapezoid_check(p, q, x)
    m = (p + q) / 2
    integrand = 0.5 * (_xlogy(p, p) - _xlogy(p, m)) + 0.5 * (
        _xlogy(q, q) - _xlogy(q, m)
    )
    return float(torch.trapezoid(integrand, x))


def value_of_densities(
    p_data: torch.Tensor, p_g: torch.Tensor, d: torch.Tensor, x: torch.Tensor
) -> float:
    """V(D, G) = integral of p_data log D + p_g log(1 - D) dx, for 1-D densities and a discriminator on a grid.

    With d = D* this is C(G) = -log 4 + 2 JSD(p_data || p_g) (the proof of Theorem 1 of Goodfellow et al., 2014).
    d is clamped to [eps, 1 - eps] (eps of its dtype): in the far tails D* rounds to exactly 0 or 1 where
    the other density is tiny but positive, and log 0 would turn a negligible term into -inf.
    """
    _trapezoid_check(p_data, p_g, x)
    _args.tensor("d", d, ndim=1, floating=True)
    if len(d) != len(x):
        raise ValueError(
            f"d must have one value per grid point ({len(x)}), got {len(d)}"
        )
    eps = torch.finfo(d.dtype).eps
    d = d.clamp(eps, 1 - eps)
    return float(torch.trapezoid(_xlogy(p_data, d) + _xlogy(p_g, 1 - d), x))


# ------------------------------------------------------------------------------
# Toy data and mode coverage
# ------------------------------------------------------------------------------


def mixture_1d(
    means: Sequence[float],
    stds: Sequence[float],
    weights: Sequence[float] | None = None,
    *,
    dtype=torch.float64,
) -> torch.distributions.MixtureSameFamily:
    """A 1-D Gaussian mixture sum_c w_c N(mu_c, s_c^2) as a ``torch.distributions`` object (``sample``,
    ``log_prob``); its density is ``log_prob(x).exp()``."""
    means = torch.as_tensor(list(means), dtype=dtype)
    stds = torch.as_tensor(list(stds), dtype=dtype)
    if means.ndim != 1 or len(means) == 0 or means.shape != stds.shape:
        raise ValueError(
            "means and stds must be non-empty lists of the same length, got"
            f" {len(means)} and {len(stds)}"
        )
    if bool((stds <= 0).any()):
        raise ValueError(f"stds must be positive, got {stds.tolist()}")
    w = (
        torch.ones_like(means)
        if weights is None
        else torch.as_tensor(list(weights), dtype=dtype)
    )
    if w.shape != means.shape or bool((w < 0).any()) or float(w.sum()) <= 0:
        raise ValueError(
            "weights must be non-negative, one per component, not all zero,"
            f" got {w.tolist()}"
        )
    return torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(probs=w / w.sum()),
        torch.distributions.Normal(means, stds),
    )


def ring_centers(
    modes: int = 8, radius: float = 2.0, *, device=None, dtype=torch.float32
) -> torch.Tensor:
    """The means of :func:`ring_of_gaussians`: ``modes`` points equally spaced on a circle, shape (modes, 2)."""
    modes = _args.positive_int("modes", modes)
    radius = _args.positive("radius", radius)
    angle = (
        2 * math.pi * torch.arange(modes, device=device, dtype=dtype) / modes
    )
    return radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)


def ring_of_gaussians(
    n: int,
    *,
    modes: int = 8,
    radius: float = 2.0,
    std: float = 0.05,
    generator: torch.Generator | None = None,
    device=None,
    dtype=torch.float32,
) -> torch.Tensor:
    """n samples of an equal-weight mixture of ``modes`` isotropic Gaussians (std ``std``) on a circle.

    The standard test of mode collapse (Metz et al., 2017): each component is easy, covering all is not.
    Samples are drawn on ``generator``'s device (CPU by default) and moved to ``device``.
    """
    n = _args.positive_int("n", n)
    std = _args.positive("std", std)
    gen_device = generator.device if generator is not None else device
    centers = ring_centers(modes, radius, device=gen_device, dtype=dtype)
    which = torch.randint(modes, (n,), generator=generator, device=gen_device)
    x = centers[which] + std * torch.randn(
        n, 2, generator=generator, device=gen_device, dtype=dtype
    )
    return x.to(device) if device is not None else x


@dataclass
class ModeCoverage:
    """Result of :func:`mode_coverage`."""

    # modes that received at least their minimum share of the good samples
    covered: int
    high_quality: float  # fraction of samples within the radius of some mode
    counts: torch.Tensor  # good samples per mode


def _check_mode_coverage(samples, centers, std, radius, min_fraction):
    """The checks of :func:`mode_coverage`; returns std, radius and min_fraction."""
    _args.tensor("samples", samples, ndim=2, floating=True)
    _args.tensor("centers", centers, ndim=2, floating=True)
    if samples.shape[1] != centers.shape[1]:
        raise ValueError(
            "samples and centers must have the same dimension, got"
            f" {samples.shape[1]} and {centers.shape[1]}"
        )
    return (
        _args.positive("std", std),
        _args.positive("radius", radius),
        _args.real(
            "min_fraction", min_fraction, low=0.0, high=1.0, low_open=True
        ),
    )


def mode_coverage(
    samples: torch.Tensor,
    centers: torch.Tensor,
    std: float,
    *,
    radius: float = 3.0,
    min_fraction: float = 0.25,
) -> ModeCoverage:
    """How many modes of a mixture the samples cover.

    A sample is *high quality* when it lies within ``radius`` standard deviations of its nearest mode
    center; a mode is *covered* when at least ``min_fraction`` of its fair share, n / modes, of the
    samples land near it. A generator that collapsed onto a few modes has a high quality score and a
    low coverage.

    Args:
        samples: (n, dim) generated samples; centers: (modes, dim) mode means; std: the modes' std.
        radius: the "near a mode" radius, in standard deviations.
        min_fraction: share of n / modes a mode needs to count as covered.
    """
    std, radius, min_fraction = _check_mode_coverage(
        samples, centers, std, radius, min_fraction
    )
    distances = torch.cdist(
        samples.detach(), centers.to(samples.device, samples.dtype)
    )
    nearest_distance, nearest = distances.min(dim=1)
    good = nearest_distance <= radius * std
    counts = torch.bincount(nearest[good], minlength=len(centers)).cpu()
    covered = int((counts >= min_fraction * len(samples) / len(centers)).sum())
    return ModeCoverage(
        covered=covered, high_quality=float(good.float().mean()), counts=counts
    )


# ------------------------------------------------------------------------------
# Proposition 2: convergence of p_g in function space, on a finite set
# ------------------------------------------------------------------------------


def _distribution(name: str, p: torch.Tensor) -> torch.Tensor:
    _args.tensor(name, p, ndim=1, floating=True)
    if bool((p < 0).any()) or abs(float(p.sum()) - 1) > 1e-6:
        raise ValueError(
            f"{name} must be a probability vector (non-negative, summing to 1)"
        )
    return p


def generator_criterion(p_data: torch.Tensor, p_g: torch.Tensor) -> float:
    """C(G) = max_D V(D, G) for two distributions on a finite set of points.

        C(G) = sum_x p_data(x) log D*(x) + p_g(x) log(1 - D*(x))
             = -log 4 + 2 JSD(p_data || p_g),   D* = p_data / (p_data + p_g)

    (Theorem 1 of Goodfellow et al., 2014). Terms with a zero weight are 0.

    Args:
        p_data, p_g: probability vectors of the same length.
    """
    _distribution("p_data", p_data)
    _distribution("p_g", p_g)
    _args.same_length(("p_data", "p_g"), p_data, p_g)
    total = (p_data + p_g).clamp_min(torch.finfo(p_data.dtype).tiny)
    return float(
        (_xlogy(p_data, p_data / total) + _xlogy(p_g, p_g / total)).sum()
    )


@dataclass
class FunctionSpaceRun:
    """Result of :func:`function_space_descent`."""

    p_g: torch.Tensor  # the generator's distribution after the last step
    criterion: (
        torch.Tensor
    )  # C(G) before the first step and after each (steps + 1)


def function_space_descent(
    p_data: torch.Tensor, p_g: torch.Tensor, lr: float, steps: int
) -> FunctionSpaceRun:
    """Proposition 2 of Goodfellow et al. (2014) on a finite set: steps on p_g itself.

    At every step the discriminator is the optimal one, D* = p_data / (p_data + p_g),
    and the generator's distribution takes a step on

        U(p_g, D) = sum_x p_data(x) log D(x) + p_g(x) log(1 - D(x)),

    whose gradient in p_g at D = D* is g(x) = log(1 - D*(x)); by Danskin's theorem it
    is also the gradient of the convex C(G) = max_D U. The step is a mirror-descent
    (exponentiated-gradient) step, which keeps p_g a probability vector:

        p_g(x) <- p_g(x) exp(-lr g(x)) / sum_x' p_g(x') exp(-lr g(x')).

    Args:
        p_data: the data distribution, a probability vector.
        p_g: the starting distribution, strictly positive everywhere (a
            multiplicative step never creates mass where there is none).
        lr: the step size, > 0 (lr = 1 gives p_g <- (p_g + p_data) / 2).
        steps: the number of steps, >= 0.
    """
    _distribution("p_data", p_data)
    _distribution("p_g", p_g)
    _args.same_length(("p_data", "p_g"), p_data, p_g)
    if not bool((p_g > 0).all()):
        raise ValueError("p_g must be strictly positive everywhere")
    lr = _args.positive("lr", lr)
    steps = _args.positive_int("steps", steps, allow_zero=True)
    criterion = [generator_criterion(p_data, p_g)]
    for _ in range(steps):
        d_star = optimal_discriminator(p_data, p_g)
        g = torch.log1p(-d_star)  # dU/dp_g at D = D*
        p_g = p_g * torch.exp(-lr * (g - g.max()))  # shifted: no overflow
        p_g = p_g / p_g.sum()
        criterion.append(generator_criterion(p_data, p_g))
    return FunctionSpaceRun(
        p_g=p_g, criterion=torch.tensor(criterion, dtype=torch.float64)
    )
