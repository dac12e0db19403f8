import math

import pytest
import torch
from torch import nn

import coursekit as ck
from coursekit import autoencoders as A


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------------------------
# losses and the generic autoencoder
# ---------------------------------------------------------------------------------------------

def test_reconstruction_loss_by_hand_and_errors():
    x = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    x_hat = torch.tensor([[1.0, 0.0], [3.0, 4.0]])
    # ||(0, 2)||^2 = 4 and ||(3, 4)||^2 = 25, averaged over 2 examples
    assert float(A.reconstruction_loss(x_hat, x)) == pytest.approx(14.5)
    with pytest.raises(ValueError, match="same shape"):
        A.reconstruction_loss(x_hat, x[:, :1])
    with pytest.raises(TypeError, match="x_hat"):
        A.reconstruction_loss([[1.0]], x)


def test_mlp_autoencoder_shapes_output_and_skip():
    torch.manual_seed(0)
    ae = A.mlp_autoencoder([64, 16, 2], output="sigmoid")
    x = torch.rand(5, 64)
    assert ae.encode(x).shape == (5, 2)
    out = ae(x)
    out = out.detach()
    assert out.shape == (5, 64) and float(out.min()) >= 0 and float(out.max()) <= 1
    assert float(ae.loss(x).detach()) == pytest.approx(float(A.reconstruction_loss(out, x)), rel=1e-6)
    skip = A.mlp_autoencoder([4, 2], skip=True)
    with torch.no_grad():
        for p in skip.decoder.parameters():
            p.zero_()
    x = torch.randn(3, 4)
    assert torch.equal(skip(x), x)  # a zero decoder with a skip is the identity
    assert float(skip.loss(x).detach()) == 0.0
    with pytest.raises(ValueError, match="output"):
        A.mlp_autoencoder([4, 2], output="softmax")
    with pytest.raises(ValueError, match="sizes"):
        A.mlp_autoencoder([4])
    with pytest.raises(TypeError, match="encoder"):
        A.Autoencoder("enc", nn.Identity())


# ---------------------------------------------------------------------------------------------
# linear autoencoders and PCA
# ---------------------------------------------------------------------------------------------

def _low_rank_data(n=400, d=10, k=3, seed=0):
    g = _gen(seed)
    basis, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    scales = torch.tensor([5.0, 4.0, 3.0] + [0.3] * (d - 3), dtype=torch.float64)
    X = torch.randn(n, d, generator=g, dtype=torch.float64) * scales @ basis.T
    return X - X.mean(0), basis[:, :k]


def test_pca_solution_is_the_optimum_of_the_linear_autoencoder():
    X, _ = _low_rank_data()
    U, S = A.pca(X, 3)
    assert U.shape == (10, 3)
    assert torch.allclose(U.T @ U, torch.eye(3, dtype=X.dtype), atol=1e-10)
    lae = A.LinearAutoencoder(10, 3).double()
    with torch.no_grad():
        lae.encoder.weight.copy_(U.T)  # V = U
        lae.decoder.weight.copy_(U)    # W = U
    assert float(lae.loss(X).detach()) == pytest.approx(A.pca_loss(X, 3), rel=1e-10)
    assert A.pca_loss(X, 3) == pytest.approx(float(S[3:].pow(2).sum()) / len(X))
    # any invertible mixing of the code gives the same loss: the factors are not identified
    M = torch.tensor([[2.0, 1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 3.0]], dtype=X.dtype)
    with torch.no_grad():
        lae.encoder.weight.copy_((U @ M).T)
        lae.decoder.weight.copy_(U @ torch.linalg.inv(M).T)
    assert float(lae.loss(X).detach()) == pytest.approx(A.pca_loss(X, 3), rel=1e-9)
    assert torch.allclose(lae.V, U @ M) and torch.allclose(lae.W, U @ torch.linalg.inv(M).T)
    with pytest.raises(ValueError, match="k must be"):
        A.pca(X, 11)


