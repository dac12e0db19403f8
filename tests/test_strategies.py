"""coursekit.strategies: the deep linear network's update (autograd = closed forms = polynomial), the BN
reparametrization, block coordinate descent, Gaussian smoothing and continuation, curriculum batches, pretraining."""
import math

import numpy as np
import pytest
import torch

from coursekit import strategies as S


DT = torch.float64


def test_three_equivalent_networks_match_their_closed_forms():
    w, x, eps = 0.9, 0.7, 0.1
    assert S.product_network_step([w * w], x, eps) == pytest.approx(x * (w ** 2 - eps * x), rel=1e-14)
    assert S.product_network_step([w, w], x, eps, shared=True) == pytest.approx(x * w ** 2 * (1 - 2 * eps * x) ** 2,
                                                                                rel=1e-14)
    assert S.product_network_step([w, w], x, eps) == pytest.approx(x * w ** 2 * (1 - eps * x) ** 2, rel=1e-14)


@pytest.mark.parametrize("ws", [[0.5, 1.5, -2.0, 0.8], [1.1, 0.9, 1.3], [2.0], [0.3, -0.7, 1.9, 1.2, 0.6]])
def test_polynomial_expansion_equals_the_autograd_step(ws):
    x = 0.8
    c = S.product_update_polynomial(ws, x)
    kappa = float(np.prod(ws))
    assert len(c) == len(ws) + 1
    assert c[0] == pytest.approx(x * kappa, rel=1e-13)                              # no step: the output
    assert c[-1] == pytest.approx(x * (-x) ** len(ws) * kappa ** (len(ws) - 1), rel=1e-13)
    first = -x * x * sum(np.prod([w ** 2 for j, w in enumerate(ws) if j != i]) for i in range(len(ws)))
    assert c[1] == pytest.approx(first, rel=1e-13)
    for eps in (0.01, 0.1, 0.5):
        assert np.polyval(c[::-1], eps) == pytest.approx(S.product_network_step(ws, x, eps), rel=1e-12, abs=1e-14)


def test_batch_norm_makes_the_three_updates_identical():
    x = torch.tensor([0.5, -1.0, 2.0, 0.3, 1.1], dtype=DT)
    y = 2 * x + 1
    w = 0.9
    plain = [S.product_network_batch_step(ws, x, y, 0.1, shared=sh)["output"]
             for ws, sh in (([w * w], False), ([w, w], True), ([w, w], False))]
    assert (plain[0] - plain[1]).abs().max() > 1e-2 and (plain[0] - plain[2]).abs().max() > 1e-2
    normed = [S.product_network_batch_step(ws, x, y, 0.1, shared=sh, normalize=True, gamma=1.5, beta=-0.2)
              for ws, sh in (([w * w], False), ([w, w], True), ([w, w], False))]
    for r in normed[1:]:
        torch.testing.assert_close(r["output"], normed[0]["output"], rtol=0, atol=1e-12)
    for r in normed:
        assert r["grad_w"].abs().max() < 1e-12


def test_product_network_bad_arguments():
    with pytest.raises(ValueError, match="shared=True needs equal weights"):
        S.product_network_step([1.0, 2.0], 1.0, 0.1, shared=True)
    with pytest.raises(ValueError, match="non-zero"):
        S.product_update_polynomial([1.0, 0.0], 1.0)
    with pytest.raises(TypeError, match="ws must be"):
        S.product_network_step(["a"], 1.0, 0.1)
    with pytest.raises(ValueError, match="lr must be"):
        S.product_network_step([1.0], 1.0, -0.1)
    with pytest.raises(ValueError, match="at least 2"):
        S.product_network_batch_step([1.0], torch.ones(1, dtype=DT), torch.ones(1, dtype=DT), 0.1)


def _sparse_problem():
    g = torch.Generator().manual_seed(0)
    d, k, n = 12, 6, 300
    W = torch.randn(k, d, generator=g, dtype=DT)
    W = W / W.norm(dim=1, keepdim=True)
    H = torch.randn(k, n, generator=g, dtype=DT) * (torch.rand(k, n, generator=g, dtype=DT) < 0.25)
    return W.T @ H + 0.01 * torch.randn(d, n, generator=g, dtype=DT), W


def test_block_coordinate_descent_decreases_the_objective_and_finds_the_atoms():
    X, W_true = _sparse_problem()
    r = S.block_coordinate_descent(X, 6, 0.2, rounds=40, inner_steps=20, generator=torch.Generator().manual_seed(1))
    J = r["objective"]
    assert len(J) == 81
    assert (np.diff(J) <= 1e-9 * J[0]).all()
    assert J[-1] < 0.3 * J[0]
    assert (r["W"].norm(dim=1) <= 1 + 1e-12).all()
    assert J[-1] == pytest.approx(S.sparse_coding_objective(X, r["W"], r["H"], 0.2))
    match = (r["W"] @ W_true.T).abs().max(dim=0).values
    assert (match > 0.95).all(), match


