import math

import numpy as np
import pytest
import torch
from torch import nn

import coursekit as ck
from coursekit import init


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- scales and variances

def test_fans_follow_torch_convention():
    assert init.fans(torch.empty(30, 20)) == (20, 30)
    assert init.fans(torch.empty(8, 3, 5, 5)) == (75, 200)
    assert init.fans(torch.empty(8, 3, 5, 5)) == nn.init._calculate_fan_in_and_fan_out(torch.empty(8, 3, 5, 5))


def test_gain_matches_torch():
    for name in ["linear", "sigmoid", "tanh", "relu", "selu"]:
        assert init.gain(name) == pytest.approx(nn.init.calculate_gain(name))
    assert init.gain("leaky_relu", 0.2) == pytest.approx(nn.init.calculate_gain("leaky_relu", 0.2))


def test_glorot_bound_and_he_std_formulas():
    assert init.glorot_bound(100, 200) == pytest.approx(math.sqrt(6 / 300))
    assert init.glorot_bound(100, 200, gain=2.0) == pytest.approx(2 * math.sqrt(6 / 300))
    assert init.he_std(50) == pytest.approx(math.sqrt(2 / 50))
    assert init.he_std(50, "leaky_relu", 0.1) == pytest.approx(math.sqrt(2 / (1.01 * 50)))
    assert init.he_std(50, "linear") == pytest.approx(math.sqrt(1 / 50))


SCHEME_CASES = [
    ("standard", {}),
    ("glorot_uniform", {}),
    ("glorot_uniform", {"gain": 5 / 3}),
    ("glorot_normal", {}),
    ("he_normal", {}),
    ("he_normal", {"mode": "fan_out"}),
    ("he_uniform", {"nonlinearity": "leaky_relu", "a": 0.3}),
    ("he_normal", {"gain": 3.0}),
    ("orthogonal", {}),
    ("orthogonal", {"gain": 2.0}),
    ("sparse", {"k": 10, "std": 0.5}),
]


@pytest.mark.parametrize("scheme,kwargs", SCHEME_CASES)
@pytest.mark.parametrize("shape", [(300, 500), (500, 300), (64, 20, 3, 3)])
def test_empirical_variance_matches_formula(scheme, kwargs, shape):
    W = torch.empty(shape)
    init.SCHEMES[scheme](W, generator=_g(1), **kwargs)
    m, n = init.fans(W)
    expected = init.weight_variance(scheme, shape, **kwargs)
    # the sample variance of N iid entries has relative standard error ~ sqrt(2/N) (Gaussian) and at most
    # sqrt(kurtosis - 1)/sqrt(N) for the sparse law; 6 of them is a safe bound
    N = W.numel()
    kurt = 3.0 * (m / kwargs.get("k", 15)) if scheme == "sparse" else 3.0
    tol = 6 * math.sqrt((kurt - 1) / N)
    assert abs(W.var(unbiased=False).item() / expected - 1) < tol, (scheme, kwargs, shape)
    assert abs(W.mean().item()) < 6 * math.sqrt(expected / N)


def test_uniform_bounds_are_respected():
    W = init.glorot_uniform_(torch.empty(100, 50), generator=_g())
    a = init.glorot_bound(50, 100)
    assert W.abs().max() <= a and W.abs().max() > 0.98 * a
    W = init.standard_uniform_(torch.empty(100, 400), generator=_g())
    assert W.abs().max() <= 1 / 20 and W.abs().max() > 0.98 / 20


# ---------------------------------------------------------------- agreement with torch.nn.init

@pytest.mark.parametrize("shape", [(40, 30), (30, 40), (16, 3, 5, 5)])
def test_same_numbers_as_torch_with_same_generator(shape):
    pairs = [
        (lambda t, g: init.glorot_uniform_(t, gain=1.3, generator=g),
         lambda t, g: nn.init.xavier_uniform_(t, gain=1.3, generator=g)),
        (lambda t, g: init.glorot_normal_(t, generator=g), lambda t, g: nn.init.xavier_normal_(t, generator=g)),
        (lambda t, g: init.he_normal_(t, generator=g),
         lambda t, g: nn.init.kaiming_normal_(t, nonlinearity="relu", generator=g)),
        (lambda t, g: init.he_normal_(t, a=0.2, mode="fan_out", nonlinearity="leaky_relu", generator=g),
         lambda t, g: nn.init.kaiming_normal_(t, a=0.2, mode="fan_out", generator=g)),
        (lambda t, g: init.he_uniform_(t, generator=g),
         lambda t, g: nn.init.kaiming_uniform_(t, nonlinearity="relu", generator=g)),
        (lambda t, g: init.standard_uniform_(t, generator=g),
         lambda t, g: nn.init.kaiming_uniform_(t, a=math.sqrt(5), generator=g)),
        (lambda t, g: init.orthogonal_(t, gain=0.7, generator=g),
         lambda t, g: nn.init.orthogonal_(t, gain=0.7, generator=g)),
    ]
    for ours, theirs in pairs:
        a = ours(torch.empty(shape), _g(7))
        b = theirs(torch.empty(shape), _g(7))
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_standard_is_torch_default_linear_init():
    torch.manual_seed(3)
    layer = nn.Linear(64, 32)
    torch.manual_seed(3)
    W = init.standard_uniform_(torch.empty(32, 64))
    torch.testing.assert_close(layer.weight.detach(), W, rtol=1e-6, atol=1e-7)


