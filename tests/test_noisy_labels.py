"""Tests of coursekit.data.noisy_labels (label corruption with a known rate)."""
import pytest
import torch

import coursekit as ck


def test_flipped_labels_change_to_another_class_at_the_given_rate():
    y = torch.arange(10).repeat(1000)
    y_noisy, flipped = ck.data.noisy_labels(y, 0.3, 10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(y_noisy != y, flipped)                 # every flipped label really changes
    assert abs(flipped.double().mean().item() - 0.3) < 0.02   # binomial sd 0.0046
    shifts = torch.bincount((y_noisy[flipped] - y[flipped]) % 10, minlength=10)
    assert shifts[0] == 0 and shifts[1:].min() > 0.8 * shifts[1:].float().mean()  # uniform over other classes
    assert y.tolist() == torch.arange(10).repeat(1000).tolist()  # the input is not modified


def test_zero_fraction_and_determinism():
    y = torch.randint(0, 4, (50,), generator=torch.Generator().manual_seed(1))
    y0, f0 = ck.data.noisy_labels(y, 0.0, 4)
    assert torch.equal(y0, y) and not f0.any()
    a = ck.data.noisy_labels(y, 0.5, 4, generator=torch.Generator().manual_seed(2))
    b = ck.data.noisy_labels(y, 0.5, 4, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize("args, exc, word", [
    ((torch.tensor([0.0, 1.0]), 0.1, 2), TypeError, "y"),
    ((torch.tensor([[0, 1]]), 0.1, 2), ValueError, "y"),
    ((torch.tensor([0, 1]), 1.0, 2), ValueError, "fraction"),
    ((torch.tensor([0, 1]), -0.1, 2), ValueError, "fraction"),
    ((torch.tensor([0, 1]), 0.1, 1), ValueError, "num_classes"),
    ((torch.tensor([0, 3]), 0.1, 3), ValueError, "y"),
])
def test_bad_inputs_name_the_argument(args, exc, word):
    with pytest.raises(exc, match=word):
        ck.data.noisy_labels(*args)
