"""Offline datasets: sklearn's digits, MNIST-1D generated locally, and synthetic problems.

Nothing here touches the network. Real-data loaders return a :class:`Split` whose
inputs are standardized with statistics of the *training* part only, so no
information from validation or test data leaks into training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from . import _args

__all__ = [
    "Split",
    "digits",
    "mnist1d",
    "mnist1d_signals",
    "GaussianClasses",
    "linear_regression",
    "batches",
    "spurious_features",
    "noisy_labels",
    "image_patches",
]


@dataclass
class Split:
    """A train/validation/test split of a supervised dataset (tensors, rows are examples)."""

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_val: torch.Tensor
    y_val: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    mean: torch.Tensor = field(repr=False)
    std: torch.Tensor = field(repr=False)
    num_classes: int = 0

    @property
    def train(self):
        return self.X_train, self.y_train

    @property
    def val(self):
        return self.X_val, self.y_val

    @property
    def test(self):
        return self.X_test, self.y_test

    def to(self, device=None, dtype=None) -> "Split":
        """Move every tensor to ``device``; cast inputs (not labels) to ``dtype``."""

        def move(t, cast):
            return t.to(device=device, dtype=dtype if cast else None)

        return Split(
            move(self.X_train, True),
            move(self.y_train, False),
            move(self.X_val, True),
            move(self.y_val, False),
            move(self.X_test, True),
            move(self.y_test, False),
            move(self.mean, True),
            move(self.std, True),
            self.num_classes,
        )

    def __repr__(self) -> str:
        return (
            f"Split(train={tuple(self.X_train.shape)},"
            f" val={tuple(self.X_val.shape)}, test={tuple(self.X_test.shape)},"
            f" num_classes={self.num_classes})"
        )


def _split(
    X: np.ndarray,
    y: np.ndarray,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    standardize: bool,
    dtype: torch.dtype,
    device,
) -> Split:
    """Stratified split, then standardize with training statistics only."""
    from sklearn.model_selection import train_test_split

    _args.real("val_fraction", val_fraction, low=0.0, high=1.0, high_open=True)
    _args.real(
        "test_fraction", test_fraction, low=0.0, high=1.0, high_open=True
    )
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"val_fraction + test_fraction must be < 1, got {val_fraction} +"
            f" {test_fraction}"
        )
    seed = _args.positive_int("seed", seed, allow_zero=True)
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")

    idx = np.arange(len(X))
    held = val_fraction + test_fraction
    if held > 0:
        train_idx, rest = train_test_split(
            idx, test_size=held, random_state=seed, stratify=y
        )
        if test_fraction > 0 and val_fraction > 0:
            val_idx, test_idx = train_test_split(
                rest,
                test_size=test_fraction / held,
                random_state=seed + 1,
                stratify=y[rest],
            )
        elif val_fraction > 0:
            val_idx, test_idx = rest, rest[:0]
        else:
            val_idx, test_idx = rest[:0], rest
    else:
        train_idx, val_idx, test_idx = idx, idx[:0], idx[:0]

    X = torch.as_tensor(X, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.long)
    if standardize:
        mean = X[train_idx].mean(0)
        std = X[train_idx].std(0)
        std = torch.where(
            std > 1e-8, std, torch.ones_like(std)
        )  # constant features stay as they are
    else:
        mean, std = torch.zeros(X.shape[1:], dtype=X.dtype), torch.ones(
            X.shape[1:], dtype=X.dtype
        )
    Xs = (X - mean) / std
    take = lambda i: (
        Xs[torch.as_tensor(i, dtype=torch.long)],
        y[torch.as_tensor(i, dtype=torch.long)],
    )
    parts = [t for i in (train_idx, val_idx, test_idx) for t in take(i)]
    split = Split(*parts, mean=mean, std=std, num_classes=int(y.max()) + 1)
    return split.to(device=device, dtype=dtype)


def digits(
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    *,
    seed: int = 0,
    standardize: bool = True,
    dtype: torch.dtype = torch.float32,
    device=None,
) -> Split:
    """scikit-learn's 8x8 handwritten digits (1797 images, 10 classes), split and standardized.

    Args:
        val_fraction, test_fraction: shares of the data held out (stratified by class).
        seed: seed of the split, so the split is the same every run.
        standardize: subtract the training mean and divide by the training std, per pixel.
        dtype, device: of the returned input tensors (labels are ``torch.long``).

    Returns:
        a :class:`Split` with inputs of shape (n, 64).
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    return _split(
        d.data,
        d.target,
        val_fraction,
        test_fraction,
        seed,
        standardize,
        dtype,
        device,
    )


