r"""Rosenblatt's perceptron: one layer of step units and its learning rule.

- :func:`step`: the unit step (Heaviside) activation.
- :func:`perceptron`: the perceptron learning rule, which finds a separating
  line whenever one exists, and never stops making mistakes when none does
  (XOR).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import _args

__all__ = ["step", "perceptron", "PerceptronResult"]


def step(a: torch.Tensor) -> torch.Tensor:
    r"""The unit step: :math:`H(a) = 1` if :math:`a > 0`, else 0 (dtype of a)."""
    _args.tensor("a", a)
    return (a > 0).to(a.dtype)


@dataclass
class PerceptronResult:
    """What :func:`perceptron` returns: the weights ``w``, the bias ``b``, and
    the number of misclassified examples met during each epoch, ``mistakes``.
    """

    w: torch.Tensor
    b: float
    mistakes: list[int]


def perceptron(
    X: torch.Tensor, y: torch.Tensor, *, epochs: int = 100
) -> PerceptronResult:
    r"""Train a perceptron :math:`\hat y = \mathrm{sign}(w^\top x + b)`.

    Rosenblatt's rule visits the examples in order; on each mistake,
    :math:`y\,(w^\top x + b) \le 0`, the weights move towards the example:
    :math:`w \leftarrow w + y\,x`, :math:`b \leftarrow b + y`. If the two
    classes are linearly separable the rule stops making mistakes after
    finitely many updates (Novikoff's theorem); otherwise it never does.
    Training stops after the first epoch without a mistake, or after
    ``epochs`` epochs.

    Args:
        X: the inputs, shape (n, d), floating.
        y: the labels, shape (n,), each -1 or +1.
        epochs: the largest number of passes over the data.

    Returns:
        a :class:`PerceptronResult` (weights, bias, mistakes per epoch).
    """
    _args.tensor("X", X, ndim=2, floating=True)
    _args.tensor("y", y, ndim=1)
    _args.same_length(("X", "y"), X, y)
    epochs = _args.positive_int("epochs", epochs)
    if not bool(((y == 1) | (y == -1)).all()):
        raise ValueError("y must contain only the labels -1 and +1")
    w, b, mistakes = torch.zeros(X.shape[1], dtype=X.dtype), 0.0, []
    for _ in range(epochs):
        wrong = 0
        for x_i, y_i in zip(X, y.to(X.dtype)):
            if float(y_i * (w @ x_i + b)) <= 0:  # a mistake
                w, b = w + y_i * x_i, b + float(y_i)
                wrong += 1
        mistakes.append(wrong)
        if wrong == 0:
            break
    return PerceptronResult(w, b, mistakes)
