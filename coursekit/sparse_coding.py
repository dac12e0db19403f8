"""Sparse coding: the energy, soft thresholding, ISTA, FISTA, dictionary learning and LISTA.

Notation (as in the book and in Gregor & LeCun 2010): an input ``x`` in R^n is explained by a code
``z`` in R^m through a dictionary ``W_d`` of shape (n, m) whose columns (the *atoms*) have unit norm.
The code is found by minimizing the sparse-coding energy

    E(x, z) = 1/2 ||x - W_d z||^2 + alpha ||z||_1 .

Batches of inputs are rows: ``X`` has shape (B, n) and the codes ``Z`` shape (B, m), so the ISTA
step for a whole batch reads ``Z = h_theta(X W_e' + Z S')``.

    W_d = learn_dictionary(X, num_atoms=64, alpha=0.2).W_d
    Z_star = optimal_codes(X, W_d, alpha=0.2)
    run = fista(X, W_d, alpha=0.2, num_iters=50, z_star=Z_star)     # run.error[k]: error after k steps
    encoder = LISTA(W_d, alpha=0.2, num_iters=1)                    # starts as 2 steps of ISTA, then trains
    bcd = block_coordinate_descent(X, num_atoms=8, alpha=0.1)       # codes and atoms in alternation
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from . import _args

__all__ = [
    "soft_threshold",
    "energy",
    "lipschitz_constant",
    "ista_operators",
    "Iterates",
    "ista",
    "fista",
    "optimality_violation",
    "optimal_codes",
    "code_error",
    "code_loss",
    "Dictionary",
    "learn_dictionary",
    "LISTA",
    "block_coordinate_descent",
    "alternate_blocks",
    "ista_surrogate",
]


# ------------------------------------------------------------------------------
# The energy and its proximal operator


def _check_threshold(v, theta):
    """Check the input and threshold of :func:`soft_threshold`; returns theta."""
    _args.tensor("v", v, floating=True)
    if not isinstance(theta, torch.Tensor):
        return _args.real("theta", theta, low=0.0)
    if not theta.is_floating_point():
        raise TypeError(f"theta must have a floating dtype, got {theta.dtype}")
    return theta


def soft_threshold(v: torch.Tensor, theta) -> torch.Tensor:
    """The shrinkage function h_theta, applied coordinate-wise.

        [h_theta(v)]_i = sign(v_i) max(|v_i| - theta_i, 0)

    It is the proximal operator of theta ||.||_1: the minimizer of 1/2 ||u - v||^2 + theta ||u||_1.

    Args:
        v: a tensor of any shape.
        theta: the threshold(s): a number >= 0 or a tensor broadcastable to ``v`` (one per coordinate).

    Returns:
        a tensor shaped like ``v``.
    """
    theta = _check_threshold(v, theta)
    return torch.sign(v) * torch.relu(v.abs() - theta)


def _inputs(x: torch.Tensor, W_d: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """Check x (B, n) or (n,) against W_d (n, m); return x as a 2-D batch and whether it was 1-D."""
    _args.tensor("W_d", W_d, ndim=2, floating=True)
    _args.tensor("x", x, ndim=(1, 2), floating=True)
    if x.shape[-1] != W_d.shape[0]:
        raise ValueError(
            f"x has {x.shape[-1]} features but W_d has {W_d.shape[0]} rows (W_d"
            " must be n x m)"
        )
    if x.dtype != W_d.dtype or x.device != W_d.device:
        raise ValueError(
            f"x and W_d must share dtype and device, got {x.dtype}/{x.device}"
            f" and {W_d.dtype}/{W_d.device}"
        )
    return (x.unsqueeze(0), True) if x.ndim == 1 else (x, False)


def _codes(name: str, z: torch.Tensor, batch: int, m: int) -> torch.Tensor:
    _args.tensor(name, z, ndim=(1, 2), floating=True)
    z2 = z.unsqueeze(0) if z.ndim == 1 else z
    if z2.shape != (batch, m):
        raise ValueError(
            f"{name} must have shape ({batch}, {m}) to match x and W_d, got"
            f" {tuple(z.shape)}"
        )
    return z2


def energy(
    x: torch.Tensor, z: torch.Tensor, W_d: torch.Tensor, alpha: float
) -> torch.Tensor:
    """The sparse-coding energy of each input, E(x, z) = 1/2 ||x - W_d z||^2 + alpha ||z||_1.

    Args:
        x: inputs, shape (B, n) or (n,).
        z: codes, shape (B, m) or (m,).
        W_d: the dictionary, shape (n, m) (atoms in columns).
        alpha: the sparsity weight, >= 0.

    Returns:
        the energies, shape (B,) (a 0-d tensor for a single input).
    """
    X, single = _inputs(x, W_d)
    Z = _codes("z", z, len(X), W_d.shape[1])
    alpha = _args.real("alpha", alpha, low=0.0)
    E = 0.5 * (X - Z @ W_d.T).pow(2).sum(1) + alpha * Z.abs().sum(1)
    return E[0] if single else E


def lipschitz_constant(W_d: torch.Tensor) -> float:
    """L = the largest eigenvalue of W_d' W_d (the squared largest singular value of W_d).

    It is the Lipschitz constant of the gradient of the smooth part 1/2 ||x - W_d z||^2, so 1/L is
    the largest step ISTA may take.
    """
    _args.tensor("W_d", W_d, ndim=2, floating=True)
    return float(torch.linalg.matrix_norm(W_d, ord=2)) ** 2


def _step_constant(W_d: torch.Tensor, L: float | None) -> float:
    """ISTA's L: the largest eigenvalue of W_d'W_d, or a given L at least that large."""
    L_min = lipschitz_constant(W_d)
    if L is None:
        return L_min
    L = _args.positive("L", L)
    if L < L_min * (1 - 1e-6):
        raise ValueError(
            f"L must be >= the largest eigenvalue of W_d'W_d ({L_min:.6g}) "
            f"for ISTA to converge, got {L}"
        )
    return L


def ista_operators(W_d: torch.Tensor, alpha: float, L: float | None = None):
    """The three pieces of an ISTA step z <- h_theta(W_e x + S z).

        W_e = W_d' / L,   S = I - W_d' W_d / L,   theta = alpha / L

    Args:
        W_d: the dictionary, shape (n, m).
        alpha: the sparsity weight, >= 0.
        L: a step constant, at least the largest eigenvalue of W_d' W_d (computed when ``None``).

    Returns:
        ``(W_e, S, theta)``: the filter matrix (m, n), the mutual-inhibition matrix (m, m) and the
        threshold (a float).
    """
    alpha = _args.real("alpha", alpha, low=0.0)
    L = _step_constant(W_d, L)  # default: the largest eigenvalue of W_d'W_d
    m = W_d.shape[1]
    W_e = W_d.T / L
    S = torch.eye(m, dtype=W_d.dtype, device=W_d.device) - W_d.T @ W_d / L
    return W_e, S, alpha / L


# ------------------------------------------------------------------------------
# ISTA and FISTA


@dataclass
class Iterates:
    """What ISTA/FISTA return.

    Attributes:
        z: the final codes, shape (B, m) (or (m,) for a single input).
        energy: mean energy over the batch after k = 0, 1, ..., num_iters steps (k = 0 is z = 0).
        error: mean code error ||z_k - z*||^2 after each step (only when ``z_star`` was given, else ``None``).
    """

    z: torch.Tensor
    energy: torch.Tensor
    error: torch.Tensor | None = None


class _Recorder:
    """Checks the arguments of ISTA/FISTA and records the mean energy (and code error) after every step."""

    def __init__(self, x, W_d, alpha, num_iters, L, z_star):
        self.X, self.single = _inputs(x, W_d)
        self.alpha = _args.real("alpha", alpha, low=0.0)
        self.num_iters = _args.positive_int(
            "num_iters", num_iters, allow_zero=True
        )
        self.W_d = W_d
        self.Z_star = (
            None
            if z_star is None
            else _codes("z_star", z_star, len(self.X), W_d.shape[1])
        )
        self.operators = ista_operators(W_d, self.alpha, L)
        self.energies, self.errors = [], []

    def record(self, Z: torch.Tensor) -> None:
        self.energies.append(energy(self.X, Z, self.W_d, self.alpha).mean())
        if self.Z_star is not None:
            self.errors.append(code_error(Z, self.Z_star))

    def result(self, Z: torch.Tensor) -> Iterates:
        error = torch.stack(self.errors) if self.errors else None
        return Iterates(
            Z[0] if self.single else Z, torch.stack(self.energies), error
        )


@torch.no_grad()
def ista(
    x: torch.Tensor,
    W_d: torch.Tensor,
    alpha: float,
    num_iters: int = 100,
    *,
    L: float | None = None,
    z_star: torch.Tensor | None = None,
) -> Iterates:
    """ISTA (Daubechies et al. 2004): iterate z_{k+1} = h_theta(W_e x + S z_k) from z_0 = 0.

    With W_e = W_d'/L, S = I - W_d'W_d/L and theta = alpha/L (see :func:`ista_operators`), each step
    is a gradient step of size 1/L on 1/2 ||x - W_d z||^2 followed by soft thresholding. The energy
    decreases monotonically, and E(z_k) - E* <= L ||z*||^2 / (2k).

    Args:
        x: inputs, shape (B, n) or (n,): the whole batch is coded at once.
        W_d: the dictionary, shape (n, m).
        alpha: the sparsity weight, >= 0.
        num_iters: the number of steps k (0 returns z = 0).
        L: the step constant (default: the largest eigenvalue of W_d'W_d).
        z_star: optional reference codes (e.g. from :func:`optimal_codes`) to record the code error.

    Returns:
        an :class:`Iterates` with the final codes and the per-iteration mean energy (and error).
    """
    run = _Recorder(x, W_d, alpha, num_iters, L, z_star)
    W_e, S, theta = run.operators
    for Z in ista_iterates(run.X @ W_e.T, S, theta, run.num_iters):
        run.record(Z)
    return run.result(Z)


def ista_iterates(B: torch.Tensor, S: torch.Tensor, theta, num_iters: int):
    """Yield ISTA's codes z_0 = 0, z_1, ..., z_K: z_{k+1} = h_theta(W_e x + S z_k).

    Args:
        B: the filtered inputs W_e x, one row per input, shape (B, m).
        S, theta: the mutual-inhibition matrix (m, m) and the threshold
            (see :func:`ista_operators`).
        num_iters: K, the number of steps.

    :func:`ista` checks the arguments and records the energy of every iterate.
    """
    Z = torch.zeros_like(B)  # z_0 = 0
    yield Z
    for _ in range(num_iters):
        Z = soft_threshold(
            B + Z @ S.T, theta
        )  # z_{k+1} = h_theta(W_e x + S z_k)
        yield Z


@torch.no_grad()
def fista(
    x: torch.Tensor,
    W_d: torch.Tensor,
    alpha: float,
    num_iters: int = 100,
    *,
    L: float | None = None,
    z_star: torch.Tensor | None = None,
) -> Iterates:
    """FISTA (Beck & Teboulle 2009): ISTA's step taken from an extrapolated point.

        z_k     = h_theta(W_e x + S y_k)
        t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2
        y_{k+1} = z_k + (t_k - 1) / t_{k+1} (z_k - z_{k-1})

    with y_1 = z_0 = 0, t_1 = 1. The same cost per step as ISTA, and E(z_k) - E* <= 2 L ||z*||^2 / (k+1)^2.

    Arguments and return value as in :func:`ista`.
    """
    run = _Recorder(x, W_d, alpha, num_iters, L, z_star)
    W_e, S, theta = run.operators
    for Z in fista_iterates(run.X @ W_e.T, S, theta, run.num_iters):
        run.record(Z)
    return run.result(Z)


def fista_iterates(B: torch.Tensor, S: torch.Tensor, theta, num_iters: int):
    """Yield FISTA's codes z_0 = 0, z_1, ..., z_K (arguments as in :func:`ista_iterates`)

    z_k     = h_theta(W_e x + S y_k)
    t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2
    y_{k+1} = z_k + (t_k - 1) / t_{k+1} (z_k - z_{k-1})
    """
    Z = Y = torch.zeros_like(B)  # z_0 = y_1 = 0
    t = 1.0
    yield Z
    for _ in range(num_iters):
        Z_new = soft_threshold(
            B + Y @ S.T, theta
        )  # the ISTA step, taken from y_k
        t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
        Y = Z_new + ((t - 1) / t_new) * (
            Z_new - Z
        )  # extrapolate along z_k - z_{k-1}
        Z, t = Z_new, t_new
        yield Z


def optimality_violation(
    x: torch.Tensor, z: torch.Tensor, W_d: torch.Tensor, alpha: float
) -> torch.Tensor:
    """How far each code is from satisfying the optimality condition 0 in dE(x, z).

    With the residual correlations r = W_d'(x - W_d z), z minimizes E exactly when
    r_i = alpha sign(z_i) where z_i != 0 and |r_i| <= alpha where z_i = 0. Returns, per input, the
    largest violation max_i |r_i - alpha sign(z_i)| (on the support) or max_i (|r_i| - alpha)_+ (off it).

    Returns:
        a tensor of shape (B,) (0-d for a single input); zero at the optimum.
    """
    X, single = _inputs(x, W_d)
    Z = _codes("z", z, len(X), W_d.shape[1])
    alpha = _args.real("alpha", alpha, low=0.0)
    r = (X - Z @ W_d.T) @ W_d
    v = torch.where(
        Z != 0, (r - alpha * torch.sign(Z)).abs(), torch.relu(r.abs() - alpha)
    ).amax(1)
    return v[0] if single else v


@torch.no_grad()
def optimal_codes(
    x: torch.Tensor,
    W_d: torch.Tensor,
    alpha: float,
    *,
    tol: float = 1e-4,
    max_iters: int = 10000,
    check_every: int = 25,
) -> torch.Tensor:
    """The minimizers z* = argmin_z E(x, z), by running FISTA to convergence.

    FISTA's momentum makes the energy oscillate near the end; restarting it (t = 1) for an input
    whenever its step points uphill, (y_k - z_k)'(z_k - z_{k-1}) > 0 (O'Donoghue & Candes 2015),
    removes the oscillations and converges much faster. An input stops iterating as soon as its code
    satisfies the optimality condition to within ``tol * alpha`` (see :func:`optimality_violation`),
    so the batch shrinks as it converges; raises if some input needs more than ``max_iters`` steps
    (the answer would not be optimal).

    Args:
        x, W_d: as in :func:`ista`.
        alpha: the sparsity weight, > 0.
        tol: the largest optimality violation allowed, relative to alpha.
        max_iters: the largest number of steps.
        check_every: how often to test convergence.

    Returns:
        the optimal codes, shape (B, m) (or (m,)).
    """
    X, single = _inputs(x, W_d)
    alpha = _args.positive("alpha", alpha)
    tol = _args.positive("tol", tol)
    max_iters = _args.positive_int("max_iters", max_iters)
    check_every = _args.positive_int("check_every", check_every)
    W_e, S, theta = ista_operators(W_d, alpha)
    Z_out = torch.zeros(len(X), W_d.shape[1], dtype=X.dtype, device=X.device)
    active = torch.arange(len(X), device=X.device)  # the inputs still iterating
    B = X @ W_e.T
    Z = Y = Z_out
    t = torch.ones(
        len(X), 1, dtype=X.dtype, device=X.device
    )  # one momentum counter per input
    for k in range(1, max_iters + 1):
        Z_new = soft_threshold(B + Y @ S.T, theta)
        uphill = ((Y - Z_new) * (Z_new - Z)).sum(1, keepdim=True) > 0
        t = torch.where(uphill, torch.ones_like(t), t)  # adaptive restart
        t_next = (1 + torch.sqrt(1 + 4 * t * t)) / 2
        Y = Z_new + ((t - 1) / t_next) * (Z_new - Z)
        Z, t = Z_new, t_next
        if k % check_every == 0:
            done = optimality_violation(X[active], Z, W_d, alpha) < tol * alpha
            Z_out[active[done]] = Z[done]  # converged inputs stop iterating
            keep = ~done
            active, B, Z, Y, t = (
                active[keep],
                B[keep],
                Z[keep],
                Y[keep],
                t[keep],
            )
            if len(active) == 0:
                return Z_out[0] if single else Z_out
    worst = float(optimality_violation(X[active], Z, W_d, alpha).max())
    raise RuntimeError(
        f"FISTA did not reach tol={tol} in max_iters={max_iters} steps for"
        f" {len(active)} of {len(X)} inputs (largest optimality violation"
        f" {worst / alpha:.2g} alpha); raise max_iters or tol"
    )


def code_error(z: torch.Tensor, z_star: torch.Tensor) -> torch.Tensor:
    """The code prediction error: the mean over the batch of ||z - z*||^2 (a 0-d tensor)."""
    _args.tensor("z", z, floating=True)
    _args.tensor("z_star", z_star, floating=True)
    if z.shape != z_star.shape:
        raise ValueError(
            f"z and z_star must have the same shape, got {tuple(z.shape)} and"
            f" {tuple(z_star.shape)}"
        )
    diff = (z - z_star).pow(2)
    return diff.sum(-1).mean() if diff.ndim > 1 else diff.sum()


def code_loss(z: torch.Tensor, z_star: torch.Tensor) -> torch.Tensor:
    """LISTA's training loss, L(W) = 1/P sum_p 1/2 ||z*_p - f_e(x_p; W)||^2 (differentiable in ``z``)."""
    return 0.5 * code_error(z, z_star)


