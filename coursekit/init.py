"""Weight initialization: the classic schemes, LSUV, bias choices, and per-layer statistics.

A fully connected layer with ``m`` inputs and ``n`` outputs computes ``h = W x + b`` with ``W`` of
shape ``(n, m)`` (PyTorch's layout: ``fan_in = m``, ``fan_out = n``; a convolution's fans also count
its kernel size). Every initializer fills a tensor **in place** and returns it, like
``torch.nn.init``; where a scheme coincides with one of torch's, the same generator gives the same
numbers.

==============  ==============================================  ============================
scheme          distribution of each weight                     variance Var[W_ij]
==============  ==============================================  ============================
standard        U(-1/sqrt(m), 1/sqrt(m))                        1 / (3 m)
glorot_uniform  U(-a, a), a = gain sqrt(6 / (m + n))            gain^2 2 / (m + n)
glorot_normal   N(0, gain^2 2 / (m + n))                        gain^2 2 / (m + n)
he_normal       N(0, gain^2 / fan)                              gain^2 / fan (2 / m for ReLU)
he_uniform      U(-sqrt(3) s, sqrt(3) s), s = gain / sqrt(fan)  gain^2 / fan
orthogonal      gain * (semi-)orthogonal matrix                 gain^2 / max(n_out, m)
sparse          k non-zeros N(0, std^2) per unit                k std^2 / m
==============  ==============================================  ============================

The rest of the module: :func:`initialize_` applies a scheme to every Linear/Conv layer of a
model; :func:`constant_bias_` and :func:`class_prior_bias_` initialize biases; :func:`lsuv_` is
layer-sequential unit-variance initialization; :func:`layer_statistics` measures the variance (and
histograms) of every layer's output and of the gradient flowing back into it; and
:func:`signal_propagation` predicts those variances for a wide network.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import _args

__all__ = [
    "fans",
    "gain",
    "glorot_bound",
    "he_std",
    "standard_uniform_",
    "glorot_uniform_",
    "glorot_normal_",
    "he_normal_",
    "he_uniform_",
    "orthogonal_",
    "sparse_",
    "SCHEMES",
    "weight_variance",
    "WEIGHTED_LAYERS",
    "initialize_",
    "constant_bias_",
    "class_log_priors",
    "class_prior_bias_",
    "lsuv_step",
    "lsuv_",
    "LSUVResult",
    "LayerStats",
    "layer_statistics",
    "signal_propagation",
    "forget_gate_bias_",
]

#: The layers whose weights :func:`initialize_` and :func:`lsuv_` initialize.
WEIGHTED_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)

_GAINS = {
    "linear": 1.0,
    "identity": 1.0,
    "conv1d": 1.0,
    "conv2d": 1.0,
    "conv3d": 1.0,
    "sigmoid": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
    "leaky_relu": None,
    "selu": 0.75,
}


# ------------------------------------------------------------------------------
# argument checks
# ------------------------------------------------------------------------------


def _weight(name: str, tensor) -> torch.Tensor:
    _args.tensor(name, tensor, floating=True)
    if tensor.ndim < 2:
        raise ValueError(
            f"{name} must have at least 2 dimensions (out_features,"
            " in_features, ...) to have a fan-in and a fan-out, got shape"
            f" {tuple(tensor.shape)}"
        )
    if tensor.numel() == 0:
        raise ValueError(
            f"{name} must not be empty, got shape {tuple(tensor.shape)}"
        )
    return tensor


def _generator(generator) -> torch.Generator | None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            "generator must be a torch.Generator or None, got"
            f" {type(generator).__name__}"
        )
    return generator


def _fill(
    tensor: torch.Tensor, generator: torch.Generator | None, sample: Callable
) -> torch.Tensor:
    """Fill ``tensor`` in place with ``sample(t)`` (which fills ``t`` using ``generator``).

    Draws directly into ``tensor`` when the generator lives on its device (then the numbers equal
    torch.nn.init's); otherwise draws on the generator's device and copies, so a CPU generator can
    seed a GPU model.
    """
    with torch.no_grad():
        if generator is None or generator.device == tensor.device:
            sample(tensor)
        else:
            tmp = torch.empty(
                tensor.shape, dtype=tensor.dtype, device=generator.device
            )
            sample(tmp)
            tensor.copy_(tmp)
    return tensor


# ------------------------------------------------------------------------------
# scales
# ------------------------------------------------------------------------------


def fans(tensor: torch.Tensor) -> tuple[int, int]:
    """Fan-in ``m`` and fan-out ``n`` of a weight tensor of shape (n_out, n_in, *kernel).

    ``m = n_in * prod(kernel)`` and ``n = n_out * prod(kernel)``: the number of inputs feeding one output
    unit, and of outputs each input feeds (torch's convention).
    """
    _weight("tensor", tensor)
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def gain(nonlinearity: str = "linear", a: float = 0.0) -> float:
    """The factor by which an initializer's standard deviation is multiplied for a nonlinearity.

    ``linear``/``identity``/``sigmoid``: 1; ``tanh``: 5/3; ``relu``: sqrt(2);
    ``leaky_relu`` with negative slope ``a``: sqrt(2 / (1 + a^2)); ``selu``: 3/4 (as torch.nn.init.calculate_gain).

    The ReLU value is exact: a ReLU keeps half of a symmetric input's second moment, E[relu(h)^2] = Var[h] / 2,
    so the weights must carry twice the variance to compensate.
    """
    _args.one_of("nonlinearity", nonlinearity, _GAINS)
    a = _args.real("a", a)
    if nonlinearity == "leaky_relu":
        return math.sqrt(2.0 / (1.0 + a * a))
    return _GAINS[nonlinearity]


def glorot_bound(fan_in: int, fan_out: int, gain: float = 1.0) -> float:
    """Half-width a = gain * sqrt(6 / (m + n)) of Glorot's normalized uniform initialization.

    U(-a, a) has variance a^2 / 3 = gain^2 * 2 / (m + n), the compromise between keeping the forward
    variance (m Var[W] = 1) and the backward variance (n Var[W] = 1) constant.
    """
    fan_in = _args.positive_int("fan_in", fan_in)
    fan_out = _args.positive_int("fan_out", fan_out)
    gain = _args.positive("gain", gain)
    return gain * math.sqrt(6.0 / (fan_in + fan_out))


def he_std(fan: int, nonlinearity: str = "relu", a: float = 0.0) -> float:
    """Standard deviation gain / sqrt(fan) of He initialization; for ReLU sqrt(2 / fan).

    Args:
        fan: the fan-in (keeps forward variances constant) or the fan-out (keeps backward ones).
        nonlinearity: the activation after the layer (see :func:`gain`).
        a: the negative slope of a leaky ReLU (gives sqrt(2 / ((1 + a^2) fan))).
    """
    fan = _args.positive_int("fan", fan)
    return gain(nonlinearity, a) / math.sqrt(fan)


def _he_scale(tensor, a, mode, nonlinearity, gain_):
    _args.one_of("mode", mode, {"fan_in", "fan_out"})
    fan_in, fan_out = fans(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    if gain_ is None:
        return he_std(fan, nonlinearity, a)
    return _args.positive("gain", gain_) / math.sqrt(fan)


# ------------------------------------------------------------------------------
# initializers (in place, torch naming)
# ------------------------------------------------------------------------------


def standard_uniform_(
    tensor: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """The "standard" heuristic W_ij ~ U(-1/sqrt(m), 1/sqrt(m)), m = fan-in; Var[W_ij] = 1 / (3 m).

    This is also PyTorch's default for ``nn.Linear`` and ``nn.Conv*d`` weights
    (``kaiming_uniform_(w, a=sqrt(5))`` has exactly this bound).
    """
    _weight("tensor", tensor)
    bound = 1.0 / math.sqrt(fans(tensor)[0])
    return _fill(
        tensor,
        _generator(generator),
        lambda t: t.uniform_(-bound, bound, generator=generator),
    )


def glorot_uniform_(
    tensor: torch.Tensor,
    gain: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Glorot & Bengio's normalized initialization W_ij ~ U(-a, a), a = gain sqrt(6 / (m + n)).

    Var[W_ij] = gain^2 2 / (m + n). Same numbers as ``torch.nn.init.xavier_uniform_`` with the same generator.
    """
    m, n = fans(_weight("tensor", tensor))
    a = glorot_bound(m, n, gain)
    return _fill(
        tensor,
        _generator(generator),
        lambda t: t.uniform_(-a, a, generator=generator),
    )


def glorot_normal_(
    tensor: torch.Tensor,
    gain: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Glorot initialization with a Gaussian: W_ij ~ N(0, gain^2 2 / (m + n)).

    Same numbers as ``torch.nn.init.xavier_normal_`` with the same generator.
    """
    m, n = fans(_weight("tensor", tensor))
    std = glorot_bound(m, n, gain) / math.sqrt(3.0)
    return _fill(
        tensor,
        _generator(generator),
        lambda t: t.normal_(0.0, std, generator=generator),
    )


def he_normal_(
    tensor: torch.Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "relu",
    generator: torch.Generator | None = None,
    *,
    gain: float | None = None,
) -> torch.Tensor:
    """He et al.'s initialization W_ij ~ N(0, gain^2 / fan); for ReLU and fan-in, N(0, 2 / m).

    Args:
        tensor: the weight, shape (n_out, n_in, *kernel).
        a: negative slope of a leaky ReLU (``nonlinearity="leaky_relu"``).
        mode: ``"fan_in"`` keeps the variance of the forward signal, ``"fan_out"`` that of the gradients.
        nonlinearity: the activation after the layer; sets the gain (see :func:`gain`).
        generator: a ``torch.Generator`` for reproducible draws.
        gain: overrides the nonlinearity's gain (e.g. to over-scale on purpose).

    Same numbers as ``torch.nn.init.kaiming_normal_`` with the same generator.
    """
    std = _he_scale(_weight("tensor", tensor), a, mode, nonlinearity, gain)
    return _fill(
        tensor,
        _generator(generator),
        lambda t: t.normal_(0.0, std, generator=generator),
    )


def he_uniform_(
    tensor: torch.Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "relu",
    generator: torch.Generator | None = None,
    *,
    gain: float | None = None,
) -> torch.Tensor:
    """He initialization with a uniform law of the same variance: U(-sqrt(3) s, sqrt(3) s), s = gain / sqrt(fan).

    Arguments as :func:`he_normal_`. Same numbers as ``torch.nn.init.kaiming_uniform_``.
    """
    bound = math.sqrt(3.0) * _he_scale(
        _weight("tensor", tensor), a, mode, nonlinearity, gain
    )
    return _fill(
        tensor,
        _generator(generator),
        lambda t: t.uniform_(-bound, bound, generator=generator),
    )


def _check_init(tensor, generator) -> tuple[int, int]:
    """Check a weight tensor and a generator; returns its rows and columns (fan-in)."""
    _weight("tensor", tensor)
    _generator(generator)
    return tensor.shape[0], tensor.numel() // tensor.shape[0]


def orthogonal_(
    tensor: torch.Tensor,
    gain: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Saxe et al.'s orthogonal initialization: W = gain * Q with Q (semi-)orthogonal and uniformly random.

    Q comes from the QR decomposition of a Gaussian matrix, A = QR, with the signs of diag(R) moved into Q
    so that Q is uniformly (Haar) distributed. With more rows than columns the columns are orthonormal,
    otherwise the rows are; trailing (kernel) dimensions are flattened into columns.
    Then ||W x|| = gain ||x|| for every x (rows >= columns), and Var[W_ij] = gain^2 / max(rows, columns).
    Same numbers as ``torch.nn.init.orthogonal_`` with the same generator.
    """
    rows, cols = _check_init(tensor, generator)
    gain = _args.positive("gain", gain)
    with torch.no_grad():
        device = generator.device if generator is not None else tensor.device
        A = torch.empty(rows, cols, dtype=tensor.dtype, device=device).normal_(
            0.0, 1.0, generator=generator
        )
        if rows < cols:
            A = A.T
        Q, R = torch.linalg.qr(A)
        Q = Q * torch.diagonal(R).sign()  # Haar-uniform Q (Mezzadri 2007)
        if rows < cols:
            Q = Q.T
        tensor.view_as(Q).copy_(Q).mul_(gain)
    return tensor


def sparse_(
    tensor: torch.Tensor,
    k: int = 15,
    std: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Martens' sparse initialization: every output unit gets exactly ``k`` non-zero incoming weights.

    The ``k`` inputs of each unit (row of the flattened weight) are chosen uniformly at random and their
    weights drawn from N(0, std^2); all other weights are 0. Martens (2010) used k = 15 and std = 1.
    The non-zero weights do not shrink as the layer widens: Var[W_ij] = k std^2 / m, so the unit's input
    variance is m Var[W_ij] = k std^2, and std = gain / sqrt(k) preserves it.

    ``torch.nn.init.sparse_(W, sparsity)`` zeros a fraction of each *column* instead; the two coincide in
    distribution for ``sparse_(W.T, k=rows - ceil(sparsity * rows))``.
    """
    rows, cols = _check_init(tensor, generator)
    k, std = _args.positive_int("k", k), _args.positive("std", std)
    if k > cols:
        raise ValueError(
            f"k must be <= the fan-in {cols} (non-zeros per unit), got {k}"
        )
    with torch.no_grad():
        device = generator.device if generator is not None else tensor.device
        values = torch.empty(
            rows, cols, dtype=tensor.dtype, device=device
        ).normal_(0.0, std, generator=generator)
        scores = torch.rand(rows, cols, device=device, generator=generator)
        keep = torch.zeros(rows, cols, dtype=torch.bool, device=device)
        keep.scatter_(
            1, scores.topk(k, dim=1).indices, True
        )  # k random positions per row
        W = torch.where(
            keep, values, torch.zeros((), dtype=values.dtype, device=device)
        )
        tensor.copy_(W.view_as(tensor))
    return tensor


#: The schemes :func:`initialize_` knows by name.
SCHEMES: dict[str, Callable] = {
    "standard": standard_uniform_,
    "glorot_uniform": glorot_uniform_,
    "glorot_normal": glorot_normal_,
    "he_normal": he_normal_,
    "he_uniform": he_uniform_,
    "orthogonal": orthogonal_,
    "sparse": sparse_,
}


def weight_variance(scheme: str, shape, **kwargs) -> float:
    """The variance Var[W_ij] that a named scheme gives each entry of a weight of the given shape.

    Args:
        scheme: a name in :data:`SCHEMES`.
        shape: the weight's shape, (n_out, n_in) or (n_out, n_in, *kernel).
        **kwargs: the scheme's own arguments (``gain``, ``nonlinearity``, ``a``, ``mode``, ``k``, ``std``).

    Multiplied by the fan-in, it is the factor s by which the layer scales the second moment of its input.
    """
    _args.one_of("scheme", scheme, SCHEMES)
    shape = (
        tuple(shape) if isinstance(shape, (tuple, list, torch.Size)) else shape
    )
    if not isinstance(shape, tuple) or len(shape) < 2:
        raise ValueError(
            "shape must be a weight shape (n_out, n_in, *kernel), got"
            f" {shape!r}"
        )
    for i, d in enumerate(shape):
        _args.positive_int(f"shape[{i}]", d)
    receptive = math.prod(shape[2:])
    m, n = shape[1] * receptive, shape[0] * receptive  # fan-in, fan-out
    rows, cols = shape[0], m  # the flattened matrix
    if scheme == "standard":
        return 1.0 / (3.0 * m)
    if scheme in ("glorot_uniform", "glorot_normal"):
        return glorot_bound(m, n, kwargs.get("gain", 1.0)) ** 2 / 3.0
    if scheme in ("he_normal", "he_uniform"):
        mode = _args.one_of(
            "mode", kwargs.get("mode", "fan_in"), {"fan_in", "fan_out"}
        )
        fan = m if mode == "fan_in" else n
        g = kwargs.get("gain")
        g = (
            gain(kwargs.get("nonlinearity", "relu"), kwargs.get("a", 0.0))
            if g is None
            else _args.positive("gain", g)
        )
        return g * g / fan
    if (
        scheme == "orthogonal"
    ):  # unit-norm rows (or columns) of the flattened (rows x cols) matrix
        return _args.positive("gain", kwargs.get("gain", 1.0)) ** 2 / max(
            rows, cols
        )
    k = _args.positive_int("k", kwargs.get("k", 15))
    return k * _args.positive("std", kwargs.get("std", 1.0)) ** 2 / cols


# ------------------------------------------------------------------------------
# whole models and biases
# ------------------------------------------------------------------------------


def _layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, got {type(model).__name__}"
        )
    return [
        (name or type(model).__name__, mod)
        for name, mod in model.named_modules()
        if isinstance(mod, WEIGHTED_LAYERS)
    ]


def initialize_(
    model: nn.Module,
    scheme: str | Callable = "he_normal",
    *,
    bias: float | None = 0.0,
    generator: torch.Generator | None = None,
    **kwargs,
) -> nn.Module:
    """Initialize the weight of every Linear/Conv layer of ``model`` with one scheme, in place.

    Args:
        model: any ``nn.Module``; its ``WEIGHTED_LAYERS`` are visited in ``named_modules()`` order.
        scheme: a name in :data:`SCHEMES` or a callable ``scheme(weight, generator=..., **kwargs)``.
        bias: constant for every bias (``0.0``, or e.g. ``0.1`` before ReLUs); ``None`` leaves biases as they are.
        generator: a ``torch.Generator`` so the draws are reproducible.
        **kwargs: passed to the scheme (``gain=``, ``nonlinearity=``, ``k=``, ...).

    Returns:
        ``model`` (so ``initialize_(ck.nn.mlp(...), "orthogonal")`` can be written inline).
    """
    if isinstance(scheme, str):
        fn = SCHEMES[_args.one_of("scheme", scheme, SCHEMES)]
    elif callable(scheme):
        fn = scheme
    else:
        raise TypeError(
            f"scheme must be a name in {sorted(SCHEMES)} or a callable, got"
            f" {type(scheme).__name__}"
        )
    if bias is not None:
        bias = _args.real("bias", bias)
    _generator(generator)
    layers = _layers(model)
    if not layers:
        raise ValueError(
            "model has no layer of type"
            f" {', '.join(t.__name__ for t in WEIGHTED_LAYERS)} to initialize"
        )
    for _, layer in layers:
        fn(layer.weight, generator=generator, **kwargs)
        if bias is not None and layer.bias is not None:
            constant_bias_(layer.bias, bias)
    return model


def constant_bias_(bias: torch.Tensor, value: float = 0.0) -> torch.Tensor:
    """Set every entry of a bias to ``value``: 0 in most layers, a small positive value (0.1) before a
    ReLU so units start in their active region."""
    _args.tensor("bias", bias, floating=True)
    value = _args.real("value", value)
    with torch.no_grad():
        return bias.fill_(value)


def class_log_priors(
    targets: torch.Tensor, num_classes: int | None = None
) -> torch.Tensor:
    """Log class frequencies b_c = log p_c of integer labels: the output bias whose softmax is p.

    With these biases (and small output weights) a classifier's initial prediction is the class prior, and its
    initial cross-entropy is the entropy H(p) = -sum_c p_c log p_c of the labels, the loss of the best constant
    guess, rather than log C.
    """
    num_classes = _check_targets(targets, num_classes)
    counts = torch.bincount(targets, minlength=num_classes).to(torch.float64)
    if (counts == 0).any():
        missing = torch.nonzero(counts == 0).flatten().tolist()
        raise ValueError(
            "targets must contain every class at least once (log 0 = -inf); "
            f"classes {missing} are missing"
        )
    return torch.log(counts / counts.sum())


def _check_targets(targets, num_classes) -> int:
    """Check integer class labels; returns the number of classes."""
    _args.tensor("targets", targets, ndim=1)
    if targets.is_floating_point() or targets.dtype == torch.bool:
        raise TypeError(
            f"targets must hold integer class labels, got dtype {targets.dtype}"
        )
    if len(targets) == 0:
        raise ValueError("targets must contain at least one label")
    if int(targets.min()) < 0:
        raise ValueError(f"targets must be >= 0, got {int(targets.min())}")
    if num_classes is None:
        num_classes = int(targets.max()) + 1
    num_classes = _args.positive_int("num_classes", num_classes)
    if int(targets.max()) >= num_classes:
        raise ValueError(
            f"targets contain label {int(targets.max())} but num_classes is"
            f" {num_classes}"
        )
    return num_classes


def class_prior_bias_(
    bias: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """Set an output layer's bias to the log class frequencies of ``targets`` (see :func:`class_log_priors`).

    A bias with one entry is a logistic output: it gets the log-odds log(p_1 / p_0) of binary labels.
    """
    _args.tensor("bias", bias, ndim=1, floating=True)
    if bias.numel() == 1:
        logp = class_log_priors(targets, 2)
        value = (logp[1] - logp[0]).reshape(1)
    else:
        value = class_log_priors(targets, bias.numel())
    with torch.no_grad():
        return bias.copy_(value.to(bias.dtype))


# ------------------------------------------------------------------------------
# LSUV
# ------------------------------------------------------------------------------


@dataclass
class LSUVResult:
    """What :func:`lsuv_` did: per layer, the output variance before rescaling, after it, and the iterations."""

    names: list[str]
    variance_before: list[float]
    variance_after: list[float]
    iterations: list[int]
    tol: float

    @property
    def converged(self) -> bool:
        """Whether every layer's output variance is within ``tol`` of 1."""
        return all(abs(v - 1.0) <= self.tol for v in self.variance_after)

    def __repr__(self) -> str:
        rows = "\n".join(
            f"  {n:>12}: var {b:10.4g} -> {a:.4f} in {i} step(s)"
            for n, b, a, i in zip(
                self.names,
                self.variance_before,
                self.variance_after,
                self.iterations,
            )
        )
        return f"LSUVResult(tol={self.tol}, converged={self.converged})\n{rows}"


def _check_layer(layer, inputs) -> None:
    weight = getattr(layer, "weight", None)
    if not isinstance(layer, nn.Module) or not isinstance(weight, torch.Tensor):
        raise TypeError(
            "layer must be an nn.Module with a weight (Linear, Conv), got"
            f" {type(layer).__name__}"
        )
    _args.tensor("inputs", inputs, floating=True)


def lsuv_step(
    layer: nn.Module, inputs: torch.Tensor
) -> tuple[torch.Tensor, float]:
    """One LSUV step for one layer: v = Var(B) with B = layer(inputs), and the rescaled weight W / sqrt(v).

    Pure: the layer is not modified (:func:`lsuv_` copies the new weight in).

    Returns:
        ``(new_weight, v)``.
    """
    _check_layer(layer, inputs)
    with torch.no_grad():
        v = float(layer(inputs).var())
    if not math.isfinite(v) or v <= 0.0:
        raise ValueError(
            f"the layer's output has variance {v} on this batch, so it cannot"
            " be rescaled to 1; check the inputs (constant? NaN?) and the"
            " previous layers (dead ReLUs?)"
        )
    return layer.weight.detach() / math.sqrt(v), v


class _Stop(Exception):
    """Raised by a hook to end a forward pass once the wanted layer's input has been seen."""


def _input_of(
    model: nn.Module, layer: nn.Module, X: torch.Tensor
) -> torch.Tensor:
    """The input ``layer`` receives when ``model(X)`` runs (the forward pass stops there)."""
    seen = {}

    def hook(module, args):
        seen["x"] = args[0].detach()
        raise _Stop

    handle = layer.register_forward_pre_hook(hook)
    try:
        model(X)
    except _Stop:
        pass
    finally:
        handle.remove()
    if "x" not in seen:
        raise ValueError(
            f"layer {type(layer).__name__} is not used in model(X)'s forward"
            " pass"
        )
    return seen["x"]


@torch.no_grad()
def lsuv_layer_(layer: nn.Module, x: torch.Tensor, tol: float, max_iter: int):
    """LSUV for one layer: rescale its weight by 1 / sqrt(Var[output]) until |Var - 1| <= tol

    Args:
        layer: a Linear or Conv layer; ``x``: its input on a batch.
        tol, max_iter: as in :func:`lsuv_`.

    Returns:
        the output variance before and after, and the number of rescalings made.
    """
    for it in range(1, max_iter + 1):
        W, v = lsuv_step(layer, x)  # W / sqrt(v), v = Var[layer(x)]
        if it == 1:
            v_before = v
        if abs(v - 1.0) <= tol:
            it -= 1
            break
        layer.weight.copy_(W)
    return v_before, float(layer(x).var()), it


def lsuv_(
    model: nn.Module,
    X: torch.Tensor,
    *,
    tol: float = 0.1,
    max_iter: int = 10,
    init: str | Callable | None = "orthogonal",
    generator: torch.Generator | None = None,
) -> LSUVResult:
    """Layer-sequential unit-variance initialization (Mishkin & Matas, 2016), in place.

    1. Pre-initialize every Linear/Conv weight with an orthonormal matrix and every bias with 0
       (``init=None`` keeps the current weights).
    2. For each layer L, from input to output, on the batch ``X``:
       repeat  v = Var(B_L);  W_L <- W_L / sqrt(v)  until |v - 1| <= tol or ``max_iter`` steps,
       where B_L is the layer's output on the batch. Earlier layers are final by then, so the layer's input
       is computed once and only the layer itself is re-run.

    Args:
        model: the network; it runs in eval mode during LSUV (no dropout noise), then its mode is restored.
        X: a batch of training inputs (a few hundred examples).
        tol: tolerance on |Var(B_L) - 1| (the paper's Tol_var = 0.1).
        max_iter: maximum rescaling steps per layer (the paper's T_max).
        init: the pre-initialization scheme (name or callable, see :func:`initialize_`).
        generator: for the pre-initialization.

    Only weights are rescaled: a layer whose biases alone give its output a variance above 1 cannot reach
    the target (with the default ``init`` the biases are 0 and one step per layer suffices, since B_L is then
    linear in W_L).

    Returns:
        an :class:`LSUVResult`; a warning is issued for a layer that does not reach the tolerance.
    """
    _args.tensor("X", X, floating=True)
    if len(X) < 2:
        raise ValueError(
            "X must hold a batch of at least 2 examples to measure a variance,"
            f" got {len(X)}"
        )
    tol = _args.positive("tol", tol)
    max_iter = _args.positive_int("max_iter", max_iter)
    layers = _layers(model)
    if not layers:
        raise ValueError(
            "model has no layer of type"
            f" {', '.join(t.__name__ for t in WEIGHTED_LAYERS)} to initialize"
        )
    if init is not None:
        initialize_(model, init, bias=0.0, generator=generator)
    was_training = model.training
    model.eval()
    before, after, steps = [], [], []
    try:
        with torch.no_grad():
            for name, layer in layers:
                x = _input_of(model, layer, X)
                v_before, v, it = lsuv_layer_(layer, x, tol, max_iter)
                before.append(v_before)
                after.append(v)
                steps.append(it)
                if abs(v - 1.0) > tol:
                    warnings.warn(
                        f"LSUV: layer {name} reached variance {v:.4g}, not"
                        f" within {tol} of 1, after {max_iter} steps",
                        RuntimeWarning,
                        stacklevel=2,
                    )
    finally:
        model.train(was_training)
    return LSUVResult([n for n, _ in layers], before, after, steps, tol)


# ------------------------------------------------------------------------------
# statistics of activations and gradients
# ------------------------------------------------------------------------------


@dataclass
class LayerStats:
    """Statistics of one module's output on a batch, and of the loss gradient with respect to that output.

    ``var`` is Var[output] over all its entries (batch and units); ``grad_var`` is Var[dL/d output] (``nan``
    when no targets were given). ``values``/``grads`` hold the entries themselves (flattened, on the CPU) when
    :func:`layer_statistics` was asked to keep them, for histograms.
    """

    name: str
    kind: str
    mean: float
    var: float
    grad_var: float = float("nan")
    weight_grad_var: float = float("nan")
    active: float = float("nan")
    values: torch.Tensor | None = field(default=None, repr=False)
    grads: torch.Tensor | None = field(default=None, repr=False)

    def histogram(
        self,
        bins: int = 50,
        range: tuple[float, float] | None = None,
        *,
        of: str = "values",
    ):
        """Counts and bin edges (NumPy) of the kept ``values`` or ``grads``."""
        _args.one_of("of", of, {"values", "grads"})
        data = getattr(self, of)
        if data is None:
            raise ValueError(
                f"{of} were not kept; call layer_statistics(..., keep=True)"
            )
        counts, edges = np.histogram(
            data.numpy(), bins=_args.positive_int("bins", bins), range=range
        )
        return counts, edges


def _output_and_weight_grads(loss: torch.Tensor, outputs) -> tuple[list, list]:
    """dL/dB_l for each recorded ``(name, module, B_l)``, and dL/dW_l.

    One ``torch.autograd.grad`` call (the ``.grad`` fields are left untouched);
    dL/dW_l is ``None`` for a module without an ``nn.Parameter`` weight.
    """
    tensors = [o for _, _, o in outputs]
    has_weight = [
        isinstance(getattr(m, "weight", None), nn.Parameter)
        for _, m, _ in outputs
    ]
    weights = [m.weight for (_, m, _), w in zip(outputs, has_weight) if w]
    got = torch.autograd.grad(loss, tensors + weights, allow_unused=True)
    grads = list(got[: len(tensors)])
    it = iter(got[len(tensors) :])
    wgrads = [next(it) if w else None for w in has_weight]
    return grads, wgrads


def layer_statistics(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    loss_fn: Callable = F.cross_entropy,
    modules=None,
    keep: bool = False,
) -> list[LayerStats]:
    """Run one forward (and backward) pass and measure every selected module's output and its gradient.

    Forward hooks record each selected module's output B_l; then one backward pass of ``loss_fn(model(X), y)``
    gives dL/dB_l (by ``torch.autograd.grad``: the model's ``.grad`` fields are left untouched). For the weighted
    layers, B_l is the pre-activation h_l and dL/dB_l the back-propagated delta_l.

    Args:
        model: any ``nn.Module``.
        X: a batch of inputs.
        y: its targets; ``None`` measures the forward pass only.
        loss_fn: ``loss_fn(outputs, y)``.
        modules: which modules to watch: ``None`` for the Linear/Conv layers, a module type or tuple of types
            (e.g. ``nn.Tanh`` for post-activations), or a list of modules.
        keep: also keep the entries (``values``, ``grads``) on the CPU for histograms.

    Returns:
        one :class:`LayerStats` per watched module, in the order they ran. ``active`` is the fraction of
        positive entries (the active units of a ReLU that follows).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, got {type(model).__name__}"
        )
    _args.tensor("X", X)
    if y is not None:
        _args.tensor("y", y)
        _args.same_length(("X", "y"), X, y)
    if modules is None:
        modules = WEIGHTED_LAYERS
    if isinstance(modules, type) or (
        isinstance(modules, tuple) and all(isinstance(t, type) for t in modules)
    ):
        watched = [
            (n or type(model).__name__, m)
            for n, m in model.named_modules()
            if isinstance(m, modules)
        ]
    elif isinstance(modules, (list, tuple)) and all(
        isinstance(m, nn.Module) for m in modules
    ):
        names = {m: n for n, m in model.named_modules()}
        watched = [(names.get(m, type(m).__name__), m) for m in modules]
    else:
        raise TypeError(
            "modules must be None, a module type, a tuple of types, or a list"
            " of modules"
        )
    if not watched:
        raise ValueError("no module of model matches `modules`")

    outputs: list[tuple[str, nn.Module, torch.Tensor]] = []

    # region: hooks
    def hook(module, args, out):
        outputs.append((names_of[module], module, out))

    names_of = {m: n for n, m in watched}
    handles = [m.register_forward_hook(hook) for m in names_of]
    try:
        with torch.enable_grad():
            out = model(X)
            grads = [None] * len(outputs)
            wgrads = [None] * len(outputs)
            if y is not None:
                loss = loss_fn(out, y)
                grads, wgrads = _output_and_weight_grads(loss, outputs)
    finally:
        for h in handles:
            h.remove()
    # endregion

    stats = []
    for (name, module, o), g, wg in zip(outputs, grads, wgrads):
        o = o.detach()
        s = LayerStats(
            name=name,
            kind=type(module).__name__,
            mean=float(o.mean()),
            var=float(o.var()),
            active=float((o > 0).float().mean()),
        )
        if g is not None:
            s.grad_var = float(g.var())
        if wg is not None:
            s.weight_grad_var = float(wg.var())
        if keep:
            s.values = o.flatten().cpu().float()
            s.grads = None if g is None else g.detach().flatten().cpu().float()
        stats.append(s)
    return stats


# ------------------------------------------------------------------------------
# theory: variance propagation in a wide network
# ------------------------------------------------------------------------------

_PHI = {
    "identity": (lambda h: h, lambda h: np.ones_like(h)),
    "linear": (lambda h: h, lambda h: np.ones_like(h)),
    "relu": (lambda h: np.maximum(h, 0.0), lambda h: (h > 0).astype(float)),
    "tanh": (np.tanh, lambda h: 1.0 - np.tanh(h) ** 2),
    "sigmoid": (
        lambda h: 0.5 * (1.0 + np.tanh(h / 2)),
        lambda h: 0.25 * (1.0 - np.tanh(h / 2) ** 2),
    ),
}


def _check_signal_propagation(activation, depth, q0, scale):
    """The checks of :func:`signal_propagation`; returns depth, q0 and a scale per layer."""
    _args.one_of("activation", activation, _PHI)
    depth = _args.positive_int("depth", depth)
    q0 = _args.real("q0", q0, low=0.0)
    if isinstance(scale, numbers.Real) and not isinstance(scale, bool):
        return depth, q0, np.full(depth, _args.real("scale", scale, low=0.0))
    s = np.asarray(scale, dtype=float)
    if s.shape != (depth,) or not np.all(np.isfinite(s)) or np.any(s < 0):
        raise ValueError(
            f"scale must be a number >= 0 or {depth} numbers >= 0, got"
            f" {scale!r}"
        )
    return depth, q0, s


def signal_propagation(
    activation: str, scale, depth: int, q0: float = 1.0
) -> dict:
    """Predicted variances of the pre-activations and of the back-propagated gradients, layer by layer.

    For a wide network h_l = W_l x_{l-1}, x_l = phi(h_l), zero biases, independent zero-mean weights with
    fan_in * Var[W_l] = s_l (the "scale": 1/3 for the standard heuristic, 1 for Glorot on square layers,
    2 for He), the pre-activations are Gaussian across units with variance

        q_1 = s_1 q0,    q_l = s_l E_z[phi(sqrt(q_{l-1}) z)^2],   z ~ N(0, 1),

    where q0 = E[x_0^2] is the mean square input. Back-propagation, delta_l = phi'(h_l) * W_{l+1}^T delta_{l+1},
    multiplies the gradient variance by s_{l+1} E_z[phi'(sqrt(q_l) z)^2] per layer (square layers, so the fan-out
    equals the fan-in). For ReLU both factors are s / 2: the variance changes by (s / 2)^L over L layers.
    Gaussian expectations are computed by Gauss-Hermite quadrature.

    Args:
        activation: ``"relu"``, ``"tanh"``, ``"sigmoid"`` or ``"identity"``.
        scale: s, one number or one per layer.
        depth: number of layers L.
        q0: mean square of the input entries.

    Returns:
        ``{"forward": q (L,), "backward": Var[delta_l] / Var[delta_L] (L,)}`` as NumPy arrays.
    """
    depth, q0, s = _check_signal_propagation(
        activation, depth, q0, scale
    )  # s: s_l
    phi, dphi = _PHI[activation]
    z, w = np.polynomial.hermite_e.hermegauss(
        100
    )  # nodes and weights for the weight exp(-z^2 / 2)
    w = w / w.sum()
    q = np.empty(depth)
    q[0] = s[0] * q0
    for l in range(1, depth):
        q[l] = s[l] * np.sum(w * phi(math.sqrt(q[l - 1]) * z) ** 2)
    chi = np.array([np.sum(w * dphi(math.sqrt(ql) * z) ** 2) for ql in q])
    back = np.ones(depth)
    for l in range(depth - 2, -1, -1):
        back[l] = back[l + 1] * s[l + 1] * chi[l]
    return {"forward": q, "backward": back}


def forget_gate_bias_(lstm: nn.Module, value: float = 1.0) -> nn.Module:
    r"""Set the forget-gate bias of a ``nn.LSTM`` or ``nn.LSTMCell`` to ``value``, in place.

    An LSTM's cell keeps its memory through :math:`c_t = f_t \odot c_{t-1} + i_t \odot g_t` with the
    forget gate :math:`f_t = \sigma(W_f x_t + U_f h_{t-1} + b_f)`. With small initial weights
    :math:`f_t \approx \sigma(b_f)`, so the cell's own path carries
    :math:`\partial c_T / \partial c_0 \approx \sigma(b_f)^T`: :math:`0.5^T` with :math:`b_f = 0`, and
    :math:`0.73^T` with :math:`b_f = 1` (Gers et al., 2000; Jozefowicz et al., 2015).

    PyTorch stores the gates in the order (input, forget, cell, output) and adds two biases,
    ``bias_ih`` and ``bias_hh``; this sets the forget slice of ``bias_ih`` to ``value`` and that of
    ``bias_hh`` to 0 in every layer and direction, so their sum is ``value``.

    Args:
        lstm: an ``nn.LSTM`` or ``nn.LSTMCell`` with biases.
        value: :math:`b_f`, a finite real (1 is the usual choice).

    Returns:
        ``lstm``.
    """
    if not isinstance(lstm, (nn.LSTM, nn.LSTMCell)):
        raise TypeError(
            "lstm must be a torch.nn.LSTM or torch.nn.LSTMCell, got"
            f" {type(lstm).__name__}"
        )
    value = _args.real("value", value)
    if not math.isfinite(value):
        raise ValueError(f"value must be finite, got {value}")
    if not lstm.bias:
        raise ValueError("lstm has no biases (it was built with bias=False)")
    hidden = lstm.hidden_size
    forget = slice(hidden, 2 * hidden)  # gates are stacked as (i, f, g, o)
    with torch.no_grad():
        for name, b in lstm.named_parameters():
            if name.startswith("bias_ih"):
                b[forget] = value
            elif name.startswith("bias_hh"):
                b[forget] = 0.0
    return lstm
