"""coursekit.continuation: Gaussian smoothing (exact on cosines and polynomials), continuation, and
curriculum batches."""
import math

import numpy as np
import pytest
import torch

from coursekit import continuation as C

DT = torch.float64


def test_gaussian_smoothing_is_exact_for_cosines_and_polynomials():
    x = torch.linspace(-3, 3, 13, dtype=DT)
    for omega, sigma in ((1.0, 0.5), (3.0, 0.4), (2.0, 1.5)):
        expected = torch.cos(omega * x) * math.exp(-(omega * sigma) ** 2 / 2)
        torch.testing.assert_close(C.gaussian_smoothing(lambda z: torch.cos(omega * z), x, sigma), expected,
                                   rtol=0, atol=1e-12)
    torch.testing.assert_close(C.gaussian_smoothing(lambda z: z ** 2, x, 0.7), x ** 2 + 0.49, rtol=0, atol=1e-12)
    torch.testing.assert_close(C.gaussian_smoothing(torch.sin, x, 0.0), torch.sin(x))
    with pytest.raises(ValueError, match="sigma"):
        C.gaussian_smoothing(torch.sin, x, -1.0)
    with pytest.raises(TypeError, match="f must be callable"):
        C.gaussian_smoothing(3.0, x, 1.0)


def test_continuation_reaches_the_global_minimum_where_gradient_descent_does_not():
    def f(x):
        return 0.05 * x ** 2 - 1.2 * torch.exp(-(x - 2.0) ** 2 / 2) + 0.35 * (1 - torch.cos(3 * x))
    starts = [-6.0, -4.0, 5.0]
    gd = C.continuation(f, starts, [0.0], lr=0.2, steps=200)
    co = C.continuation(f, starts, [3.0, 2.0, 1.0, 0.5, 0.2, 0.0], lr=0.2, steps=60, num_nodes=41)
    assert gd["x"].shape == (1, 3) and co["path"].shape == (1 + 6 * 60, 3)
    assert np.all(np.abs(gd["x"][-1] - 2.02) > 1.0)
    assert np.allclose(co["x"][-1], 2.02, atol=0.02)
    single = C.continuation(f, -4.0, [0.0], lr=0.2, steps=5)
    assert single["x"].shape == (1, 1)
    with pytest.raises(ValueError, match="sigmas"):
        C.continuation(f, 0.0, [])


def test_curriculum_batches_grow_the_pool_from_easy_to_all():
    difficulty = torch.arange(100, dtype=DT)                    # example i has difficulty i
    batches = list(C.curriculum_batches(difficulty, 10, 20, start_fraction=0.2, full_at=0.5,
                                        generator=torch.Generator().manual_seed(0)))
    assert len(batches) == 20 and all(len(b) == 10 and len(set(b.tolist())) == 10 for b in batches)
    assert max(batches[0].tolist()) < 20                        # first batch: the easiest 20%
    pools = [math.ceil(min(1.0, 0.2 + 0.8 * t / 10) * 100) for t in range(20)]
    assert all(max(b.tolist()) < p for b, p in zip(batches, pools))
    assert max(max(b.tolist()) for b in batches[10:]) >= 50     # later, hard examples appear
    with pytest.raises(ValueError, match="batch_size"):
        list(C.curriculum_batches(difficulty, 30, 5, start_fraction=0.2))
    with pytest.raises(ValueError, match="start_fraction"):
        list(C.curriculum_batches(difficulty, 5, 5, start_fraction=0.0))


def test_the_printed_functions_are_what_the_checked_ones_run():
    x = torch.linspace(-2, 2, 9, dtype=DT)
    assert torch.equal(C.gaussian_smoothing(torch.sin, x, 0.7, num_nodes=21),
                       C.gauss_hermite_smoothing(torch.sin, x, 0.7, 21))
    difficulty = torch.rand(50, generator=torch.Generator().manual_seed(2), dtype=DT)
    checked = C.curriculum_batches(difficulty, 5, 8, start_fraction=0.3, full_at=0.5,
                                   generator=torch.Generator().manual_seed(0))
    plain = C.paced_batches(difficulty, 5, 8, 0.3, 0.5, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(checked, plain))
    with pytest.raises(ValueError, match="start_fraction"):          # checked at once, not lazily
        C.curriculum_batches(difficulty, 5, 8, start_fraction=1.5)