# ------------------------------------------------------------------------------
# Dictionary learning


@dataclass
class Dictionary:
    """A learned dictionary: ``W_d`` (n, m) with unit-norm columns, and the mean energy of each minibatch."""

    W_d: torch.Tensor
    energy: torch.Tensor


def _unit_columns(D: torch.Tensor) -> torch.Tensor:
    return D / D.norm(dim=0, keepdim=True).clamp_min(1e-12)


@torch.no_grad()
def learn_dictionary(
    X: torch.Tensor,
    num_atoms: int,
    alpha: float,
    *,
    num_steps: int = 300,
    batch_size: int = 256,
    coding_iters: int = 30,
    update_iters: int = 5,
    forget: float = 0.95,
    generator: torch.Generator | None = None,
) -> Dictionary:
    """Learn W_d by minimizing the average of min_z E(x, z) over the rows of X (online, in minibatches).

    Each step alternates the two blocks of variables (as in Mairal et al. 2010):

    1. sparse coding: Z = FISTA codes of a minibatch X_b with the current dictionary;
    2. dictionary update: with the running statistics A = sum Z'Z and B = sum X_b'Z (older
       minibatches down-weighted by ``forget``), a few projected gradient steps on the surrogate
       1/2 tr(W_d' W_d A) - tr(W_d' B), i.e. W_d <- W_d - (W_d A - B) / ||A||_2, each followed by
       rescaling every atom to unit norm. An atom no code uses is re-drawn from the data.

    Args:
        X: training inputs, shape (P, n).
        num_atoms: m, the number of atoms (m > n is an overcomplete dictionary).
        alpha: the sparsity weight of the energy, > 0.
        num_steps: minibatches processed.
        batch_size: inputs per minibatch.
        coding_iters: FISTA steps for the codes of each minibatch.
        update_iters: projected gradient steps on the dictionary per minibatch.
        forget: weight in [0, 1) of the past statistics at each step.
        generator: a CPU ``torch.Generator`` for the initial atoms and the minibatches.

    Returns:
        a :class:`Dictionary` (``W_d`` of shape (n, m), and the energy of each minibatch before its update).
    """
    _args.tensor("X", X, ndim=2, floating=True)
    num_atoms = _args.positive_int("num_atoms", num_atoms)
    alpha = _args.positive("alpha", alpha)
    num_steps = _args.positive_int("num_steps", num_steps)
    batch_size = _args.positive_int("batch_size", batch_size)
    coding_iters = _args.positive_int("coding_iters", coding_iters)
    update_iters = _args.positive_int("update_iters", update_iters)
    forget = _args.fraction("forget", forget)
    P, n = X.shape
    if P < num_atoms:
        raise ValueError(
            f"X must have at least num_atoms={num_atoms} rows to draw the"
            f" initial atoms from, got {P}"
        )

    def rows(k):
        return torch.randperm(P, generator=generator)[:k].to(X.device)

    D = _unit_columns(
        X[rows(num_atoms)].T.clone()
    )  # initial atoms: random inputs
    A = torch.zeros(num_atoms, num_atoms, dtype=X.dtype, device=X.device)
    B = torch.zeros(n, num_atoms, dtype=X.dtype, device=X.device)
    energies = []
    for _ in range(num_steps):
        Xb = X[rows(min(batch_size, P))]
        D, A, B, E = dictionary_learning_step(
            Xb,
            D,
            A,
            B,
            alpha,
            coding_iters=coding_iters,
            update_iters=update_iters,
            forget=forget,
        )
        energies.append(E)
        unused = A.diagonal() < 1e-10
        if unused.any():  # revive dead atoms from the data
            D[:, unused] = _unit_columns(X[rows(int(unused.sum()))].T.clone())
    return Dictionary(D, torch.stack(energies))


