"""coursekit.smoothness: probes along the gradient restore the model and measure the right quantities."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import coursekit as ck
from coursekit.smoothness import probe_along_gradient, train_with_probes


def _quadratic_model():
    model = torch.nn.Linear(3, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -2.0, 0.5]]))
    return model


def test_probe_on_a_quadratic_has_the_exact_smoothness():
    # L(w) = 1/2 mean (x'w - y)^2 has a constant Hessian H = X'X/n: along g, ||grad change|| / ||eta g|| = ||H g||/||g||
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(50, 3, generator=g, dtype=torch.float64), torch.randn(50, 1, generator=g, dtype=torch.float64)
    model = _quadratic_model()
    loss_fn = lambda out, t: 0.5 * F.mse_loss(out, t)
    r = probe_along_gradient(model, X, y, [0.01, 0.1, 0.5], loss_fn)
    H = X.T @ X / len(X)
    w = model.weight.detach().reshape(-1)
    grad = H @ w - X.T @ y.reshape(-1) / len(X)
    assert r["grad_norm"] == pytest.approx(float(grad.norm()), rel=1e-10)
    assert r["smoothness"] == pytest.approx(float((H @ grad).norm() / grad.norm()), rel=1e-10)
    assert r["grad_change"] == pytest.approx(0.5 * float((H @ grad).norm()), rel=1e-10)
    assert r["loss"].shape == (3,) and r["loss_range"] >= 0


def test_probe_leaves_the_model_unchanged_including_batch_norm_buffers():
    torch.manual_seed(0)
    model = ck.nn.mlp([4, 6, 3], batch_norm="coursekit")
    X, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    probe_along_gradient(model, X, y, [0.1, 1.0])
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    with pytest.raises(ValueError, match="step_sizes"):
        probe_along_gradient(model, X, y, [])
    with pytest.raises(ValueError, match="step_sizes\\[0\\]"):
        probe_along_gradient(model, X, y, [-1.0])


def test_train_with_probes_records_every_step():
    torch.manual_seed(0)
    model = ck.nn.mlp([4, 6, 3])
    X, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    out = train_with_probes(model, torch.optim.SGD(model.parameters(), lr=0.1), (X, y), steps=10, batch_size=16,
                            step_sizes=[0.1, 0.2], probe_every=5, generator=torch.Generator().manual_seed(0))
    assert len(out["loss"]) == 10 and list(out["step"]) == [0, 5] and out["probe_losses"].shape == (2, 2)
    assert np.all(out["smoothness"] > 0)
