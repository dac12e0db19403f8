"""Networks and layers, some of them written out by hand so the book can teach what torch does.

- :func:`mlp`: the multilayer perceptron builder every chapter uses.
- :class:`ManualMLP`: an MLP whose backward pass is written out with the deltas of backpropagation
  (no autograd), so its gradients can be compared with autograd's.
- :func:`batch_norm`, :class:`BatchNorm1d`, :class:`BatchNorm2d`: batch normalization from scratch,
  forward *and* backward, matching ``torch.nn.BatchNorm1d/2d`` (running statistics, train/eval mode,
  ``momentum=None`` cumulative averages, ``state_dict`` keys).
- :class:`LeNet`: a small LeNet-style convolutional network (1-D or 2-D).
- :class:`ResidualMLP`: a deep MLP with or without skip connections (same parameters either way).
- :func:`inverted_dropout`: dropout as torch implements it (scale by 1/(1-p) at training time).
- :func:`layer_shapes`, :func:`numerical_gradient`, :func:`elementwise_derivative`: tools to look inside.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from . import _args

__all__ = [
    "ACTIVATIONS",
    "mlp",
    "ManualMLP",
    "batch_norm",
    "BatchNormFunction",
    "BatchNorm1d",
    "BatchNorm2d",
    "LeNet",
    "ResidualMLP",
    "inverted_dropout",
    "conv2d_weight_gradient",
    "layer_shapes",
    "numerical_gradient",
    "elementwise_derivative",
]

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "identity": nn.Identity,
}

_BATCH_NORM_CHOICES = (False, True, "torch", "coursekit")


def _batch_norm_layer(choice, num_features: int, dims: int) -> nn.Module:
    """The BatchNorm layer for a ``batch_norm=`` choice: torch's (True / "torch") or ours ("coursekit")."""
    if choice == "coursekit":
        return (
            BatchNorm1d(num_features)
            if dims == 1
            else BatchNorm2d(num_features)
        )
    return (
        nn.BatchNorm1d(num_features)
        if dims == 1
        else nn.BatchNorm2d(num_features)
    )


def _optional_batch_norm(choice, num_features: int, dims: int) -> list:
    """``[]`` if ``choice`` is False, else ``[its BatchNorm layer]``."""
    if choice is False:
        return []
    return [_batch_norm_layer(choice, num_features, dims)]


def _check_batch_norm_choice(batch_norm) -> None:
    if not any(
        batch_norm is c or (isinstance(c, str) and batch_norm == c)
        for c in _BATCH_NORM_CHOICES
    ):
        raise ValueError(
            "batch_norm must be False, True (torch's BatchNorm), 'torch' or"
            f" 'coursekit' (coursekit.nn.BatchNorm), got {batch_norm!r}"
        )


def mlp(
    sizes,
    activation: str = "relu",
    *,
    batch_norm=False,
    dropout: float = 0.0,
    bias: bool = True,
) -> nn.Sequential:
    """A multilayer perceptron: Linear layers of the given widths with an activation in between.

    ``mlp([64, 32, 10])`` is Linear(64, 32) -> ReLU -> Linear(32, 10). No activation follows the
    last layer (the loss applies the softmax).

    Args:
        sizes: layer widths, input first, output last (at least two entries).
        activation: one of ``ACTIVATIONS`` (``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"gelu"``, ``"identity"``).
        batch_norm: insert a batch-norm layer after each hidden Linear layer (before the activation):
            ``True`` or ``"torch"`` uses ``torch.nn.BatchNorm1d``, ``"coursekit"`` uses
            :class:`coursekit.nn.BatchNorm1d` (written from scratch; same numbers), ``False`` none.
        dropout: dropout probability applied after each hidden activation (0 disables it).
        bias: give the Linear layers a bias.

    Returns:
        an ``nn.Sequential``.
    """
    sizes = list(sizes) if not isinstance(sizes, (str, bytes)) else sizes
    if not isinstance(sizes, list) or len(sizes) < 2:
        raise ValueError(
            "sizes must list at least an input and an output width, got"
            f" {sizes!r}"
        )
    for i, s in enumerate(sizes):
        _args.positive_int(f"sizes[{i}]", s)
    _args.one_of("activation", activation, ACTIVATIONS)
    _check_batch_norm_choice(batch_norm)
    dropout = _args.fraction("dropout", dropout)
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out, bias=bias))
        if i < len(sizes) - 2:
            if batch_norm is not False:
                layers.append(_batch_norm_layer(batch_norm, fan_out, dims=1))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


# ------------------------------------------------------------------------------
# Backpropagation written out by hand
# ------------------------------------------------------------------------------


def _sigmoid_prime(a):
    s = torch.sigmoid(a)
    return s * (1 - s)  # sigma'(a) = sigma(a) (1 - sigma(a))


