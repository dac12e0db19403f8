import math

import pytest
import torch
import torch.nn.functional as F

import coursekit as ck
from coursekit import train


def _problem():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(200, 5, generator=g)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).long()
    return X, y


def _model():
    torch.manual_seed(0)
    return ck.nn.mlp([5, 16, 2])


def test_fit_learns_and_records_history():
    X, y = _problem()
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    h = train.fit(model, opt, (X, y), epochs=20, batch_size=50, val=(X[:50], y[:50]),
                  generator=torch.Generator().manual_seed(1))
    assert len(h.steps) == 20 * 4 and len(h.epochs) == 20
    assert h.epochs["train_error"][-1] < 0.05 < h.epochs["train_error"][0] + 0.05
    assert h.epochs["train_loss"][-1] < h.epochs["train_loss"][0]
    assert (h.steps["grad_norm"] > 0).all()
    assert h.steps["examples"][-1] == 20 * 200
    assert set(h.epochs.columns) >= {"epoch", "step", "train_loss", "train_error", "val_loss", "val_error", "time"}
    assert h.epochs.last("epoch") == 20 and not h.diverged
    with pytest.raises(KeyError, match="recorded columns"):
        h.epochs["nope"]


def test_fit_is_deterministic_with_seeded_generator():
    X, y = _problem()
    runs = []
    for _ in range(2):
        model = _model()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        h = train.fit(model, opt, (X, y), epochs=3, batch_size=16, generator=torch.Generator().manual_seed(5))
        runs.append(h.steps["loss"])
    assert (runs[0] == runs[1]).all()


def test_full_batch_is_one_step_per_epoch_and_max_steps_stops():
    X, y = _problem()
    model = _model()
    h = train.fit(model, torch.optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=5)
    assert len(h.steps) == 5
    model = _model()
    h = train.fit(model, torch.optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=100, batch_size=10, max_steps=7)
    assert len(h.steps) == 7 and len(h.epochs) == 1


def test_fit_works_with_closure_optimizers_and_scheduler():
    X, y = _problem()
    model = _model()
    opt = torch.optim.LBFGS(model.parameters(), lr=0.5, max_iter=5)
    h = train.fit(model, opt, (X, y), epochs=3)
    assert h.epochs["train_loss"][-1] < h.epochs["train_loss"][0]
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    h = train.fit(model, opt, (X, y), epochs=3, scheduler=sched)
    assert list(h.steps["lr"]) == [1.0, 0.5, 0.25]


def test_divergence_stops_with_a_readable_message():
    X, y = _problem()
    X = X * 1e3
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=1e6)
    with pytest.raises(train.DivergenceError, match=r"diverged at epoch \d+, step \d+: .*\(learning rate 1000000.0\)") as info:
        train.fit(model, opt, (X, y), epochs=50, loss_fn=lambda out, t: F.cross_entropy(out, t) * 1e30)
    assert info.value.history.diverged and not math.isfinite(info.value.history.steps.last("loss"))
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=1e6)
    h = train.fit(model, opt, (X, y), epochs=50, on_divergence="stop",
                  loss_fn=lambda out, t: F.cross_entropy(out, t) * 1e30)
    assert h.diverged


def test_fit_regression_loss_has_no_error_column():
    X = torch.randn(64, 3)
    y = X.sum(1, keepdim=True)
    model = torch.nn.Linear(3, 1)
    h = train.fit(model, torch.optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=30, loss_fn=F.mse_loss)
    assert "train_error" not in h.epochs.columns and h.epochs["train_loss"][-1] < 0.01


def test_evaluate_and_grad_norm():
    X, y = _problem()
    model = _model()
    model.train()
    out = train.evaluate(model, X, y)
    assert set(out) == {"loss", "error", "accuracy"} and out["error"] + out["accuracy"] == pytest.approx(1.0)
    assert model.training  # mode restored
    loss = F.cross_entropy(model(X), y)
    loss.backward()
    flat = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert train.grad_norm(model.parameters()) == pytest.approx(flat.norm().item(), rel=1e-6)
    assert train.grad_norm([torch.zeros(2, requires_grad=True)]) == 0.0


@pytest.mark.parametrize("call, exc, match", [
    (lambda m, o, X, y: train.fit("model", o, (X, y)), TypeError, "model must be"),
    (lambda m, o, X, y: train.fit(m, "sgd", (X, y)), TypeError, "optimizer must be"),
    (lambda m, o, X, y: train.fit(m, o, X), TypeError, "train must be a pair"),
    (lambda m, o, X, y: train.fit(m, o, (X, y[:3])), ValueError, "same length"),
    (lambda m, o, X, y: train.fit(m, o, (X, y), epochs=0), ValueError, "epochs"),
    (lambda m, o, X, y: train.fit(m, o, (X, y), batch_size=-2), ValueError, "batch_size"),
    (lambda m, o, X, y: train.fit(m, o, (X, y), on_divergence="ignore"), ValueError, "on_divergence"),
    (lambda m, o, X, y: train.fit(m, o, (X, y), val=(X,)), TypeError, "val must be a pair"),
    (lambda m, o, X, y: train.evaluate(m, X[:0], y[:0]), ValueError, "at least one"),
])
def test_bad_arguments(call, exc, match):
    X, y = _problem()
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(exc, match=match):
        call(model, opt, X, y)