def test_trained_linear_autoencoder_finds_the_principal_subspace():
    X, _ = _low_rank_data()
    X = X.float()
    torch.manual_seed(0)
    lae = A.LinearAutoencoder(10, 3)
    opt = torch.optim.SGD(lae.parameters(), lr=0.002, momentum=0.9)
    h = A.train_autoencoder(lae, X, opt, epochs=30, batch_size=40, generator=_gen(1))
    U, _ = A.pca(X, 3)
    angles = A.principal_angles(lae.W, U)
    assert float(angles.max()) < math.radians(2.0), angles
    assert h.epochs["train_loss"][-1] < 1.05 * A.pca_loss(X, 3)
    assert not torch.allclose(lae.W.T @ lae.W, torch.eye(3), atol=0.1)  # not the singular vectors themselves


def test_principal_angles():
    e = torch.eye(4, dtype=torch.float64)
    assert torch.allclose(A.principal_angles(e[:, :2], e[:, :2] @ torch.tensor([[2.0, 1.0], [1.0, 1.0]], dtype=torch.float64)),
                          torch.zeros(2, dtype=torch.float64), atol=1e-6)
    angles = A.principal_angles(e[:, :2], e[:, 2:])
    assert torch.allclose(angles, torch.full((2,), math.pi / 2, dtype=torch.float64))
    v = torch.tensor([[1.0], [1.0], [0.0], [0.0]], dtype=torch.float64)
    assert float(A.principal_angles(e[:, :1], v)[0]) == pytest.approx(math.pi / 4)
    with pytest.raises(ValueError, match="same number of rows"):
        A.principal_angles(e, e[:3])


# ---------------------------------------------------------------------------------------------
# sparse autoencoders
# ---------------------------------------------------------------------------------------------

def test_kl_sparsity_values_by_hand():
    rho_hat = torch.tensor([0.2, 0.5, 0.05])
    expected = (0.0 + (0.2 * math.log(0.2 / 0.5) + 0.8 * math.log(0.8 / 0.5))
                + (0.2 * math.log(0.2 / 0.05) + 0.8 * math.log(0.8 / 0.95)))
    assert float(A.kl_sparsity(0.2, rho_hat)) == pytest.approx(expected, rel=1e-6)
    assert float(A.kl_sparsity(0.2, torch.tensor([0.2]))) == pytest.approx(0.0, abs=1e-7)
    # finite even for saturated units, and large
    assert math.isfinite(float(A.kl_sparsity(0.05, torch.tensor([1.0])))) and float(A.kl_sparsity(0.05, torch.tensor([1.0]))) > 10


def test_kl_sparsity_gradient_matches_closed_form_and_is_minimized_at_rho():
    rho = 0.1
    rho_hat = torch.tensor([0.02, 0.1, 0.3, 0.9], dtype=torch.float64, requires_grad=True)
    A.kl_sparsity(rho, rho_hat).backward()
    closed = -rho / rho_hat.detach() + (1 - rho) / (1 - rho_hat.detach())
    assert torch.allclose(rho_hat.grad, closed)
    assert rho_hat.grad[1] == pytest.approx(0.0, abs=1e-12)
    assert rho_hat.grad[0] < 0 < rho_hat.grad[2] < rho_hat.grad[3]  # decreasing, then increasing


def test_kl_sparsity_bad_arguments():
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="rho"):
            A.kl_sparsity(bad, torch.tensor([0.5]))
    with pytest.raises(TypeError, match="rho_hat"):
        A.kl_sparsity(0.1, [0.5])
    with pytest.raises(ValueError, match="beta"):
        A.SparseAutoencoder(4, 3, beta=-1.0)


def test_sparse_autoencoder_loss_and_average_activation():
    torch.manual_seed(0)
    sae = A.SparseAutoencoder(8, 12, rho=0.1, beta=2.0)
    x = torch.rand(50, 8)
    h = sae.encode(x).detach()
    assert float(h.min()) > 0 and float(h.max()) < 1
    expected = A.reconstruction_loss(sae(x).detach(), x) + 2.0 * A.kl_sparsity(0.1, h.mean(0))
    assert float(sae.loss(x).detach()) == pytest.approx(float(expected), rel=1e-6)
    opt = torch.optim.Adam(sae.parameters(), lr=1e-2)
    A.train_autoencoder(sae, torch.rand(500, 8, generator=_gen(2)), opt, epochs=40, batch_size=50, generator=_gen(3))
    with torch.no_grad():
        rho_hat = sae.encode(torch.rand(500, 8, generator=_gen(4))).mean(0)
    assert float((rho_hat - 0.1).abs().max()) < 0.03, rho_hat