def _tanh_prime(a):
    return 1 - torch.tanh(a) ** 2  # tanh'(a) = 1 - tanh(a)^2


def _relu_prime(a):
    return (a > 0).to(a.dtype)  # the switch: 1 where the unit was on, else 0


def _identity_prime(a):
    return torch.ones_like(a)


#: activation name -> (g, g'), both functions of the pre-activation a.
MANUAL_ACTIVATIONS = {
    "sigmoid": (torch.sigmoid, _sigmoid_prime),
    "tanh": (torch.tanh, _tanh_prime),
    "relu": (torch.relu, _relu_prime),
    "identity": (lambda a: a, _identity_prime),
}


class ManualMLP:
    r"""A multilayer perceptron whose backward pass is written out: the delta recursion of backprop.

    Rows of ``X`` are examples; the weight matrix of layer :math:`l` has shape (fan_in, fan_out), so
    entry :math:`w_{jk}` connects unit :math:`j` below to unit :math:`k` above (chapter 00's notation).

    Forward:
        :math:`Z^{(0)} = X,\quad A^{(l)} = Z^{(l-1)} W^{(l)} + b^{(l)},\quad Z^{(l)} = g_l(A^{(l)})`.

    Loss over :math:`N` examples:
        ``"mse"``: :math:`R = \frac1N \sum_n \frac12 \|y^n - z^{(L)n}\|^2`;
        ``"cross_entropy"``: :math:`R = -\frac1N \sum_n \log \mathrm{softmax}(a^{(L)n})_{y^n}`.

    Backward (the deltas are :math:`\delta = \partial L^n / \partial a`):
        :math:`\Delta^{(L)} = (Z^{(L)} - Y) \odot g_L'(A^{(L)})` (mse) or
        :math:`\mathrm{softmax}(A^{(L)}) - \mathrm{onehot}(Y)` (cross-entropy),

        :math:`\Delta^{(l)} = (\Delta^{(l+1)} W^{(l+1)\top}) \odot g'(A^{(l)})`,

        :math:`\partial R / \partial W^{(l)} = \frac1N Z^{(l-1)\top} \Delta^{(l)},\quad
        \partial R / \partial b^{(l)} = \frac1N \sum_n \Delta^{(l)}_n`.

    Args:
        sizes: layer widths, input first, output last.
        activation: hidden activation, one of ``"sigmoid"``, ``"tanh"``, ``"relu"``, ``"identity"``.
        output_activation: activation of the output layer (``"identity"`` for cross-entropy).
        loss: ``"mse"`` (half squared error) or ``"cross_entropy"`` (targets are class indices).
        bias: give every layer a bias.
        generator: a ``torch.Generator`` for the initial weights, U(-1/sqrt(fan_in), 1/sqrt(fan_in))
            as in ``torch.nn.Linear``.
        dtype, device: of the weights.
    """

    def __init__(
        self,
        sizes,
        activation: str = "sigmoid",
        *,
        output_activation: str = "identity",
        loss: str = "mse",
        bias: bool = True,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
        device=None,
    ):
        sizes = list(sizes) if not isinstance(sizes, (str, bytes)) else sizes
        if not isinstance(sizes, list) or len(sizes) < 2:
            raise ValueError(
                "sizes must list at least an input and an output width, got"
                f" {sizes!r}"
            )
        for i, s in enumerate(sizes):
            _args.positive_int(f"sizes[{i}]", s)
        self.activation = _args.one_of(
            "activation", activation, MANUAL_ACTIVATIONS
        )
        self.output_activation = _args.one_of(
            "output_activation", output_activation, MANUAL_ACTIVATIONS
        )
        self.loss_name = _args.one_of("loss", loss, {"mse", "cross_entropy"})
        if loss == "cross_entropy" and output_activation != "identity":
            raise ValueError(
                "output_activation must be 'identity' with"
                " loss='cross_entropy' (the softmax is part of the loss), got"
                f" {output_activation!r}"
            )
        if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise TypeError(
                f"dtype must be a floating torch.dtype, got {dtype!r}"
            )
        self.sizes, self.bias = sizes, bool(bias)
        self.weights, self.biases = [], []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / math.sqrt(fan_in)
            W = (
                torch.rand(
                    fan_in, fan_out, generator=generator, dtype=torch.float64
                )
                * 2
                - 1
            ) * bound
            b = (
                torch.rand(fan_out, generator=generator, dtype=torch.float64)
                * 2
                - 1
            ) * bound
            self.weights.append(W.to(device=device, dtype=dtype))
            self.biases.append(
                b.to(device=device, dtype=dtype) if bias else None
            )

    def parameters(self) -> list[torch.Tensor]:
        """The weights and biases in layer order: [W1, b1, W2, b2, ...] (biases left out when ``bias=False``)."""
        out = []
        for W, b in zip(self.weights, self.biases):
            out += [W] if b is None else [W, b]
        return out

    def _g(self, layer: int):
        last = layer == len(self.weights) - 1
        return MANUAL_ACTIVATIONS[
            self.output_activation if last else self.activation
        ]

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """The network's output; keeps the pre-activations ``self.A`` and activations ``self.Z`` for backward."""
        _args.tensor("X", X, ndim=2, floating=True)
        if X.shape[1] != self.sizes[0]:
            raise ValueError(
                f"X must have {self.sizes[0]} columns (the input width), got"
                f" shape {tuple(X.shape)}"
            )
        self.Z, self.A = [X], []
        for l, (W, b) in enumerate(zip(self.weights, self.biases)):
            A = (
                self.Z[-1] @ W if b is None else self.Z[-1] @ W + b
            )  # a_k = sum_j z_j w_jk (+ b_k)
            self.A.append(A)
            self.Z.append(self._g(l)[0](A))  # z_k = g(a_k)
        return self.Z[-1]

    __call__ = forward

    def _check_targets(self, X, Y):
        if self.loss_name == "mse":
            _args.tensor("Y", Y, floating=True)
            Y = Y.reshape(len(Y), -1) if Y.ndim == 1 else Y
            if Y.shape != (len(X), self.sizes[-1]):
                raise ValueError(
                    f"Y must have shape {(len(X), self.sizes[-1])}, got"
                    f" {tuple(Y.shape)}"
                )
        else:
            _args.tensor("Y", Y, ndim=1)
            if Y.is_floating_point() or len(Y) != len(X):
                raise ValueError(
                    f"Y must hold {len(X)} integer class indices, got {Y.dtype}"
                    f" of shape {tuple(Y.shape)}"
                )
        return Y

    def loss(self, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        """The empirical risk R (a scalar tensor; differentiable by autograd when the parameters require grad)."""
        out = self.forward(X)
        Y = self._check_targets(X, Y)
        if self.loss_name == "mse":
            return (
                0.5 * ((Y - out) ** 2).sum(dim=1).mean()
            )  # R = 1/N sum_n 1/2 ||y - z||^2
        return F.cross_entropy(out, Y)

    @torch.no_grad()
    def backward(self, X: torch.Tensor, Y: torch.Tensor) -> list[torch.Tensor]:
        """Gradients of R with respect to :meth:`parameters`, by the delta recursion (no autograd).

        The deltas of every layer are kept in ``self.deltas`` (``self.deltas[l]`` has the shape of ``self.A[l]``).
        """
        out = self.forward(X)
        Y = self._check_targets(X, Y)
        N, L = len(X), len(self.weights)
        if self.loss_name == "mse":
            # output delta: -(y - z) g'(a)
            delta = (out - Y) * self._g(L - 1)[1](self.A[-1])
        else:
            # output delta of softmax + cross-entropy: softmax(a) - onehot(y)
            delta = torch.softmax(self.A[-1], dim=1)
            delta[torch.arange(N, device=X.device), Y] -= 1.0
        self.deltas = [delta]
        grads = []
        for l in range(L - 1, -1, -1):
            # dR/dw_jk = 1/N sum_n delta_k z_j,  dR/db_k = 1/N sum_n delta_k
            grads_l = [self.Z[l].T @ delta / N]
            if self.biases[l] is not None:
                grads_l.append(delta.sum(dim=0) / N)
            grads = grads_l + grads
            if l > 0:
                # delta_j = g'(a_j) sum_k w_jk delta_k
                g_prime = self._g(l - 1)[1](self.A[l - 1])
                delta = (delta @ self.weights[l].T) * g_prime
                self.deltas.insert(0, delta)
        return grads

    def to_sequential(self) -> nn.Sequential:
        """An equivalent ``torch.nn.Sequential`` (Linear weights are the transposes of ``W``), for comparisons."""
        layers: list[nn.Module] = []
        for l, (W, b) in enumerate(zip(self.weights, self.biases)):
            lin = nn.Linear(
                W.shape[0],
                W.shape[1],
                bias=b is not None,
                device=W.device,
                dtype=W.dtype,
            )
            with torch.no_grad():
                lin.weight.copy_(W.T)
                if b is not None:
                    lin.bias.copy_(b)
            layers.append(lin)
            name = (
                self.output_activation
                if l == len(self.weights) - 1
                else self.activation
            )
            layers.append(ACTIVATIONS[name]())
        return nn.Sequential(*layers)


def _check_numerical_gradient(f, x, h) -> float:
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    _args.tensor("x", x, floating=True)
    if not x.is_contiguous():
        raise ValueError("x must be contiguous (it is perturbed in place)")
    return _args.positive("h", h)


def numerical_gradient(f, x: torch.Tensor, h: float = 1e-6) -> torch.Tensor:
    r"""Central finite differences :math:`\partial f/\partial x_i \approx (f(x + h e_i) - f(x - h e_i)) / 2h`.

    One pair of evaluations of ``f`` per entry of ``x``: meant for checking small problems in float64.
    ``x`` is perturbed in place and restored.

    Args:
        f: a function of no arguments returning a scalar (it reads ``x``).
        x: the tensor to differentiate with respect to.
        h: the step (1e-6 suits float64; the error is O(h^2) plus rounding O(eps/h)).
    """
    h = _check_numerical_gradient(f, x, h)
    grad = torch.zeros_like(x)
    flat, gflat = x.data.view(-1), grad.view(-1)
    with torch.no_grad():
        for i in range(flat.numel()):
            old = flat[i].item()
            flat[i] = old + h
            f_plus = float(f())
            flat[i] = old - h
            f_minus = float(f())
            flat[i] = old
            gflat[i] = (f_plus - f_minus) / (2 * h)
    return grad


def elementwise_derivative(f):
    """The derivative of an elementwise function ``f`` (a torch callable), computed by autograd.

    ``elementwise_derivative(torch.sigmoid)(x)`` is sigma'(x) at every entry of ``x``. At a kink (ReLU at 0)
    it returns autograd's convention (0 for ReLU).
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")

    def derivative(x: torch.Tensor) -> torch.Tensor:
        _args.tensor("x", x, floating=True)
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(f(x).sum(), x)
        return g

    derivative.__name__ = f"derivative_of_{getattr(f, '__name__', 'f')}"
    return derivative


# ------------------------------------------------------------------------------
# Batch normalization from scratch
# ------------------------------------------------------------------------------


class BatchNormFunction(torch.autograd.Function):
    r"""Batch normalization with batch statistics; the backward pass is written out.

    Forward, per channel over the :math:`n` values of the batch (and of the positions, for images):
        :math:`\mu = \frac1n\sum_i x_i,\ \sigma^2 = \frac1n\sum_i (x_i-\mu)^2,\
        \hat x_i = (x_i - \mu)/\sqrt{\sigma^2+\epsilon},\ y_i = \gamma \hat x_i + \beta`.

    Backward, with :math:`g_i = \partial L/\partial \hat x_i = \gamma\, \partial L/\partial y_i`:
        :math:`\partial L/\partial x_i = \frac{1}{\sqrt{\sigma^2+\epsilon}}
        \big(g_i - \frac1n\sum_j g_j - \hat x_i \frac1n \sum_j g_j \hat x_j\big)`,
        :math:`\partial L/\partial\gamma = \sum_i \frac{\partial L}{\partial y_i}\hat x_i`,
        :math:`\partial L/\partial\beta = \sum_i \frac{\partial L}{\partial y_i}`.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        y, x_hat, inv_std, mean, var = batch_norm_forward(x, weight, bias, eps)
        ctx.save_for_backward(x_hat, inv_std, weight)
        ctx.has_bias = bias is not None
        mean, var = mean.view(-1), var.view(-1)
        ctx.mark_non_differentiable(mean, var)
        return y, mean, var

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, _dmean, _dvar):
        x_hat, inv_std, weight = ctx.saved_tensors
        dx, dweight, dbias = batch_norm_backward(dy, x_hat, inv_std, weight)
        wanted = ctx.needs_input_grad
        return (
            dx,
            dweight if wanted[1] else None,
            dbias if ctx.has_bias and wanted[2] else None,
            None,
        )


