"""Test functions for optimizers (mostly 2-D), and the path of any optimizer on them.

Every landscape is a torch callable: ``f(xy)`` maps a tensor of points of shape (..., d) to
values of shape (...), so the same object draws a contour plot on a grid, is minimized by any
``torch.optim.Optimizer`` through autograd, and evaluates on a batch of points at once. Each
also has its exact gradient ``f.grad(xy)`` (shape (..., d)) and Hessian ``f.hessian(xy)``
(shape (..., d, d)) in closed form, for checking autograd and for Newton's method.

    f = eps_quadratic(0.1)
    path = trajectory(torch.optim.SGD, f, x0=(1.0, 1.0), steps=50, lr=0.9)   # (51, 2)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from . import _args

__all__ = [
    "Landscape",
    "Quadratic",
    "quadratic",
    "eps_quadratic",
    "rotated_quadratic",
    "rosenbrock",
    "saddle",
    "double_well",
    "cliff",
    "plateau",
    "RandomField",
    "random_field",
    "trajectory",
    "newton_trajectory",
    "newton_critical_points",
]


class Landscape:
    """A function f: R^d -> R on batches of points, with its exact gradient and Hessian.

    Subclasses implement ``value``, ``grad`` and ``hessian`` on a float tensor of shape (..., d).
    Calling the object checks the input and returns ``value(xy)``.

    Attributes:
        dim: the number of coordinates d (2 for the plane).
        minimum: a global minimizer as a tuple, or ``None`` when there is none (unbounded below).
        xlim, ylim: a box that shows the interesting part (for contour plots of 2-D landscapes).
    """

    dim: int = 2
    minimum: tuple | None = None
    xlim: tuple = (-2.0, 2.0)
    ylim: tuple = (-2.0, 2.0)
    name: str = "landscape"

    def __call__(self, xy: torch.Tensor) -> torch.Tensor:
        return self.value(self._check(xy))

    def value(self, xy: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def grad(self, xy: torch.Tensor) -> torch.Tensor:
        """The exact gradient, shape (..., d)."""
        raise NotImplementedError

    def hessian(self, xy: torch.Tensor) -> torch.Tensor:
        """The exact Hessian, shape (..., d, d)."""
        raise NotImplementedError

    def _check(self, xy) -> torch.Tensor:
        if not isinstance(xy, torch.Tensor):
            raise TypeError(
                f"xy must be a torch.Tensor of shape (..., {self.dim}), got"
                f" {type(xy).__name__}"
            )
        if xy.ndim == 0 or xy.shape[-1] != self.dim:
            raise ValueError(
                f"xy must have shape (..., {self.dim}), got {tuple(xy.shape)}"
            )
        if not xy.is_floating_point():
            raise TypeError(f"xy must have a floating dtype, got {xy.dtype}")
        return xy

    def __repr__(self) -> str:
        return self.name


def _stack2(
    a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, d: torch.Tensor
) -> torch.Tensor:
    """The 2x2 matrices [[a, b], [c, d]] as a tensor of shape (..., 2, 2)."""
    return torch.stack([torch.stack([a, b], -1), torch.stack([c, d], -1)], -2)


# ------------------------------------------------------------------------------
# Quadratics: the model of every smooth function near a minimum
# ------------------------------------------------------------------------------
class Quadratic(Landscape):
    """f(x) = 1/2 (x - c)' A (x - c) with A symmetric: gradient A (x - c), Hessian A everywhere.

    Attributes:
        A: the (d, d) matrix (float64), c: the centre (d,).
        eigenvalues: the eigenvalues of A in ascending order (the curvatures along its eigenvectors).
        condition_number: lambda_max / lambda_min (``inf`` when A is singular or indefinite).
        best_lr, best_rate: the best fixed gradient-descent step 2 / (lambda_min + lambda_max) and its
            rate (kappa - 1) / (kappa + 1); ``gd_rate(lr)`` is the rate of any step.
    """

    def __init__(
        self, A: torch.Tensor, center=None, *, name: str = "quadratic"
    ):
        if not isinstance(A, torch.Tensor):
            try:
                A = torch.tensor(A, dtype=torch.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    "A must be a square matrix (tensor or nested list), got"
                    f" {A!r}"
                ) from exc
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise ValueError(f"A must be square, got shape {tuple(A.shape)}")
        A = A.detach().to(torch.float64).cpu()
        if not torch.allclose(
            A, A.T, atol=1e-12 * max(1.0, float(A.abs().max()))
        ):
            raise ValueError(
                "A must be symmetric (the Hessian of a quadratic is symmetric)"
            )
        if not torch.isfinite(A).all():
            raise ValueError("A must contain only finite numbers")
        self.A = (A + A.T) / 2
        self.dim = A.shape[0]
        c = (
            torch.zeros(self.dim, dtype=torch.float64)
            if center is None
            else torch.as_tensor(center, dtype=torch.float64)
        )
        if c.shape != (self.dim,) or not torch.isfinite(c).all():
            raise ValueError(
                f"center must be {self.dim} finite numbers, got {center!r}"
            )
        self.c = c
        self.eigenvalues = torch.linalg.eigvalsh(self.A)
        lo, hi = float(self.eigenvalues[0]), float(self.eigenvalues[-1])
        self.condition_number = hi / lo if lo > 0 else math.inf
        self.minimum = tuple(c.tolist()) if lo > 0 else None
        self.name = name
        cx, cy = (float(c[0]), float(c[1])) if self.dim == 2 else (0.0, 0.0)
        self.xlim, self.ylim = (cx - 2.0, cx + 2.0), (cy - 2.0, cy + 2.0)

    def gd_rate(self, lr: float) -> float:
        """The factor by which gradient descent with step ``lr`` shrinks the error per step, in the worst direction.

        In the eigenbasis of A each coordinate of x - c is multiplied by (1 - lr lambda_i), so the rate is
        rho(lr) = max_i |1 - lr lambda_i|; it converges from every start iff rho < 1, i.e. 0 < lr < 2 / lambda_max.
        """
        lr = _args.positive("lr", lr)
        return float((1 - lr * self.eigenvalues).abs().max())

    @property
    def best_lr(self) -> float:
        """The fixed step minimizing gd_rate: lr* = 2 / (lambda_min + lambda_max) (A positive definite)."""
        lo, hi = float(self.eigenvalues[0]), float(self.eigenvalues[-1])
        if lo <= 0:
            raise ValueError(
                "best_lr needs a positive definite A (gradient descent has no"
                " minimum to go to)"
            )
        return 2.0 / (lo + hi)

    @property
    def best_rate(self) -> float:
        """The rate at the best fixed step: (kappa - 1) / (kappa + 1), kappa the condition number."""
        kappa = self.condition_number
        if math.isinf(kappa):
            raise ValueError("best_rate needs a positive definite A")
        return (kappa - 1.0) / (kappa + 1.0)

    def _params(self, xy):
        return self.A.to(device=xy.device, dtype=xy.dtype), self.c.to(
            device=xy.device, dtype=xy.dtype
        )

    def value(self, xy):
        A, c = self._params(xy)
        z = xy - c
        return 0.5 * ((z @ A) * z).sum(-1)  # 1/2 z'Az, A symmetric

    def grad(self, xy):
        A, c = self._params(self._check(xy))
        return (xy - c) @ A

    def hessian(self, xy):
        A, _ = self._params(self._check(xy))
        return A.expand(*xy.shape[:-1], self.dim, self.dim)


def quadratic(A, center=None) -> Quadratic:
    """The quadratic f(x) = 1/2 (x - c)' A (x - c) for a symmetric matrix ``A`` (any dimension).

    Args:
        A: symmetric (d, d) matrix (tensor or nested list); its eigenvalues are the curvatures.
        center: the point c (defaults to the origin); the minimizer when A is positive definite.
    """
    return Quadratic(A, center)


def eps_quadratic(eps: float = 0.1) -> Quadratic:
    """The ill-conditioned quadratic f(x, y) = (eps x^2 + y^2) / 2.

    Gradient (eps x, y), Hessian diag(eps, 1), condition number 1/eps for 0 < eps <= 1.
    Gradient descent with step eta multiplies x by (1 - eps eta) and y by (1 - eta) at every step.

    Args:
        eps: the curvature along x (> 0; small eps = a long, flat valley along x).
    """
    eps = _args.positive("eps", eps)
    q = Quadratic(
        torch.diag(torch.tensor([eps, 1.0], dtype=torch.float64)),
        name=f"eps_quadratic(eps={eps:g})",
    )
    q.eps = eps
    return q


def rotated_quadratic(
    eps: float = 0.1, angle: float = math.pi / 4, center=(0.0, 0.0)
) -> Quadratic:
    """The eps-quadratic turned by ``angle``: f(p) = 1/2 (p - c)' R diag(eps, 1) R' (p - c).

    R is the rotation by ``angle`` (radians), so the flat direction (curvature eps) is the unit vector
    (cos angle, sin angle) and the steep one (curvature 1) is perpendicular to it. The valley no
    longer lines up with the axes, which is what real loss surfaces look like.

    Args:
        eps: the smaller curvature (> 0); the condition number is max(eps, 1) / min(eps, 1).
        angle: rotation of the flat direction from the x axis, in radians.
        center: the minimizer c.
    """
    eps = _args.positive("eps", eps)
    angle = _args.real("angle", angle)
    cos, sin = math.cos(angle), math.sin(angle)
    R = torch.tensor([[cos, -sin], [sin, cos]], dtype=torch.float64)
    A = R @ torch.diag(torch.tensor([eps, 1.0], dtype=torch.float64)) @ R.T
    q = Quadratic(
        A, center, name=f"rotated_quadratic(eps={eps:g}, angle={angle:.3g})"
    )
    q.eps, q.angle = eps, angle
    return q


# ------------------------------------------------------------------------------
# Non-convex landscapes
# ------------------------------------------------------------------------------
class Rosenbrock(Landscape):
    """f(x, y) = (a - x)^2 + b (y - x^2)^2: a curved, narrow valley with its minimum at (a, a^2)."""

    def __init__(self, a: float = 1.0, b: float = 100.0):
        self.a = _args.real("a", a)
        self.b = _args.positive("b", b)
        self.minimum = (self.a, self.a**2)
        self.xlim, self.ylim = (-2.0, 2.0), (-1.0, 3.0)
        self.name = f"rosenbrock(a={self.a:g}, b={self.b:g})"

    def value(self, xy):
        x, y = xy[..., 0], xy[..., 1]
        return (self.a - x) ** 2 + self.b * (y - x**2) ** 2

    def grad(self, xy):
        x, y = self._check(xy)[..., 0], xy[..., 1]
        r = y - x**2
        return torch.stack(
            [-2 * (self.a - x) - 4 * self.b * x * r, 2 * self.b * r], -1
        )

    def hessian(self, xy):
        x, y = self._check(xy)[..., 0], xy[..., 1]
        off = -4 * self.b * x
        return _stack2(
            2 - 4 * self.b * y + 12 * self.b * x**2,
            off,
            off,
            torch.full_like(x, 2 * self.b),
        )


def rosenbrock(a: float = 1.0, b: float = 100.0) -> Rosenbrock:
    """Rosenbrock's banana function f(x, y) = (a - x)^2 + b (y - x^2)^2, minimum 0 at (a, a^2).

    Its Hessian at the minimum is [[2 + 8 b a^2, -4 b a], [-4 b a, 2 b]]: for (a, b) = (1, 100) the
    condition number is about 2508, and the valley bends, so no single rotation straightens it.
    """
    return Rosenbrock(a, b)


class Saddle(Landscape):
    """f(x, y) = x^2 - y^2: a minimum along x, a maximum along y, a saddle point at the origin."""

    minimum = None
    name = "saddle()"

    def value(self, xy):
        return xy[..., 0] ** 2 - xy[..., 1] ** 2

    def grad(self, xy):
        return torch.stack([2 * self._check(xy)[..., 0], -2 * xy[..., 1]], -1)

    def hessian(self, xy):
        H = torch.diag(
            torch.tensor(
                [2.0, -2.0], dtype=self._check(xy).dtype, device=xy.device
            )
        )
        return H.expand(*xy.shape[:-1], 2, 2)


def saddle() -> Saddle:
    """The saddle f(x, y) = x^2 - y^2: gradient (2x, -2y), Hessian diag(2, -2) everywhere.

    The origin is a critical point that is neither a minimum nor a maximum: the Hessian has one
    positive and one negative eigenvalue. The function is unbounded below along y.
    """
    return Saddle()


class DoubleWell(Landscape):
    """f(x, y) = x^2 / 2 + (y^2 - 1)^2 / 4: a saddle at the origin between minima at (0, +-1)."""

    minimum = (0.0, 1.0)
    xlim, ylim = (-1.5, 1.5), (-1.5, 1.5)
    name = "double_well()"

    def value(self, xy):
        x, y = xy[..., 0], xy[..., 1]
        return 0.5 * x**2 + 0.25 * (y**2 - 1) ** 2

    def grad(self, xy):
        x, y = self._check(xy)[..., 0], xy[..., 1]
        return torch.stack([x, y * (y**2 - 1)], -1)

    def hessian(self, xy):
        x, y = self._check(xy)[..., 0], xy[..., 1]
        zero = torch.zeros_like(x)
        return _stack2(torch.ones_like(x), zero, zero, 3 * y**2 - 1)


def double_well() -> DoubleWell:
    """f(x, y) = x^2/2 + (y^2 - 1)^2/4, bounded below, with three critical points.

    Gradient (x, y (y^2 - 1)), Hessian diag(1, 3 y^2 - 1): a saddle at (0, 0) (eigenvalues 1 and -1)
    and two global minima at (0, +-1) (eigenvalues 1 and 2), both with value 0. Newton's method
    started with |y| < 1/sqrt(5) converges to the saddle; gradient descent rolls off it.
    """
    return DoubleWell()


def _sigmoid_derivatives(u: torch.Tensor):
    s = torch.sigmoid(u)
    return s, s * (1 - s), s * (1 - s) * (1 - 2 * s)


class Cliff(Landscape):
    """f(x, y) = (x^2 + y^2)/2 + h sigmoid(k (x - p)): a bowl with a step of height h at x = p."""

    minimum = (0.0, 0.0)

    def __init__(
        self,
        height: float = 50.0,
        steepness: float = 10.0,
        position: float = 1.0,
    ):
        self.height = _args.positive("height", height)
        self.steepness = _args.positive("steepness", steepness)
        self.position = _args.real("position", position)
        self.xlim, self.ylim = (-3.0, 4.0), (-2.0, 2.0)
        self.name = (
            f"cliff(height={self.height:g}, steepness={self.steepness:g},"
            f" position={self.position:g})"
        )

    def value(self, xy):
        x, y = xy[..., 0], xy[..., 1]
        return 0.5 * (x**2 + y**2) + self.height * torch.sigmoid(
            self.steepness * (x - self.position)
        )

    def grad(self, xy):
        x, y = self._check(xy)[..., 0], xy[..., 1]
        _, ds, _ = _sigmoid_derivatives(self.steepness * (x - self.position))
        return torch.stack([x + self.height * self.steepness * ds, y], -1)

    def hessian(self, xy):
        x = self._check(xy)[..., 0]
        _, _, d2s = _sigmoid_derivatives(self.steepness * (x - self.position))
        zero = torch.zeros_like(x)
        return _stack2(
            1 + self.height * self.steepness**2 * d2s,
            zero,
            zero,
            torch.ones_like(x),
        )


def cliff(
    height: float = 50.0, steepness: float = 10.0, position: float = 1.0
) -> Cliff:
    """A bowl with a cliff: f(x, y) = (x^2 + y^2)/2 + h sigmoid(k (x - p)).

    To the right of x = p the bowl is raised by h; near x = p the ground drops by h within a width
    of about 4/k. On the cliff face the slope reaches h k / 4 (plus the bowl's x), so a gradient step
    that lands there is thrown a distance of about lr h k / 4: the exploding gradient that gradient
    clipping tames. Minimum at the origin (when p > 0 and h k is not huge, the bowl wins there).

    Args:
        height: h > 0, the height of the step.
        steepness: k > 0; the cliff face is about 4/k wide and its slope h k / 4.
        position: p, where the face is steepest.
    """
    return Cliff(height, steepness, position)


class Plateau(Landscape):
    """f(x, y) = 1 - exp(-(x^2 + y^2) / (2 w^2)): a well of width w in an almost flat plain."""

    minimum = (0.0, 0.0)

    def __init__(self, width: float = 1.0):
        self.width = _args.positive("width", width)
        self.xlim = self.ylim = (-4.0 * self.width, 4.0 * self.width)
        self.name = f"plateau(width={self.width:g})"

    def value(self, xy):
        return 1 - torch.exp(-(xy**2).sum(-1) / (2 * self.width**2))

    def grad(self, xy):
        xy = self._check(xy)
        e = torch.exp(-(xy**2).sum(-1, keepdim=True) / (2 * self.width**2))
        return xy * e / self.width**2

    def hessian(self, xy):
        xy = self._check(xy)
        w2 = self.width**2
        e = torch.exp(-(xy**2).sum(-1) / (2 * w2))[..., None, None]
        eye = torch.eye(2, dtype=xy.dtype, device=xy.device)
        return e / w2 * (eye - xy[..., :, None] * xy[..., None, :] / w2)


def plateau(width: float = 1.0) -> Plateau:
    """A flat region around a well: f(x, y) = 1 - exp(-r^2 / (2 w^2)) with r^2 = x^2 + y^2.

    The gradient has norm (r / w^2) exp(-r^2 / (2 w^2)): it is exponentially small far from the well,
    so gradient descent started at distance r needs a number of steps growing like exp(r^2 / (2 w^2))
    to leave the plain, although nothing there is a minimum.
    """
    return Plateau(width)


class RandomField(Landscape):
    """f(x) = sqrt(2 / K) sum_k a_k cos(w_k' x + b_k): a random smooth function on R^d.

    With a_k, w_k ~ N(0, I) and b_k ~ U(0, 2 pi), f approximates a stationary Gaussian random field
    with unit variance (random Fourier features). Gradient and Hessian are exact:
    grad = -s sum_k a_k sin(u_k) w_k, Hessian = -s sum_k a_k cos(u_k) w_k w_k', with u_k = w_k' x + b_k.
    """

    minimum = None

    def __init__(
        self,
        dim: int,
        num_features: int = 256,
        *,
        lengthscale: float = 1.0,
        seed: int = 0,
    ):
        self.dim = _args.positive_int("dim", dim)
        self.num_features = _args.positive_int("num_features", num_features)
        self.lengthscale = _args.positive("lengthscale", lengthscale)
        g = torch.Generator().manual_seed(
            _args.positive_int("seed", seed, allow_zero=True)
        )
        self.W = (
            torch.randn(
                self.num_features, self.dim, generator=g, dtype=torch.float64
            )
            / self.lengthscale
        )
        self.b = (
            2
            * math.pi
            * torch.rand(self.num_features, generator=g, dtype=torch.float64)
        )
        self.a = torch.randn(
            self.num_features, generator=g, dtype=torch.float64
        )
        self.scale = math.sqrt(2.0 / self.num_features)
        self.xlim = self.ylim = (
            -3.0 * self.lengthscale,
            3.0 * self.lengthscale,
        )
        self.name = (
            f"random_field(dim={self.dim}, num_features={self.num_features},"
            f" seed={seed})"
        )

    def _params(self, xy):
        return (
            t.to(device=xy.device, dtype=xy.dtype)
            for t in (self.W, self.b, self.a)
        )

    def value(self, xy):
        W, b, a = self._params(xy)
        return self.scale * (torch.cos(xy @ W.T + b) * a).sum(-1)

    def grad(self, xy):
        W, b, a = self._params(self._check(xy))
        return -self.scale * (torch.sin(xy @ W.T + b) * a) @ W

    def hessian(self, xy):
        W, b, a = self._params(self._check(xy))
        c = torch.cos(xy @ W.T + b) * a  # (..., K)
        return -self.scale * torch.einsum("...k,ki,kj->...ij", c, W, W)


def random_field(
    dim: int,
    num_features: int = 256,
    *,
    lengthscale: float = 1.0,
    seed: int = 0,
) -> RandomField:
    """A random smooth function on R^dim (a random Fourier-feature Gaussian field), for counting critical points.

    Args:
        dim: the dimension d of the input.
        num_features: K, the number of random cosines (more = closer to a Gaussian field).
        lengthscale: the typical distance between bumps.
        seed: fixes the function.
    """
    return RandomField(dim, num_features, lengthscale=lengthscale, seed=seed)


# ------------------------------------------------------------------------------
# Running optimizers on a landscape
# ------------------------------------------------------------------------------
def _start(x0, dim: int | None, dtype, device) -> torch.Tensor:
    if isinstance(x0, torch.Tensor):
        start = (
            x0.detach()
            .to(dtype=dtype or torch.float64, device=device or x0.device)
            .clone()
        )
    else:
        try:
            start = torch.tensor(
                x0, dtype=dtype or torch.float64, device=device
            )
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"x0 must be a tensor or a sequence of numbers, got {x0!r}"
            ) from exc
    if start.ndim != 1 or (dim is not None and start.numel() != dim):
        want = f"{dim} numbers" if dim is not None else "a 1-D vector"
        raise ValueError(f"x0 must be {want}, got shape {tuple(start.shape)}")
    if not torch.isfinite(start).all():
        raise ValueError(f"x0 must be finite, got {start.tolist()}")
    return start


def _check_trajectory(optimizer_class, f, steps, max_grad_norm):
    """The argument checks of :func:`trajectory`; returns steps and max_grad_norm."""
    if not (
        isinstance(optimizer_class, type)
        and issubclass(optimizer_class, torch.optim.Optimizer)
    ):
        raise TypeError(
            "optimizer_class must be a torch.optim.Optimizer subclass (the"
            f" class, not an instance), got {optimizer_class!r}"
        )
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    steps = _args.positive_int("steps", steps, allow_zero=True)
    if max_grad_norm is not None:
        max_grad_norm = _args.positive("max_grad_norm", max_grad_norm)
    return steps, max_grad_norm


def _check_exact(f) -> None:
    if not (hasattr(f, "grad") and hasattr(f, "hessian")):
        raise TypeError(
            "f must have exact .grad and .hessian methods (a coursekit"
            f" landscape), got {f!r}"
        )


def _scalar_loss(loss, x: torch.Tensor) -> torch.Tensor:
    """``loss`` = f(x), checked to be a scalar tensor (else a ValueError)."""
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise ValueError(
            "f must return a scalar tensor for a point of shape "
            f"{tuple(x.shape)}, got {loss!r}"
        )
    return loss


def trajectory(
    optimizer_class: type,
    f: Callable,
    x0,
    steps: int,
    *,
    max_grad_norm: float | None = None,
    dtype: torch.dtype | None = None,
    device=None,
    **hyperparams,
) -> torch.Tensor:
    """Run an optimizer on a landscape and return the visited points.

    The point x is a single parameter tensor; every step evaluates a closure (zero the gradient,
    compute f(x), backpropagate, optionally clip the gradient), then calls ``optimizer.step``:

        x_0 = x0,   x_{t+1} = optimizer_step(x_t, grad f(x_t)),   t = 0, ..., steps - 1.

    Args:
        optimizer_class: any ``torch.optim.Optimizer`` subclass (``torch.optim.SGD``, coursekit's, ...).
        f: a callable mapping a point of shape (d,) to a scalar tensor (a :class:`Landscape` or any torch function).
        x0: the starting point (tensor or sequence of d numbers).
        steps: the number of optimizer steps (>= 0).
        max_grad_norm: if given, clip the gradient to this Euclidean norm before each step
            (g <- g min(1, max_grad_norm / ||g||), as ``torch.nn.utils.clip_grad_norm_``).
        dtype, device: of the iterate (default: float64, and x0's device).
        **hyperparams: passed to the optimizer (``lr=0.1, momentum=0.9``, ...).

    Returns:
        a tensor of shape (steps + 1, d): x_0, x_1, ..., x_steps. If the run diverges the later rows are
        inf/NaN, so runs of the same length always stack.
    """
    steps, max_grad_norm = _check_trajectory(
        optimizer_class, f, steps, max_grad_norm
    )
    x = _start(x0, getattr(f, "dim", None), dtype, device).requires_grad_(True)
    optimizer = optimizer_class([x], **hyperparams)

    def closure():
        optimizer.zero_grad()
        loss = _scalar_loss(f(x), x)
        loss.backward()
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_([x], max_grad_norm)
        return loss

    path = [x.detach().clone()]
    for _ in range(steps):
        optimizer.step(closure)
        path.append(x.detach().clone())
    return torch.stack(path)


def newton_trajectory(
    f: Landscape, x0, steps: int, *, lr: float = 1.0, damping: float = 0.0
) -> torch.Tensor:
    """Newton's method x_{t+1} = x_t - lr (H(x_t) + damping I)^{-1} grad f(x_t), using ``f.grad``/``f.hessian``.

    Newton's method jumps to the critical point of the local quadratic model, whatever its kind:
    near a saddle it is attracted to the saddle, where gradient descent moves away.

    Args:
        f: a landscape with exact ``grad`` and ``hessian`` (e.g. from this module).
        x0: the starting point (d numbers).
        steps: the number of Newton steps (>= 0).
        lr: step scale (1 is the pure Newton step).
        damping: lambda >= 0 added to the Hessian's diagonal (Levenberg-Marquardt style).

    Returns:
        a tensor of shape (steps + 1, d) (float64).
    """
    _check_exact(f)
    steps = _args.positive_int("steps", steps, allow_zero=True)
    lr, damping = _args.positive("lr", lr), _args.real(
        "damping", damping, low=0.0
    )
    x = _start(x0, getattr(f, "dim", None), torch.float64, None)
    eye = torch.eye(x.numel(), dtype=x.dtype, device=x.device)
    path = [x.clone()]
    for _ in range(steps):
        x = x - lr * torch.linalg.solve(f.hessian(x) + damping * eye, f.grad(x))
        path.append(x.clone())
    return torch.stack(path)


def _check_critical_points(f, starts, steps, tol):
    """The argument checks of :func:`newton_critical_points`."""
    _check_exact(f)
    starts = _args.tensor("starts", starts, ndim=2, floating=True)
    if starts.shape[1] != getattr(f, "dim", starts.shape[1]):
        raise ValueError(
            f"starts must have shape (n, {f.dim}), got {tuple(starts.shape)}"
        )
    return (
        starts,
        _args.positive_int("steps", steps),
        _args.positive("tol", tol),
    )


def newton_critical_points(
    f: Landscape, starts: torch.Tensor, *, steps: int = 50, tol: float = 1e-10
):
    """Find critical points of ``f`` (grad f = 0) by Newton's method from a batch of starting points.

    Newton's method converges to nearby critical points of every kind (minima, saddles, maxima),
    which is what we want for counting them. Runs all starts at once (vectorized).

    Args:
        f: a landscape with exact ``grad`` and ``hessian``.
        starts: tensor of shape (n, d) of starting points.
        steps: Newton iterations.
        tol: a start counts as converged when ||grad f|| < tol at the end.

    Returns:
        (points, converged): the final points, shape (n, d), and a bool mask of shape (n,).
    """
    starts, steps, tol = _check_critical_points(f, starts, steps, tol)
    x = starts.detach().clone()
    for _ in range(steps):
        step, info = torch.linalg.solve_ex(
            f.hessian(x), f.grad(x)
        )  # H step = g, all starts
        ok = (info == 0) & torch.isfinite(step).all(
            -1
        )  # where H is singular: stay put
        x = x - torch.where(ok.unsqueeze(-1), step, torch.zeros_like(step))
    converged = torch.linalg.vector_norm(f.grad(x), dim=-1) < tol
    return x, converged & torch.isfinite(x).all(-1)