def test_max_activating_inputs():
    W = torch.tensor([[3.0, 4.0], [0.0, -2.0]])
    X = A.max_activating_inputs(W)
    assert torch.allclose(X, torch.tensor([[0.6, 0.8], [0.0, -1.0]]))
    # no unit-norm input excites a unit more than its max-activating input
    g = _gen(0)
    W = torch.randn(5, 10, generator=g)
    best = (W * A.max_activating_inputs(W)).sum(1)
    u = torch.randn(1000, 10, generator=g)
    u = u / u.norm(dim=1, keepdim=True)
    assert ((u @ W.T) <= best + 1e-6).all()
    with pytest.raises(ValueError, match="zero row"):
        A.max_activating_inputs(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="dimensions"):
        A.max_activating_inputs(torch.ones(3))


# ---------------------------------------------------------------------------------------------
# corruptions
# ---------------------------------------------------------------------------------------------

def test_gaussian_noise_shape_scale_and_determinism():
    x = torch.full((200, 50), 0.5)
    y = A.gaussian_noise(x, 0.3, generator=_gen(1))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert float((y - x).std()) == pytest.approx(0.3, rel=0.05)
    assert float((y - x).mean()) == pytest.approx(0.0, abs=0.01)
    assert torch.equal(y, A.gaussian_noise(x, 0.3, generator=_gen(1)))
    assert torch.equal(A.gaussian_noise(x, 0.0), x)
    with pytest.raises(ValueError, match="sigma"):
        A.gaussian_noise(x, -0.1)


def test_salt_and_pepper_rate_values_and_halves():
    x = torch.full((400, 100), 0.5)
    y = A.salt_and_pepper(x, 0.2, generator=_gen(1))
    changed = y != x
    assert y.shape == x.shape
    assert float(changed.float().mean()) == pytest.approx(0.2, abs=0.01)
    assert set(y[changed].unique().tolist()) == {0.0, 1.0}
    assert float((y == 0).float().mean()) == pytest.approx(0.1, abs=0.01)
    assert float((y == 1).float().mean()) == pytest.approx(0.1, abs=0.01)
    # the documented recipe, u = torch.rand(x.shape, generator)
    u = torch.rand(x.shape, generator=_gen(1))
    expected = torch.where(u < 0.1, 0.0, torch.where(u < 0.2, 1.0, x))
    assert torch.equal(y, expected)
    z = A.salt_and_pepper(x, 0.5, low=-1.0, high=2.0, generator=_gen(2))
    assert set(z.unique().tolist()) == {-1.0, 0.5, 2.0}
    with pytest.raises(ValueError, match="rate"):
        A.salt_and_pepper(x, 1.5)


def test_masking_rate_and_range():
    x = torch.rand(400, 100, generator=_gen(0)) + 0.1  # no zeros to start with
    y = A.masking(x, 0.3, generator=_gen(1))
    zeroed = y == 0
    assert float(zeroed.float().mean()) == pytest.approx(0.3, abs=0.01)
    assert torch.equal(y[~zeroed], x[~zeroed])
    assert torch.equal(A.masking(x, 0.0), x) and bool((A.masking(x, 1.0) == 0).all())
    with pytest.raises(ValueError, match="rate"):
        A.masking(x, -0.2)


