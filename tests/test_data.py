import random

import numpy as np
import pytest
import torch

from coursekit import data


def test_digits_split_is_stratified_standardized_and_deterministic():
    a = data.digits(seed=3)
    b = data.digits(seed=3)
    assert torch.equal(a.X_train, b.X_train) and torch.equal(a.y_test, b.y_test)
    n = len(a.X_train) + len(a.X_val) + len(a.X_test)
    assert n == 1797 and a.X_train.shape[1] == 64 and a.num_classes == 10
    assert len(a.X_val) == pytest.approx(0.2 * n, abs=2) and len(a.X_test) == pytest.approx(0.2 * n, abs=2)
    # standardized with training statistics only: train columns have mean 0 and std 1 (or were constant)
    mean, std = a.X_train.double().mean(0), a.X_train.double().std(0)
    assert mean.abs().max() < 1e-5
    assert ((std - 1).abs() < 1e-4).logical_or(std < 1e-6).all()
    # every class appears in every part, in the same proportions (stratified)
    for y in (a.y_train, a.y_val, a.y_test):
        assert set(y.tolist()) == set(range(10))
    # the statistics kept on the split undo the standardization
    from sklearn.datasets import load_digits
    raw = torch.as_tensor(load_digits().data, dtype=torch.float64)
    restored = a.X_train.double() * a.std + a.mean
    assert torch.isclose(restored[:, None, :], raw[None, :50, :], atol=1e-4).all(-1).any()


def test_digits_other_seed_other_split_and_dtype():
    a, b = data.digits(seed=0), data.digits(seed=1, dtype=torch.float64)
    assert not torch.equal(a.y_train, b.y_train)
    assert b.X_train.dtype == torch.float64 and b.y_train.dtype == torch.long


def test_digits_without_standardize_keeps_pixels():
    s = data.digits(standardize=False)
    assert s.X_train.min() >= 0 and s.X_train.max() <= 16


@pytest.mark.parametrize("kwargs, match", [
    (dict(val_fraction=0.6, test_fraction=0.5), "val_fraction \\+ test_fraction"),
    (dict(val_fraction=-0.1), "val_fraction"),
    (dict(test_fraction=1.0), "test_fraction"),
    (dict(seed=-1), "seed"),
    (dict(dtype=torch.long), "dtype"),
])
def test_digits_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        data.digits(**kwargs)


def test_split_to_and_accessors():
    s = data.digits().to(dtype=torch.float64)
    X, y = s.train
    assert X.dtype == torch.float64 and y.dtype == torch.long
    assert s.val[0].shape[1] == 64 and s.test[1].ndim == 1
    assert "num_classes=10" in repr(s)


def test_mnist1d_generated_locally_deterministic_and_leaves_global_rng_alone():
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    a = data.mnist1d(num_samples=500, seed=1)
    assert np.random.rand() == expected  # generating data did not move NumPy's global generator
    b = data.mnist1d(num_samples=500, seed=1)
    assert torch.equal(a.X_train, b.X_train)
    assert a.X_train.shape[1] == 40 and a.num_classes == 10
    assert len(a.X_train) + len(a.X_val) + len(a.X_test) == 500
    with pytest.raises(ValueError, match="num_samples"):
        data.mnist1d(num_samples=50)


def test_mnist1d_signals_are_the_packages_numbers():
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed, args.train_split = 300, 3, 0.5
    np_state, py_state = np.random.get_state(), random.getstate()
    reference = make_dataset(args)  # reseeds the global generators: restore them for the other tests
    np.random.set_state(np_state)
    random.setstate(py_state)
    X, y = data.mnist1d_signals(300, seed=3)
    assert np.array_equal(X, np.concatenate([reference["x"], reference["x_test"]]))
    assert np.array_equal(y, np.concatenate([reference["y"], reference["y_test"]]))
    with pytest.raises(ValueError, match="num_samples"):
        data.mnist1d_signals(0)


def test_gaussian_classes_exact_risk_matches_monte_carlo():
    problem = data.GaussianClasses(dim=3, separation=1.2, seed=0)
    g = torch.Generator().manual_seed(0)
    X, y = problem.sample(200_000, generator=g)
    w, b = torch.tensor([1.0, -0.5, 0.3], dtype=torch.float64), 0.2
    empirical = ((X @ w + b > 0).long() != y).double().mean().item()
    assert abs(empirical - problem.risk(w, b)) < 0.005
    # the Bayes classifier sign(mu'x) attains the Bayes risk Phi(-||mu||)
    assert problem.risk(problem.mu) == pytest.approx(problem.bayes_risk, abs=1e-12)
    assert problem.bayes_risk == pytest.approx(0.11506967, abs=1e-6)


def test_gaussian_classes_bad_arguments():
    with pytest.raises(ValueError, match="dim"):
        data.GaussianClasses(dim=0)
    with pytest.raises(ValueError, match="separation"):
        data.GaussianClasses(separation=-1.0)
    p = data.GaussianClasses(dim=2)
    with pytest.raises(ValueError, match="w must have 2 entries"):
        p.risk(torch.ones(3))
    with pytest.raises(ValueError, match="non-zero"):
        p.risk(torch.zeros(2))
    with pytest.raises(TypeError, match="m must be an integer"):
        p.sample(2.5)


def test_linear_regression_shapes_and_noise():
    X, y, w = data.linear_regression(5000, 4, noise=0.5, seed=2)
    assert X.shape == (5000, 4) and y.shape == (5000,) and w.shape == (4,)
    residual = y - X @ w
    assert residual.std().item() == pytest.approx(0.5, rel=0.05)
    with pytest.raises(ValueError, match="noise"):
        data.linear_regression(10, 2, noise=-1.0)


def test_batches_cover_each_example_once_per_epoch():
    X = torch.arange(10.0).unsqueeze(1)
    y = torch.arange(10)
    g = torch.Generator().manual_seed(0)
    seen = torch.cat([yb for _, yb in data.batches(X, y, 3, generator=g)])
    assert sorted(seen.tolist()) == list(range(10))
    sizes = [len(yb) for _, yb in data.batches(X, y, 3, shuffle=False)]
    assert sizes == [3, 3, 3, 1]
    assert [len(yb) for _, yb in data.batches(X, y, 3, drop_last=True)] == [3, 3, 3]
    full = list(data.batches(X, y, None, shuffle=False))
    assert len(full) == 1 and torch.equal(full[0][1], y)
    ordered = torch.cat([yb for _, yb in data.batches(X, y, 4, shuffle=False)])
    assert torch.equal(ordered, y)


def test_batches_bad_arguments():
    X, y = torch.zeros(4, 2), torch.zeros(4)
    with pytest.raises(ValueError, match="batch_size"):
        next(data.batches(X, y, 0))
    with pytest.raises(ValueError, match="same length"):
        next(data.batches(X, torch.zeros(3)))
    with pytest.raises(TypeError, match="X must be a torch.Tensor"):
        next(data.batches([[1.0]], y))
