"""One step of an optimizer as a function of tensors, for exercises and checks: (θ, state) -> (θ', state').

These run the optimizer classes of this package on a copy of the inputs, so they are the reference
that an exercise's answer is compared with, and they never drift from the classes.
"""

from __future__ import annotations

from .. import _args
from .adaptive import Adam
from .sgd import SGD

__all__ = ["adam_step", "momentum_step"]


def _tensors(**named):
    out = []
    for name, t in named.items():
        _args.tensor(name, t, floating=True)
        out.append(t.detach().clone())
    shapes = {tuple(t.shape) for t in out}
    if len(shapes) != 1:
        raise ValueError(
            f"{', '.join(named)} must have the same shape, got"
            f" {[tuple(t.shape) for t in out]}"
        )
    return out


def adam_step(
    theta,
    grad,
    m,
    v,
    t: int,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
):
    r"""One Adam step: returns (θ_t, m_t, v_t) from θ_{t−1}, the gradient g_t and the moments m_{t−1}, v_{t−1}.

    m_t = β1 m + (1 − β1) g,  v_t = β2 v + (1 − β2) g ⊙ g,
    θ_t = θ − η (m_t / (1 − β1^t)) / (√(v_t / (1 − β2^t)) + δ),   with t >= 1 the index of this step.
    """
    theta, grad, m, v = _tensors(theta=theta, grad=grad, m=m, v=v)
    t = _args.positive_int("t", t)
    p = theta.requires_grad_(True)
    opt = Adam([p], lr=lr, betas=(beta1, beta2), eps=eps)
    opt.state[p] = {"step": t - 1, "exp_avg": m, "exp_avg_sq": v}
    p.grad = grad
    opt.step()
    return p.detach(), opt.state[p]["exp_avg"], opt.state[p]["exp_avg_sq"]


def momentum_step(theta, grad, velocity, lr: float, momentum: float):
    r"""One step of momentum in the velocity form: v ← μ v − η g, θ ← θ + v. Returns (θ', v')."""
    theta, grad, velocity = _tensors(theta=theta, grad=grad, velocity=velocity)
    lr = _args.real("lr", lr, low=0.0, low_open=True)
    p = theta.requires_grad_(True)
    opt = SGD([p], lr=lr, momentum=momentum)
    opt.state[p] = {
        "momentum_buffer": -velocity / lr
    }  # torch's buffer b = −v/η
    p.grad = grad
    opt.step()
    return p.detach(), -lr * opt.state[p]["momentum_buffer"]