def batch_norm_forward(
    x: torch.Tensor,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    eps: float,
):
    r"""Batch normalization with the batch's statistics, channel by channel (axis 1).

    :math:`\mu = \frac1n\sum_i x_i,\ \sigma^2 = \frac1n\sum_i (x_i-\mu)^2,\
    \hat x_i = (x_i - \mu)/\sqrt{\sigma^2+\epsilon},\ y_i = \gamma \hat x_i + \beta`.

    Returns:
        ``(y, x_hat, inv_std, mean, var)``: the output, what :func:`batch_norm_backward`
        needs, and the batch mean and variance (shaped to broadcast against ``x``).
    """
    dims = [0, *range(2, x.ndim)]  # every axis but the channel axis 1
    shape = [1, -1] + [1] * (x.ndim - 2)  # to broadcast a per-channel vector
    mean = x.mean(dim=dims, keepdim=True)  # mu
    var = ((x - mean) ** 2).mean(
        dim=dims, keepdim=True
    )  # sigma^2 (divide by n)
    inv_std = torch.rsqrt(var + eps)  # 1 / sqrt(sigma^2 + eps)
    x_hat = (x - mean) * inv_std
    y = x_hat if weight is None else x_hat * weight.view(shape)  # gamma x_hat
    y = y if bias is None else y + bias.view(shape)  # + beta
    return y, x_hat, inv_std, mean, var


