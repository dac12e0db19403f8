"""AdaDelta (Zeiler, 2012): RMSProp's division, with a numerator that gives the step the units of θ.

RMSProp divides the gradient by the root mean square of recent gradients, so its step has the units
of η alone. Zeiler multiplies instead by the root mean square of recent *updates*, so the step has
the units of θ, like a Newton step, and the method needs no learning rate (torch keeps ``lr`` as
an extra factor, 1 by default).
"""

from __future__ import annotations

import torch

from ._base import (
    ValidatedOptimizer,
    check_bool,
    check_eps,
    check_lr,
    check_nonnegative,
    check_unit_interval,
    evaluate_closure,
    params_with_grad,
)

__all__ = ["adadelta_update", "adadelta_step", "Adadelta"]


def _check_same_shape(param: torch.Tensor, **tensors: torch.Tensor) -> None:
    if not isinstance(param, torch.Tensor):
        raise TypeError(f"param must be a tensor, got {type(param).__name__}")
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a tensor, got {type(t).__name__}")
        if t.shape != param.shape:
            raise ValueError(
                f"{name} must have the shape of param {tuple(param.shape)}, "
                f"got {tuple(t.shape)}"
            )


@torch.no_grad()
def adadelta_update(
    param: torch.Tensor,
    grad: torch.Tensor,
    square_avg: torch.Tensor,
    acc_delta: torch.Tensor,
    lr: float = 1.0,
    rho: float = 0.9,
    eps: float = 1e-6,
    weight_decay: float = 0.0,
) -> torch.Tensor:
    r"""One AdaDelta step on one tensor, in place; returns the update Δθ (before ``lr``).

    With g the gradient (plus λθ if ``weight_decay`` = λ), ρ = ``rho``, δ = ``eps``::

        v  ← ρ v + (1 − ρ) g ⊙ g                 (square_avg: E[g²])
        Δθ ← √(u + δ) / √(v + δ) ⊙ g             (RMS of past updates / RMS of gradients)
        u  ← ρ u + (1 − ρ) Δθ ⊙ Δθ               (acc_delta: E[Δθ²])
        θ  ← θ − η Δθ                            (η = lr, 1 in Zeiler's paper)

    Arguments are not checked here (the book prints this function): :class:`Adadelta`
    and :func:`adadelta_step` check them.

    Args:
        param: θ, updated in place.
        grad: its gradient g (not modified).
        square_avg: v, the running average of g ⊙ g, updated in place.
        acc_delta: u, the running average of Δθ ⊙ Δθ, updated in place.
        lr: η >= 0.
        rho: the decay ρ in [0, 1).
        eps: δ > 0; √δ is also the size of the very first steps.
        weight_decay: L2 penalty λ >= 0.

    Returns:
        Δθ_t, a new tensor (θ moved by −η Δθ_t).
    """
    g = grad.add(param, alpha=weight_decay) if weight_decay != 0 else grad
    square_avg.mul_(rho).addcmul_(g, g, value=1 - rho)  # v ← ρ v + (1 − ρ) g²
    delta = (acc_delta + eps).sqrt_().div_((square_avg + eps).sqrt_()).mul_(g)
    acc_delta.mul_(rho).addcmul_(
        delta, delta, value=1 - rho
    )  # u ← ρ u + (1 − ρ) Δθ²
    param.add_(delta, alpha=-lr)  # θ ← θ − η Δθ
    return delta


def adadelta_step(
    theta: torch.Tensor,
    grad: torch.Tensor,
    square_avg: torch.Tensor,
    acc_delta: torch.Tensor,
    lr: float = 1.0,
    rho: float = 0.9,
    eps: float = 1e-6,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""One AdaDelta step without side effects: returns the new ``(theta, square_avg, acc_delta)``.

    The same equations as :func:`adadelta_update`, applied to copies of the inputs::

        v' = ρ v + (1 − ρ) g ⊙ g,   Δθ = √(u + δ) / √(v' + δ) ⊙ g,
        u' = ρ u + (1 − ρ) Δθ ⊙ Δθ,   θ' = θ − η Δθ
    """
    _check_same_shape(
        theta, grad=grad, square_avg=square_avg, acc_delta=acc_delta
    )
    lr, eps = check_lr(lr), check_eps(eps)
    rho = check_unit_interval("rho", rho, "rho")
    theta, v, u = theta.detach().clone(), square_avg.clone(), acc_delta.clone()
    adadelta_update(theta, grad, v, u, lr=lr, rho=rho, eps=eps)
    return theta, v, u


class Adadelta(ValidatedOptimizer):
    r"""AdaDelta (Zeiler, 2012) as a ``torch.optim.Optimizer``; equal to ``torch.optim.Adadelta``.

    Per parameter tensor, with gradient g (plus λθ if ``weight_decay`` = λ)::

        v_t  = ρ v_{t-1} + (1 − ρ) g ⊙ g
        Δθ_t = √(u_{t-1} + δ) / √(v_t + δ) ⊙ g
        u_t  = ρ u_{t-1} + (1 − ρ) Δθ_t ⊙ Δθ_t
        θ_t  = θ_{t-1} − η Δθ_t

    with v_0 = u_0 = 0; each step is :func:`adadelta_update`.

    Args:
        params: parameters or param groups.
        lr: η, a factor on the update (1 in the paper and by default).
        rho: the decay ρ in [0, 1) of both running averages.
        eps: δ > 0.
        weight_decay: L2 penalty λ.
        maximize: ascend instead of descend.
    """

    _checks = {
        "lr": check_lr,
        "rho": lambda v: check_unit_interval("rho", v, "rho"),
        "eps": check_eps,
        "weight_decay": lambda v: check_nonnegative(
            "weight_decay", v, "weight_decay"
        ),
        "maximize": lambda v: check_bool("maximize", v),
    }

    def __init__(
        self,
        params,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                rho=rho,
                eps=eps,
                weight_decay=weight_decay,
                maximize=maximize,
            ),
        )

    @torch.no_grad()
    def step(self, closure=None):
        """Take one step; ``closure`` (optional) re-evaluates the loss and its gradients."""
        loss = evaluate_closure(closure)
        for group in self.param_groups:
            params, grads = params_with_grad(group, group["maximize"])
            for p, g in zip(params, grads):
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["square_avg"] = torch.zeros_like(
                        p, memory_format=torch.preserve_format
                    )
                    state["acc_delta"] = torch.zeros_like(
                        p, memory_format=torch.preserve_format
                    )
                state["step"] += 1
                adadelta_update(
                    p,
                    g,
                    state["square_avg"],
                    state["acc_delta"],
                    lr=group["lr"],
                    rho=group["rho"],
                    eps=group["eps"],
                    weight_decay=group["weight_decay"],
                )
        return loss