def test_blur_shapes_constants_and_mass():
    g = _gen(0)
    img = torch.rand(3, 8, 8, generator=g)
    flat = img.reshape(3, 64)
    b2 = A.blur(flat, 1.0, image_shape=(8, 8))
    b3 = A.blur(img, 1.0)
    b4 = A.blur(img.unsqueeze(1), 1.0)
    assert b2.shape == (3, 64) and b3.shape == (3, 8, 8) and b4.shape == (3, 1, 8, 8)
    assert torch.allclose(b2.reshape(3, 8, 8), b3) and torch.allclose(b4.squeeze(1), b3)
    const = torch.full((2, 8, 8), 0.7)
    assert torch.allclose(A.blur(const, 1.5), const)  # a normalized kernel keeps constants
    assert float(b3.min()) >= float(img.min()) - 1e-6 and float(b3.max()) <= float(img.max()) + 1e-6
    assert float(b3.var()) < float(img.var())  # smoothing removes variance
    point = torch.zeros(1, 9, 9)
    point[0, 4, 4] = 1.0
    assert float(A.blur(point, 1.0).sum()) == pytest.approx(1.0, rel=1e-5)  # interior mass is preserved
    assert torch.equal(A.blur(img, 0.0), img)
    with pytest.raises(ValueError, match="image_shape"):
        A.blur(flat, 1.0)
    with pytest.raises(ValueError, match="does not match"):
        A.blur(flat, 1.0, image_shape=(7, 7))


def test_corruption_factory_and_mixture():
    x = torch.rand(100, 64, generator=_gen(0))
    c = A.corruption("masking", 0.25)
    assert "masking" in repr(c)
    assert torch.equal(c(x, _gen(5)), A.masking(x, 0.25, generator=_gen(5)))
    blur = A.corruption("blur", 1.0, image_shape=(8, 8))
    assert blur(x).shape == x.shape
    with pytest.raises(ValueError, match="name"):
        A.corruption("speckle", 0.1)
    with pytest.raises(ValueError, match="rate"):
        A.corruption("salt_and_pepper", 2.0)
    mix = A.MixedCorruption([A.corruption("masking", 1.0), A.corruption("gaussian", 0.0)])
    y = mix(x, _gen(3))
    masked = (y == 0).all(1)
    kept = (y == x).all(1)
    assert bool((masked | kept).all()) and 20 < int(masked.sum()) < 80  # each row got one of the two
    with pytest.raises(ValueError, match="corruptions"):
        A.MixedCorruption([])


def test_denoising_autoencoder_uses_corrupted_inputs_and_clean_targets():
    torch.manual_seed(0)
    ae = A.mlp_autoencoder([6, 3])
    x = torch.rand(20, 6, generator=_gen(0))
    identity = A.DenoisingAutoencoder(ae, lambda x, generator=None: x)
    assert float(identity.loss(x).detach()) == pytest.approx(float(ae.loss(x).detach()))
    dae = A.DenoisingAutoencoder(ae, A.corruption("masking", 0.5), generator=_gen(1))
    x_tilde = A.masking(x, 0.5, generator=_gen(1))
    assert float(dae.loss(x).detach()) == pytest.approx(float(A.reconstruction_loss(ae(x_tilde).detach(), x)))
    assert torch.equal(dae(x), ae(x))  # forward does not corrupt
    with pytest.raises(TypeError, match="corruption"):
        A.DenoisingAutoencoder(ae, 0.5)
    with pytest.raises(TypeError, match="autoencoder"):
        A.DenoisingAutoencoder(nn.Linear(2, 2), lambda x, g=None: x)


def test_psnr_by_hand():
    x = torch.zeros(2, 4)
    x_hat = torch.tensor([[0.1, 0.1, 0.1, 0.1], [0.2, 0.0, 0.0, 0.0]])
    p = A.psnr(x_hat, x)
    assert p.shape == (2,)
    assert float(p[0]) == pytest.approx(20.0)  # MSE 0.01
    assert float(p[1]) == pytest.approx(10 * math.log10(1 / 0.01))  # MSE 0.04 / 4 = 0.01
    assert float(A.psnr(x_hat * 16, x, peak=16.0)[0]) == pytest.approx(20.0)
    with pytest.raises(ValueError, match="peak"):
        A.psnr(x_hat, x, peak=0)


# ---------------------------------------------------------------------------------------------
# training, stacking, VAE
# ---------------------------------------------------------------------------------------------

