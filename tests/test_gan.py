import math

import pytest
import torch
from torch import nn

import coursekit as ck
from coursekit import gan


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------------------------
# builders
# ---------------------------------------------------------------------------------------------

def test_builders_shapes_and_errors():
    G = gan.generator(3, 2, (8, 8))
    D = gan.discriminator(2, 16)
    z = torch.randn(5, 3)
    assert G(z).shape == (5, 2) and D(G(z)).shape == (5, 1)
    with pytest.raises(ValueError, match="noise_dim"):
        gan.generator(0, 2)
    with pytest.raises(ValueError, match="hidden\\[1\\]"):
        gan.discriminator(2, (8, -1))
    with pytest.raises(TypeError, match="data_dim"):
        gan.discriminator(2.5)


# ---------------------------------------------------------------------------------------------
# value and losses against hand-computed values
# ---------------------------------------------------------------------------------------------

def test_value_at_an_undecided_discriminator_is_minus_log_4():
    zeros = torch.zeros(7, 1)
    assert float(gan.value(zeros, torch.zeros(3))) == pytest.approx(-math.log(4))
    assert float(gan.discriminator_loss(zeros, zeros)) == pytest.approx(math.log(4))


def test_value_and_losses_by_hand():
    # logits 0 and log 3 mean D = 1/2 and D = 3/4
    real = torch.tensor([0.0, math.log(3)])
    fake = torch.tensor([[0.0], [math.log(3)]])
    v = 0.5 * (math.log(0.5) + math.log(0.75)) + 0.5 * (math.log(0.5) + math.log(0.25))
    assert float(gan.value(real, fake)) == pytest.approx(v)
    assert float(gan.discriminator_loss(real, fake)) == pytest.approx(-v)
    assert float(gan.generator_loss(fake, "minimax")) == pytest.approx(0.5 * (math.log(0.5) + math.log(0.25)))
    assert float(gan.generator_loss(fake, "non_saturating")) == pytest.approx(-0.5 * (math.log(0.5) + math.log(0.75)))
    assert float(gan.generator_loss(fake)) == float(gan.generator_loss(fake, "non_saturating"))


def test_losses_are_stable_for_extreme_logits():
    big = torch.tensor([80.0, -80.0])
    for kind in gan.LOSSES:
        assert math.isfinite(float(gan.generator_loss(big, kind)))
    assert math.isfinite(float(gan.value(big, big)))
    # log(1 - D) for D = sigmoid(-80): about -e^-80, not -inf nor log(0)
    assert float(gan.generator_loss(torch.tensor([-80.0]), "minimax")) == pytest.approx(0.0, abs=1e-30)


def test_saturation_gradients_with_respect_to_the_logits():
    a = torch.tensor([-6.0, -1.0, 0.0, 2.0], requires_grad=True)
    gan.generator_loss(a, "minimax").backward()
    assert torch.allclose(a.grad, -torch.sigmoid(a.detach()) / 4)  # vanishes as D(G(z)) -> 0
    a.grad = None
    gan.generator_loss(a, "non_saturating").backward()
    assert torch.allclose(a.grad, -(1 - torch.sigmoid(a.detach())) / 4)  # about -1/m when D(G(z)) -> 0
    assert abs(float(a.grad[0])) > 100 * torch.sigmoid(torch.tensor(-6.0)).item() / 4


def test_loss_argument_errors():
    with pytest.raises(ValueError, match="kind"):
        gan.generator_loss(torch.zeros(3), "wasserstein")
    with pytest.raises(ValueError, match="fake_logits"):
        gan.generator_loss(torch.zeros(3, 2))
    with pytest.raises(TypeError, match="real_logits"):
        gan.value([0.0], torch.zeros(1))
    with pytest.raises(ValueError, match="fake_logits"):
        gan.value(torch.zeros(2), torch.zeros(0))


