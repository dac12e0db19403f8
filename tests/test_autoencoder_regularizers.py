"""The contractive penalty and the skip-connection autoencoder of chapter 07."""
import pytest
import torch

from coursekit import autoencoders as A


def test_contractive_penalty_equals_the_autograd_jacobian():
    torch.manual_seed(0)
    cae = A.ContractiveAutoencoder(6, 4, lam=0.5).double()
    X = torch.rand(5, 6, dtype=torch.float64)
    h = cae.encode(X)
    closed_form = A.contractive_penalty(h, cae.encoder[0].weight)
    by_autograd = A.encoder_jacobian_norm(cae.encode, X).pow(2).mean()
    assert float(closed_form.detach()) == pytest.approx(float(by_autograd), rel=1e-12)
    # the loss is reconstruction + lam * penalty
    expected = A.reconstruction_loss(cae(X), X) + 0.5 * closed_form
    assert float(cae.loss(X).detach()) == pytest.approx(float(expected.detach()), rel=1e-12)


def test_contractive_penalty_gradient_flows_to_the_weights():
    torch.manual_seed(1)
    cae = A.ContractiveAutoencoder(3, 2, lam=1.0)
    cae.regularizer(cae.encode(torch.rand(4, 3))).backward()
    assert cae.encoder[0].weight.grad.abs().sum() > 0


def test_contractive_autoencoder_checks_its_arguments():
    with pytest.raises(ValueError, match="lam"):
        A.ContractiveAutoencoder(4, 2, lam=-1.0)
    with pytest.raises(ValueError, match="output"):
        A.ContractiveAutoencoder(4, 2, output="softplus2")
    with pytest.raises(TypeError, match="X"):
        A.encoder_jacobian_norm(torch.sigmoid, [[1.0]])


def test_skip_autoencoder_adds_the_encoder_activations():
    torch.manual_seed(0)
    x = torch.rand(3, 8)
    plain = A.SkipAutoencoder([8, 6, 4, 2])
    both = A.SkipAutoencoder([8, 6, 4, 2], ("shallow", "deep"))
    both.load_state_dict(plain.state_dict())
    a1 = torch.relu(plain.E1(x))
    a2 = torch.relu(plain.E2(a1))
    b2 = torch.relu(plain.D3(plain.E3(a2))) + a2
    b1 = torch.relu(plain.D2(b2)) + a1
    assert torch.allclose(both(x), plain.D1(b1))
    assert not torch.allclose(both(x), plain(x))
    with torch.no_grad():
        assert float(both.loss(x)) == pytest.approx(float(A.reconstruction_loss(both(x), x)))


def test_skip_autoencoder_trains_as_a_denoiser_and_checks_arguments():
    torch.manual_seed(0)
    net = A.SkipAutoencoder([8, 6, 4, 2], ("shallow",), output="sigmoid")
    dae = A.DenoisingAutoencoder(net, A.corruption("gaussian", 0.1),
                                 generator=torch.Generator().manual_seed(0))
    X = torch.rand(32, 8)
    opt = torch.optim.Adam(dae.parameters(), lr=1e-2)
    history = A.train_autoencoder(dae, X, opt, epochs=5, batch_size=8)
    assert history.epochs["train_loss"][-1] < history.epochs["train_loss"][0]
    with pytest.raises(ValueError, match="skips"):
        A.SkipAutoencoder([8, 6, 4, 2], ("middle",))
    with pytest.raises(ValueError, match="sizes"):
        A.SkipAutoencoder([8, 6, 2])
    with pytest.raises(TypeError, match="autoencoder"):
        A.DenoisingAutoencoder(torch.nn.Linear(2, 2), A.corruption("gaussian", 0.1))