def batch_norm_backward(
    dy: torch.Tensor,
    x_hat: torch.Tensor,
    inv_std: torch.Tensor,
    weight: torch.Tensor | None,
):
    r"""The gradients of batch normalization, from :func:`batch_norm_forward`'s outputs.

    With :math:`g_i = \partial L/\partial \hat x_i = \gamma\, \partial L/\partial y_i`:
    :math:`\partial L/\partial x_i = \frac{1}{\sqrt{\sigma^2+\epsilon}}
    \big(g_i - \frac1n\sum_j g_j - \hat x_i \frac1n \sum_j g_j \hat x_j\big)`,
    :math:`\partial L/\partial\gamma = \sum_i \frac{\partial L}{\partial y_i}\hat x_i`,
    :math:`\partial L/\partial\beta = \sum_i \frac{\partial L}{\partial y_i}`.

    Returns:
        ``(dx, dweight, dbias)`` (``dweight`` is ``None`` when ``weight`` is).
    """
    dims = [0, *range(2, dy.ndim)]  # every axis but the channel axis 1
    shape = [1, -1] + [1] * (dy.ndim - 2)
    g = dy if weight is None else dy * weight.view(shape)  # g_i = gamma dL/dy_i
    # dL/dx_i = (g_i - mean_j g_j - x_hat_i mean_j g_j x_hat_j) / sqrt(sigma^2 +
    # eps)
    g_mean = g.mean(dim=dims, keepdim=True)
    gx_mean = (g * x_hat).mean(dim=dims, keepdim=True)
    dx = inv_std * (g - g_mean - x_hat * gx_mean)
    dweight = (
        None if weight is None else (dy * x_hat).sum(dim=dims)
    )  # dL/dgamma
    dbias = dy.sum(dim=dims)  # dL/dbeta
    return dx, dweight, dbias