def test_sparse_matches_torch_sparse_in_distribution():
    rows, cols, sparsity, std = 200, 300, 0.9, 0.05
    theirs = nn.init.sparse_(torch.empty(rows, cols), sparsity=sparsity, std=std, generator=_g(2))
    k = rows - math.ceil(sparsity * rows)
    ours = torch.empty(rows, cols)
    init.sparse_(ours.T, k=k, std=std, generator=_g(2))     # torch zeros a fraction of each column
    assert ((ours != 0).sum(0) == k).all() and ((theirs != 0).sum(0) == k).all()
    a, b = ours[ours != 0], theirs[theirs != 0]
    assert abs(a.std() / b.std() - 1) < 0.05 and abs(a.std() / std - 1) < 0.05


def test_sparse_has_k_nonzeros_per_unit_and_random_positions():
    W = init.sparse_(torch.empty(50, 80), k=15, generator=_g())
    assert ((W != 0).sum(1) == 15).all()
    assert (W != 0).sum(0).float().std() > 0      # different units pick different inputs
    C = init.sparse_(torch.empty(6, 4, 3, 3), k=5, generator=_g())
    assert ((C.flatten(1) != 0).sum(1) == 5).all()


# ---------------------------------------------------------------- properties

def test_orthogonal_preserves_norms():
    W = init.orthogonal_(torch.empty(80, 50, dtype=torch.float64), generator=_g())
    torch.testing.assert_close(W.T @ W, torch.eye(50, dtype=torch.float64))
    W = init.orthogonal_(torch.empty(50, 80, dtype=torch.float64), gain=2.0, generator=_g())
    torch.testing.assert_close(W @ W.T, 4 * torch.eye(50, dtype=torch.float64))


def test_determinism_and_generator_on_other_device_path():
    a = init.he_normal_(torch.empty(20, 10), generator=_g(5))
    b = init.he_normal_(torch.empty(20, 10), generator=_g(5))
    assert torch.equal(a, b)
    # a float64 tensor with a CPU generator: same device, drawn in place
    c = init.sparse_(torch.empty(20, 10, dtype=torch.float64), k=3, generator=_g(5))
    d = init.sparse_(torch.empty(20, 10, dtype=torch.float64), k=3, generator=_g(5))
    assert torch.equal(c, d)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cpu_generator_can_seed_a_gpu_tensor():
    W = torch.empty(20, 10, device=ck.device())
    init.glorot_uniform_(W, generator=_g(1))
    torch.testing.assert_close(W.cpu(), init.glorot_uniform_(torch.empty(20, 10), generator=_g(1)))


# ---------------------------------------------------------------- models and biases

def test_initialize_applies_to_every_linear_and_conv_layer():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 20), nn.ReLU(),
                          nn.Linear(20, 5))
    init.initialize_(model, "orthogonal", bias=0.1, generator=_g())
    for layer in (model[0], model[3], model[5]):
        W = layer.weight.detach().flatten(1)
        small = min(W.shape)
        gram = W @ W.T if W.shape[0] <= W.shape[1] else W.T @ W
        torch.testing.assert_close(gram, torch.eye(small), atol=1e-5, rtol=0)
        assert (layer.bias == 0.1).all()
    before = model[3].bias.clone()
    init.initialize_(model, lambda w, generator=None: w.data.fill_(0.5), bias=None)
    assert (model[5].weight == 0.5).all() and torch.equal(model[3].bias, before)


def test_initialize_reproducible():
    a = init.initialize_(ck.nn.mlp([10, 20, 3]), "he_normal", generator=_g(4))
    b = init.initialize_(ck.nn.mlp([10, 20, 3]), "he_normal", generator=_g(4))
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_class_prior_bias_softmax_equals_frequencies_and_loss_equals_entropy():
    y = torch.tensor([0] * 70 + [1] * 20 + [2] * 10)
    layer = nn.Linear(5, 3)
    init.class_prior_bias_(layer.bias, y)
    p = torch.tensor([0.7, 0.2, 0.1])
    torch.testing.assert_close(torch.softmax(layer.bias.detach(), 0), p)
    with torch.no_grad():
        layer.weight.zero_()
    loss = nn.functional.cross_entropy(layer(torch.randn(100, 5)), y)
    assert loss.item() == pytest.approx(float(-(p * p.log()).sum()), rel=1e-5)
    b = torch.zeros(1)
    init.class_prior_bias_(b, torch.tensor([1] * 25 + [0] * 75))
    assert b.item() == pytest.approx(math.log(25 / 75))