def dictionary_learning_step(
    X: torch.Tensor,
    W_d: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    alpha: float,
    *,
    coding_iters: int,
    update_iters: int,
    forget: float,
):
    """One minibatch of :func:`learn_dictionary`: code X with FISTA, then update W_d.

        A <- forget A + Z'Z / b,   B <- forget B + X'Z / b,
        W_d <- unit columns of (W_d - (W_d A - B) / ||A||_2),   ``update_iters`` times.

    Returns:
        the new ``(W_d, A, B)`` and the mean energy of the minibatch before the update.
    """
    Z = fista(X, W_d, alpha, coding_iters).z
    E = energy(X, Z, W_d, alpha).mean()
    A = forget * A + Z.T @ Z / len(X)
    B = forget * B + X.T @ Z / len(X)
    step = 1.0 / max(float(torch.linalg.matrix_norm(A, ord=2)), 1e-12)
    for _ in range(update_iters):
        W_d = _unit_columns(
            W_d - step * (W_d @ A - B)
        )  # projected gradient step
    return W_d, A, B, E


# ------------------------------------------------------------------------------
# LISTA


def lista_forward(
    x: torch.Tensor,
    W_e: torch.Tensor,
    S: torch.Tensor,
    theta: torch.Tensor,
    num_iters: int,
) -> torch.Tensor:
    """LISTA's codes: Z(0) = h_theta(W_e x), Z(t) = h_theta(W_e x + S Z(t - 1)), t = 1..T.

    :meth:`LISTA.forward` checks ``x`` and calls this with its learned W_e, S and theta.
    """
    B = x @ W_e.T  # W_e x, shared by every step
    Z = soft_threshold(B, theta)  # Z(0)
    for _ in range(num_iters):
        Z = soft_threshold(B + Z @ S.T, theta)
    return Z


