"""One small training loop, `fit`, that every chapter uses, and `evaluate`.

`fit` returns a :class:`History` with one row per optimizer step (batch loss, gradient
norm, examples seen, wall time) and one row per epoch (losses and errors on the full
training and validation sets). When the loss becomes NaN or infinite it stops with a
:class:`DivergenceError` that says what happened and what to try, instead of training on
garbage.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from . import _args
from .data import batches
from .runtime import full_mode

__all__ = [
    "History",
    "DivergenceError",
    "check_divergence",
    "fit",
    "evaluate",
    "grad_norm",
    "greedy_supervised_pretraining",
]


class DivergenceError(RuntimeError):
    """Training produced a NaN or infinite loss. ``.history`` holds what was recorded until then."""

    def __init__(self, message: str, history: "History"):
        super().__init__(message)
        self.history = history


class Table:
    """Rows of numbers recorded during training; ``table["loss"]`` is a NumPy column."""

    def __init__(self):
        self.rows: list[dict] = []

    def append(self, **row) -> None:
        self.rows.append(row)

    def __getitem__(self, key: str) -> np.ndarray:
        if not self.rows or key not in self.rows[-1]:
            known = sorted(self.rows[-1]) if self.rows else []
            raise KeyError(f"no column {key!r}; recorded columns: {known}")
        return np.array(
            [row.get(key, np.nan) for row in self.rows], dtype=float
        )

    def __len__(self) -> int:
        return len(self.rows)

    def last(self, key: str) -> float:
        return float(self[key][-1])

    @property
    def columns(self) -> list[str]:
        return sorted(self.rows[-1]) if self.rows else []


class History:
    """What `fit` recorded: ``history.steps`` (one row per step) and ``history.epochs`` (one row per epoch)."""

    def __init__(self):
        self.steps = Table()
        self.epochs = Table()
        self.diverged = False

    def __repr__(self) -> str:
        return (
            f"History({len(self.steps)} steps: {self.steps.columns};"
            f" {len(self.epochs)} epochs: {self.epochs.columns};"
            f" diverged={self.diverged})"
        )


def grad_norm(parameters) -> float:
    """Euclidean norm of all gradients of ``parameters`` taken together, ||g||_2."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    return float(
        torch.linalg.vector_norm(
            torch.stack([torch.linalg.vector_norm(g) for g in grads])
        )
    )


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable = F.cross_entropy,
    *,
    batch_size: int = 4096,
) -> dict:
    """Loss (and, for class labels, 0-1 error and accuracy) of ``model`` on (X, y), in eval mode.

    Returns:
        ``{"loss": ..., "error": ..., "accuracy": ...}`` (the last two only when y holds class indices).
    """
    _args.tensor("X", X)
    _args.tensor("y", y)
    _args.same_length(("X", "y"), X, y)
    if len(X) == 0:
        raise ValueError("X must contain at least one example")
    batch_size = _args.positive_int("batch_size", batch_size)
    was_training = model.training
    model.eval()
    total_loss, wrong = 0.0, 0
    classify = not y.is_floating_point()
    try:
        for Xb, yb in batches(X, y, batch_size, shuffle=False):
            out = model(Xb)
            total_loss += float(loss_fn(out, yb)) * len(Xb)
            if classify:
                wrong += int((out.argmax(dim=1) != yb).sum())
    finally:
        model.train(was_training)
    result = {"loss": total_loss / len(X)}
    if classify:
        result["error"] = wrong / len(X)
        result["accuracy"] = 1.0 - result["error"]
    return result


def check_divergence(
    loss: float,
    history: History,
    *,
    where: str,
    lr=None,
    on_divergence: str = "raise",
) -> bool:
    """The divergence policy of every coursekit training loop: a NaN or infinite loss stops training.

    Returns ``False`` while ``loss`` is finite. Otherwise marks ``history.diverged`` and raises a
    :class:`DivergenceError` whose message says where it happened and what to try
    (``on_divergence="raise"``), or returns ``True`` so the loop can stop (``"stop"``).

    Args:
        loss: the loss just computed (a float).
        history: the loop's :class:`History` (attached to the error).
        where: where training is, for the message (``"epoch 3, step 120"``).
        lr: the learning rate, quoted in the message when given.
        on_divergence: ``"raise"`` or ``"stop"``.
    """
    if math.isfinite(loss):
        return False
    history.diverged = True
    rate = "" if lr is None else f" (learning rate {lr})"
    message = (
        f"Training diverged at {where}: the loss became {loss}{rate}. The steps"
        " overshot until the numbers overflowed; try a smaller learning rate,"
        " gradient clipping, or normalized inputs."
    )
    if on_divergence == "raise":
        raise DivergenceError(message, history)
    return True


