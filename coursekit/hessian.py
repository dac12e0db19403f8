"""Second-order information about a loss: Hessian-vector products, eigenvalues, the Taylor monitor.

The Hessian H of a network's loss has as many rows as the network has parameters, so it is
rarely formed. What *is* cheap is its product with a vector, by differentiating twice
(Pearlmutter's trick, "double backprop"):

    H v = d/dtheta ( grad J(theta)' v ),

one extra backward pass through the graph of the gradient. Power iteration and Lanczos turn
such products into the top eigenvalues; for small models the full matrix and its spectrum are
affordable too.

Conventions: ``closure`` is a function with no arguments that *returns* the scalar loss
(it must not call ``backward``), and ``params`` is a list of tensors with ``requires_grad``
(``list(model.parameters())``). Vectors over the parameters are flat, of length
n = sum of ``p.numel()``, in the order of ``params``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from . import _args

__all__ = [
    "HessianOperator",
    "hvp",
    "full_hessian",
    "eigenvalues",
    "lanczos",
    "top_eigenvalues",
    "TaylorTerms",
    "taylor_terms",
    "TaylorMonitor",
]


def _check_params(params) -> list[torch.Tensor]:
    if isinstance(params, torch.Tensor):
        raise TypeError(
            "params must be a list of tensors (e.g. list(model.parameters())),"
            " got a single tensor; wrap it in a list"
        )
    try:
        params = list(params)
    except TypeError as exc:
        raise TypeError(
            f"params must be a list of tensors, got {type(params).__name__}"
        ) from exc
    if not params:
        raise ValueError("params must contain at least one tensor")
    for i, p in enumerate(params):
        if not isinstance(p, torch.Tensor):
            raise TypeError(
                f"params[{i}] must be a torch.Tensor, got {type(p).__name__}"
            )
        if not p.requires_grad:
            raise ValueError(
                f"params[{i}] must have requires_grad=True (the Hessian is"
                " taken with respect to it)"
            )
    return params


def _check_loss(loss) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise TypeError(
            "closure must return a scalar loss tensor, got"
            f" {type(loss).__name__}"
            + (
                f" of shape {tuple(loss.shape)}"
                if isinstance(loss, torch.Tensor)
                else ""
            )
        )
    if not loss.requires_grad:
        raise ValueError(
            "the loss returned by closure does not depend on params (no"
            " autograd graph): compute it from the parameters, outside"
            " torch.no_grad()"
        )
    return loss.reshape(())


def _flatten(tensors, params) -> torch.Tensor:
    return torch.cat(
        [
            (torch.zeros_like(p) if t is None else t).reshape(-1)
            for t, p in zip(tensors, params)
        ]
    )


def _flatten_batch(tensors, params, batch: int) -> torch.Tensor:
    """Like _flatten for a batch of vectors: tensors of shape (batch, *p.shape) -> (batch, n)."""
    return torch.cat(
        [
            (
                p.new_zeros(batch, p.numel())
                if t is None
                else t.reshape(batch, -1)
            )
            for t, p in zip(tensors, params)
        ],
        dim=1,
    )


def _unflatten(v: torch.Tensor, params) -> list[torch.Tensor]:
    out, i = [], 0
    for p in params:
        out.append(v[i : i + p.numel()].view_as(p))
        i += p.numel()
    return out


class HessianOperator:
    """The Hessian of ``closure()`` with respect to ``params``, as a linear map v -> H v.

    The loss and its gradient are computed once, keeping the graph of the gradient
    (``create_graph=True``); each product is then one backward pass through that graph:

        H v = grad_theta ( g(theta)' v ),   g = grad_theta J.

    Attributes:
        loss: the loss value (detached), grad: the flat gradient g (detached), numel: n.
    """

    def __init__(self, closure: Callable[[], torch.Tensor], params):
        if not callable(closure):
            raise TypeError(
                "closure must be callable (a function returning the loss), got"
                f" {type(closure).__name__}"
            )
        self.params = _check_params(params)
        with torch.enable_grad():
            loss = _check_loss(closure())
            grads = torch.autograd.grad(
                loss, self.params, create_graph=True, allow_unused=True
            )
        self._grads = [
            torch.zeros_like(p) if g is None else g
            for g, p in zip(grads, self.params)
        ]
        self.loss = loss.detach()
        self.grad = _flatten(self._grads, self.params).detach()
        self.numel = self.grad.numel()
        self.dtype, self.device = self.grad.dtype, self.grad.device

    def _vector(self, v, name: str = "v") -> torch.Tensor:
        v = _args.tensor(name, v, ndim=1)
        if v.numel() != self.numel:
            raise ValueError(
                f"{name} must have {self.numel} entries (one per parameter),"
                f" got {v.numel()}"
            )
        return v.to(dtype=self.dtype, device=self.device)

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """H v for a flat vector v of length n."""
        v = self._vector(v)
        vs = _unflatten(v, self.params)
        dot = sum((g * u).sum() for g, u in zip(self._grads, vs))  # g(theta)'v
        if not dot.requires_grad:  # g does not depend on the parameters: H = 0
            return torch.zeros_like(v)
        with (
            torch.enable_grad()
        ):  # H v = d(g'v)/dtheta, back through the graph of g
            Hv = torch.autograd.grad(
                dot, self.params, retain_graph=True, allow_unused=True
            )
        return _flatten(Hv, self.params).detach()

    __call__ = matvec

    def matrix(self, chunk_size: int = 32) -> torch.Tensor:
        """The full (n, n) Hessian, from n products, ``chunk_size`` of them at a time (vectorized by autograd)."""
        chunk_size = _args.positive_int("chunk_size", chunk_size)
        n = self.numel
        flat_g = _flatten(self._grads, self.params)
        if not flat_g.requires_grad:
            return torch.zeros(n, n, dtype=self.dtype, device=self.device)
        eye = torch.eye(n, dtype=self.dtype, device=self.device)
        rows = []
        for E in eye.split(
            chunk_size
        ):  # a block of basis vectors e_i -> the rows e_i'H
            try:
                with warnings.catch_warnings(), torch.enable_grad():
                    warnings.simplefilter("ignore")  # vmap's performance notes
                    block = torch.autograd.grad(
                        flat_g,
                        self.params,
                        grad_outputs=E,
                        retain_graph=True,
                        allow_unused=True,
                        is_grads_batched=True,
                    )
                rows.append(_flatten_batch(block, self.params, len(E)))
            except (
                RuntimeError
            ):  # an operation autograd cannot batch: one row at a time
                rows.append(torch.stack([self.matvec(e) for e in E]))
        H = torch.cat(rows)
        return (H + H.T) / 2  # symmetric up to round-off; make it exactly so


def hvp(
    closure: Callable[[], torch.Tensor], params, v: torch.Tensor
) -> torch.Tensor:
    """Hessian-vector product H v by double backpropagation.

    H v = grad_theta ( grad_theta J(theta)' v ), computed with two backward passes and never forming H.

    Args:
        closure: returns the scalar loss J(theta) (without calling ``backward``).
        params: list of tensors theta with ``requires_grad``.
        v: flat vector of length n = total number of parameter entries.

    Returns:
        the flat vector H v (length n).
    """
    return HessianOperator(closure, params).matvec(v)


def full_hessian(
    closure: Callable[[], torch.Tensor], params, *, max_size: int = 5000
) -> torch.Tensor:
    """The full Hessian matrix H_ij = d^2 J / d theta_i d theta_j, of shape (n, n).

    For small models only (n <= ``max_size``): the matrix has n^2 entries and costs n products.
    """
    op = HessianOperator(closure, params)
    max_size = _args.positive_int("max_size", max_size)
    if op.numel > max_size:
        raise ValueError(
            f"params have {op.numel} entries, more than max_size={max_size}:"
            f" the full Hessian would have {op.numel ** 2:.2e} entries. Use"
            " top_eigenvalues or lanczos instead (or raise max_size)."
        )
    return op.matrix()


def eigenvalues(
    closure: Callable[[], torch.Tensor], params, *, max_size: int = 5000
) -> torch.Tensor:
    """All eigenvalues of the Hessian, in ascending order (the full spectrum of a small model).

    Forms H with :func:`full_hessian` and diagonalizes it with ``torch.linalg.eigvalsh``.
    At a minimum they are all >= 0; at a saddle some are < 0.
    """
    return torch.linalg.eigvalsh(
        full_hessian(closure, params, max_size=max_size)
    )


def _random_unit(n: int, dtype, device, generator) -> torch.Tensor:
    v = torch.randn(n, generator=generator, dtype=torch.float64).to(
        dtype=dtype, device=device
    )
    return v / torch.linalg.vector_norm(v)


def _lanczos(matvec: Callable, v0: torch.Tensor, num_iters: int):
    """Lanczos with full re-orthogonalization: H Q_m = Q_m T_m + residual, T_m tridiagonal.

    Returns Q (m, n) with orthonormal rows and the diagonal alpha (m,) and off-diagonal beta (m - 1,) of T.
    Stops early (m < num_iters) when the Krylov space is invariant: the Ritz values are then exact.
    """
    Q = [v0 / torch.linalg.vector_norm(v0)]
    alpha, beta = [], []
    for j in range(num_iters):
        w = matvec(Q[j])
        alpha.append(torch.dot(w, Q[j]))
        Qm = torch.stack(Q)
        for _ in range(
            2
        # w <- w - Q Q'w, twice ("twice is enough") for orthogonality to
        # round-off
        ):
            w = w - Qm.T @ (Qm @ w)
        b = torch.linalg.vector_norm(w)
        if j == num_iters - 1 or b <= 1e-10 * max(
            1.0, float(torch.stack(alpha).abs().max())
        ):
            break
        beta.append(b)
        Q.append(w / b)
    alpha = torch.stack(alpha)
    beta = torch.stack(beta) if beta else alpha.new_zeros(0)
    return torch.stack(Q[: len(alpha)]), alpha, beta


def lanczos(
    closure: Callable[[], torch.Tensor],
    params,
    num_iters: int = 30,
    *,
    generator: torch.Generator | None = None,
    return_vectors: bool = False,
):
    """Ritz values of the Hessian from ``num_iters`` steps of Lanczos (one HVP each).

    After m steps from a random unit vector v, Lanczos builds an orthonormal basis Q of the Krylov
    space span{v, Hv, ..., H^(m-1) v} and the tridiagonal T = Q'HQ. The eigenvalues of T (Ritz values)
    converge first to the extreme eigenvalues of H. The weights (first components of T's eigenvectors,
    squared) give a quadrature of the spectral density: sum_i w_i delta(lambda - theta_i) approximates
    (1/n) sum_j delta(lambda - lambda_j) on average over v (stochastic Lanczos quadrature).

    Returns:
        (ritz_values ascending, weights summing to 1), plus the Ritz vectors (n, m) if ``return_vectors``.
    """
    op = HessianOperator(closure, params)
    num_iters = _args.positive_int("num_iters", num_iters)
    num_iters = min(num_iters, op.numel)
    Q, alpha, beta = _lanczos(
        op.matvec,
        _random_unit(op.numel, op.dtype, op.device, generator),
        num_iters,
    )
    T = torch.diag(alpha) + torch.diag(beta, 1) + torch.diag(beta, -1)
    theta, S = torch.linalg.eigh(T)
    weights = S[0] ** 2
    if return_vectors:
        return theta, weights, Q.T @ S
    return theta, weights


def top_eigenvalues(
    closure: Callable[[], torch.Tensor],
    params,
    k: int = 1,
    *,
    method: str = "lanczos",
    num_iters: int | None = None,
    tol: float = 1e-6,
    generator: torch.Generator | None = None,
    return_vectors: bool = False,
):
    """The k largest eigenvalues of the Hessian (largest first), from Hessian-vector products only.

    Args:
        closure, params: the loss and the parameters, as in :func:`hvp`.
        k: how many eigenvalues.
        method: ``"lanczos"`` (default; ``num_iters`` Lanczos steps, default max(3k + 20, 30)) or
            ``"power"`` (power iteration with deflation; ``num_iters`` is the cap per eigenvalue, default 500).
            Power iteration on H finds the eigenvalue of largest *magnitude*; to return the largest
            *algebraic* ones it iterates on H + |mu| I, mu being that dominant eigenvalue.
        tol: power iteration stops when the Rayleigh quotient changes by less than tol (relative).
        generator: for the random starting vectors (reproducible).
        return_vectors: also return the unit eigenvectors as an (n, k) tensor.

    Returns:
        a tensor of the k eigenvalues, descending (and the eigenvectors if asked).
    """
    op = HessianOperator(closure, params)
    k = _args.positive_int("k", k)
    if k > op.numel:
        raise ValueError(
            f"k must be at most the number of parameters ({op.numel}), got {k}"
        )
    _args.one_of("method", method, {"lanczos", "power"})
    tol = _args.positive("tol", tol)
    if num_iters is not None:
        num_iters = _args.positive_int("num_iters", num_iters)
    if method == "lanczos":
        m = min(op.numel, num_iters or max(3 * k + 20, 30))
        if m < k:
            raise ValueError(f"num_iters must be at least k={k}, got {m}")
        Q, alpha, beta = _lanczos(
            op.matvec, _random_unit(op.numel, op.dtype, op.device, generator), m
        )
        T = torch.diag(alpha) + torch.diag(beta, 1) + torch.diag(beta, -1)
        theta, S = torch.linalg.eigh(T)
        idx = torch.argsort(theta, descending=True)[:k]
        if len(idx) < k:
            raise RuntimeError(
                f"Lanczos found an invariant subspace of dimension {len(theta)}"
                f" < k={k}; the starting vector missed part of the spectrum"
                " (try another generator)"
            )
        values, vectors = theta[idx], Q.T @ S[:, idx]
    else:
        cap = num_iters or 500
        values, vectors = _power_iteration(
            op.matvec, op.numel, k, cap, tol, op.dtype, op.device, generator
        )
    return (values, vectors) if return_vectors else values


def _power_iteration(matvec, n, k, num_iters, tol, dtype, device, generator):
    """k largest eigenvalues of a symmetric operator by power iteration with deflation on H + |mu| I."""

    def run(apply, found):
        v = _random_unit(n, dtype, device, generator)
        lam = None
        for _ in range(num_iters):
            for (
                u
            ) in (
                found
            ):  # deflation: stay orthogonal to the eigenvectors already found
                v = v - torch.dot(u, v) * u
            w = apply(v)
            new = float(torch.dot(v, w))  # Rayleigh quotient (v has unit norm)
            norm = torch.linalg.vector_norm(w)
            if norm == 0:
                return 0.0, v
            v = w / norm
            if lam is not None and abs(new - lam) <= tol * max(abs(new), 1e-12):
                lam = new
                break
            lam = new
        return lam, v

    mu, _ = run(matvec, [])  # dominant eigenvalue (largest magnitude)
    shift = abs(mu)
    shifted = (
        lambda v: matvec(v) + shift * v
    )  # eigenvalues lambda + |mu| >= 0, same order as lambda
    values, vectors = [], []
    for _ in range(k):
        _, v = run(shifted, vectors)
        for u in vectors:
            v = v - torch.dot(u, v) * u
        v = v / torch.linalg.vector_norm(v)
        values.append(torch.dot(v, matvec(v)))
        vectors.append(v)
    values = torch.stack(values)
    order = torch.argsort(values, descending=True)
    return values[order], torch.stack(vectors, dim=1)[:, order]


class TaylorTerms(NamedTuple):
    """The second-order Taylor model of one gradient step of size lr:

    J(theta - lr g) ~= J(theta) - lr g'g + 1/2 lr^2 g'Hg = loss - decrease + curvature.
    """

    loss: float
    lr: float
    gg: float  #: g'g, the squared gradient norm
    gHg: float  #: g'Hg, the curvature along the gradient
    decrease: float  #: lr g'g, the first-order decrease
    curvature: float  #: 1/2 lr^2 g'Hg, the second-order correction
    actual_change: float = (
        math.nan
    )  #: J(theta - lr g) - J(theta), when measured

    @property
    def predicted_change(self) -> float:
        """The predicted J(theta - lr g) - J(theta) = -lr g'g + 1/2 lr^2 g'Hg."""
        return self.curvature - self.decrease


def taylor_terms(
    closure: Callable[[], torch.Tensor],
    params,
    lr: float,
    *,
    measure: bool = False,
) -> TaylorTerms:
    """The two terms of the second-order Taylor expansion of a gradient step of size ``lr``.

    With g = grad J(theta) and H the Hessian,

        J(theta - lr g) ~= J(theta) - lr g'g + 1/2 lr^2 g'Hg.

    The step lowers the loss only while 1/2 lr^2 g'Hg < lr g'g; when the curvature term catches up
    with the gradient term, the step stops helping even though g is not zero (ill-conditioning).

    Args:
        closure, params: the loss and the parameters, as in :func:`hvp`.
        lr: the step size (epsilon in the book).
        measure: also take the step theta - lr g, evaluate the loss there, and put the parameters back,
            to compare the prediction with the actual change.

    Returns:
        a :class:`TaylorTerms` (loss, lr, gg, gHg, decrease = lr g'g, curvature = 1/2 lr^2 g'Hg,
        actual_change if measured).
    """
    lr = _args.positive("lr", lr)
    op = HessianOperator(closure, params)
    g = op.grad
    gg = float(torch.dot(g, g))
    gHg = float(torch.dot(g, op.matvec(g)))
    actual = math.nan
    if measure:
        with torch.no_grad():
            saved = [p.detach().clone() for p in op.params]
            for p, gp in zip(op.params, _unflatten(g, op.params)):
                p.sub_(lr * gp)  # the gradient step theta - lr g
            actual = float(closure()) - float(op.loss)
            for p, s in zip(op.params, saved):
                p.copy_(s)  # back to theta
    return TaylorTerms(
        float(op.loss), lr, gg, gHg, lr * gg, 0.5 * lr**2 * gHg, actual
    )


class TaylorMonitor:
    """Record the Taylor terms of the full training loss along a training run.

    Call :meth:`record` every few steps; read columns with ``monitor["gg"]``, ``monitor["curvature"]``,
    ``monitor["step"]``, ... (NumPy arrays). The model is evaluated in its current mode.

    Args:
        model: the network.
        X, y: the data the loss is measured on (usually the whole training set).
        loss_fn: ``loss_fn(model(X), y)``, cross-entropy by default.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        X: torch.Tensor,
        y: torch.Tensor,
        loss_fn: Callable = F.cross_entropy,
    ):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(
                f"model must be a torch.nn.Module, got {type(model).__name__}"
            )
        _args.tensor("X", X)
        _args.tensor("y", y)
        _args.same_length(("X", "y"), X, y)
        if not callable(loss_fn):
            raise TypeError(
                f"loss_fn must be callable, got {type(loss_fn).__name__}"
            )
        self.model, self.X, self.y, self.loss_fn = model, X, y, loss_fn
        self.rows: list[dict] = []

    def record(
        self, lr: float, *, measure: bool = True, **extra
    ) -> TaylorTerms:
        """Measure the terms at the current parameters for step size ``lr``; ``extra`` columns are stored too.

        With ``measure`` (default) the actual change of the loss after the step is recorded as well
        (column ``actual_change``), by a trial step that leaves the parameters as they were.
        """
        params = [p for p in self.model.parameters() if p.requires_grad]
        terms = taylor_terms(
            lambda: self.loss_fn(self.model(self.X), self.y),
            params,
            lr,
            measure=measure,
        )
        self.rows.append(
            {
                **terms._asdict(),
                "predicted_change": terms.predicted_change,
                **extra,
            }
        )
        return terms

    def __getitem__(self, key: str) -> np.ndarray:
        if not self.rows or key not in self.rows[-1]:
            raise KeyError(
                f"no column {key!r}; recorded columns:"
                f" {sorted(self.rows[-1]) if self.rows else []}"
            )
        return np.array(
            [row.get(key, math.nan) for row in self.rows], dtype=float
        )

    def __len__(self) -> int:
        return len(self.rows)
