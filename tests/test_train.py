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


def test_greedy_pretraining_builds_the_full_network():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(120, 6, generator=g)
    y = (X[:, 0] > 0).long()
    torch.manual_seed(0)
    model, histories = train.greedy_supervised_pretraining([6, 8, 8, 2], (X, y), activation="tanh",
                                                           epochs_per_layer=3, lr=0.5, batch_size=30,
                                                           generator=g)
    assert [type(m).__name__ for m in model] == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]
    assert len(histories) == 2 and all(p.requires_grad for p in model.parameters())
    assert [len(h.epochs) for h in histories] == [3, 3]
    assert histories[0].epochs["train_loss"][-1] < 0.5
    with pytest.raises(ValueError, match="hidden layer"):
        train.greedy_supervised_pretraining([6, 2], (X, y))
    with pytest.raises(ValueError, match="activation"):
        train.greedy_supervised_pretraining([6, 4, 2], (X, y), activation="swish")
    with pytest.raises(ValueError, match="lr"):
        train.greedy_supervised_pretraining([6, 4, 2], (X, y), lr=0.0)


def test_check_divergence_is_the_one_policy():
    h = train.History()
    assert train.check_divergence(1.5, h, where="step 1") is False and not h.diverged
    assert train.check_divergence(float("inf"), h, where="step 2", on_divergence="stop") is True
    assert h.diverged
    with pytest.raises(train.DivergenceError, match=r"diverged at step 3: the loss became nan \(learning rate 0.1\)"):
        train.check_divergence(float("nan"), train.History(), where="step 3", lr=0.1)


def test_fit_batch_loss_hook_eval_batches_and_before_step():
    X, y = _problem()
    model = _model()
    seen = []
    h = train.fit(model, torch.optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=2, batch_size=64,
                  eval_train="batches", drop_last=True, generator=torch.Generator().manual_seed(0),
                  batch_loss=lambda m, xb, yb: F.cross_entropy(m(xb), yb) + 0.0 * len(seen),
                  before_step=lambda step, xb, yb: seen.append((step, len(xb))))
    assert seen == [(s, 64) for s in range(6)]                    # 200 // 64 = 3 full batches per epoch
    steps = h.steps["loss"]
    assert h.epochs["train_loss"] == pytest.approx([steps[:3].mean(), steps[3:].mean()], rel=1e-12)
    with pytest.raises(ValueError, match="eval_train"):
        train.fit(model, torch.optim.SGD(model.parameters(), lr=0.1), (X, y), eval_train="yes")
    with pytest.raises(TypeError, match="before_step must be callable"):
        train.fit(model, torch.optim.SGD(model.parameters(), lr=0.1), (X, y), before_step=3)


def test_autoencoder_training_is_fit_and_equals_the_plain_loop():
    X = torch.randn(100, 6, generator=torch.Generator().manual_seed(0))

    def make():
        torch.manual_seed(0)
        return ck.autoencoders.mlp_autoencoder([6, 3, 6], "tanh")

    ae = make()
    h = ck.autoencoders.train_autoencoder(ae, X, torch.optim.Adam(ae.parameters(), lr=1e-2), epochs=3,
                                          batch_size=32, generator=torch.Generator().manual_seed(1))
    ref = make()
    opt, g, means = torch.optim.Adam(ref.parameters(), lr=1e-2), torch.Generator().manual_seed(1), []
    for _ in range(3):
        total = 0.0
        for xb, _ in ck.data.batches(X, X, 32, generator=g):
            opt.zero_grad()
            loss = ref.loss(xb)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(xb)
        means.append(total / len(X))
    assert h.epochs["train_loss"] == pytest.approx(means, rel=1e-12)
    for p, q in zip(ae.parameters(), ref.parameters()):
        assert torch.equal(p, q)
    with pytest.raises(train.DivergenceError, match="diverged at epoch 1, step 1"):
        bad = make()
        ck.autoencoders.train_autoencoder(bad, X * float("inf"), torch.optim.SGD(bad.parameters(), lr=0.1))


def test_gan_and_probe_loops_share_the_divergence_policy():
    G, D = torch.nn.Linear(1, 1), torch.nn.Linear(1, 1)
    with torch.no_grad():
        D.weight.fill_(float("nan"))
    with pytest.raises(train.DivergenceError, match="diverged at GAN step 1"):
        ck.gan.train(G, D, torch.optim.SGD(G.parameters(), lr=0.1), torch.optim.SGD(D.parameters(), lr=0.1),
                     lambda m: torch.randn(m, 1), lambda m: torch.randn(m, 1), steps=3, record_every=1)
    X, y = _problem()
    model = _model()
    with pytest.raises(train.DivergenceError, match="diverged at epoch"):
        ck.smoothness.train_with_probes(model, torch.optim.SGD(model.parameters(), lr=0.1), (X * float("inf"), y),
                                        steps=5, batch_size=50, step_sizes=[0.1])


def test_probe_training_is_fit_and_equals_the_plain_loop():
    X, y = _problem()
    model, ref = _model(), _model()
    out = ck.smoothness.train_with_probes(model, torch.optim.SGD(model.parameters(), lr=0.2), (X, y), steps=9,
                                          batch_size=64, step_sizes=[0.1, 0.2], probe_every=4,
                                          generator=torch.Generator().manual_seed(0))
    opt, g, losses, probed = torch.optim.SGD(ref.parameters(), lr=0.2), torch.Generator().manual_seed(0), [], []
    while len(losses) < 9:
        for xb, yb in ck.data.batches(X, y, 64, generator=g, drop_last=True):
            if len(losses) % 4 == 0:
                probed.append(ck.smoothness.probe_along_gradient(ref, xb, yb, [0.1, 0.2])["loss_range"])
            opt.zero_grad()
            loss = F.cross_entropy(ref(xb), yb)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            if len(losses) == 9:
                break
    assert list(out["step"]) == [0, 4, 8]
    assert out["loss"] == pytest.approx(losses, rel=1e-12)
    assert out["loss_range"] == pytest.approx(probed, rel=1e-12)