def test_train_autoencoder_learns_and_is_deterministic():
    X = torch.rand(120, 8, generator=_gen(0))

    def run():
        torch.manual_seed(0)
        ae = A.mlp_autoencoder([8, 4])
        opt = torch.optim.Adam(ae.parameters(), lr=1e-2)
        return A.train_autoencoder(ae, X, opt, epochs=10, batch_size=30, generator=_gen(1))

    h1, h2 = run(), run()
    assert len(h1.epochs) == 10 and h1.epochs.last("step") == 40
    assert h1.epochs["train_loss"][-1] < 0.5 * h1.epochs["train_loss"][0]
    assert (h1.epochs["train_loss"] == h2.epochs["train_loss"]).all()
    with pytest.raises(TypeError, match="loss"):
        A.train_autoencoder(nn.Linear(8, 8), X, torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1))
    ae = A.mlp_autoencoder([8, 4])
    with pytest.raises(ck.train.DivergenceError):
        A.train_autoencoder(ae, X * 1e3, torch.optim.SGD(ae.parameters(), lr=10.0), epochs=5)


def test_pretrain_stack_shapes_and_errors():
    torch.manual_seed(0)
    X = torch.rand(100, 16, generator=_gen(0))
    encoder, histories = A.pretrain_stack(X, [16, 8, 4], epochs=5, batch_size=25, generator=_gen(1))
    assert [m.out_features for m in encoder if isinstance(m, nn.Linear)] == [8, 4]
    assert encoder(X).shape == (100, 4) and len(histories) == 2
    assert all(h.epochs["train_loss"][-1] < h.epochs["train_loss"][0] for h in histories)
    enc2, _ = A.pretrain_stack(X, [16, 8], epochs=2, corruption=A.corruption("masking", 0.2), generator=_gen(1))
    assert enc2(X).shape == (100, 8)
    with pytest.raises(ValueError, match="sizes\\[0\\]"):
        A.pretrain_stack(X, [15, 8])
    with pytest.raises(ValueError, match="lr"):
        A.pretrain_stack(X, [16, 8], lr=0)


def test_gaussian_kl_matches_torch_distributions():
    g = _gen(0)
    mu, logvar = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros(5, 3), torch.ones(5, 3))
    expected = torch.distributions.kl_divergence(q, p).sum(1)
    assert torch.allclose(A.gaussian_kl(mu, logvar), expected, atol=1e-5)
    assert torch.allclose(A.gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2))
    with pytest.raises(ValueError, match="same shape"):
        A.gaussian_kl(mu, logvar[:, :2])


def test_variational_autoencoder_shapes_and_training():
    torch.manual_seed(0)
    vae = A.VariationalAutoencoder([8, 16, 2], output="sigmoid", noise_var=0.1)
    X = torch.rand(200, 8, generator=_gen(0))
    mu, logvar = vae.encode(X)
    assert mu.shape == logvar.shape == (200, 2) and vae(X).shape == (200, 8)
    opt = torch.optim.Adam(vae.parameters(), lr=1e-2)
    h = A.train_autoencoder(vae, X, opt, epochs=20, batch_size=50, generator=_gen(1))
    assert h.epochs["train_loss"][-1] < h.epochs["train_loss"][0]
    with pytest.raises(ValueError, match="noise_var"):
        A.VariationalAutoencoder([8, 2], noise_var=0.0)


def test_models_follow_the_device_of_their_inputs():
    # every model is an nn.Module: .to(device) moves it; corruptions follow the input's device
    dev = ck.device()
    x = torch.rand(4, 64, device=dev)
    ae = A.mlp_autoencoder([64, 8]).to(dev)
    dae = A.DenoisingAutoencoder(ae, A.MixedCorruption([A.corruption("blur", 1.0, image_shape=(8, 8)),
                                                       A.corruption("salt_and_pepper", 0.2)]))
    assert dae.loss(x).device.type == dev.type
    assert A.gaussian_noise(x, 0.1, generator=_gen(0)).device.type == dev.type
