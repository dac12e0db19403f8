"""coursekit.reparametrization: the deep linear chain's update (autograd = closed forms = polynomial)
and the batch-norm reparametrization that makes the three equivalent networks move alike."""
import numpy as np
import pytest
import torch

from coursekit import reparametrization as R

DT = torch.float64


def test_three_equivalent_networks_match_their_closed_forms():
    w, x, eps = 0.9, 0.7, 0.1
    assert R.product_network_step([w * w], x, eps) == pytest.approx(x * (w ** 2 - eps * x), rel=1e-14)
    assert R.product_network_step([w, w], x, eps, shared=True) == pytest.approx(
        x * w ** 2 * (1 - 2 * eps * x) ** 2, rel=1e-14)
    assert R.product_network_step([w, w], x, eps) == pytest.approx(x * w ** 2 * (1 - eps * x) ** 2, rel=1e-14)


@pytest.mark.parametrize("ws", [[0.5, 1.5, -2.0, 0.8], [1.1, 0.9, 1.3], [2.0], [0.3, -0.7, 1.9, 1.2, 0.6]])
def test_polynomial_expansion_equals_the_autograd_step(ws):
    x = 0.8
    c = R.product_update_polynomial(ws, x)
    kappa = float(np.prod(ws))
    assert len(c) == len(ws) + 1
    assert c[0] == pytest.approx(x * kappa, rel=1e-13)                              # no step: the output
    assert c[-1] == pytest.approx(x * (-x) ** len(ws) * kappa ** (len(ws) - 1), rel=1e-13)
    first = -x * x * sum(np.prod([w ** 2 for j, w in enumerate(ws) if j != i]) for i in range(len(ws)))
    assert c[1] == pytest.approx(first, rel=1e-13)
    for eps in (0.01, 0.1, 0.5):
        assert np.polyval(c[::-1], eps) == pytest.approx(R.product_network_step(ws, x, eps), rel=1e-12, abs=1e-14)


def test_forward_is_the_chain_and_its_batch_norm():
    x = torch.tensor([0.5, -1.0, 2.0], dtype=DT)
    w = torch.tensor([0.9, 1.1, -0.7], dtype=DT)
    torch.testing.assert_close(R.product_network_forward(x, w, k=3), x * 0.9 * 1.1 * -0.7, rtol=1e-15, atol=0)
    one = torch.tensor([1.2], dtype=DT)
    torch.testing.assert_close(R.product_network_forward(x, one, k=3), x * 1.2 ** 3, rtol=1e-15, atol=0)
    h = x * 1.2 ** 3
    gamma, beta = torch.tensor([1.5], dtype=DT), torch.tensor([-0.2], dtype=DT)
    expected = 1.5 * (h - h.mean()) / h.var(unbiased=False).sqrt() - 0.2
    torch.testing.assert_close(R.product_network_forward(x, one, gamma, beta, k=3), expected,
                               rtol=0, atol=1e-12)


def test_batch_norm_makes_the_three_updates_identical():
    x = torch.tensor([0.5, -1.0, 2.0, 0.3, 1.1], dtype=DT)
    y = 2 * x + 1
    w = 0.9
    plain = [R.product_network_batch_step(ws, x, y, 0.1, shared=sh)["output"]
             for ws, sh in (([w * w], False), ([w, w], True), ([w, w], False))]
    assert (plain[0] - plain[1]).abs().max() > 1e-2 and (plain[0] - plain[2]).abs().max() > 1e-2
    normed = [R.product_network_batch_step(ws, x, y, 0.1, shared=sh, normalize=True, gamma=1.5, beta=-0.2)
              for ws, sh in (([w * w], False), ([w, w], True), ([w, w], False))]
    for r in normed[1:]:
        torch.testing.assert_close(r["output"], normed[0]["output"], rtol=0, atol=1e-12)
    for r in normed:
        assert r["grad_w"].abs().max() < 1e-12


def test_batch_step_without_normalization_is_a_gradient_step_on_the_squared_loss():
    x = torch.tensor([0.5, -1.0, 2.0, 0.3], dtype=DT)
    y = 2 * x + 1
    w1, w2, lr = 0.9, 1.3, 0.05
    r = R.product_network_batch_step([w1, w2], x, y, lr)
    residual = x * w1 * w2 - y
    grad = torch.tensor([(residual * x * w2).mean(), (residual * x * w1).mean()], dtype=DT)
    torch.testing.assert_close(r["grad_w"], grad, rtol=1e-13, atol=0)
    torch.testing.assert_close(r["output"], x * (w1 - lr * grad[0]) * (w2 - lr * grad[1]), rtol=1e-13, atol=0)
    assert r["loss"] == pytest.approx(0.5 * float((residual ** 2).mean()), rel=1e-14)
    assert r["grad_gamma"] is None and r["grad_beta"] is None


def test_product_network_bad_arguments():
    with pytest.raises(ValueError, match="shared=True needs equal weights"):
        R.product_network_step([1.0, 2.0], 1.0, 0.1, shared=True)
    with pytest.raises(ValueError, match="non-zero"):
        R.product_update_polynomial([1.0, 0.0], 1.0)
    with pytest.raises(TypeError, match="ws must be"):
        R.product_network_step(["a"], 1.0, 0.1)
    with pytest.raises(ValueError, match="lr must be"):
        R.product_network_step([1.0], 1.0, -0.1)
    with pytest.raises(ValueError, match="at least 2"):
        R.product_network_batch_step([1.0], torch.ones(1, dtype=DT), torch.ones(1, dtype=DT), 0.1)
    with pytest.raises(TypeError, match="gamma"):
        R.product_network_batch_step([1.0], torch.ones(3, dtype=DT), torch.ones(3, dtype=DT), 0.1,
                                     normalize=True, gamma="1")


def test_the_printed_functions_are_what_the_checked_ones_run():
    w = torch.tensor([0.9, 1.3, -0.4], dtype=DT)
    assert R.chain_step(w, 0.7, 0.05) == R.product_network_step(w.tolist(), 0.7, 0.05)
    shared = torch.full((3,), 1.1, dtype=DT)
    assert R.chain_step(shared, 0.7, 0.05, shared=True) == R.product_network_step([1.1] * 3, 0.7, 0.05,
                                                                                   shared=True)
    np.testing.assert_array_equal(R.step_polynomial(w.numpy(), 0.7), R.product_update_polynomial(w, 0.7))