def batch_norm(
    x: torch.Tensor,
    running_mean: torch.Tensor | None = None,
    running_var: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> torch.Tensor:
    r"""Batch normalization of ``x`` (shape (N, C) or (N, C, ...)), channel by channel; same call as
    ``torch.nn.functional.batch_norm``.

    Training (``training=True``): normalize with the batch mean and (biased) variance over every axis but
    axis 1, :math:`y = \gamma (x-\mu_B)/\sqrt{\sigma_B^2+\epsilon} + \beta`, and, when running buffers are
    given, update them in place:
    :math:`\hat\mu \leftarrow (1-\rho)\hat\mu + \rho\,\mu_B`,
    :math:`\hat\sigma^2 \leftarrow (1-\rho)\hat\sigma^2 + \rho\,\frac{n}{n-1}\sigma_B^2`
    (:math:`\rho` = ``momentum``; the running variance is the unbiased estimate).

    Inference (``training=False``): normalize with the running statistics instead,
    :math:`y = \gamma (x-\hat\mu)/\sqrt{\hat\sigma^2+\epsilon} + \beta`, so each example's output no longer
    depends on the rest of the batch.

    Args:
        x: the input, channels on axis 1.
        running_mean, running_var: per-channel buffers (required when ``training=False``).
        weight, bias: the per-channel scale :math:`\gamma` and shift :math:`\beta` (``None``: 1 and 0).
        training: use (and track) batch statistics.
        momentum: :math:`\rho` in [0, 1], the weight of the new batch in the running averages.
        eps: :math:`\epsilon \ge 0`, added to the variance for numerical safety.
    """
    momentum, eps = _check_batch_norm(
        x, running_mean, running_var, weight, bias, training, momentum, eps
    )
    if not training:  # normalize with the running statistics
        shape = [1, -1] + [1] * (x.ndim - 2)
        mu, var = running_mean.view(shape), running_var.view(shape)
        x_hat = (x - mu) * torch.rsqrt(var + eps)
        y = x_hat if weight is None else x_hat * weight.view(shape)
        return y if bias is None else y + bias.view(shape)
    y, mean, var = BatchNormFunction.apply(x, weight, bias, eps)
    if running_mean is not None:
        n = x.numel() // x.shape[1]  # values per channel in the batch
        with (
            torch.no_grad()
        ):  # exponential averages of mean and unbiased variance
            running_mean.mul_(1 - momentum).add_(momentum * mean)
            running_var.mul_(1 - momentum).add_(momentum * var * n / (n - 1))
    return y


def _check_batch_norm(
    x, running_mean, running_var, weight, bias, training, momentum, eps
):
    """The argument checks of :func:`batch_norm`; returns ``momentum`` and ``eps``."""
    _args.tensor("x", x, ndim=range(2, 6), floating=True)
    C = x.shape[1]
    for name, t in (
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("weight", weight),
        ("bias", bias),
    ):
        if t is not None:
            _args.tensor(name, t, ndim=1)
            if t.numel() != C:
                raise ValueError(
                    f"{name} must have {C} entries (one per channel of x), got"
                    f" {t.numel()}"
                )
    if (running_mean is None) != (running_var is None):
        raise ValueError(
            "running_mean and running_var must be given together (or both None)"
        )
    momentum = _args.real("momentum", momentum, low=0.0, high=1.0)
    eps = _args.real("eps", eps, low=0.0)
    if not training and running_mean is None:
        raise ValueError(
            "training=False needs running_mean and running_var "
            "(the statistics used at inference)"
        )
    if training and x.numel() // C < 2:
        raise ValueError(
            "batch normalization in training mode needs more than 1 value per"
            f" channel, got input of shape {tuple(x.shape)}; use eval mode"
            " (model.eval()) to predict single examples"
        )
    return momentum, eps


class _BatchNorm(nn.Module):
    """Shared code of :class:`BatchNorm1d` and :class:`BatchNorm2d` (same arguments as torch's)."""

    _input_ndims: tuple = ()

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.num_features = _args.positive_int("num_features", num_features)
        self.eps = _args.real("eps", eps, low=0.0)
        self.momentum = (
            None
            if momentum is None
            else _args.real("momentum", momentum, low=0.0, high=1.0)
        )
        self.affine, self.track_running_stats = bool(affine), bool(
            track_running_stats
        )
        factory = {"device": device, "dtype": dtype}
        if self.affine:
            self.weight = nn.Parameter(
                torch.ones(num_features, **factory)
            )  # gamma
            self.bias = nn.Parameter(
                torch.zeros(num_features, **factory)
            )  # beta
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer(
                "running_mean", torch.zeros(num_features, **factory)
            )
            self.register_buffer(
                "running_var", torch.ones(num_features, **factory)
            )
            self.register_buffer(
                "num_batches_tracked",
                torch.tensor(0, dtype=torch.long, device=device),
            )
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches seen."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1.0)
            self.num_batches_tracked.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim not in self._input_ndims:
            got = (
                f"shape {tuple(x.shape)}"
                if isinstance(x, torch.Tensor)
                else type(x).__name__
            )
            raise ValueError(
                f"{type(self).__name__} expects input of"
                f" {' or '.join(map(str, self._input_ndims))} dimensions (N, C,"
                f" ...), got {got}"
            )
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}({self.num_features}) got input with"
                f" {x.shape[1]} channels (axis 1 of shape {tuple(x.shape)})"
            )
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if (
                self.momentum is None
            ):  # cumulative average: the k-th batch has weight 1/k
                momentum = 1.0 / float(self.num_batches_tracked)
        use_batch_stats = self.training or self.running_mean is None
        track = (
            not self.training or self.track_running_stats
        )  # buffers to read (eval) or update (train)
        return batch_norm(
            x,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight,
            self.bias,
            use_batch_stats,
            momentum,
            self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum},"
            f" affine={self.affine},"
            f" track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) inputs, written from scratch (see :func:`batch_norm`).

    Same arguments, buffers, ``state_dict`` keys and numbers as ``torch.nn.BatchNorm1d``: in ``train()`` mode
    it normalizes with batch statistics and updates ``running_mean``/``running_var`` (exponential average with
    weight ``momentum``, or the cumulative average when ``momentum=None``); in ``eval()`` mode it uses them.
    """

    _input_ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) images, per channel over batch and positions; like ``torch.nn.BatchNorm2d``."""

    _input_ndims = (4,)