def mnist1d(
    num_samples: int = 4000,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    *,
    seed: int = 0,
    standardize: bool = True,
    dtype: torch.dtype = torch.float32,
    device=None,
) -> Split:
    """MNIST-1D (Greydanus 2020), generated locally: 10 classes of 40-sample 1-D signals.

    The package's own ``get_dataset`` tries to download a file first. This builds the dataset from the
    package's templates and default arguments with :func:`mnist1d_signals`, which gives the same numbers
    as the package's ``make_dataset`` ten times faster and never needs the network.

    Args:
        num_samples: how many signals to generate in total (before splitting).
        val_fraction, test_fraction, seed, standardize, dtype, device: as in :func:`digits`.

    Returns:
        a :class:`Split` with inputs of shape (n, 40).
    """
    num_samples = _args.positive_int("num_samples", num_samples)
    if num_samples < 100:
        raise ValueError(
            "num_samples must be >= 100 so every class appears in every part,"
            f" got {num_samples}"
        )
    X, y = mnist1d_signals(num_samples, seed=seed)
    return _split(
        X, y, val_fraction, test_fraction, seed, standardize, dtype, device
    )


def mnist1d_signals(
    num_samples: int, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The MNIST-1D signals and labels, exactly as ``mnist1d.data.make_dataset`` makes them, in one array.

    Each signal is a class template, padded with zeros, stretched to a common length, scaled, shifted
    circularly, filled with correlated noise where it is zero, given white noise and a linear shear, and
    resampled to 40 points; the whole set is then shuffled and standardized. The random draws are taken
    from a private generator in the package's order (so the numbers are the package's), and the
    arithmetic is done with ``np.interp`` and one filter over all signals at once instead of SciPy
    objects per signal. The global NumPy and Python generators are not touched.

    Returns:
        ``(X, y)``: float64 signals of shape (n, 40) and int64 labels, n = 10 * (num_samples // 10).
    """
    from mnist1d.data import get_dataset_args, get_templates
    from scipy.ndimage import gaussian_filter1d

    num_samples = _args.positive_int("num_samples", num_samples)
    args, templates = get_dataset_args(), get_templates()
    rng = np.random.RandomState(
        _args.positive_int("seed", seed, allow_zero=True)
    )
    low, high = args.padding
    length = (
        args.template_len + high
    )  # every signal is stretched to this length
    classes = np.asarray(templates["y"])
    labels = np.repeat(classes, num_samples // len(classes))
    n = len(labels)
    pads, shifts = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    scales, shears = np.empty(n), np.empty(n)
    corr_noise, iid_noise = np.empty((n, length)), np.empty((n, length))
    for i in range(n):  # the draws of one signal, in the package's order
        pads[i] = low + int(rng.rand() * (high - low + 1))
        scales[i] = 1 + args.scale_coeff * (rng.rand() - 0.5)
        shifts[i] = rng.choice(args.max_translation)
        corr_noise[i] = rng.randn(length)
        iid_noise[i] = rng.randn(length)
        shears[i] = args.shear_scale * (rng.rand() - 0.5)
    shuffle = rng.permutation(n)

    grid = np.linspace(0, 1, length)
    signals = np.empty((n, length))
    for i in range(n):
        padded = np.concatenate(
            [templates["x"][labels[i]] + 1e-8, np.zeros(pads[i])]
        )
        stretched = np.interp(grid, np.linspace(0, 1, len(padded)), padded)
        signals[i] = np.roll(stretched * scales[i], shifts[i])
    background = gaussian_filter1d(
        args.corr_noise_scale * corr_noise, 2, axis=1
    )
    signals = (
        np.where(signals != 0, signals, background)
        + args.iid_noise_scale * iid_noise
    )
    signals -= shears[:, None] * np.linspace(-0.5, 0.5, length)
    final_grid = np.linspace(0, 1, args.final_seq_length)
    X = np.stack([np.interp(final_grid, grid, s) for s in signals])[shuffle]
    return (X - X.mean()) / X.std(), labels[shuffle].astype(np.int64)


class GaussianClasses:
    """Two Gaussian classes N(+mu, I) and N(-mu, I) with equal priors: a problem whose true risk is known.

    The Bayes classifier is sign(mu'x); its 0-1 risk (the Bayes risk) is Phi(-||mu||). For any
    linear classifier sign(w'x + b) the true 0-1 risk has the closed form

        R(w, b) = 1/2 Phi(-(w'mu + b)/||w||) + 1/2 Phi(-(w'mu - b)/||w||),

    so the gap between empirical and true risk can be measured exactly.

    Args:
        dim: input dimension d.
        separation: ||mu||, the distance of each mean from the origin.
        seed: seed for the direction of mu.
    """

    def __init__(self, dim: int = 2, separation: float = 1.0, *, seed: int = 0):
        self.dim = _args.positive_int("dim", dim)
        self.separation = _args.positive("separation", separation)
        g = torch.Generator().manual_seed(
            _args.positive_int("seed", seed, allow_zero=True)
        )
        direction = torch.randn(self.dim, generator=g, dtype=torch.float64)
        self.mu = self.separation * direction / direction.norm()

    @property
    def bayes_risk(self) -> float:
        """The smallest achievable 0-1 risk, Phi(-||mu||)."""
        return _normal_cdf(-self.separation)

    def sample(
        self,
        m: int,
        generator: torch.Generator | None = None,
        dtype=torch.float64,
    ):
        """Draw m labelled examples: X of shape (m, d) and labels y in {0, 1} (1 for the +mu class)."""
        m = _args.positive_int("m", m)
        y = torch.randint(0, 2, (m,), generator=generator)
        sign = (2 * y - 1).to(torch.float64).unsqueeze(1)
        X = sign * self.mu + torch.randn(
            m, self.dim, generator=generator, dtype=torch.float64
        )
        return X.to(dtype), y

    def risk(self, w: torch.Tensor, b: float | torch.Tensor = 0.0) -> float:
        """Exact 0-1 risk of the linear classifier predicting class 1 when w'x + b > 0."""
        w = self._check_weights(w)
        norm, wm, b = float(w.norm()), float(w @ self.mu), float(b)
        # w'x ~ N(+-w'mu, ||w||^2): errors on the class at +mu, then on the
        # class at -mu
        return 0.5 * _normal_cdf(-(wm + b) / norm) + 0.5 * _normal_cdf(
            -(wm - b) / norm
        )

    def _check_weights(self, w) -> torch.Tensor:
        w = _args.tensor("w", w, ndim=1).detach().to(torch.float64).cpu()
        if w.numel() != self.dim:
            raise ValueError(f"w must have {self.dim} entries, got {w.numel()}")
        if float(w.norm()) == 0.0:
            raise ValueError(
                "w must be non-zero (a zero weight vector does not define a "
                "classifier)"
            )
        return w


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def linear_regression(
    m: int, dim: int, *, noise: float = 0.1, seed: int = 0, dtype=torch.float64
):
    """Synthetic regression y = X w* + noise, X ~ N(0, I).

    Returns:
        X of shape (m, dim), y of shape (m,), and the true weights w* of shape (dim,).
    """
    m = _args.positive_int("m", m)
    dim = _args.positive_int("dim", dim)
    noise = _args.real("noise", noise, low=0.0)
    g = torch.Generator().manual_seed(
        _args.positive_int("seed", seed, allow_zero=True)
    )
    w = torch.randn(dim, generator=g, dtype=torch.float64)
    X = torch.randn(m, dim, generator=g, dtype=torch.float64)
    y = X @ w + noise * torch.randn(m, generator=g, dtype=torch.float64)
    return X.to(dtype), y.to(dtype), w.to(dtype)


def batches(
    X: torch.Tensor,
    y: torch.Tensor,
    batch_size: int | None = None,
    *,
    shuffle: bool = True,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
):
    """Yield minibatches (X_b, y_b) covering the data once (one epoch).

    Args:
        X, y: inputs and targets with the same number of rows.
        batch_size: rows per batch; ``None`` means the whole set (batch gradient descent),
            1 means online (single-example) learning.
        shuffle: visit the rows in a fresh random order (drawn from ``generator``) instead of stored order.
        generator: a CPU ``torch.Generator`` for the permutation, for reproducible epochs.
        drop_last: skip a final batch smaller than ``batch_size``.
    """
    _args.tensor("X", X)
    _args.tensor("y", y)
    _args.same_length(("X", "y"), X, y)
    n = len(X)
    size = (
        n
        if batch_size is None
        else _args.positive_int("batch_size", batch_size)
    )
    if shuffle:
        order = torch.randperm(n, generator=generator).to(X.device)
    else:
        order = None
    stop = n - n % size if drop_last else n
    for start in range(0, stop, size):
        if order is None:
            yield X[start : start + size], y[start : start + size]
        else:
            idx = order[start : start + size]
            yield X[idx], y[idx]


def spurious_features(
    n_train: int = 50,
    n_test: int = 200,
    p: float = 0.6,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
):
    """The linear problem of Wilson et al. (2017) on which adaptive optimizers generalize badly.

    Every example i has a label y_i = +1 with probability p (> 1/2) and -1 otherwise, and features
    ``x_i[0] = y_i`` (the label itself), ``x_i[1] = x_i[2] = 1`` (always on), and a block of *unique*
    features that no other example shares: one feature set to 1 for a positive example, five for a
    negative one. So feature 0 alone predicts the label perfectly, while the unique features let a
    model memorize each training example. Test examples get their own unique blocks, never seen in
    training.

    Args:
        n_train, n_test: numbers of training and test examples.
        p: probability of the label +1, in (1/2, 1).
        seed: seed of the labels.
        dtype: of the inputs and labels.

    Returns:
        ``(X_train, y_train, X_test, y_test)``, inputs of shape (n, 3 + 5 (n_train + n_test)) and labels
        in {-1, +1}.

    Raises:
        ValueError: if the drawn training labels are not mostly positive (the construction needs
        sum(y_train) > 0; use another seed or a larger p).
    """
    n_train = _args.positive_int("n_train", n_train)
    n_test = _args.positive_int("n_test", n_test)
    p = _args.real("p", p, low=0.5, high=1.0, low_open=True, high_open=True)
    g = torch.Generator().manual_seed(
        _args.positive_int("seed", seed, allow_zero=True)
    )
    n = n_train + n_test
    y = torch.where(torch.rand(n, generator=g) < p, 1.0, -1.0).to(torch.float64)
    if y[:n_train].sum() <= 0:
        raise ValueError(
            f"the training labels drawn with seed={seed} are not mostly"
            " positive; use another seed or a larger p"
        )
    X = torch.zeros(n, 3 + 5 * n, dtype=torch.float64)
    X[:, 0], X[:, 1], X[:, 2] = y, 1.0, 1.0
    width = torch.where(y > 0, 1, 5)
    rows = torch.repeat_interleave(torch.arange(n), width)
    offsets = torch.arange(len(rows)) - torch.repeat_interleave(
        torch.cumsum(width, 0) - width, width
    )
    X[rows, 3 + 5 * rows + offsets] = (
        1.0  # example i owns features 3+5i ... 3+5i+4
    )
    X, y = X.to(dtype), y.to(dtype)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def noisy_labels(
    y: torch.Tensor,
    fraction: float,
    num_classes: int,
    *,
    generator: torch.Generator | None = None,
):
    """Corrupt a fraction of class labels: each chosen label is replaced by a different class, uniformly.

    Real data sets contain mislabelled examples; this makes their share known. A network that drives
    its training error to zero on such labels has memorized the wrong ones (Zhang et al., 2017).

    Args:
        y: class indices in 0..num_classes-1, shape (n,).
        fraction: probability that each label is changed, in [0, 1).
        num_classes: number of classes K (>= 2).
        generator: a CPU ``torch.Generator`` for reproducible corruption.

    Returns:
        ``(y_noisy, flipped)``: the new labels (a copy) and a boolean mask of the changed ones.
    """
    _args.tensor("y", y, ndim=1)
    if y.is_floating_point() or y.dtype == torch.bool:
        raise TypeError(
            f"y must hold integer class indices, got dtype {y.dtype}"
        )
    fraction = _args.fraction("fraction", fraction)
    num_classes = _args.positive_int("num_classes", num_classes)
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(f"y must hold class indices in 0..{num_classes - 1}")
    flipped = (torch.rand(len(y), generator=generator) < fraction).to(y.device)
    shift = torch.randint(1, num_classes, (len(y),), generator=generator).to(
        y.device
    )  # never 0: a different class
    y_noisy = torch.where(flipped, (y + shift) % num_classes, y)
    return y_noisy, flipped


def image_patches(
    num_patches: int = 5000,
    patch_size: int = 8,
    *,
    part: str = "train",
    seed: int = 0,
    min_contrast: float = 0.03,
    dtype: torch.dtype = torch.float32,
    device=None,
) -> torch.Tensor:
    """Natural-image patches from scikit-learn's two bundled photos, centred and scaled to unit norm.

    The photos (``china.jpg`` and ``flower.jpg``, 427 x 640 pixels) ship with scikit-learn, so no
    network is needed. Each image is turned to grey levels in [0, 1]; square patches are cut at random
    positions; each patch has its mean subtracted (its DC component) and, if its contrast (the
    standard deviation of its pixels) is at least ``min_contrast``, is divided by its Euclidean norm.
    Flatter patches (sky, blur) are dropped and redrawn. Training patches come from the left 75% of
    the columns of each photo and test patches from the right 25%, so the two parts never overlap.

    Args:
        num_patches: how many patches to return (half from each photo).
        patch_size: the side p of the square patches; each row has p * p entries.
        part: ``"train"`` or ``"test"``.
        seed: seed of the patch positions.
        min_contrast: the smallest pixel standard deviation a patch needs to be kept.
        dtype, device: of the returned tensor.

    Returns:
        a tensor of shape (num_patches, patch_size ** 2) whose rows have zero mean and unit norm.
    """
    from sklearn.datasets import load_sample_images

    num_patches = _args.positive_int("num_patches", num_patches)
    patch_size = _args.positive_int("patch_size", patch_size)
    if patch_size < 2 or patch_size > 32:
        raise ValueError(
            f"patch_size must be between 2 and 32 pixels, got {patch_size}"
        )
    _args.one_of("part", part, {"train", "test"})
    seed = _args.positive_int("seed", seed, allow_zero=True)
    min_contrast = _args.real("min_contrast", min_contrast, low=0.0)
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    g = torch.Generator().manual_seed(seed + (0 if part == "train" else 7919))
    out = []
    for i, image in enumerate(load_sample_images().images):
        grey = (
            torch.tensor(np.asarray(image), dtype=torch.float64).mean(-1)
            / 255.0
        )
        split = int(0.75 * grey.shape[1])
        region = grey[:, :split] if part == "train" else grey[:, split:]
        want = num_patches // 2 + (num_patches % 2 if i == 0 else 0)
        kept, tries = [], 0
        while sum(len(k) for k in kept) < want:
            tries += 1
            if tries > 50:
                raise ValueError(
                    "too few patches have contrast >="
                    f" min_contrast={min_contrast}; lower it"
                )
            rows = torch.randint(
                0, region.shape[0] - patch_size + 1, (2 * want,), generator=g
            )
            cols = torch.randint(
                0, region.shape[1] - patch_size + 1, (2 * want,), generator=g
            )
            offsets = torch.arange(patch_size)
            r = (rows[:, None] + offsets)[:, :, None]
            c = (cols[:, None] + offsets)[:, None, :]
            patches = region[r, c].reshape(len(rows), -1)
            patches = patches - patches.mean(1, keepdim=True)
            patches = patches[patches.std(1) >= min_contrast]
            kept.append(patches / patches.norm(dim=1, keepdim=True))
        out.append(torch.cat(kept)[:want])
    return torch.cat(out).to(dtype=dtype, device=device)
