"""Autoencoders: an encoder h = f(x), a decoder x' = g(h), trained to reconstruct their input.

What this module holds (the book's chapter on autoencoders runs all of it):

* :class:`Autoencoder` (any encoder/decoder pair) and :func:`mlp_autoencoder` (an undercomplete MLP);
* :class:`LinearAutoencoder`, whose optimum spans the principal subspace, with :func:`pca`,
  :func:`pca_loss` and :func:`principal_angles` to check it;
* :class:`SparseAutoencoder` with the penalty :func:`kl_sparsity` and :func:`max_activating_inputs`;
* :class:`DenoisingAutoencoder` with pluggable corruptions (:func:`gaussian_noise`,
  :func:`salt_and_pepper`, :func:`masking`, :func:`blur`, :func:`corruption`, :class:`MixedCorruption`)
  and :func:`psnr` to score the result;
* :func:`pretrain_stack`, greedy layer-wise pretraining of a stacked autoencoder;
* :class:`ContractiveAutoencoder` with its Jacobian penalty :func:`contractive_penalty`;
* :class:`SkipAutoencoder`, skip connections between encoder and decoder (for denoising);
* :class:`VariationalAutoencoder`, a small look ahead (a mean and a variance per code unit);
* :func:`train_autoencoder`, the minibatch loop all of them use (it minimizes ``model.loss(x)``).

Every model is an ``nn.Module`` and works on any device; random corruptions draw from an optional
``torch.Generator`` so experiments are reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from . import _args
from .data import batches
from .nn import ACTIVATIONS, mlp
from .train import History, fit

__all__ = [
    "reconstruction_loss",
    "Autoencoder",
    "mlp_autoencoder",
    "LinearAutoencoder",
    "pca",
    "pca_loss",
    "principal_angles",
    "kl_sparsity",
    "SparseAutoencoder",
    "max_activating_inputs",
    "gaussian_noise",
    "salt_and_pepper",
    "masking",
    "blur",
    "CORRUPTIONS",
    "Corruption",
    "corruption",
    "MixedCorruption",
    "DenoisingAutoencoder",
    "psnr",
    "train_autoencoder",
    "pretrain_stack",
    "gaussian_kl",
    "VariationalAutoencoder",
    "contractive_penalty",
    "ContractiveAutoencoder",
    "encoder_jacobian_norm",
    "SKIPS",
    "SkipAutoencoder",
]


# ------------------------------------------------------------------------------
# The reconstruction loss and the generic autoencoder
# ------------------------------------------------------------------------------


def reconstruction_loss(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Squared reconstruction error, summed over features and averaged over the m examples.

    L = (1/m) sum_i ||x_i - x_hat_i||^2

    Args:
        x_hat: reconstructions, shape (m, ...).
        x: targets, the same shape.

    Returns:
        a scalar tensor.
    """
    _same_shape(("x_hat", x_hat), ("x", x))
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(
            "x must hold at least one example along its first dimension, got"
            f" shape {tuple(x.shape)}"
        )
    return (x - x_hat).pow(2).flatten(1).sum(1).mean()


