"""How smooth is the loss where training goes? Measures along the gradient direction (Santurkar et al., 2018).

At the current weights :math:`\\theta` with minibatch gradient :math:`g = \\nabla L(\\theta)`, look at the points
:math:`\\theta - \\eta g` for a range of step sizes :math:`\\eta` and record

- the **loss range** :math:`\\max_\\eta L(\\theta - \\eta g) - \\min_\\eta L(\\theta - \\eta g)`;
- the **gradient change** :math:`\\max_\\eta \\|\\nabla L(\\theta - \\eta g) - g\\|` ("gradient predictiveness":
  small means the gradient here predicts the gradient there);
- the **effective smoothness** :math:`\\max_\\eta \\|\\nabla L(\\theta - \\eta g) - g\\| / \\|\\eta g\\|`, a local
  Lipschitz constant of the gradient (the :math:`\\beta` of :math:`\\beta`-smoothness) along the path.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from . import _args
from .data import batches

__all__ = ["probe_along_gradient", "train_with_probes"]


def _flat_grad(params) -> torch.Tensor:
    return torch.cat(
        [
            (p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
            for p in params
        ]
    )


def probe_along_gradient(
    model: torch.nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    step_sizes,
    loss_fn: Callable = F.cross_entropy,
) -> dict:
    """Loss and gradient at :math:`\\theta - \\eta g` for every step size, on the batch (X, y).

    The model is probed in its current mode (training mode: batch statistics for batch norm) and left exactly
    as it was: parameters, gradients and buffers (running statistics) are restored.

    Returns:
        ``{"step_sizes", "loss" (one per step size), "loss0", "grad_norm", "loss_range", "grad_change",
        "smoothness"}``.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, got {type(model).__name__}"
        )
    _args.tensor("X", X)
    _args.tensor("y", y)
    _args.same_length(("X", "y"), X, y)
    etas = [
        _args.positive(f"step_sizes[{i}]", s) for i, s in enumerate(step_sizes)
    ]
    if not etas:
        raise ValueError("step_sizes must hold at least one value")
    params = [p for p in model.parameters() if p.requires_grad]
    saved_params = [p.detach().clone() for p in params]
    saved_grads = [None if p.grad is None else p.grad.clone() for p in params]
    saved_buffers = copy.deepcopy({k: v for k, v in model.named_buffers()})

    def loss_and_grad():
        for p in params:
            p.grad = None
        loss = loss_fn(model(X), y)
        loss.backward()
        return float(loss.detach()), _flat_grad(params)

    try:
        # region: probe
        loss0, g = loss_and_grad()
        losses, changes = [], []
        for eta in etas:
            with torch.no_grad():
                offset = 0
                for p, p0 in zip(params, saved_params):
                    n = p.numel()
                    p.copy_(
                        p0 - eta * g[offset : offset + n].view_as(p)
                    )  # theta - eta g
                    offset += n
            loss, grad = loss_and_grad()
            losses.append(loss)
            changes.append(float(torch.linalg.vector_norm(grad - g)))
        # endregion
    finally:
        with torch.no_grad():
            for p, p0, g0 in zip(params, saved_params, saved_grads):
                p.copy_(p0)
                p.grad = g0
            buffers = dict(model.named_buffers())
            for k, v in saved_buffers.items():
                if v is not None:
                    buffers[k].copy_(v)
    gnorm = float(torch.linalg.vector_norm(g))
    losses, changes, etas_a = (
        np.array(losses),
        np.array(changes),
        np.array(etas),
    )
    return {
        "step_sizes": etas_a,
        "loss": losses,
        "loss0": loss0,
        "grad_norm": gnorm,
        "loss_range": float(
            max(losses.max(), loss0) - min(losses.min(), loss0)
        ),
        "grad_change": float(changes.max()),
        "smoothness": float((changes / (etas_a * max(gnorm, 1e-30))).max()),
    }


def train_with_probes(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    train: tuple,
    *,
    steps: int,
    batch_size: int,
    step_sizes,
    probe_every: int = 10,
    loss_fn: Callable = F.cross_entropy,
    generator: torch.Generator | None = None,
) -> dict:
    """Train with minibatch steps and, every ``probe_every`` steps, probe the landscape along the gradient.

    The loop is :func:`coursekit.train.fit` (the probe runs before each step, on that step's
    minibatch), so a NaN/inf loss stops training with its readable message.

    Returns:
        a dict of arrays: ``"step"`` (the steps probed), ``"loss"`` (the training loss of every step),
        one array per measure of :func:`probe_along_gradient` (``"loss_range"``, ``"grad_change"``,
        ``"smoothness"``, ``"grad_norm"``), and ``"probe_losses"`` (probes x step sizes).
    """
    from .train import fit

    X, y = train
    _args.tensor("train X", X)
    steps = _args.positive_int("steps", steps)
    batch_size = _args.positive_int("batch_size", batch_size)
    probe_every = _args.positive_int("probe_every", probe_every)
    if batch_size > len(X):
        raise ValueError(
            f"batch_size={batch_size} is larger than the training set ({len(X)}"
            " examples)"
        )
    out = {
        "step": [],
        "loss_range": [],
        "grad_change": [],
        "smoothness": [],
        "grad_norm": [],
        "probe_losses": [],
    }

    def probe(step, Xb, yb):  # before the step, on the step's own minibatch
        if step % probe_every == 0:
            result = probe_along_gradient(model, Xb, yb, step_sizes, loss_fn)
            out["step"].append(step)
            for key in ("loss_range", "grad_change", "smoothness", "grad_norm"):
                out[key].append(result[key])
            out["probe_losses"].append(result["loss"])

    epochs = math.ceil(steps / (len(X) // batch_size))
    history = fit(
        model,
        optimizer,
        train,
        epochs=epochs,
        batch_size=batch_size,
        loss_fn=loss_fn,
        generator=generator,
        max_steps=steps,
        eval_train=False,
        before_step=probe,
        drop_last=True,
    )
    out["loss"] = history.steps["loss"]
    return {k: np.array(v) for k, v in out.items()}