class LISTA(nn.Module):
    """Learned ISTA (Gregor & LeCun 2010): ISTA unrolled for T steps, with W_e, S and theta learned.

        Z(0) = h_theta(W_e x)
        Z(t) = h_theta(W_e x + S Z(t - 1)),   t = 1, ..., T

    The same W_e (m, n), S (m, m) and per-coordinate thresholds theta (m,) are shared by all T steps.
    They start at the ISTA values W_d'/L, I - W_d'W_d/L and alpha/L, so before training LISTA with T
    steps computes exactly T + 1 steps of ISTA from z = 0. Train it on :func:`code_loss` against
    optimal codes.

    Args:
        W_d: the dictionary, shape (n, m).
        alpha: the sparsity weight the target codes were computed with.
        num_iters: T >= 0, the number of recurrent steps after the first shrinkage (T = 0 is the
            one-layer encoder h_theta(W_e x)).
        L: the ISTA step constant used for the initialization (default: the largest eigenvalue of W_d'W_d).
    """

    def __init__(
        self,
        W_d: torch.Tensor,
        alpha: float,
        num_iters: int = 1,
        *,
        L: float | None = None,
    ):
        super().__init__()
        self.num_iters = _args.positive_int(
            "num_iters", num_iters, allow_zero=True
        )
        W_e, S, theta = ista_operators(W_d, alpha, L)
        self.W_e = nn.Parameter(W_e.clone())
        self.S = nn.Parameter(S.clone())
        self.theta = nn.Parameter(
            torch.full(
                (W_d.shape[1],), theta, dtype=W_d.dtype, device=W_d.device
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Codes for a batch of inputs x (B, n) -> (B, m) (or (n,) -> (m,))."""
        _args.tensor("x", x, ndim=(1, 2), floating=True)
        if x.shape[-1] != self.W_e.shape[1]:
            raise ValueError(
                f"x has {x.shape[-1]} features but the encoder expects"
                f" {self.W_e.shape[1]}"
            )
        return lista_forward(x, self.W_e, self.S, self.theta, self.num_iters)

    def extra_repr(self) -> str:
        m, n = self.W_e.shape
        return f"n={n}, m={m}, T={self.num_iters}"


# ------------------------------------------------------------------------------
# Block coordinate descent on codes and dictionary together


def alternate_blocks(X, W_d, Z, alpha: float, *, rounds: int, inner_steps: int):
    r"""Minimize :math:`J(Z, W_d) = \sum_p E(x_p, z_p)` by turns over the codes and the atoms.

    :math:`J = \tfrac12 \|X - Z W_d^\top\|_F^2 + \alpha \|Z\|_1` is convex in each block alone:

    - codes (a lasso, :math:`W_d` fixed): ISTA steps
      :math:`Z \leftarrow h_{\alpha/L}\big(Z - (Z W_d^\top - X) W_d / L\big)`,
      :math:`L = \|W_d^\top W_d\|_2`;
    - atoms (least squares, :math:`Z` fixed): projected gradient steps
      :math:`W_d \leftarrow \Pi\big(W_d - (Z W_d^\top - X)^\top Z / L\big)`,
      :math:`L = \|Z^\top Z\|_2`, where :math:`\Pi` scales every atom back into the unit ball.

    Arguments are not checked here: call :func:`block_coordinate_descent`.

    Returns:
        ``(W_d, Z, J)``: the final blocks and the list of J after every block step.
    """
    J = [float(energy(X, Z, W_d, alpha).sum())]
    for _ in range(rounds):
        L = torch.linalg.matrix_norm(W_d, ord=2) ** 2  # codes (atoms fixed)
        for _ in range(inner_steps):
            Z = soft_threshold(Z - (Z @ W_d.T - X) @ W_d / L, alpha / L)
        J.append(float(energy(X, Z, W_d, alpha).sum()))
        L = torch.linalg.matrix_norm(Z.T @ Z, ord=2).clamp(min=1e-12)  # atoms
        for _ in range(inner_steps):
            W_d = W_d - (Z @ W_d.T - X).T @ Z / L
            W_d = W_d / W_d.norm(dim=0, keepdim=True).clamp(
                min=1.0
            )  # |atom| <= 1
        J.append(float(energy(X, Z, W_d, alpha).sum()))
    return W_d, Z, J


def block_coordinate_descent(
    X: torch.Tensor,
    num_atoms: int,
    alpha: float,
    *,
    rounds: int = 30,
    inner_steps: int = 20,
    generator: torch.Generator | None = None,
    W_d0: torch.Tensor | None = None,
) -> dict:
    r"""Learn a dictionary and the codes of X together by block coordinate descent on the energy.

    Minimizes :math:`J(Z, W_d) = \sum_p E(x_p, z_p) = \tfrac12 \|X - Z W_d^\top\|_F^2 + \alpha\|Z\|_1`
    over the codes Z (B, m) and the atoms (columns of W_d, norms at most 1) by turns
    (:func:`alternate_blocks`). J is not jointly convex, but each block problem is; every inner step
    has step size 1/L, so J never increases. Without the norm constraint J has no minimizer worth
    having: :math:`(c W_d, Z / c)` fits equally well with a penalty c times smaller.

    Args:
        X: inputs, one per row, shape (B, n).
        num_atoms: m, the number of atoms.
        alpha: the sparsity weight, >= 0.
        rounds: number of (codes, atoms) rounds.
        inner_steps: iterations inside each block step.
        generator: for the random initial atoms (when ``W_d0`` is not given).
        W_d0: optional initial atoms, shape (n, m) (projected into the unit ball).

    Returns:
        ``{"W_d", "Z", "energy"}``: the final blocks and J after every block step (2 * rounds + 1
        values, the first at the start, with Z = 0).
    """
    _args.tensor("X", X, ndim=2, floating=True)
    m = _args.positive_int("num_atoms", num_atoms)
    alpha = _args.real("alpha", alpha, low=0.0)
    rounds = _args.positive_int("rounds", rounds)
    inner_steps = _args.positive_int("inner_steps", inner_steps)
    n = X.shape[1]
    if W_d0 is None:  # random unit atoms, drawn one at a time
        W_d = torch.randn(m, n, generator=generator, dtype=X.dtype).T.to(
            X.device
        )
        W_d = W_d / W_d.norm(dim=0, keepdim=True)
    else:
        W_d = _args.tensor("W_d0", W_d0, ndim=2, floating=True).to(
            dtype=X.dtype, device=X.device
        )
        if W_d.shape != (n, m):
            raise ValueError(
                f"W_d0 must have shape {(n, m)} (n features x num_atoms), "
                f"got {tuple(W_d.shape)}"
            )
        W_d = W_d / W_d.norm(dim=0, keepdim=True).clamp(min=1.0)
    Z = torch.zeros(len(X), m, dtype=X.dtype, device=X.device)
    W_d, Z, J = alternate_blocks(
        X, W_d, Z, alpha, rounds=rounds, inner_steps=inner_steps
    )
    return {"W_d": W_d, "Z": Z, "energy": torch.tensor(J, dtype=torch.float64)}


# ------------------------------------------------------------------------------
# ISTA as majorization-minimization


def ista_surrogate(
    x: torch.Tensor,
    z: torch.Tensor,
    z_k: torch.Tensor,
    W_d: torch.Tensor,
    alpha: float,
    L: float,
) -> torch.Tensor:
    """The upper bound that one ISTA step from z_k minimizes, at the codes z.

        Q_L(z; z_k) = g(z_k) + grad g(z_k)'(z - z_k) + L/2 ||z - z_k||^2
                      + alpha ||z||_1,
        g(z) = 1/2 ||x - W_d z||^2,   grad g(z) = -W_d'(x - W_d z).

    Q_L(z; z_k) - E(x, z) = 1/2 (z - z_k)'(L I - W_d'W_d)(z - z_k): the surrogate
    lies above the energy for every z exactly when L >= the largest eigenvalue of
    W_d'W_d, and touches it at z = z_k. Its minimizer over z is the ISTA step
    h_{alpha/L}(z_k + W_d'(x - W_d z_k) / L), so that
    E(z_{k+1}) <= Q_L(z_{k+1}; z_k) <= Q_L(z_k; z_k) = E(z_k).

    Args:
        x: inputs, shape (B, n) or (n,).
        z, z_k: codes, shape (B, m) or (m,): where to evaluate, and the iterate.
        W_d: the dictionary, shape (n, m).
        alpha: the sparsity weight, >= 0.
        L: the curvature of the quadratic bound, > 0 (any value: it is an upper
            bound only when L >= lambda_max(W_d'W_d)).

    Returns:
        the surrogate's values, shape (B,) (a 0-d tensor for a single input).
    """
    X, single = _inputs(x, W_d)
    Z = _codes("z", z, len(X), W_d.shape[1])
    Z_k = _codes("z_k", z_k, len(X), W_d.shape[1])
    alpha = _args.real("alpha", alpha, low=0.0)
    L = _args.positive("L", L)
    residual = X - Z_k @ W_d.T  # x - W_d z_k, one row per input
    step = Z - Z_k
    Q = (
        0.5 * residual.pow(2).sum(1)
        - (residual @ W_d * step).sum(1)
        + 0.5 * L * step.pow(2).sum(1)
        + alpha * Z.abs().sum(1)
    )
    return Q[0] if single else Q
