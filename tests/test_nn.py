"""coursekit.nn: manual backprop = autograd; BatchNorm = torch (train, eval, running stats, gradients, 1d/2d);
LeNet shapes; dropout; bad arguments raise clear errors."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import coursekit as ck
from coursekit.nn import BatchNorm1d, BatchNorm2d, LeNet, ManualMLP, ResidualMLP, batch_norm


DT = torch.float64


# ------------------------------------------------------------------------------------------------ mlp
def test_mlp_layout_and_backward_compatible_batch_norm():
    m = ck.nn.mlp([5, 7, 3])
    assert [type(l).__name__ for l in m] == ["Linear", "ReLU", "Linear"]
    m = ck.nn.mlp([5, 7, 7, 3], "tanh", batch_norm=True, dropout=0.2)
    assert [type(l) for l in m][:4] == [nn.Linear, nn.BatchNorm1d, nn.Tanh, nn.Dropout]
    m = ck.nn.mlp([5, 7, 3], batch_norm="coursekit")
    assert isinstance(m[1], BatchNorm1d)
    m = ck.nn.mlp([5, 7, 3], batch_norm="torch")
    assert isinstance(m[1], nn.BatchNorm1d)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(sizes=[5]), ValueError, "sizes"),
    (dict(sizes=[5, 0, 2]), ValueError, "sizes\\[1\\]"),
    (dict(sizes=[5, 2], activation="swish"), ValueError, "activation"),
    (dict(sizes=[5, 3, 2], batch_norm="yes"), ValueError, "batch_norm"),
    (dict(sizes=[5, 3, 2], dropout=1.0), ValueError, "dropout"),
])
def test_mlp_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ck.nn.mlp(**kwargs)


# ------------------------------------------------------------------------------------------------ manual backprop
CONFIGS = [("mse", "sigmoid", act) for act in ("sigmoid", "tanh", "relu")] + \
          [("mse", "identity", "tanh"), ("cross_entropy", "identity", "relu"), ("cross_entropy", "identity", "sigmoid")]


@pytest.mark.parametrize("loss, out_act, act", CONFIGS)
@pytest.mark.parametrize("bias", [True, False])
def test_manual_backprop_equals_autograd(loss, out_act, act, bias):
    g = torch.Generator().manual_seed(0)
    net = ManualMLP([6, 8, 5, 3], act, output_activation=out_act, loss=loss, bias=bias, generator=g)
    X = torch.randn(13, 6, generator=g, dtype=DT)
    Y = torch.rand(13, 3, generator=g, dtype=DT) if loss == "mse" else torch.randint(0, 3, (13,), generator=g)
    manual = net.backward(X, Y)
    params = net.parameters()
    assert len(manual) == len(params) == (6 if bias else 3)
    for p in params:
        p.requires_grad_(True)
    auto = torch.autograd.grad(net.loss(X, Y), params)
    for m_, a_ in zip(manual, auto):
        torch.testing.assert_close(m_, a_, rtol=0, atol=1e-13)
    # and against an independent implementation: torch.nn layers + autograd
    seq = net.to_sequential()
    out = seq(X)
    R = 0.5 * ((Y - out) ** 2).sum(1).mean() if loss == "mse" else F.cross_entropy(out, Y)
    R.backward()
    torch_grads = [p.grad.T if p.ndim == 2 else p.grad for p in seq.parameters()]
    for m_, t_ in zip(manual, torch_grads):
        torch.testing.assert_close(m_, t_, rtol=0, atol=1e-13)


def test_manual_backprop_equals_finite_differences():
    g = torch.Generator().manual_seed(1)
    net = ManualMLP([4, 5, 2], "tanh", generator=g)
    X, Y = torch.randn(7, 4, generator=g, dtype=DT), torch.randn(7, 2, generator=g, dtype=DT)
    manual = net.backward(X, Y)
    for p, gm in zip(net.parameters(), manual):
        num = ck.nn.numerical_gradient(lambda: net.loss(X, Y), p)
        torch.testing.assert_close(num, gm, rtol=1e-6, atol=1e-9)


def test_manual_relu_deltas_are_switched_off_where_units_were_off():
    g = torch.Generator().manual_seed(2)
    net = ManualMLP([4, 16, 3], "relu", loss="cross_entropy", generator=g)
    X, y = torch.randn(20, 4, generator=g, dtype=DT), torch.randint(0, 3, (20,), generator=g)
    net.backward(X, y)
    off = net.A[0] <= 0
    assert off.any() and (~off).any()
    assert (net.deltas[0][off] == 0).all()
    upstream = net.deltas[1] @ net.weights[1].T
    torch.testing.assert_close(net.deltas[0][~off], upstream[~off], rtol=0, atol=0)


def test_manual_mlp_bad_arguments():
    with pytest.raises(ValueError, match="activation"):
        ManualMLP([3, 2], "swish")
    with pytest.raises(ValueError, match="output_activation"):
        ManualMLP([3, 2], loss="cross_entropy", output_activation="sigmoid")
    with pytest.raises(ValueError, match="loss"):
        ManualMLP([3, 2], loss="hinge")
    net = ManualMLP([3, 2])
    with pytest.raises(ValueError, match="X must have 3 columns"):
        net.backward(torch.zeros(4, 5, dtype=DT), torch.zeros(4, 2, dtype=DT))
    with pytest.raises(ValueError, match="Y must have shape"):
        net.backward(torch.zeros(4, 3, dtype=DT), torch.zeros(4, 3, dtype=DT))
    with pytest.raises(TypeError, match="X must have a floating dtype"):
        net.forward(torch.zeros(4, 3, dtype=torch.long))


def test_elementwise_derivative_and_numerical_gradient_checks():
    x = torch.linspace(-3, 3, 11, dtype=DT)
    s = torch.sigmoid(x)
    torch.testing.assert_close(ck.nn.elementwise_derivative(torch.sigmoid)(x), s * (1 - s))
    with pytest.raises(TypeError, match="f must be callable"):
        ck.nn.elementwise_derivative(3)
    with pytest.raises(ValueError, match="h must be"):
        ck.nn.numerical_gradient(lambda: 0.0, x, h=0)
    with pytest.raises(ValueError, match="contiguous"):
        ck.nn.numerical_gradient(lambda: 0.0, torch.zeros(3, 3, dtype=DT).T)


# ------------------------------------------------------------------------------------------------ batch norm
def _pair(cls, tcls, C, **kw):
    ours, ref = cls(C, **kw).to(DT), tcls(C, **kw).to(DT)
    if ours.affine:
        g = torch.Generator().manual_seed(3)
        with torch.no_grad():
            ours.weight.copy_(torch.randn(C, generator=g, dtype=DT))
            ours.bias.copy_(torch.randn(C, generator=g, dtype=DT))
    ref.load_state_dict(ours.state_dict())
    return ours, ref


SHAPES = [(BatchNorm1d, nn.BatchNorm1d, (10, 3)), (BatchNorm1d, nn.BatchNorm1d, (6, 3, 7)),
          (BatchNorm2d, nn.BatchNorm2d, (4, 3, 5, 6))]


@pytest.mark.parametrize("cls, tcls, shape", SHAPES)
@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_matches_torch_train_then_eval(cls, tcls, shape, momentum, affine):
    ours, ref = _pair(cls, tcls, shape[1], momentum=momentum, affine=affine)
    assert set(ours.state_dict()) == set(ref.state_dict())
    g = torch.Generator().manual_seed(4)
    for _ in range(4):                                     # training: outputs, all gradients, running statistics
        x = 3 * torch.randn(*shape, generator=g, dtype=DT) + 2
        xo, xr = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        yo, yr = ours(xo), ref(xr)
        torch.testing.assert_close(yo, yr, rtol=0, atol=1e-12)
        w = torch.randn(yo.shape, generator=g, dtype=DT)
        (yo * w).sum().backward()
        (yr * w).sum().backward()
        torch.testing.assert_close(xo.grad, xr.grad, rtol=0, atol=1e-12)
        if affine:
            torch.testing.assert_close(ours.weight.grad, ref.weight.grad, rtol=0, atol=1e-11)
            torch.testing.assert_close(ours.bias.grad, ref.bias.grad, rtol=0, atol=1e-11)
        for key, value in ref.state_dict().items():
            torch.testing.assert_close(ours.state_dict()[key], value, rtol=0, atol=1e-12)
    ours.eval(), ref.eval()                                # inference: running statistics, gradients
    x = torch.randn(*shape, generator=g, dtype=DT)
    xo, xr = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    yo, yr = ours(xo), ref(xr)
    torch.testing.assert_close(yo, yr, rtol=0, atol=1e-12)
    yo.sum().backward(), yr.sum().backward()
    torch.testing.assert_close(xo.grad, xr.grad, rtol=0, atol=1e-12)
    before = ours.running_mean.clone()
    ours(x)
    assert torch.equal(before, ours.running_mean), "eval mode must not update the running statistics"


def test_batch_norm_momentum_none_is_the_cumulative_average():
    bn = BatchNorm1d(2, momentum=None).to(DT)
    g = torch.Generator().manual_seed(5)
    xs = [torch.randn(8, 2, generator=g, dtype=DT) + i for i in range(5)]
    for x in xs:
        bn(x)
    torch.testing.assert_close(bn.running_mean, torch.stack([x.mean(0) for x in xs]).mean(0))
    torch.testing.assert_close(bn.running_var, torch.stack([x.var(0, unbiased=True) for x in xs]).mean(0))
    assert int(bn.num_batches_tracked) == 5


def test_batch_norm_without_running_stats_uses_batch_stats_in_eval():
    ours, ref = _pair(BatchNorm2d, nn.BatchNorm2d, 3, track_running_stats=False)
    ours.eval(), ref.eval()
    x = torch.randn(4, 3, 5, 5, dtype=DT)
    torch.testing.assert_close(ours(x), ref(x), rtol=0, atol=1e-12)
    assert ours.running_mean is None and ours.num_batches_tracked is None


def test_batch_norm_gradcheck_and_training_output_is_normalized():
    g = torch.Generator().manual_seed(6)
    x = torch.randn(6, 3, 2, generator=g, dtype=DT, requires_grad=True)
    w = torch.randn(3, generator=g, dtype=DT, requires_grad=True)
    b = torch.randn(3, generator=g, dtype=DT, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: batch_norm(x, None, None, w, b, training=True), (x, w, b))
    y = batch_norm(x.detach(), training=True, eps=0.0)
    torch.testing.assert_close(y.mean(dim=(0, 2)), torch.zeros(3, dtype=DT), rtol=0, atol=1e-12)
    torch.testing.assert_close(y.var(dim=(0, 2), unbiased=False), torch.ones(3, dtype=DT), rtol=0, atol=1e-12)


def test_batch_norm_works_in_float32_and_in_a_model():
    torch.manual_seed(0)
    ours = ck.nn.mlp([4, 8, 2], batch_norm="coursekit")
    torch.manual_seed(0)
    ref = ck.nn.mlp([4, 8, 2], batch_norm=True)
    x = torch.randn(16, 4)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-6)
    ours.eval(), ref.eval()
    torch.testing.assert_close(ours(x[:1]), ref(x[:1]), rtol=1e-5, atol=1e-6)


def test_batch_norm_bad_arguments():
    with pytest.raises(ValueError, match="num_features"):
        BatchNorm1d(0)
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm1d(3, momentum=1.5)
    with pytest.raises(ValueError, match="eps"):
        BatchNorm2d(3, eps=-1.0)
    with pytest.raises(ValueError, match="expects input of 4 dimensions"):
        BatchNorm2d(3)(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="channels"):
        BatchNorm1d(3)(torch.zeros(4, 5))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        BatchNorm1d(3)(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="running_mean must have 3 entries"):
        batch_norm(torch.zeros(4, 3), torch.zeros(2), torch.ones(2))
    with pytest.raises(ValueError, match="training=False needs running_mean"):
        batch_norm(torch.zeros(4, 3), training=False)
    with pytest.raises(ValueError, match="given together"):
        batch_norm(torch.zeros(4, 3), torch.zeros(3), None, training=True)


# ------------------------------------------------------------------------------------------------ CNN, deep nets, dropout
def test_lenet_has_the_course_shapes():
    rows = ck.nn.layer_shapes(LeNet(32), torch.zeros(2, 1, 32, 32))
    shapes = [r[2][1:] for r in rows]
    assert shapes == [(4, 28, 28), (4, 28, 28), (4, 14, 14), (6, 10, 10), (6, 10, 10), (6, 5, 5), (150,), (150,),
                      (128,), (128,), (10,)]
    assert LeNet(8, padding=2).num_flat == 24
    assert LeNet(40, dims=1)(torch.zeros(3, 1, 40)).shape == (3, 10)
    m = LeNet(8, padding=2, batch_norm="coursekit")
    assert sum(isinstance(l, BatchNorm2d) for l in m.modules()) == 2
    assert sum(isinstance(l, BatchNorm1d) for l in m.modules()) == 1
    assert m(torch.randn(5, 1, 8, 8)).shape == (5, 10)
    conv_only = LeNet(8, padding=2, batch_norm=True, batch_norm_fc=False)
    assert sum(isinstance(l, nn.BatchNorm1d) for l in conv_only.modules()) == 0
    assert conv_only.train()(torch.randn(1, 1, 8, 8)).shape == (1, 10)    # a single image works in train mode


def test_lenet_bad_arguments():
    with pytest.raises(ValueError, match="too small"):
        LeNet(8)
    with pytest.raises(ValueError, match="dims"):
        LeNet(32, dims=3)
    with pytest.raises(ValueError, match="channels"):
        LeNet(32, channels=(4,))
    with pytest.raises(ValueError, match="expects input of shape"):
        LeNet(32)(torch.zeros(2, 32, 32))


def test_conv2d_weight_gradient_is_the_sum_over_positions():
    g = torch.Generator().manual_seed(7)
    x = torch.randn(3, 2, 9, 9, generator=g, dtype=DT)
    conv = nn.Conv2d(2, 4, 5, padding=1).to(DT)
    out = conv(x)
    out.retain_grad()
    (out ** 2).sum().backward()
    torch.testing.assert_close(ck.nn.conv2d_weight_gradient(x, out.grad, 5, padding=1), conv.weight.grad,
                               rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="delta must have shape"):
        ck.nn.conv2d_weight_gradient(x, out.grad, 4)


def test_residual_mlp_same_parameters_with_and_without_skips():
    torch.manual_seed(0)
    a = ResidualMLP(5, 8, 4, 2, skip=True)
    torch.manual_seed(0)
    b = ResidualMLP(5, 8, 4, 2, skip=False)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    x = torch.randn(3, 5)
    assert not torch.allclose(a(x), b(x))
    with pytest.raises(ValueError, match="depth"):
        ResidualMLP(5, 8, 0, 2)


def test_inverted_dropout_preserves_the_expectation():
    g = torch.Generator().manual_seed(8)
    x = torch.full((200_000,), 2.0, dtype=DT)
    y = ck.nn.inverted_dropout(x, 0.3, generator=g)
    kept = y != 0
    assert abs(kept.double().mean().item() - 0.7) < 4 * math.sqrt(0.21 / len(x))
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 2.0 / 0.7))
    assert abs(y.mean().item() - 2.0) < 4 * (2.0 / 0.7) * math.sqrt(0.21 / len(x))
    assert ck.nn.inverted_dropout(x, 0.3, training=False) is x
    with pytest.raises(ValueError, match="p must be"):
        ck.nn.inverted_dropout(x, 1.0)