# ---------------------------------------------------------------------------------------------
# the optimal discriminator and the Jensen-Shannon identity
# ---------------------------------------------------------------------------------------------

def test_optimal_discriminator_formula():
    p = torch.tensor([0.0, 1.0, 0.3, 0.0])
    q = torch.tensor([0.0, 0.0, 0.1, 2.0])
    assert torch.allclose(gan.optimal_discriminator(p, q), torch.tensor([0.5, 1.0, 0.75, 0.0]))
    with pytest.raises(ValueError, match="non-negative"):
        gan.optimal_discriminator(torch.tensor([-0.1]), torch.tensor([0.1]))
    with pytest.raises(ValueError, match="same shape"):
        gan.optimal_discriminator(p, q[:2])


def _two_gaussians():
    x = torch.linspace(-12, 12, 24001, dtype=torch.float64)
    p = torch.distributions.Normal(0.0, 1.0).log_prob(x).exp()
    q = torch.distributions.Normal(1.5, 0.7).log_prob(x).exp()
    return x, p, q


def test_optimal_value_is_minus_log_4_plus_twice_jsd_and_is_a_maximum():
    x, p, q = _two_gaussians()
    d_star = gan.optimal_discriminator(p, q)
    c = gan.value_of_densities(p, q, d_star, x)
    jsd = gan.jensen_shannon(p, q, x)
    assert 0 < jsd < math.log(2)
    assert c == pytest.approx(-math.log(4) + 2 * jsd, abs=1e-8)
    for bump in (0.05, -0.05):  # any other discriminator does worse
        d = (d_star + bump * torch.exp(-x**2)).clamp(1e-6, 1 - 1e-6)
        assert gan.value_of_densities(p, q, d, x) < c


def test_jensen_shannon_limits():
    x, p, _ = _two_gaussians()
    assert gan.jensen_shannon(p, p, x) == pytest.approx(0.0, abs=1e-12)
    left = torch.where(x < 0, torch.full_like(x, 1 / 6), torch.zeros_like(x)) * (x > -6)
    right = torch.where(x > 0, torch.full_like(x, 1 / 6), torch.zeros_like(x)) * (x < 6)
    assert gan.jensen_shannon(left, right, x) == pytest.approx(math.log(2), rel=1e-3)
    with pytest.raises(ValueError, match="increasing"):
        gan.jensen_shannon(p, p, x.flip(0))
    with pytest.raises(ValueError, match="same length"):
        gan.jensen_shannon(p, p[:-1], x)


def test_fitted_discriminator_approaches_d_star():
    torch.manual_seed(0)
    p_data, p_g = gan.mixture_1d([-1.0], [0.5], dtype=torch.float32), gan.mixture_1d([1.0], [0.8], dtype=torch.float32)
    D = gan.discriminator(1, (16, 16), "tanh")
    opt = torch.optim.Adam(D.parameters(), lr=1e-2)
    for _ in range(300):
        loss = gan.discriminator_loss(D(p_data.sample((256, 1))), D(p_g.sample((256, 1))))
        opt.zero_grad()
        loss.backward()
        opt.step()
    x = torch.linspace(-2, 2, 41)
    d_star = gan.optimal_discriminator(p_data.log_prob(x).exp(), p_g.log_prob(x).exp())
    with torch.no_grad():
        d = torch.sigmoid(D(x[:, None])).squeeze(1)
    assert float((d - d_star).abs().max()) < 0.1


# ---------------------------------------------------------------------------------------------
# Algorithm 1
# ---------------------------------------------------------------------------------------------

class _CountingSGD(torch.optim.SGD):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.steps = 0

    def step(self, closure=None):
        self.steps += 1
        return super().step(closure)