def test_block_coordinate_descent_bad_arguments():
    X, _ = _sparse_problem()
    with pytest.raises(ValueError, match="lam"):
        S.block_coordinate_descent(X, 6, -1.0)
    with pytest.raises(ValueError, match="W0 must have shape"):
        S.block_coordinate_descent(X, 6, 0.1, W0=torch.zeros(5, 12, dtype=DT))
    with pytest.raises(ValueError, match="shapes must be"):
        S.sparse_coding_objective(X, torch.zeros(6, 3, dtype=DT), torch.zeros(6, 300, dtype=DT), 0.1)


def test_gaussian_smoothing_is_exact_for_cosines_and_polynomials():
    x = torch.linspace(-3, 3, 13, dtype=DT)
    for omega, sigma in ((1.0, 0.5), (3.0, 0.4), (2.0, 1.5)):
        expected = torch.cos(omega * x) * math.exp(-(omega * sigma) ** 2 / 2)
        torch.testing.assert_close(S.gaussian_smoothing(lambda z: torch.cos(omega * z), x, sigma), expected,
                                   rtol=0, atol=1e-12)
    torch.testing.assert_close(S.gaussian_smoothing(lambda z: z ** 2, x, 0.7), x ** 2 + 0.49, rtol=0, atol=1e-12)
    torch.testing.assert_close(S.gaussian_smoothing(torch.sin, x, 0.0), torch.sin(x))
    with pytest.raises(ValueError, match="sigma"):
        S.gaussian_smoothing(torch.sin, x, -1.0)


def test_continuation_reaches_the_global_minimum_where_gradient_descent_does_not():
    def f(x):
        return 0.05 * x ** 2 - 1.2 * torch.exp(-(x - 2.0) ** 2 / 2) + 0.35 * (1 - torch.cos(3 * x))
    starts = [-6.0, -4.0, 5.0]
    gd = S.continuation(f, starts, [0.0], lr=0.2, steps=200)
    co = S.continuation(f, starts, [3.0, 2.0, 1.0, 0.5, 0.2, 0.0], lr=0.2, steps=60, num_nodes=41)
    assert gd["x"].shape == (1, 3) and co["path"].shape == (1 + 6 * 60, 3)
    assert np.all(np.abs(gd["x"][-1] - 2.02) > 1.0)
    assert np.allclose(co["x"][-1], 2.02, atol=0.02)
    single = S.continuation(f, -4.0, [0.0], lr=0.2, steps=5)
    assert single["x"].shape == (1, 1)
    with pytest.raises(ValueError, match="sigmas"):
        S.continuation(f, 0.0, [])


def test_curriculum_batches_grow_the_pool_from_easy_to_all():
    difficulty = torch.arange(100, dtype=DT)                    # example i has difficulty i
    batches = list(S.curriculum_batches(difficulty, 10, 20, start_fraction=0.2, full_at=0.5,
                                        generator=torch.Generator().manual_seed(0)))
    assert len(batches) == 20 and all(len(b) == 10 and len(set(b.tolist())) == 10 for b in batches)
    assert max(batches[0].tolist()) < 20                        # first batch: the easiest 20%
    pools = [math.ceil(min(1.0, 0.2 + 0.8 * t / 10) * 100) for t in range(20)]
    assert all(max(b.tolist()) < p for b, p in zip(batches, pools))
    assert max(max(b.tolist()) for b in batches[10:]) >= 50     # later, hard examples appear
    with pytest.raises(ValueError, match="batch_size"):
        list(S.curriculum_batches(difficulty, 30, 5, start_fraction=0.2))
    with pytest.raises(ValueError, match="start_fraction"):
        list(S.curriculum_batches(difficulty, 5, 5, start_fraction=0.0))


def test_greedy_pretraining_builds_the_full_network():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(120, 6, generator=g)
    y = (X[:, 0] > 0).long()
    torch.manual_seed(0)
    model, histories = S.greedy_supervised_pretraining([6, 8, 8, 2], (X, y), activation="tanh", epochs_per_layer=3,
                                                       lr=0.5, batch_size=30, generator=g)
    assert [type(m).__name__ for m in model] == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]
    assert len(histories) == 2 and all(p.requires_grad for p in model.parameters())
    assert histories[0].epochs["train_loss"][-1] < 0.5
    with pytest.raises(ValueError, match="hidden layer"):
        S.greedy_supervised_pretraining([6, 2], (X, y))
