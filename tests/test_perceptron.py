"""coursekit.perceptron: the learning rule on separable and non-separable data."""
import pytest
import torch

from coursekit import perceptron as P

CORNERS = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])


def test_step():
    assert P.step(torch.tensor([-1.0, 0.0, 2.0])).tolist() == [0.0, 0.0, 1.0]


@pytest.mark.parametrize("labels", [[-1, -1, -1, 1], [-1, 1, 1, 1], [1, 1, -1, -1]])
def test_separable_problems_are_learned(labels):
    y = torch.tensor(labels)
    fit = P.perceptron(CORNERS, y)
    assert fit.mistakes[-1] == 0
    assert torch.equal(torch.sign(CORNERS @ fit.w + fit.b), y.float())


def test_xor_is_never_learned():
    fit = P.perceptron(CORNERS, torch.tensor([-1, 1, 1, -1]), epochs=200)
    assert len(fit.mistakes) == 200 and min(fit.mistakes) >= 1


def test_random_separable_data():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(200, 5, generator=g, dtype=torch.float64)
    w_true = torch.randn(5, generator=g, dtype=torch.float64)
    margin = X @ w_true
    X, margin = X[margin.abs() > 0.3], margin[margin.abs() > 0.3]
    y = torch.where(margin > 0, 1, -1)
    fit = P.perceptron(X, y, epochs=500)
    assert fit.mistakes[-1] == 0 and len(fit.mistakes) < 500


def test_bad_arguments():
    with pytest.raises(ValueError, match="y must contain"):
        P.perceptron(CORNERS, torch.tensor([0, 1, 1, 0]))
    with pytest.raises(ValueError, match="same length"):
        P.perceptron(CORNERS, torch.tensor([1, -1]))
    with pytest.raises(TypeError, match="X"):
        P.perceptron(CORNERS.long(), torch.tensor([1, -1, 1, -1]))
    with pytest.raises(ValueError, match="epochs"):
        P.perceptron(CORNERS, torch.tensor([1, -1, 1, -1]), epochs=0)