def test_constant_bias():
    b = init.constant_bias_(torch.empty(7), 0.1)
    assert (b == 0.1).all()


# ---------------------------------------------------------------- LSUV

@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_lsuv_reaches_unit_variance_on_every_layer(activation):
    g = _g(0)
    X = torch.randn(256, 30, generator=g) * 3 + 1
    model = ck.nn.mlp([30] + [64] * 8 + [10], activation)
    res = init.lsuv_(model, X, tol=0.05, generator=g)
    assert res.converged and len(res.variance_after) == 9
    stats = init.layer_statistics(model, X)
    for s in stats:
        assert abs(s.var - 1) <= 0.05, s
    assert max(res.iterations) <= 3


def test_lsuv_needs_several_steps_with_biases_and_warns_when_capped():
    g = _g(1)
    X = torch.randn(200, 20, generator=g)
    model = ck.nn.mlp([20, 40, 40, 5], "tanh")
    init.initialize_(model, "glorot_normal", generator=g)
    for layer in (model[0], model[2], model[4]):   # random biases: Var(c W x + b) is not c^2 Var(W x)
        nn.init.normal_(layer.bias, 0.0, 0.5, generator=g)
    res = init.lsuv_(model, X, init=None, tol=1e-3, max_iter=20)
    assert res.converged and max(res.iterations) >= 2
    model = ck.nn.mlp([20, 40, 40, 5], "tanh")
    init.initialize_(model, "glorot_normal", generator=g)
    for layer in (model[0], model[2], model[4]):
        nn.init.normal_(layer.bias, 0.0, 0.5, generator=g)
    with pytest.warns(RuntimeWarning, match="not within"):
        res = init.lsuv_(model, X, init=None, tol=1e-3, max_iter=1)
    assert not res.converged
    # biases alone carrying variance > 1: rescaling the weights cannot bring the output variance down to 1
    model = ck.nn.mlp([20, 40, 5], "tanh")
    nn.init.normal_(model[0].bias, 0.0, 2.0, generator=g)
    with pytest.warns(RuntimeWarning, match="not within"):
        assert not init.lsuv_(model, X, init=None, max_iter=30).converged


def test_lsuv_step_is_pure_and_exact_without_bias():
    layer = nn.Linear(10, 20, bias=False)
    X = torch.randn(100, 10, generator=_g())
    W0 = layer.weight.detach().clone()
    W, v = init.lsuv_step(layer, X)
    assert torch.equal(layer.weight, W0)
    assert v == pytest.approx(float((X @ W0.T).var()), rel=1e-6)
    assert float((X @ W.T).var()) == pytest.approx(1.0, rel=1e-5)


def test_lsuv_restores_training_mode_and_handles_conv():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Dropout(0.5), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    model.train()
    res = init.lsuv_(model, torch.randn(64, 1, 8, 8, generator=_g()), generator=_g())
    assert model.training and res.converged


# ---------------------------------------------------------------- statistics and theory

def test_layer_statistics_forward_and_backward():
    g = _g(2)
    model = init.initialize_(ck.nn.mlp([16, 32, 32, 4], "relu"), "he_normal", generator=g)
    X, y = torch.randn(128, 16, generator=g), torch.randint(0, 4, (128,), generator=g)
    stats = init.layer_statistics(model, X, y, keep=True)
    assert [s.kind for s in stats] == ["Linear"] * 3
    h1 = model[0](X).detach()
    assert stats[0].var == pytest.approx(float(h1.var()), rel=1e-5)
    # the gradient wrt the first pre-activation, by autograd directly
    h1 = h1.requires_grad_(True)
    loss = nn.functional.cross_entropy(model[4](model[3](model[2](model[1](h1)))), y)
    (d1,) = torch.autograd.grad(loss, h1)
    assert stats[0].grad_var == pytest.approx(float(d1.var()), rel=1e-5)
    assert all(p.grad is None for p in model.parameters())     # .grad left untouched
    counts, edges = stats[1].histogram(bins=10, of="grads")
    assert counts.sum() == 128 * 32 and len(edges) == 11
    post = init.layer_statistics(model, X, modules=nn.ReLU)
    assert len(post) == 2 and math.isnan(post[0].grad_var)
    assert post[0].active == pytest.approx(stats[0].active) and post[0].var < stats[0].var
    assert stats[0].active == pytest.approx(float((model[0](X) > 0).float().mean()))