def fit(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    train: tuple,
    *,
    epochs: int = 1,
    batch_size: int | None = None,
    loss_fn: Callable = F.cross_entropy,
    val: tuple | None = None,
    shuffle: bool = True,
    generator: torch.Generator | None = None,
    scheduler=None,
    max_steps: int | None = None,
    eval_train: bool | str = True,
    on_divergence: str = "raise",
    progress: bool | None = None,
    batch_loss: Callable | None = None,
    before_step: Callable | None = None,
    drop_last: bool = False,
) -> History:
    """Train ``model`` with ``optimizer`` on minibatches of ``train = (X, y)``.

    Each step evaluates a closure (zero the gradients, compute the minibatch loss, backpropagate),
    so optimizers that re-evaluate the loss (L-BFGS, Entropy-SGD) work too. This is coursekit's one
    training loop: the autoencoders, greedy pretraining and the smoothness probes train through it,
    and it holds the one divergence policy (:func:`check_divergence`).

    Args:
        model: any ``nn.Module`` mapping a batch of inputs to outputs.
        optimizer: a ``torch.optim.Optimizer`` over the model's parameters.
        train: the training set ``(X, y)``.
        epochs: passes over the training set.
        batch_size: examples per step; ``None`` is full-batch gradient descent, 1 is online SGD.
        loss_fn: ``loss_fn(outputs, targets)``; cross-entropy by default.
        val: optional validation set ``(X, y)`` evaluated after every epoch.
        shuffle: reshuffle the training set every epoch (False visits it in stored order).
        generator: a ``torch.Generator`` for the shuffling, for reproducible runs.
        scheduler: optional learning-rate scheduler, stepped after every optimizer step.
        max_steps: stop after this many steps in total (the last epoch may be partial).
        eval_train: also evaluate loss/error on the whole training set after each epoch (``True``);
            ``"batches"`` records instead the epoch's average minibatch loss as ``train_loss`` (free,
            but measured while the model changed); ``False`` records neither.
        on_divergence: ``"raise"`` a :class:`DivergenceError` on a NaN/inf loss, or ``"stop"``
            and return the history with ``history.diverged = True``.
        progress: show a tqdm progress bar over epochs; ``None`` shows it in FULL mode only.
        batch_loss: ``batch_loss(model, X_b, y_b)`` returns the minibatch loss, for models whose
            objective is not ``loss_fn(model(X_b), y_b)`` (an autoencoder's ``model.loss(X_b)``).
        before_step: ``before_step(step, X_b, y_b)`` is called before each step (``step`` counts from
            0), e.g. to measure the landscape at the current weights on the same minibatch.
        drop_last: skip the last minibatch of an epoch when it is smaller than ``batch_size``.

    Returns:
        a :class:`History`. ``history.steps`` columns: step, epoch, loss (minibatch), grad_norm,
        examples, time (seconds since start), lr. ``history.epochs`` columns: epoch, step,
        train_loss/train_error (if eval_train), val_loss/val_error (if val), time.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, got {type(model).__name__}"
        )
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            "optimizer must be a torch.optim.Optimizer, got"
            f" {type(optimizer).__name__}"
        )
    X, y = _pair("train", train)
    if val is not None:
        _pair("val", val)
    epochs = _args.positive_int("epochs", epochs)
    if max_steps is not None:
        max_steps = _args.positive_int("max_steps", max_steps)
    _args.one_of("on_divergence", on_divergence, {"raise", "stop"})
    if not (isinstance(eval_train, bool) or eval_train == "batches"):
        raise ValueError(
            f"eval_train must be True, False or 'batches', got {eval_train!r}"
        )
    for name, hook in (
        ("loss_fn", loss_fn),
        ("batch_loss", batch_loss),
        ("before_step", before_step),
    ):
        if hook is not None and not callable(hook):
            raise TypeError(
                f"{name} must be callable, got {type(hook).__name__}"
            )
    if batch_loss is None:

        def batch_loss(model, Xb, yb):
            return loss_fn(model(Xb), yb)

    show_bar = full_mode() if progress is None else bool(progress)

    history = History()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    step, seen, start = 0, 0, time.perf_counter()
    epoch_iter = range(1, epochs + 1)
    if show_bar:
        from tqdm.auto import tqdm

        epoch_iter = tqdm(epoch_iter, desc="epochs")

    for epoch in epoch_iter:
        model.train()
        epoch_loss, epoch_seen = 0.0, 0
        for Xb, yb in batches(
            X,
            y,
            batch_size,
            shuffle=shuffle,
            generator=generator,
            drop_last=drop_last,
        ):
            if before_step is not None:
                before_step(step, Xb, yb)

            def closure():
                optimizer.zero_grad()
                loss = batch_loss(model, Xb, yb)
                loss.backward()
                return loss

            loss = optimizer.step(closure)
            loss_value = (
                float(loss.detach())
                if isinstance(loss, torch.Tensor)
                else float(loss)
            )
            step += 1
            seen += len(Xb)
            epoch_loss += loss_value * len(Xb)
            epoch_seen += len(Xb)
            lr = optimizer.param_groups[0].get("lr", float("nan"))
            history.steps.append(
                step=step,
                epoch=epoch,
                loss=loss_value,
                grad_norm=grad_norm(params),
                examples=seen,
                time=time.perf_counter() - start,
                lr=lr,
            )
            if check_divergence(
                loss_value,
                history,
                where=f"epoch {epoch}, step {step}",
                lr=lr,
                on_divergence=on_divergence,
            ):
                return history
            if scheduler is not None:
                scheduler.step()
            if max_steps is not None and step >= max_steps:
                break
        row = {
            "epoch": epoch,
            "step": step,
            "time": time.perf_counter() - start,
        }
        if eval_train == "batches":
            row["train_loss"] = epoch_loss / max(epoch_seen, 1)
        elif eval_train:
            row.update(
                {
                    f"train_{k}": v
                    for k, v in evaluate(model, X, y, loss_fn).items()
                    if k != "accuracy"
                }
            )
        if val is not None:
            row.update(
                {
                    f"val_{k}": v
                    for k, v in evaluate(model, *val, loss_fn).items()
                    if k != "accuracy"
                }
            )
        history.epochs.append(**row)
        if max_steps is not None and step >= max_steps:
            break
    return history


def _pair(name: str, data) -> tuple:
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise TypeError(
            f"{name} must be a pair (X, y) of tensors, got"
            f" {type(data).__name__}"
        )
    X, y = data
    _args.tensor(f"{name}[0] (X)", X)
    _args.tensor(f"{name}[1] (y)", y)
    _args.same_length((f"{name} X", f"{name} y"), X, y)
    if len(X) == 0:
        raise ValueError(f"{name} must contain at least one example")
    return X, y


def greedy_supervised_pretraining(
    sizes,
    train,
    *,
    activation="sigmoid",
    epochs_per_layer=5,
    lr=0.1,
    batch_size=64,
    generator=None,
    loss_fn=None,
):
    r"""Greedy layer-wise supervised pretraining of an MLP.

    Stage :math:`l = 1, \dots, L-1`: on top of the hidden layers already trained (frozen), add one new
    hidden layer and a new output layer, and train only those two for ``epochs_per_layer`` epochs of
    SGD with :func:`fit`. The result is the full network (trained hidden layers + the last output
    layer), ready to be fine-tuned end to end.

    Args:
        sizes: widths of the final network, input first, output last (at least one hidden layer).
        train: the training set ``(X, y)``.
        activation: hidden activation (one of ``coursekit.nn.ACTIVATIONS``).
        epochs_per_layer, lr, batch_size: SGD settings of each stage.
        generator: for the minibatch order.
        loss_fn: the loss (cross-entropy by default).

    Returns:
        ``(model, histories)``: an ``nn.Sequential`` with the same layout as
        ``coursekit.nn.mlp(sizes, activation)`` and the :class:`History` of each stage.
    """
    sizes, act, loss_fn = _pretraining_args(
        sizes, activation, epochs_per_layer, lr, loss_fn
    )
    trained, histories = [], []
    stage = dict(epochs=epochs_per_layer, batch_size=batch_size)
    stage.update(loss_fn=loss_fn, generator=generator)  # fit() of each stage
    for l in range(1, len(sizes) - 1):
        new_hidden = [torch.nn.Linear(sizes[l - 1], sizes[l]), act()]
        head = torch.nn.Linear(sizes[l], sizes[-1])
        for p in (p for m in trained for p in m.parameters()):
            p.requires_grad_(False)  # earlier layers stay as they are
        model = torch.nn.Sequential(*trained, *new_hidden, head)
        new_params = [p for m in (*new_hidden, head) for p in m.parameters()]
        optimizer = torch.optim.SGD(new_params, lr=lr)
        histories.append(fit(model, optimizer, train, **stage))
        trained += new_hidden
    model = torch.nn.Sequential(*trained, head)
    model.requires_grad_(True)  # then fine-tune everything
    return model, histories


def _pretraining_args(sizes, activation, epochs_per_layer, lr, loss_fn):
    """Check greedy_supervised_pretraining's arguments; return (sizes, activation class, loss)."""
    from .nn import ACTIVATIONS

    sizes = list(sizes)
    if len(sizes) < 3:
        raise ValueError(
            "sizes must have at least one hidden layer (3 entries), got"
            f" {sizes!r}"
        )
    sizes = [_args.positive_int(f"sizes[{i}]", s) for i, s in enumerate(sizes)]
    _args.one_of("activation", activation, ACTIVATIONS)
    _args.positive_int("epochs_per_layer", epochs_per_layer)
    _args.positive("lr", lr)
    if loss_fn is not None and not callable(loss_fn):
        raise TypeError(
            f"loss_fn must be callable, got {type(loss_fn).__name__}"
        )
    return (
        sizes,
        ACTIVATIONS[activation],
        F.cross_entropy if loss_fn is None else loss_fn,
    )
