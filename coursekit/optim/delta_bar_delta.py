"""Delta-bar-delta (Jacobs, 1988): one learning rate per parameter, adapted from the signs of the gradients."""

from __future__ import annotations

import torch

from ._base import (
    ValidatedOptimizer,
    check_bool,
    check_lr,
    check_nonnegative,
    check_unit_interval,
    evaluate_closure,
    scalar,
)

__all__ = ["DeltaBarDelta", "delta_bar_delta_update"]


def delta_bar_delta_update(
    theta, g, rate, delta_bar, kappa, phi, gamma, max_lr=None
):
    r"""One delta-bar-delta step on one tensor, in place (``rate``: the rates η).

    .. math::

        \Delta\eta = \kappa \text{ where } \bar\delta\,\delta > 0, \quad
        -\phi\,\eta \text{ where } \bar\delta\,\delta < 0; \qquad
        \theta \leftarrow \theta - \eta \odot \delta, \qquad
        \bar\delta \leftarrow (1-\gamma)\,\delta + \gamma\,\bar\delta

    with δ = ``g`` the gradient and δ̄ = ``delta_bar`` its exponential average.
    """
    agree = delta_bar * g  # δ̄(t−1) δ(t)
    rate.add_(agree > 0, alpha=kappa)  # + κ where the sign holds
    rate.sub_(rate * (agree < 0), alpha=phi)  # − φ η where it flips
    if max_lr is not None:
        rate.clamp_(max=max_lr)
    theta.addcmul_(rate, g, value=-1)  # θ ← θ − η ⊙ δ(t)
    delta_bar.mul_(gamma).add_(g, alpha=1 - gamma)  # δ̄ ← (1 − γ) δ + γ δ̄


class DeltaBarDelta(ValidatedOptimizer):
    r"""Delta-bar-delta: grow a coordinate's learning rate while its gradient keeps its sign, shrink it on a flip.

    Every coordinate i has its own learning rate η_i (state ``"lr"``, starting at ``lr``). With
    δ(t) = ∇J(θ) the current gradient and δ̄ its exponential average::

        Δη_i = κ          if δ̄_i(t−1) δ_i(t) > 0     (same sign as recently: increase linearly)
             = −φ η_i     if δ̄_i(t−1) δ_i(t) < 0     (sign flip: decrease exponentially)
             = 0          otherwise
        η_i ← η_i + Δη_i
        θ_i ← θ_i − η_i δ_i(t)
        δ̄_i(t) = (1 − γ) δ_i(t) + γ δ̄_i(t−1)          (δ̄(0) = 0)

    The rates rise additively and fall multiplicatively, so a run of oscillations cuts a rate fast.
    The rule compares successive gradients, so it needs the full-batch gradient. With
    minibatch noise the sign of δ̄ δ becomes a coin flip that no longer says whether the
    step overshot: with random signs E[Δη] = κ/2 − φη/2, so every rate random-walks
    around κ/φ whatever the curvature λ of its direction: too large for stiff directions
    when κ/φ > 2/λ, arbitrary for flat ones.

    Args:
        params: parameters or param groups.
        lr: initial learning rate of every coordinate (> 0).
        kappa: κ >= 0, the additive increase.
        phi: φ in [0, 1), the fraction removed on a sign flip.
        gamma: γ in [0, 1), the decay of the gradient average δ̄ (Jacobs's θ).
        max_lr: optional cap on every rate (``None``: no cap).
        maximize: ascend instead of descend.

    Each step applies :func:`delta_bar_delta_update` to every tensor.
    """

    _checks = {
        "lr": check_lr,
        "kappa": lambda v: check_nonnegative("kappa", v, "kappa"),
        "phi": lambda v: check_unit_interval("phi", v, "phi"),
        "gamma": lambda v: check_unit_interval("gamma", v, "gamma"),
        "max_lr": lambda v: v if v is None else check_lr(v),
        "maximize": lambda v: check_bool("maximize", v),
    }

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        kappa: float = 1e-3,
        phi: float = 0.1,
        gamma: float = 0.7,
        max_lr: float | None = None,
        *,
        maximize: bool = False,
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                kappa=kappa,
                phi=phi,
                gamma=gamma,
                max_lr=max_lr,
                maximize=maximize,
            ),
        )

    @torch.no_grad()
    def step(self, closure=None):
        """Take one step; ``closure`` (optional) re-evaluates the loss and its gradients and is returned."""
        loss = evaluate_closure(closure)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = self._gradient(p, group)
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    lr = scalar(group["lr"])
                    state["lr"] = torch.full_like(
                        p, lr, memory_format=torch.preserve_format
                    )
                    state["delta_bar"] = torch.zeros_like(
                        p, memory_format=torch.preserve_format
                    )
                state["step"] += 1
                delta_bar_delta_update(
                    p,
                    g,
                    state["lr"],
                    state["delta_bar"],
                    group["kappa"],
                    group["phi"],
                    group["gamma"],
                    group["max_lr"],
                )
        return loss