# ------------------------------------------------------------------------------
# Convolutional and deep networks
# ------------------------------------------------------------------------------


class LeNet(nn.Module):
    """A small LeNet-style network (1-D signals or 2-D images).

    conv(in -> 4, 5) -> ReLU -> maxpool 2 -> conv(4 -> 6, 5) -> ReLU -> maxpool 2 -> flatten -> dropout(0.5)
    -> Linear(., 128) -> ReLU -> Linear(128, 10). On a 1x32x32 image the maps are 4x28x28, 4x14x14, 6x10x10,
    6x5x5, and 150 features enter the first fully connected layer.

    Args:
        input_size: side (2-D) or length (1-D) of the input, e.g. 32 for chapter 00's example, 40 for MNIST-1D.
        in_channels, num_classes: input channels and output classes.
        channels: output channels of the two convolutions.
        kernel_size: convolution kernel side; ``padding`` zero-pads each convolution.
        hidden: width of the hidden fully connected layer.
        dropout: dropout probability before the first fully connected layer (0 disables it).
        dims: 2 for images (Conv2d, input (N, C, H, W)), 1 for signals (Conv1d, input (N, C, L)).
        batch_norm: ``False``, ``True``/``"torch"`` or ``"coursekit"``: a batch-norm layer after each convolution
            (before its ReLU), as in VGG-style networks with batch norm.
        batch_norm_fc: with ``batch_norm``, also normalize the hidden fully connected layer (a ``BatchNorm1d``
            before its ReLU). Such a network cannot run a single example in training mode (one value per
            channel has no variance); with ``batch_norm_fc=False`` it can.
    """

    def __init__(
        self,
        input_size: int = 32,
        in_channels: int = 1,
        num_classes: int = 10,
        *,
        channels=(4, 6),
        kernel_size: int = 5,
        padding: int = 0,
        hidden: int = 128,
        dropout: float = 0.5,
        dims: int = 2,
        batch_norm=False,
        batch_norm_fc: bool = True,
    ):
        super().__init__()
        input_size = _args.positive_int("input_size", input_size)
        _args.positive_int("in_channels", in_channels)
        _args.positive_int("num_classes", num_classes)
        if isinstance(channels, (str, bytes)) or len(channels) != 2:
            raise ValueError(
                f"channels must be a pair (c1, c2), got {channels!r}"
            )
        c1, c2 = (
            _args.positive_int(f"channels[{i}]", c)
            for i, c in enumerate(channels)
        )
        k = _args.positive_int("kernel_size", kernel_size)
        p = _args.positive_int("padding", padding, allow_zero=True)
        _args.positive_int("hidden", hidden)
        dropout = _args.fraction("dropout", dropout)
        _args.one_of("dims", dims, {1, 2})
        _check_batch_norm_choice(batch_norm)
        size = input_size
        for _ in range(2):  # conv (size - k + 1 + 2p), then pool (// 2)
            size = (size - k + 1 + 2 * p) // 2
        if size < 1:
            raise ValueError(
                f"input_size={input_size} is too small for two {k}-wide"
                f" convolutions with padding {p} and two 2x poolings; use a"
                " larger input or padding"
            )
        # region: layers
        Conv = nn.Conv2d if dims == 2 else nn.Conv1d
        Pool = nn.MaxPool2d if dims == 2 else nn.MaxPool1d

        def bn(channels, d):  # the optional batch-norm layer: [] or [layer]
            return _optional_batch_norm(batch_norm, channels, d)

        self.features = nn.Sequential(
            Conv(in_channels, c1, k, padding=p),
            *bn(c1, dims),
            nn.ReLU(),
            Pool(2),
            Conv(c1, c2, k, padding=p),
            *bn(c2, dims),
            nn.ReLU(),
            Pool(2),
            nn.Flatten(),
        )
        self.num_flat = c2 * size**dims
        self.classifier = nn.Sequential(
            *([nn.Dropout(dropout)] if dropout > 0 else []),
            nn.Linear(self.num_flat, hidden),
            *(bn(hidden, 1) if batch_norm_fc else []),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )
        # endregion
        self.dims, self.input_size, self.in_channels = (
            dims,
            input_size,
            in_channels,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        want = 2 + self.dims
        if x.ndim != want or x.shape[1] != self.in_channels:
            layout = "(N, C, H, W)" if self.dims == 2 else "(N, C, L)"
            raise ValueError(
                f"LeNet(dims={self.dims}) expects input of shape {layout} with"
                f" C={self.in_channels}, got {tuple(x.shape)}"
            )
        return self.classifier(self.features(x))


class ResidualMLP(nn.Module):
    r"""A deep MLP of ``depth`` equal-width blocks, with or without skip connections.

    Input layer :math:`h_0 = W_{in} x`, then for :math:`l = 1..depth`:
    with skips :math:`h_l = h_{l-1} + g(W_l h_{l-1} + b_l)`, without :math:`h_l = g(W_l h_{l-1} + b_l)`;
    output :math:`W_{out} h_{depth}`. Both variants have exactly the same parameters, so with the same seed
    they start from the same weights and differ only by the skips.

    Args:
        in_features, width, out_features: input, hidden and output widths.
        depth: number of hidden blocks.
        activation: one of ``ACTIVATIONS``.
        skip: add the identity path around every block.
    """

    def __init__(
        self,
        in_features: int,
        width: int,
        depth: int,
        out_features: int,
        *,
        activation: str = "relu",
        skip: bool = True,
    ):
        super().__init__()
        for name, v in (
            ("in_features", in_features),
            ("width", width),
            ("depth", depth),
            ("out_features", out_features),
        ):
            _args.positive_int(name, v)
        _args.one_of("activation", activation, ACTIVATIONS)
        self.skip = bool(skip)
        self.input = nn.Linear(in_features, width)
        self.blocks = nn.ModuleList(
            nn.Linear(width, width) for _ in range(depth)
        )
        self.act = ACTIVATIONS[activation]()
        self.output = nn.Linear(width, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.input(x)
        for block in self.blocks:
            h = h + self.act(block(h)) if self.skip else self.act(block(h))
        return self.output(h)


def inverted_dropout(
    x: torch.Tensor,
    p: float,
    *,
    training: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Dropout as ``torch.nn.Dropout`` does it ("inverted" dropout).

    Training: keep each unit with probability :math:`1-p` and scale the survivors,
    :math:`y = m \odot x / (1-p)` with :math:`m_i \sim \mathrm{Bernoulli}(1-p)`, so :math:`\mathbb{E}[y] = x`.
    Test: :math:`y = x` (the whole network, nothing to rescale).

    Args:
        x: any tensor.
        p: the drop probability, in [0, 1).
        training: drop units (True) or pass ``x`` through (False).
        generator: a ``torch.Generator`` on ``x``'s device for the mask.
    """
    _args.tensor("x", x, floating=True)
    p = _args.fraction("p", p)
    if not training or p == 0.0:
        return x
    u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    keep = u >= p  # m ~ Bernoulli(1 - p)
    return x * keep / (1.0 - p)


def _check_conv_gradient(x, delta, kernel_size, padding) -> tuple[int, int]:
    """The checks of :func:`conv2d_weight_gradient`; returns the kernel size and padding."""
    _args.tensor("x", x, ndim=4, floating=True)
    _args.tensor("delta", delta, ndim=4, floating=True)
    k = _args.positive_int("kernel_size", kernel_size)
    p = _args.positive_int("padding", padding, allow_zero=True)
    N, C, H, W = x.shape
    out_h, out_w = H + 2 * p - k + 1, W + 2 * p - k + 1
    if delta.shape[0] != N or delta.shape[2:] != (out_h, out_w):
        raise ValueError(
            f"delta must have shape (N={N}, C_out, {out_h}, {out_w}) for this"
            f" x, kernel_size and padding, got {tuple(delta.shape)}"
        )
    return k, p


def conv2d_weight_gradient(
    x: torch.Tensor, delta: torch.Tensor, kernel_size: int, *, padding: int = 0
) -> torch.Tensor:
    r"""Gradient of a 2-D convolution's (shared) weights, written as a sum over positions.

    A filter weight :math:`w^{k\ell}_{uv}` is used at every output position :math:`(i, j)`, so its gradient is the
    sum of the gradients of all its copies:
    :math:`\partial L/\partial w^{k\ell}_{uv} = \sum_n \sum_{i,j} \delta^{k}_{n,ij}\, x^{\ell}_{n,\,i+u,\,j+v}`,
    where :math:`\delta^k_{n,ij} = \partial L/\partial a^k_{n,ij}` is the delta of output map :math:`k` (stride 1).

    Args:
        x: the layer input, shape (N, C_in, H, W).
        delta: the deltas of the layer output, shape (N, C_out, H_out, W_out).
        kernel_size: the filter side.
        padding: the zero padding of the convolution.

    Returns:
        the gradient, shape (C_out, C_in, kernel_size, kernel_size), like ``conv.weight.grad``.
    """
    k, p = _check_conv_gradient(x, delta, kernel_size, padding)
    N, C = x.shape[:2]
    # patches[n, (c, u, v), (i, j)] = x[n, c, i + u, j + v]
    patches = F.unfold(x, k, padding=p)
    d = delta.reshape(
        N, delta.shape[1], -1
    )  # d[n, k, (i, j)] = delta[n, k, i, j]
    # sum over the examples n and the positions (i, j)
    grad = torch.einsum("nkp,ncp->kc", d, patches)
    return grad.reshape(delta.shape[1], C, k, k)


def layer_shapes(
    model: nn.Module, x: torch.Tensor
) -> list[tuple[str, str, tuple]]:
    """Run ``model`` on ``x`` and list every leaf module's output: (name, layer type, output shape).

    The model is run in eval mode and without gradients; its mode is restored afterwards.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, got {type(model).__name__}"
        )
    _args.tensor("x", x)
    rows, hooks = [], []
    for name, module in model.named_modules():
        if len(list(module.children())) == 0:
            hooks.append(
                module.register_forward_hook(
                    lambda m, inp, out, name=name: rows.append(
                        (name, type(m).__name__, tuple(out.shape))
                    )
                )
            )
    _forward_with_hooks(model, x, hooks)
    return rows


def _forward_with_hooks(model: nn.Module, x: torch.Tensor, hooks: list) -> None:
    """Run ``model(x)`` once in eval mode without gradients, for the forward ``hooks`` it holds;
    then restore the model's mode and remove the hooks (also when the forward pass fails).
    """
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
