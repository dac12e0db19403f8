"""Network builders used across the chapters."""
from __future__ import annotations

import torch
from torch import nn

from . import _args

__all__ = ["mlp", "ACTIVATIONS"]

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "identity": nn.Identity,
}


def mlp(sizes, activation: str = "relu", *, batch_norm: bool = False, dropout: float = 0.0,
        bias: bool = True) -> nn.Sequential:
    """A multilayer perceptron: Linear layers of the given widths with an activation in between.

    ``mlp([64, 32, 10])`` is Linear(64, 32) -> ReLU -> Linear(32, 10). No activation follows the
    last layer (the loss applies the softmax).

    Args:
        sizes: layer widths, input first, output last (at least two entries).
        activation: one of ``ACTIVATIONS`` (``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"gelu"``, ``"identity"``).
        batch_norm: insert ``BatchNorm1d`` after each hidden Linear layer (before the activation).
        dropout: dropout probability applied after each hidden activation (0 disables it).
        bias: give the Linear layers a bias.

    Returns:
        an ``nn.Sequential``.
    """
    sizes = list(sizes) if not isinstance(sizes, (str, bytes)) else sizes
    if not isinstance(sizes, list) or len(sizes) < 2:
        raise ValueError(f"sizes must list at least an input and an output width, got {sizes!r}")
    for i, s in enumerate(sizes):
        _args.positive_int(f"sizes[{i}]", s)
    _args.one_of("activation", activation, ACTIVATIONS)
    dropout = _args.fraction("dropout", dropout)
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out, bias=bias))
        if i < len(sizes) - 2:
            if batch_norm:
                layers.append(nn.BatchNorm1d(fan_out))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)