def test_train_step_takes_k_discriminator_steps_per_generator_step():
    torch.manual_seed(0)
    G, D = gan.generator(1, 1, 4), gan.discriminator(1, 4)
    opt_g, opt_d = _CountingSGD(G.parameters(), lr=0.01), _CountingSGD(D.parameters(), lr=0.01)
    g = _gen(0)
    out = gan.train_step(G, D, opt_g, opt_d, lambda m: torch.randn(m, 1, generator=g) + 2,
                         lambda m: torch.randn(m, 1, generator=g), batch_size=16, k=3)
    assert (opt_d.steps, opt_g.steps) == (3, 1)
    assert set(out) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(not v.requires_grad for v in out.values())
    with pytest.raises(ValueError, match="k"):
        gan.train_step(G, D, opt_g, opt_d, lambda m: torch.zeros(m, 1), lambda m: torch.zeros(m, 1), k=0)
    with pytest.raises(ValueError, match="loss"):
        gan.train_step(G, D, opt_g, opt_d, lambda m: torch.zeros(m, 1), lambda m: torch.zeros(m, 1), loss="hinge")


def test_generator_step_does_not_move_the_discriminator():
    torch.manual_seed(0)
    G, D = gan.generator(1, 1, 4), gan.discriminator(1, 4)
    opt_g = torch.optim.SGD(G.parameters(), lr=0.1)
    opt_d = torch.optim.SGD(D.parameters(), lr=0.0)  # D frozen by a zero step: only G may change
    before = [p.clone() for p in D.parameters()]
    g_before = [p.clone() for p in G.parameters()]
    gan.train_step(G, D, opt_g, opt_d, lambda m: torch.ones(m, 1), lambda m: torch.randn(m, 1), batch_size=8)
    assert all(torch.equal(a, b) for a, b in zip(before, D.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(g_before, G.parameters()))


def test_train_learns_a_1d_gaussian_location_and_is_deterministic():
    def run():
        torch.manual_seed(0)
        g = _gen(1)
        G, D = nn.Linear(1, 1), gan.discriminator(1, (16, 16), "tanh")
        opt_g = torch.optim.Adam(G.parameters(), lr=5e-3, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(D.parameters(), lr=5e-3, betas=(0.5, 0.999))
        seen = []
        h = gan.train(G, D, opt_g, opt_d, lambda m: 1.0 + 0.5 * torch.randn(m, 1, generator=g),
                      lambda m: torch.randn(m, 1, generator=g), steps=400, batch_size=64, record_every=100,
                      callback=lambda s, G, D: seen.append(s), callback_every=200)
        return G, h, seen

    G, h, seen = run()
    assert seen == [0, 200, 400]
    assert list(h.steps["step"]) == [100, 200, 300, 400]
    assert abs(float(G.bias.detach()) - 1.0) < 0.25
    _, h2, _ = run()
    assert (h.steps["g_loss"] == h2.steps["g_loss"]).all()
    with pytest.raises(ValueError, match="steps"):
        gan.train(G, G, None, None, None, None, steps=0)


def test_generator_grad_norm_shows_saturation():
    torch.manual_seed(0)
    G = nn.Linear(1, 1)
    D = nn.Linear(1, 1)
    with torch.no_grad():  # D is confident that G's samples (near 0) are fake: D(G(z)) ~ sigmoid(-6)
        D.weight.fill_(1.0)
        D.bias.fill_(-6.0)
        G.weight.fill_(0.1)
        G.bias.fill_(0.0)
    z = torch.randn(256, 1, generator=_gen(0))
    minimax = gan.generator_grad_norm(G, D, z, "minimax")
    non_sat = gan.generator_grad_norm(G, D, z, "non_saturating")
    assert non_sat > 50 * minimax
    assert all(p.grad is None for p in G.parameters())


# ---------------------------------------------------------------------------------------------
# toy data and mode coverage
# ---------------------------------------------------------------------------------------------

def test_mixture_1d_density_and_errors():
    m = gan.mixture_1d([-2.0, 2.0], [0.5, 1.0], [1.0, 3.0])
    x = torch.linspace(-10, 10, 20001, dtype=torch.float64)
    assert float(torch.trapezoid(m.log_prob(x).exp(), x)) == pytest.approx(1.0, abs=1e-6)
    assert float(m.sample((20000,), ).mean()) == pytest.approx(0.25 * -2 + 0.75 * 2, abs=0.05)
    with pytest.raises(ValueError, match="stds"):
        gan.mixture_1d([0.0], [0.0])
    with pytest.raises(ValueError, match="same length"):
        gan.mixture_1d([0.0, 1.0], [1.0])
    with pytest.raises(ValueError, match="weights"):
        gan.mixture_1d([0.0], [1.0], [-1.0])


def test_ring_of_gaussians_and_mode_coverage():
    centers = gan.ring_centers(8, 2.0)
    assert centers.shape == (8, 2) and torch.allclose(centers.norm(dim=1), torch.full((8,), 2.0))
    x = gan.ring_of_gaussians(4000, std=0.05, generator=_gen(0))
    assert x.shape == (4000, 2)
    assert torch.equal(x, gan.ring_of_gaussians(4000, std=0.05, generator=_gen(0)))
    full = gan.mode_coverage(x, centers, 0.05)
    assert full.covered == 8 and full.high_quality > 0.98 and int(full.counts.sum()) == round(4000 * full.high_quality)
    collapsed = gan.mode_coverage(centers[3] + 0.01 * torch.randn(500, 2, generator=_gen(1)), centers, 0.05)
    assert collapsed.covered == 1 and collapsed.high_quality == 1.0 and int(collapsed.counts[3]) == 500
    noise = gan.mode_coverage(torch.zeros(100, 2), centers, 0.05)  # all at the center of the ring
    assert noise.covered == 0 and noise.high_quality == 0.0
    with pytest.raises(ValueError, match="dimension"):
        gan.mode_coverage(torch.zeros(3, 3), centers, 0.05)
    with pytest.raises(ValueError, match="std"):
        gan.mode_coverage(x, centers, 0.0)
    with pytest.raises(ValueError, match="modes"):
        gan.ring_centers(0)


def test_training_runs_on_the_default_device():
    dev = ck.device()
    torch.manual_seed(0)
    G, D = gan.generator(2, 2, 8).to(dev), gan.discriminator(2, 8).to(dev)
    opt_g, opt_d = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
    h = gan.train(G, D, opt_g, opt_d, lambda m: gan.ring_of_gaussians(m, device=dev),
                  lambda m: torch.randn(m, 2, device=dev), steps=5, batch_size=8, record_every=5)
    assert len(h.steps) == 1 and not h.diverged


def test_bilinear_game_momentum_spirals_outward():
    radius = {mu: float(gan.bilinear_game(200, 0.1, mu)[-1].norm()) for mu in (-0.5, 0.0, 0.5, 0.9)}
    assert radius[0.0] < 2.0                       # alternating GDA cycles at a bounded distance
    assert radius[-0.5] < radius[0.0]              # negative momentum converges (slowly)
    assert 10 < radius[0.5] < radius[0.9]          # positive momentum diverges, faster with more momentum
    path = gan.bilinear_game(3, 0.5, 0.0)
    # by hand: x1 = 1 - 0.5*1 = 0.5, y1 = 1 + 0.5*0.5 = 1.25
    assert torch.allclose(path[1], torch.tensor([0.5, 1.25], dtype=torch.float64))
    simultaneous = gan.bilinear_game(3, 0.5, 0.0, alternating=False)
    assert torch.allclose(simultaneous[1], torch.tensor([0.5, 1.5], dtype=torch.float64))
    assert float(gan.bilinear_game(200, 0.1, 0.0, alternating=False)[-1].norm()) > radius[0.0]
    with pytest.raises(ValueError, match="momentum"):
        gan.bilinear_game(10, 0.1, 1.0)
