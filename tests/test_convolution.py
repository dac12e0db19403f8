"""coursekit.convolution: the two sums against torch, receptive fields, costs,
pooling."""
import pytest
import torch
import torch.nn.functional as F

from coursekit import convolution as C, nn as cknn


def _image_and_kernel(seed, shape=(9, 7), kernel=(3, 2)):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=torch.float64),
            torch.randn(*kernel, generator=g, dtype=torch.float64))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cross_correlation_is_torch_conv2d(seed):
    x, w = _image_and_kernel(seed)
    expected = F.conv2d(x[None, None], w[None, None])[0, 0]
    assert torch.allclose(C.cross_correlate2d(x, w), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_convolution_flips_the_kernel(seed):
    x, w = _image_and_kernel(seed)
    expected = F.conv2d(x[None, None], w.flip(0, 1)[None, None])[0, 0]
    assert torch.allclose(C.convolve2d(x, w), expected, rtol=0, atol=1e-12)
    assert not torch.allclose(C.convolve2d(x, w), C.cross_correlate2d(x, w))


def test_convolution_matches_the_definition_on_a_delta():
    # a unit impulse convolved with w gives w itself (flipped sum);
    # cross-correlated, it gives w flipped
    x = torch.zeros(5, 5, dtype=torch.float64)
    x[2, 2] = 1.0
    w = torch.arange(9, dtype=torch.float64).reshape(3, 3)
    assert torch.equal(C.convolve2d(x, w), w)
    assert torch.equal(C.cross_correlate2d(x, w), w.flip(0, 1))


def test_receptive_field():
    assert C.receptive_field([3, 3]) == [3, 5]
    assert C.receptive_field([3] * 4) == [3, 5, 7, 9]
    assert C.receptive_field([5, 2, 5, 2], strides=[1, 2, 1, 2]) == [5, 6, 14, 16]


def test_costs_match_counted_multiplications():
    net = cknn.LeNet(32)
    rows = C.multiply_counts(net, torch.zeros(1, 1, 32, 32))
    counted = {name: mults for name, _, _, mults in rows}
    assert counted == {"features.0": C.conv_layer_cost(32, 32, 5, 5, 1, 4),
                       "features.3": C.conv_layer_cost(14, 14, 5, 5, 4, 6),
                       "classifier.1": C.dense_layer_cost(150, 128),
                       "classifier.3": C.dense_layer_cost(128, 10)}
    assert counted["features.0"] == 4 * 28 * 28 * 25


def test_multiply_counts_restores_mode_and_counts_groups():
    net = torch.nn.Sequential(torch.nn.Conv2d(4, 6, 3, groups=2), torch.nn.Flatten())
    net.train()
    (name, kind, params, mults), = C.multiply_counts(net, torch.zeros(1, 4, 5, 5))
    assert net.training and kind == "Conv2d" and params == 6 * 2 * 9 + 6
    assert mults == 6 * 3 * 3 * (2 * 9)


def test_pooling_unchanged_shifts():
    assert (C.pooling_unchanged_shifts(2) == 3).all()
    three = C.pooling_unchanged_shifts(3)
    assert three.tolist() == [[3, 5, 3], [5, 8, 5], [3, 5, 3]]
    # no pooling: every shift shows
    assert (C.pooling_unchanged_shifts(1) == 0).all()


def test_bad_arguments():
    x, w = _image_and_kernel(0)
    with pytest.raises(ValueError, match="w"):
        C.cross_correlate2d(w, x)
    with pytest.raises(TypeError, match="x"):
        C.convolve2d(x.numpy(), w)
    with pytest.raises(ValueError, match="strides"):
        C.receptive_field([3, 3], strides=[1])
    with pytest.raises(ValueError, match="kernel_sizes"):
        C.receptive_field([3, 0])
    with pytest.raises(ValueError, match="filter"):
        C.conv_layer_cost(4, 4, 5, 5, 1, 1)
    with pytest.raises(TypeError, match="in_units"):
        C.dense_layer_cost(2.5, 3)
    with pytest.raises(TypeError, match="model"):
        C.multiply_counts("lenet", torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="size"):
        C.pooling_unchanged_shifts(2, size=4)