class Autoencoder(nn.Module):
    """An encoder f and a decoder g: h = f(x), x' = g(h) (or x' = x + g(f(x)) with ``skip=True``).

    The training objective is ``loss(x) = L(x, g(f(x))) + Omega(h)``: the squared reconstruction error
    of :func:`reconstruction_loss` plus a regularizer on the code (zero here; subclasses such as
    :class:`SparseAutoencoder` override :meth:`regularizer`).

    Args:
        encoder: a module mapping inputs (m, d) to codes (m, k).
        decoder: a module mapping codes (m, k) back to inputs (m, d).
        skip: add the input to the decoder's output (a skip connection from input to output). The
            decoder then learns a correction ``x' - x``; without a bottleneck on that path the plain
            autoencoder can copy its input, so a skip only makes sense for a denoising autoencoder.
    """

    def __init__(
        self, encoder: nn.Module, decoder: nn.Module, *, skip: bool = False
    ):
        super().__init__()
        if not isinstance(encoder, nn.Module):
            raise TypeError(
                f"encoder must be an nn.Module, got {type(encoder).__name__}"
            )
        if not isinstance(decoder, nn.Module):
            raise TypeError(
                f"decoder must be an nn.Module, got {type(decoder).__name__}"
            )
        self.encoder = encoder
        self.decoder = decoder
        self.skip = bool(skip)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code h = f(x)."""
        return self.encoder(x)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """The reconstruction g(h)."""
        return self.decoder(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.decode(self.encode(x))
        return x + out if self.skip else out

    def regularizer(self, h: torch.Tensor) -> torch.Tensor:
        """Omega(h), a penalty on the codes of a batch (none for a plain autoencoder)."""
        return h.new_zeros(())

    def loss(
        self, x: torch.Tensor, target: torch.Tensor | None = None
    ) -> torch.Tensor:
        """L(target, g(f(x))) + Omega(f(x)); the target defaults to the input itself."""
        target = x if target is None else target
        h = self.encode(x)
        x_hat = self.decode(h)
        if self.skip:
            x_hat = x + x_hat
        return reconstruction_loss(x_hat, target) + self.regularizer(h)


def _check_sizes(sizes, output) -> list:
    sizes = list(sizes) if not isinstance(sizes, (str, bytes)) else sizes
    if not isinstance(sizes, list) or len(sizes) < 2:
        raise ValueError(
            f"sizes must list at least an input and a code width, got {sizes!r}"
        )
    _args.one_of("output", output, ACTIVATIONS)
    return sizes


def mlp_autoencoder(
    sizes: Sequence[int],
    activation: str = "relu",
    *,
    output: str = "identity",
    skip: bool = False,
) -> Autoencoder:
    """An MLP autoencoder with a mirrored decoder: ``sizes = [d, ..., k]`` from the input to the code.

    ``mlp_autoencoder([64, 32, 2])`` is Linear(64, 32) -> ReLU -> Linear(32, 2) for the encoder (a linear
    code layer) and Linear(2, 32) -> ReLU -> Linear(32, 64) -> ``output`` for the decoder. With k < d the
    code is a bottleneck: the autoencoder is *undercomplete*.

    Args:
        sizes: widths from the input to the code (at least two entries).
        activation: hidden activation, one of ``coursekit.nn.ACTIVATIONS``.
        output: activation after the decoder, e.g. ``"sigmoid"`` for pixels in [0, 1].
        skip: see :class:`Autoencoder`.
    """
    sizes = _check_sizes(sizes, output)
    encoder = mlp(sizes, activation)
    decoder = mlp(sizes[::-1], activation)
    if output != "identity":
        decoder.append(ACTIVATIONS[output]())
    return Autoencoder(encoder, decoder, skip=skip)


# ------------------------------------------------------------------------------
# Linear autoencoders and PCA
# ------------------------------------------------------------------------------


class LinearAutoencoder(Autoencoder):
    """The linear autoencoder h = V^T x, x' = W h with V, W of shape (d, k) and no biases.

    On a data matrix X (n, d) (rows are centered examples) it minimizes ||X - X V W^T||_F^2 / n. The
    product X V W^T has rank at most k, so the best it can do is the truncated SVD of X (Eckart-Young):
    the optimum projects onto the span of the top k right singular vectors. The factors are not unique:
    (V A, W A^{-T}) gives the same product for any invertible k x k matrix A.

    Args:
        d: input dimension.
        k: code dimension (k < d for a bottleneck).
    """

    def __init__(self, d: int, k: int):
        d = _args.positive_int("d", d)
        k = _args.positive_int("k", k)
        super().__init__(
            nn.Linear(d, k, bias=False), nn.Linear(k, d, bias=False)
        )
        self.d, self.k = d, k

    @property
    def V(self) -> torch.Tensor:
        """The encoder matrix V (d, k): h = V^T x."""
        return self.encoder.weight.T

    @property
    def W(self) -> torch.Tensor:
        """The decoder matrix W (d, k): x' = W h."""
        return self.decoder.weight


def pca(X: torch.Tensor, k: int):
    """The top k principal directions of X (rows are examples, assumed centered) and all singular values.

    X = U S R^T (SVD); the principal directions are the first k right singular vectors, the columns of R.

    Returns:
        ``(components, singular_values)``: a (d, k) matrix with orthonormal columns, and the singular
        values of X in decreasing order.
    """
    _args.tensor("X", X, ndim=2, floating=True)
    k = _args.positive_int("k", k)
    if k > min(X.shape):
        raise ValueError(f"k must be <= min(n, d) = {min(X.shape)}, got {k}")
    _, S, Rt = torch.linalg.svd(X, full_matrices=False)
    return Rt[:k].T, S


def pca_loss(X: torch.Tensor, k: int) -> float:
    """The smallest reconstruction loss of any rank-k linear map, (1/n) sum_{i > k} sigma_i^2 (Eckart-Young)."""
    _, S = pca(X, k)
    return float(S[k:].pow(2).sum() / len(X))


def _check_bases(A, B) -> None:
    _args.tensor("A", A, ndim=2, floating=True)
    _args.tensor("B", B, ndim=2, floating=True)
    if A.shape[0] != B.shape[0]:
        raise ValueError(
            f"A and B must have the same number of rows, got {A.shape[0]} and"
            f" {B.shape[0]}"
        )


