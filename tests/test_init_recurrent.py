"""Tests of coursekit.init.forget_gate_bias_: the right slice of every bias, the gate values it gives,
and argument checks."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import coursekit as ck


@pytest.mark.parametrize("make", [lambda: nn.LSTM(5, 7, num_layers=2, bidirectional=True),
                                  lambda: nn.LSTMCell(5, 7)])
def test_sets_the_forget_slice_only(make):
    torch.manual_seed(0)
    lstm = make()
    before = {n: p.detach().clone() for n, p in lstm.named_parameters()}
    ck.init.forget_gate_bias_(lstm, 1.5)
    H = 7
    for name, p in lstm.named_parameters():
        if name.startswith("bias_ih"):
            assert torch.all(p[H:2 * H] == 1.5)
        elif name.startswith("bias_hh"):
            assert torch.all(p[H:2 * H] == 0)
        if name.startswith("bias"):   # the input, cell and output gates are untouched
            keep = torch.cat([torch.arange(0, H), torch.arange(2 * H, 4 * H)])
            assert torch.equal(p[keep], before[name][keep])
        else:
            assert torch.equal(p, before[name])


def test_forget_gate_with_zero_weights_is_sigmoid_of_the_bias():
    cell = nn.LSTMCell(3, 4)
    with torch.no_grad():
        cell.weight_ih.zero_()
        cell.weight_hh.zero_()
        cell.bias_ih.zero_()
        cell.bias_hh.zero_()
    ck.init.forget_gate_bias_(cell, 1.0)
    c0 = torch.ones(2, 4, requires_grad=True)
    _, c1 = cell(torch.randn(2, 3), (torch.zeros(2, 4), c0))
    (grad,) = torch.autograd.grad(c1.sum(), c0)
    sigma1 = 1 / (1 + math.exp(-1.0))
    torch.testing.assert_close(grad, torch.full((2, 4), sigma1), rtol=1e-6, atol=0)


def test_argument_checks():
    with pytest.raises(TypeError, match="lstm"):
        ck.init.forget_gate_bias_(nn.GRU(3, 4), 1.0)
    with pytest.raises(ValueError, match="bias"):
        ck.init.forget_gate_bias_(nn.LSTM(3, 4, bias=False), 1.0)
    with pytest.raises((TypeError, ValueError), match="value"):
        ck.init.forget_gate_bias_(nn.LSTM(3, 4), "1")
    with pytest.raises(ValueError, match="value"):
        ck.init.forget_gate_bias_(nn.LSTM(3, 4), math.inf)