def test_signal_propagation_relu_closed_form_and_measured():
    th = init.signal_propagation("relu", 2.0 * 1.5**2, depth=6, q0=1.0)
    np.testing.assert_allclose(th["forward"], 4.5 * 2.25 ** np.arange(6))
    np.testing.assert_allclose(th["backward"], 2.25 ** np.arange(5, -1, -1.0))   # grows towards the input
    th = init.signal_propagation("identity", 1.0, depth=3, q0=2.0)
    np.testing.assert_allclose(th["forward"], [2.0, 2.0, 2.0])
    # tanh: small variances follow the linear regime, q_l ~ s^l q0
    # sigmoid: E[sigmoid(z)^2] for z ~ N(0, 1), by Monte Carlo; no overflow for huge variances
    z = torch.randn(2_000_000, generator=_g(), dtype=torch.float64)
    th = init.signal_propagation("sigmoid", 1.0, depth=2, q0=1.0)
    assert th["forward"][1] == pytest.approx(float((torch.sigmoid(z) ** 2).mean()), rel=1e-3)
    with np.errstate(all="raise"):
        assert np.isfinite(init.signal_propagation("sigmoid", 1.0, depth=3, q0=1e6)["forward"]).all()
    th = init.signal_propagation("tanh", 1 / 3, depth=10, q0=1e-4)
    assert th["forward"][-1] == pytest.approx(1e-4 * 3.0**-10, rel=1e-3)


def test_signal_propagation_predicts_a_wide_tanh_network():
    g = _g(3)
    width, depth = 512, 8
    model = init.initialize_(ck.nn.mlp([width] * (depth + 1) + [10], "tanh"), "glorot_normal", generator=g)
    X = torch.randn(512, width, generator=g)
    stats = init.layer_statistics(model, X)[:depth]
    th = init.signal_propagation("tanh", 1.0, depth, q0=float((X**2).mean()))
    measured = np.array([s.var for s in stats])
    np.testing.assert_allclose(measured, th["forward"], rtol=0.1)


# ---------------------------------------------------------------- argument validation

def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="tensor must have at least 2 dimensions"):
        init.glorot_uniform_(torch.empty(5))
    with pytest.raises(TypeError, match="tensor must be a torch.Tensor"):
        init.he_normal_([[1.0]])
    with pytest.raises(TypeError, match="tensor must have a floating dtype"):
        init.orthogonal_(torch.zeros(3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="gain must be > 0"):
        init.glorot_normal_(torch.empty(3, 3), gain=-1.0)
    with pytest.raises(ValueError, match="mode must be one of"):
        init.he_normal_(torch.empty(3, 3), mode="fanin")
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        init.he_uniform_(torch.empty(3, 3), nonlinearity="swish")
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        init.standard_uniform_(torch.empty(3, 3), generator=0)
    with pytest.raises(ValueError, match="k must be <= the fan-in"):
        init.sparse_(torch.empty(4, 10), k=11)
    with pytest.raises(ValueError, match="k must be >= 1"):
        init.sparse_(torch.empty(4, 10), k=0)
    with pytest.raises(ValueError, match="scheme must be one of"):
        init.initialize_(nn.Linear(2, 2), "xavier")
    with pytest.raises(ValueError, match="no layer of type"):
        init.initialize_(nn.ReLU(), "orthogonal")
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        init.initialize_("net", "orthogonal")
    with pytest.raises(ValueError, match="fan_in must be >= 1"):
        init.glorot_bound(0, 3)
    with pytest.raises(ValueError, match="classes \\[1\\] are missing"):
        init.class_log_priors(torch.tensor([0, 2, 2]))
    with pytest.raises(TypeError, match="targets must hold integer class labels"):
        init.class_log_priors(torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="tol must be > 0"):
        init.lsuv_(nn.Linear(3, 3), torch.randn(5, 3), tol=0)
    with pytest.raises(ValueError, match="at least 2 examples"):
        init.lsuv_(nn.Linear(3, 3), torch.randn(1, 3))
    with pytest.raises(ValueError, match="variance 0.0"):
        init.lsuv_(nn.Linear(3, 3), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="activation must be one of"):
        init.signal_propagation("swish", 1.0, 3)
    with pytest.raises(ValueError, match="scale must be"):
        init.signal_propagation("relu", [1.0, 2.0], 3)
    with pytest.raises(ValueError, match="X and y must have the same length"):
        init.layer_statistics(nn.Linear(3, 2), torch.randn(4, 3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="of must be one of"):
        init.layer_statistics(nn.Linear(3, 2), torch.randn(4, 3), keep=True)[0].histogram(of="weights")