def principal_angles(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Principal angles (radians, increasing) between the column spaces of A (d, p) and B (d, q).

    With orthonormal bases Q_A, Q_B, the cosines of the angles are the singular values of Q_A^T Q_B.
    All angles are zero exactly when one space contains the other.
    """
    _check_bases(A, B)
    Qa, _ = torch.linalg.qr(A.detach())
    Qb, _ = torch.linalg.qr(B.detach().to(A.dtype))
    cosines = torch.linalg.svdvals(Qa.T @ Qb).clamp(-1.0, 1.0)
    return torch.arccos(cosines).sort().values


# ------------------------------------------------------------------------------
# Sparse autoencoders
# ------------------------------------------------------------------------------


def kl_sparsity(
    rho: float, rho_hat: torch.Tensor, *, eps: float = 1e-6
) -> torch.Tensor:
    """The sparsity penalty sum_j KL(rho || rho_hat_j) between Bernoulli distributions.

    KL(rho || rho_hat_j) = rho log(rho / rho_hat_j) + (1 - rho) log((1 - rho) / (1 - rho_hat_j)),

    zero when rho_hat_j = rho and growing without bound as rho_hat_j approaches 0 or 1. Its derivative,
    d KL / d rho_hat_j = -rho / rho_hat_j + (1 - rho) / (1 - rho_hat_j), is what backpropagation adds to
    the hidden units' error signal.

    Args:
        rho: the target average activation, in (0, 1) (e.g. 0.05).
        rho_hat: average activations of the hidden units, shape (s,), values in (0, 1).
        eps: rho_hat is clamped to [eps, 1 - eps] so a saturated unit gives a large, finite penalty.

    Returns:
        a scalar tensor.
    """
    rho = _args.real(
        "rho", rho, low=0.0, high=1.0, low_open=True, high_open=True
    )
    _args.tensor("rho_hat", rho_hat, floating=True)
    rho_hat = rho_hat.clamp(eps, 1.0 - eps)
    return (
        rho * torch.log(rho / rho_hat)
        + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
    ).sum()


class SparseAutoencoder(Autoencoder):
    """One sigmoid hidden layer with the KL sparsity penalty.

    a = sigmoid(W1 x + b1),  x' = W2 a + b2,
    J_sparse = (1/m) sum_i ||x_i - x'_i||^2 + beta sum_j KL(rho || rho_hat_j),  rho_hat_j = (1/m) sum_i a_j(x_i),

    with rho_hat measured on each minibatch. The hidden layer may be wider than the input (s >= d): the
    penalty, not the width, stops the network from copying its input.

    Args:
        d: input dimension.
        s: number of hidden units.
        rho: target average activation in (0, 1).
        beta: weight of the sparsity penalty (>= 0).
        output: decoder output activation (``"identity"`` or ``"sigmoid"``).
    """

    def __init__(
        self,
        d: int,
        s: int,
        *,
        rho: float = 0.05,
        beta: float = 3.0,
        output: str = "identity",
    ):
        d = _args.positive_int("d", d)
        s = _args.positive_int("s", s)
        _args.one_of("output", output, ACTIVATIONS)
        decoder = nn.Sequential(nn.Linear(s, d), ACTIVATIONS[output]())
        super().__init__(nn.Sequential(nn.Linear(d, s), nn.Sigmoid()), decoder)
        self.rho = _args.real(
            "rho", rho, low=0.0, high=1.0, low_open=True, high_open=True
        )
        self.beta = _args.real("beta", beta, low=0.0)

    def regularizer(self, h: torch.Tensor) -> torch.Tensor:
        """beta * sum_j KL(rho || rho_hat_j), with rho_hat the batch average of the activations h."""
        return self.beta * kl_sparsity(self.rho, h.mean(0))


def max_activating_inputs(weight: torch.Tensor) -> torch.Tensor:
    """The norm-bounded input that most excites each hidden unit of a layer a_i = f(sum_j W_ij x_j + b_i).

    Over inputs with ||x|| <= 1, sum_j W_ij x_j is largest (Cauchy-Schwarz) at x_j = W_ij / ||W_i||:
    row i of W, normalized. For an increasing f this input maximizes a_i.

    Args:
        weight: W of shape (s, d) (``nn.Linear(d, s).weight``); no row may be zero.

    Returns:
        a (s, d) tensor whose row i is the input that maximally activates unit i.
    """
    _args.tensor("weight", weight, ndim=2, floating=True)
    norms = torch.linalg.vector_norm(weight, dim=1, keepdim=True)
    if bool((norms == 0).any()):
        raise ValueError(
            "weight has a zero row: that unit does not depend on its input"
        )
    return weight / norms


# ------------------------------------------------------------------------------
# Corruptions and denoising autoencoders
# ------------------------------------------------------------------------------


def _uniform(
    x: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """U(0, 1) noise shaped like x, drawn from ``generator`` (on its device) and placed on x's device."""
    device = generator.device if generator is not None else x.device
    return torch.rand(
        x.shape, generator=generator, device=device, dtype=x.dtype
    ).to(x.device)


def gaussian_noise(
    x: torch.Tensor, sigma: float, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Additive Gaussian noise: x~ = x + sigma * eps, eps ~ N(0, I)."""
    _args.tensor("x", x, floating=True)
    sigma = _args.real("sigma", sigma, low=0.0)
    device = generator.device if generator is not None else x.device
    eps = torch.randn(
        x.shape, generator=generator, device=device, dtype=x.dtype
    ).to(x.device)
    return x + sigma * eps


def _check_salt_and_pepper(x, rate, low, high):
    _args.tensor("x", x, floating=True)
    return (
        _args.real("rate", rate, low=0.0, high=1.0),
        _args.real("low", low),
        _args.real("high", high),
    )


def salt_and_pepper(
    x: torch.Tensor,
    rate: float,
    *,
    low: float = 0.0,
    high: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Salt-and-pepper noise: a fraction ``rate`` of the entries is set to ``low`` or ``high``, half each.

    With u ~ U(0, 1) drawn once per entry (``torch.rand(x.shape, generator=generator)``):
    x~ = low where u < rate / 2, high where rate / 2 <= u < rate, and x elsewhere.
    """
    rate, low, high = _check_salt_and_pepper(x, rate, low, high)
    u = _uniform(x, generator)  # one uniform draw per entry
    x = torch.where(u < rate, torch.full_like(x, high), x)
    return torch.where(u < rate / 2, torch.full_like(x, low), x)


def masking(
    x: torch.Tensor,
    rate: float,
    *,
    value: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Masking ("knockout") noise: a random fraction ``rate`` of the entries is set to ``value`` (0 by default).

    x~ = value where u < rate (u ~ U(0, 1) per entry), x elsewhere. This is the corruption of
    Vincent et al. (2008): the network must infer the missing entries from the others.
    """
    _args.tensor("x", x, floating=True)
    rate = _args.real("rate", rate, low=0.0, high=1.0)
    value = _args.real("value", value)
    return torch.where(
        _uniform(x, generator) < rate, torch.full_like(x, value), x
    )


def blur(
    x: torch.Tensor,
    sigma: float,
    *,
    image_shape: tuple[int, int] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Gaussian blur of images: convolution with a normalized kernel exp(-t^2 / (2 sigma^2)) along each axis.

    The kernel has radius ceil(2 sigma); borders are padded by replicating the edge pixels. The blur is
    deterministic (``generator`` is accepted, and ignored, so every corruption has the same signature).

    Args:
        x: images of shape (m, H, W), (m, C, H, W), or flattened (m, H * W) with ``image_shape=(H, W)``.
        sigma: standard deviation of the kernel in pixels (0 leaves x unchanged).
        image_shape: (H, W) for flattened inputs.

    Returns:
        the blurred images, in the shape of x.
    """
    _args.tensor("x", x, floating=True)
    sigma = _args.real("sigma", sigma, low=0.0)
    if x.ndim == 2:
        if image_shape is None:
            raise ValueError(
                "x is flattened (2 dimensions): pass image_shape=(H, W)"
            )
        H, W = (
            _args.positive_int("image_shape[0]", image_shape[0]),
            _args.positive_int("image_shape[1]", image_shape[1]),
        )
        if H * W != x.shape[1]:
            raise ValueError(
                f"image_shape {image_shape} does not match the {x.shape[1]}"
                " features of x"
            )
        images = x.reshape(-1, 1, H, W)
    elif x.ndim == 3:
        images = x.unsqueeze(1)
    elif x.ndim == 4:
        images = x
    else:
        raise ValueError(
            f"x must have 2, 3 or 4 dimensions, got shape {tuple(x.shape)}"
        )
    if sigma == 0.0:
        return x.clone()
    radius = math.ceil(2 * sigma)
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    padded = torch.nn.functional.pad(
        images, (radius, radius, radius, radius), mode="replicate"
    )
    rows = kernel.view(1, 1, 1, -1).expand(
        channels, 1, 1, -1
    )  # blur along the width...
    cols = kernel.view(1, 1, -1, 1).expand(
        channels, 1, -1, 1
    )  # ...then along the height
    out = torch.nn.functional.conv2d(padded, rows, groups=channels)
    out = torch.nn.functional.conv2d(out, cols, groups=channels)
    return out.reshape(x.shape)


CORRUPTIONS: dict[str, Callable] = {
    "gaussian": gaussian_noise,
    "salt_and_pepper": salt_and_pepper,
    "masking": masking,
    "blur": blur,
}


class Corruption:
    """A corruption with its level fixed: ``c(x, generator=None)`` returns x~. Built by :func:`corruption`."""

    def __init__(self, name: str, level: float, **kwargs):
        self.name = _args.one_of("name", name, CORRUPTIONS)
        self.level = level
        self.kwargs = kwargs
        # Check the level and options now, on a tiny input, rather than in the
        # middle of training.
        probe = (
            torch.zeros(1, *kwargs["image_shape"])
            if "image_shape" in kwargs
            else torch.zeros(1, 1)
        )
        self(probe.flatten(1) if "image_shape" in kwargs else probe)

    def __call__(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        return CORRUPTIONS[self.name](
            x, self.level, generator=generator, **self.kwargs
        )

    def __repr__(self) -> str:
        return f"Corruption({self.name!r}, {self.level})"


def corruption(name: str, level: float, **kwargs) -> Corruption:
    """A corruption by name, at a given level: ``corruption("gaussian", 0.3)``, ``corruption("blur", 1.0,
    image_shape=(8, 8))``.

    Args:
        name: one of ``CORRUPTIONS``: ``"gaussian"`` (level = sigma), ``"salt_and_pepper"`` (level = rate),
            ``"masking"`` (level = rate) or ``"blur"`` (level = sigma in pixels).
        level: the noise level.
        **kwargs: extra options of the corruption function (``image_shape``, ``low``/``high``, ``value``).
    """
    return Corruption(name, level, **kwargs)


class MixedCorruption:
    """Each example is corrupted by one of several corruptions, chosen uniformly at random per example.

    Training a denoising autoencoder on the mixture teaches one network to undo all of them.
    """

    def __init__(self, corruptions: Sequence[Callable]):
        corruptions = list(corruptions)
        if not corruptions or not all(callable(c) for c in corruptions):
            raise ValueError(
                "corruptions must be a non-empty list of callables c(x,"
                " generator=None)"
            )
        self.corruptions = corruptions

    def __call__(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        device = generator.device if generator is not None else x.device
        choice = torch.randint(
            len(self.corruptions), (len(x),), generator=generator, device=device
        ).to(x.device)
        out = x.clone()
        for i, c in enumerate(self.corruptions):
            rows = choice == i
            out = torch.where(
                rows.view(-1, *([1] * (x.ndim - 1))), c(x, generator), out
            )
        return out

    def __repr__(self) -> str:
        return f"MixedCorruption({self.corruptions})"


class DenoisingAutoencoder(nn.Module):
    """Train an autoencoder to undo a corruption: loss(x) = L(x, g(f(x~))), x~ ~ C(x~ | x).

    The target is the *clean* input, so copying the input is no longer optimal: the network must learn
    what typical inputs look like to remove the noise (Vincent et al., 2008). A fresh corruption is drawn
    for every minibatch. ``forward`` does not corrupt: it denoises whatever it is given.

    Args:
        autoencoder: any :class:`Autoencoder` (its regularizer still applies) or another module with
            ``loss(x, target)``, such as :class:`SkipAutoencoder`.
        corruption: a callable ``corruption(x, generator=None) -> x~``, e.g. from :func:`corruption`.
        generator: optional ``torch.Generator`` for the corruptions, for reproducible training.
    """

    def __init__(
        self,
        autoencoder: Autoencoder,
        corruption: Callable,
        *,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if not (
            isinstance(autoencoder, nn.Module) and hasattr(autoencoder, "loss")
        ):
            raise TypeError(
                "autoencoder must be an nn.Module with loss(x, target), such"
                f" as a coursekit Autoencoder, got {type(autoencoder).__name__}"
            )
        if not callable(corruption):
            raise TypeError(
                "corruption must be callable as corruption(x, generator), got"
                f" {type(corruption).__name__}"
            )
        self.autoencoder = autoencoder
        self.corruption = corruption
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.autoencoder(x)

    def loss(
        self, x: torch.Tensor, target: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The reconstruction loss of the clean x from a freshly corrupted x~."""
        x_tilde = self.corruption(x, self.generator)
        return self.autoencoder.loss(x_tilde, x if target is None else target)


def _same_shape(first, second) -> None:
    """Check two floating tensors, given as (name, tensor) pairs, for the same shape."""
    (a, x), (b, y) = first, second
    _args.tensor(a, x, floating=True)
    _args.tensor(b, y, floating=True)
    if x.shape != y.shape:
        raise ValueError(
            f"{a} and {b} must have the same shape, got {tuple(x.shape)} and"
            f" {tuple(y.shape)}"
        )


def psnr(
    x_hat: torch.Tensor, x: torch.Tensor, *, peak: float = 1.0
) -> torch.Tensor:
    """Peak signal-to-noise ratio of each example, in decibels: 10 log10(peak^2 / MSE_i).

    Args:
        x_hat: reconstructions (m, ...); x: clean references, same shape; peak: the largest pixel value.

    Returns:
        a tensor of m PSNRs (higher is better; +inf for a perfect reconstruction).
    """
    _same_shape(("x_hat", x_hat), ("x", x))
    peak = _args.positive("peak", peak)
    mse = (x_hat - x).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(peak**2 / mse)


# ------------------------------------------------------------------------------
# Training, and greedy stacked pretraining
# ------------------------------------------------------------------------------


def train_autoencoder(
    model, X, optimizer, *, epochs=1, batch_size=None, generator=None
) -> History:
    """Minimize ``model.loss(x)`` over minibatches of X (rows are examples, no labels needed).

    Works for every model of this module: the loss is the model's own objective (reconstruction,
    plus sparsity penalty, from corrupted inputs, or the negative ELBO). The loop is
    :func:`coursekit.train.fit`, given the model's loss and X as its own target.

    Returns:
        a :class:`coursekit.train.History`: ``steps`` (step, epoch, loss, ...) and ``epochs`` (epoch, step,
        train_loss = the average minibatch loss of the epoch).

    Raises:
        coursekit.train.DivergenceError: if the loss becomes NaN or infinite.
    """
    if not hasattr(model, "loss"):
        raise TypeError(
            f"model must define loss(x), got {type(model).__name__}"
        )
    _args.tensor("X", X, floating=True)
    return fit(
        model,
        optimizer,
        (X, X),
        epochs=epochs,
        batch_size=batch_size,
        generator=generator,
        eval_train="batches",
        batch_loss=lambda model, xb, _: model.loss(xb),
    )  # X is its own target


def _check_stack(X, sizes, activation, lr):
    """The checks of :func:`pretrain_stack`; returns the sizes (a list) and lr."""
    _args.tensor("X", X, ndim=2, floating=True)
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(
            "sizes must list at least an input and one hidden width, got"
            f" {sizes!r}"
        )
    for i, s in enumerate(sizes):
        _args.positive_int(f"sizes[{i}]", s)
    if sizes[0] != X.shape[1]:
        raise ValueError(
            f"sizes[0] must equal the input dimension {X.shape[1]}, got"
            f" {sizes[0]}"
        )
    _args.one_of("activation", activation, ACTIVATIONS)
    return sizes, _args.positive("lr", lr)


def pretrain_stack(
    X: torch.Tensor,
    sizes: Sequence[int],
    *,
    activation: str = "sigmoid",
    epochs: int = 20,
    batch_size: int | None = 64,
    lr: float = 1e-2,
    corruption: Callable | None = None,
    generator: torch.Generator | None = None,
):
    """Greedy layer-wise pretraining of a stacked autoencoder (Hinton & Salakhutdinov 2006; Bengio et al. 2007).

    Layer l is the encoder of a one-hidden-layer autoencoder trained (with Adam) to reconstruct H_{l-1},
    the codes of the layers below (H_0 = X): h_l = act(W_l h_{l-1} + b_l). Its decoder is thrown away; the
    next autoencoder is trained on H_l. The stacked encoders then initialize a deep network, which is
    fine-tuned on the supervised task.

    Args:
        X: training inputs (n, d); no labels are used.
        sizes: widths [d, n_1, ..., n_L] of the stack.
        activation: the hidden activation of every layer.
        epochs, batch_size, lr: training of each autoencoder.
        corruption: if given, each layer is trained as a denoising autoencoder (stacked denoising autoencoder).
        generator: for the minibatch order and the corruptions.

    Returns:
        ``(encoder, histories)``: an ``nn.Sequential`` of Linear + activation layers (d -> n_L), and the
        training :class:`History` of each layer.
    """
    sizes, lr = _check_stack(X, sizes, activation, lr)
    layers, histories, H = [], [], X
    training = dict(epochs=epochs, batch_size=batch_size, generator=generator)
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        encoder = nn.Sequential(
            nn.Linear(fan_in, fan_out), ACTIVATIONS[activation]()
        ).to(X.device)
        ae = Autoencoder(encoder, nn.Linear(fan_out, fan_in).to(X.device))
        model = (
            ae
            if corruption is None
            else DenoisingAutoencoder(ae, corruption, generator=generator)
        )
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        histories.append(train_autoencoder(model, H, optimizer, **training))
        layers.extend(encoder)
        with torch.no_grad():
            H = encoder(H)  # the codes of this layer are the next layer's data
    return nn.Sequential(*layers), histories


# ------------------------------------------------------------------------------
# Looking ahead: a variational autoencoder
# ------------------------------------------------------------------------------


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(sigma^2)) || N(0, I)) per example: (1/2) sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2).

    Args:
        mu, logvar: means and log-variances, shape (m, k).

    Returns:
        a tensor of m divergences (nats).
    """
    _same_shape(("mu", mu), ("logvar", logvar))
    if mu.ndim != 2:
        raise ValueError(
            f"mu must have shape (batch, k), got shape {tuple(mu.shape)}"
        )
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)


class VariationalAutoencoder(nn.Module):
    """A variational autoencoder (Kingma & Welling 2014): the code of x is a distribution, not a point.

    The encoder outputs a mean mu(x) and a log-variance log sigma^2(x) per code unit; a code is sampled
    by reparameterization, z = mu + sigma * eps with eps ~ N(0, I), so gradients flow through mu and sigma.
    The loss is the negative evidence lower bound for a Gaussian decoder with noise variance ``noise_var``:

    loss(x) = (1/m) sum_i [ ||x_i - g(z_i)||^2 / (2 noise_var) + KL(N(mu_i, sigma_i^2) || N(0, I)) ]

    (up to an additive constant). Sampling z ~ N(0, I) and decoding generates new data.

    Args:
        sizes: widths [d, ..., k] from the input to the code; the decoder mirrors them.
        activation: hidden activation.
        output: decoder output activation (``"sigmoid"`` for pixels in [0, 1]).
        noise_var: the decoder's noise variance (a smaller value weighs reconstruction more).
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "relu",
        *,
        output: str = "identity",
        noise_var: float = 0.05,
    ):
        super().__init__()
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(
                "sizes must list at least an input and a code width, got"
                f" {sizes!r}"
            )
        _args.one_of("output", output, ACTIVATIONS)
        k = _args.positive_int("sizes[-1]", sizes[-1])
        self.body = (
            mlp(sizes[:-1], activation) if len(sizes) > 2 else nn.Identity()
        )
        self.body_act = (
            ACTIVATIONS[activation]() if len(sizes) > 2 else nn.Identity()
        )
        self.mean = nn.Linear(sizes[-2], k)
        self.logvar = nn.Linear(sizes[-2], k)
        decoder = mlp(sizes[::-1], activation)
        if output != "identity":
            decoder.append(ACTIVATIONS[output]())
        self.decoder = decoder
        self.noise_var = _args.positive("noise_var", noise_var)

    def encode(self, x: torch.Tensor):
        """The mean and log-variance of the code distribution q(z | x)."""
        hidden = self.body_act(self.body(x))
        return self.mean(hidden), self.logvar(hidden)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct from the mean code (no sampling)."""
        return self.decode(self.encode(x)[0])

    def loss(
        self, x: torch.Tensor, target: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The negative ELBO averaged over the batch, with one reparameterized sample per example."""
        target = x if target is None else target
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(
            mu
        )  # reparameterization
        recon = (self.decode(z) - target).pow(2).flatten(1).sum(1) / (
            2 * self.noise_var
        )
        return (recon + gaussian_kl(mu, logvar)).mean()


# ------------------------------------------------------------------------------
# Contractive autoencoders: a small derivative of the code
# ------------------------------------------------------------------------------


def contractive_penalty(h: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The squared Frobenius norm of the Jacobian of a sigmoid encoder, averaged over a batch.

    For h = sigmoid(W x + b) the Jacobian is dh/dx = diag(h * (1 - h)) W, so

        ||dh/dx||_F^2 = sum_j (h_j (1 - h_j))^2 sum_i W_ji^2,

    computed here in closed form, without autograd, for every row of ``h``.

    Args:
        h: codes of a batch, shape (m, s), each entry in (0, 1).
        weight: the encoder's weight matrix W, shape (s, d).

    Returns:
        a scalar tensor: the mean over the batch of ||dh/dx||_F^2.
    """
    slope = h * (1 - h)  # sigmoid'(W x + b), shape (m, s)
    row_norms = weight.pow(2).sum(dim=1)  # sum_i W_ji^2, shape (s,)
    return (slope.pow(2) * row_norms).sum(dim=1).mean()


class ContractiveAutoencoder(Autoencoder):
    """One sigmoid hidden layer whose code is penalized for changing with its input.

    h = sigmoid(W x + b),  x' = g(h),
    J_CAE = (1/m) sum_i ||x_i - x'_i||^2 + lam (1/m) sum_i ||dh/dx (x_i)||_F^2

    (Rifai et al., 2011). The penalty makes the code locally invariant to small changes of the
    input in every direction; the reconstruction term keeps it sensitive along the directions in
    which the data vary. The balance of the two learns the data's local directions of variation.

    Args:
        d: input dimension.
        s: number of hidden units.
        lam: weight of the Jacobian penalty (>= 0).
        output: decoder output activation (``"identity"`` or ``"sigmoid"``).
    """

    def __init__(
        self, d: int, s: int, *, lam: float = 0.1, output: str = "identity"
    ):
        d = _args.positive_int("d", d)
        s = _args.positive_int("s", s)
        _args.one_of("output", output, ACTIVATIONS)
        decoder = nn.Sequential(nn.Linear(s, d), ACTIVATIONS[output]())
        super().__init__(nn.Sequential(nn.Linear(d, s), nn.Sigmoid()), decoder)
        self.lam = _args.real("lam", lam, low=0.0)

    def regularizer(self, h: torch.Tensor) -> torch.Tensor:
        """lam * mean_i ||dh/dx (x_i)||_F^2, in closed form for the sigmoid encoder."""
        return self.lam * contractive_penalty(h, self.encoder[0].weight)


def encoder_jacobian_norm(encode: Callable, X: torch.Tensor) -> torch.Tensor:
    """||dh/dx||_F for every row x of X, by autograd: how much the code moves when x moves.

    Works for any encoder (one Jacobian per example; meant for small batches and checks).
    """
    _args.tensor("X", X, ndim=2, floating=True)
    norms = [torch.autograd.functional.jacobian(encode, x).norm() for x in X]
    return torch.stack(norms)


# ------------------------------------------------------------------------------
# Skip connections in a denoising autoencoder
# ------------------------------------------------------------------------------

SKIPS = ("shallow", "deep")


class SkipAutoencoder(nn.Module):
    """An MLP autoencoder d -> w1 -> w2 -> k -> w2 -> w1 -> d with optional skip connections.

    a1 = act(E1 x),  a2 = act(E2 a1),  h = E3 a2                  (encoder)
    b2 = act(D3 h) [+ a2],  b1 = act(D2 b2) [+ a1],  x' = out(D1 b1)  (decoder)

    A *deep* skip adds the encoder's inner activation a2 to the decoder's b2, next to the code; a
    *shallow* skip adds a1, the layer next to the input, to b1, the layer next to the output. A
    skip gives the decoder details of the input that the bottleneck h cannot carry. Trained on
    clean inputs it lets the network copy them; trained to denoise (see
    :class:`DenoisingAutoencoder`), it carries the information the decoder needs to keep.

    Args:
        sizes: ``[d, w1, w2, k]``, the widths from the input to the code.
        skips: which skips to use, a subset of ``("shallow", "deep")``.
        activation: hidden activation, one of ``coursekit.nn.ACTIVATIONS``.
        output: activation after the last layer, e.g. ``"sigmoid"`` for pixels in [0, 1].
    """

    def __init__(
        self,
        sizes: Sequence[int],
        skips: Sequence[str] = (),
        *,
        activation: str = "relu",
        output: str = "identity",
    ):
        super().__init__()
        sizes = [_args.positive_int("sizes", s) for s in sizes]
        if len(sizes) != 4:
            raise ValueError(f"sizes must be [d, w1, w2, k], got {sizes!r}")
        skips = tuple(skips)
        for skip in skips:
            _args.one_of("skips", skip, SKIPS)
        _args.one_of("activation", activation, ACTIVATIONS)
        _args.one_of("output", output, ACTIVATIONS)
        d, w1, w2, k = sizes
        self.E1, self.E2, self.E3 = (
            nn.Linear(d, w1),
            nn.Linear(w1, w2),
            nn.Linear(w2, k),
        )
        self.D3, self.D2, self.D1 = (
            nn.Linear(k, w2),
            nn.Linear(w2, w1),
            nn.Linear(w1, d),
        )
        self.act, self.out = ACTIVATIONS[activation](), ACTIVATIONS[output]()
        self.skips = skips

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a1 = self.act(self.E1(x))
        a2 = self.act(self.E2(a1))
        h = self.E3(a2)
        b2 = self.act(self.D3(h)) + (a2 if "deep" in self.skips else 0)
        b1 = self.act(self.D2(b2)) + (a1 if "shallow" in self.skips else 0)
        return self.out(self.D1(b1))

    def loss(
        self, x: torch.Tensor, target: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The reconstruction loss of the output against the target (default: the input)."""
        return reconstruction_loss(self(x), x if target is None else target)
