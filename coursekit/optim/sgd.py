"""Stochastic gradient descent, with momentum (the heavy ball) and Nesterov momentum."""

from __future__ import annotations

import torch

from ._base import (
    ValidatedOptimizer,
    check_bool,
    check_foreach,
    check_lr,
    check_nonnegative,
    check_torch_only,
    check_unit_interval,
    evaluate_closure,
    params_with_grad,
    scalar,
)

__all__ = ["SGD", "sgd_update", "momentum_update", "nesterov_update"]


def sgd_update(theta, g, lr):
    r"""One step of gradient descent on one tensor, in place.

    .. math:: \theta \leftarrow \theta - \eta\, g
    """
    theta.add_(g, alpha=-lr)  # θ ← θ − η g


def momentum_update(theta, g, b, lr, momentum, dampening=0.0):
    r"""One heavy-ball step on one tensor, in place; returns the momentum buffer b.

    .. math::

        b \leftarrow \mu b + (1 - d)\, g \quad (b_1 = g_1), \qquad
        \theta \leftarrow \theta - \eta\, b

    ``b`` is ``None`` on the first step: the buffer starts as the first gradient.
    """
    if b is None:
        b = g.clone()  # b_1 = g_1
    else:
        b.mul_(momentum).add_(g, alpha=1 - dampening)  # b ← μ b + (1 − d) g
    theta.add_(b, alpha=-lr)  # θ ← θ − η b
    return b


def nesterov_update(theta, g, b, lr, momentum):
    r"""One step of Nesterov momentum on one tensor (torch's form), in place; returns b.

    .. math::

        b \leftarrow \mu b + g \quad (b_1 = g_1), \qquad
        \theta \leftarrow \theta - \eta\, (g + \mu b)

    ``b`` is ``None`` on the first step: the buffer starts as the first gradient.
    """
    if b is None:
        b = g.clone()  # b_1 = g_1
    else:
        b.mul_(momentum).add_(g)  # b ← μ b + g
    theta.add_(g.add(b, alpha=momentum), alpha=-lr)  # θ ← θ − η (g + μ b)
    return b


class SGD(ValidatedOptimizer):
    r"""Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and weight decay.

    With gradient :math:`g_k = \nabla J(\theta_{k-1}) + \lambda\,\theta_{k-1}` (``weight_decay`` = λ)
    and learning rate :math:`\eta_k` (``lr``, possibly scheduled), one step is::

        plain SGD (momentum μ = 0):  θ_k = θ_{k-1} − η_k g_k

        momentum:                    b_k = μ b_{k-1} + (1 − d) g_k        (b_1 = g_1)
                                     θ_k = θ_{k-1} − η_k b_k               (heavy ball)
                                     θ_k = θ_{k-1} − η_k (g_k + μ b_k)     (nesterov=True)

    with μ = ``momentum`` and d = ``dampening``. This is ``torch.optim.SGD``'s form, and this class gives
    the same numbers. The book also writes momentum with a *velocity* (Goodfellow et al., ch. 8)::

        v ← μ v − η g,   θ ← θ + v

    which is the same iteration with d = 0 and v_k = −η b_k as long as η is constant (with a schedule
    the velocity keeps the *old* step sizes inside it, the buffer does not). Nesterov's look-ahead
    form ``v ← μ v − η ∇J(θ + μ v); θ ← θ + v`` is the ``nesterov=True`` iteration on the shifted
    variable θ̃ = θ + μ v: torch (and this class) store the look-ahead point θ̃.

    Args:
        params: parameters or param groups, as for any ``torch.optim.Optimizer``.
        lr: learning rate η (>= 0).
        momentum: μ in [0, 1).
        dampening: d in [0, 1); scales the new gradient in the buffer (not applied on the first step).
        weight_decay: λ >= 0, an L2 penalty (λ/2)‖θ‖² added to the loss.
        nesterov: use Nesterov momentum (needs momentum > 0 and dampening = 0).
        maximize: ascend instead of descend.
        foreach: ``None`` or ``True`` run the multi-tensor fast path; ``False`` runs the readable
            per-tensor functions :func:`sgd_update`, :func:`momentum_update` and
            :func:`nesterov_update` (same numbers, bit for bit).
        differentiable, fused: torch's switches, accepted for torch code when off.
    """

    _checks = {
        "lr": check_lr,
        "momentum": lambda v: check_unit_interval("momentum", v, "momentum"),
        "dampening": lambda v: check_unit_interval("dampening", v, "dampening"),
        "weight_decay": lambda v: check_nonnegative(
            "weight_decay", v, "weight_decay"
        ),
        "nesterov": lambda v: check_bool("nesterov", v),
        "maximize": lambda v: check_bool("maximize", v),
        "foreach": check_foreach,
    }

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ):
        check_torch_only("SGD", differentiable=differentiable, fused=fused)
        super().__init__(
            params,
            dict(
                lr=lr,
                momentum=momentum,
                dampening=dampening,
                weight_decay=weight_decay,
                nesterov=nesterov,
                maximize=maximize,
                foreach=foreach,
            ),
        )

    def _check_group(self, group: dict) -> None:
        if group["nesterov"] and (
            group["momentum"] <= 0 or group["dampening"] != 0
        ):
            raise ValueError(
                "Nesterov momentum requires a momentum > 0 and zero dampening,"
                f" got momentum={group['momentum']},"
                f" dampening={group['dampening']}"
            )

    @torch.no_grad()
    def step(self, closure=None):
        """Take one step; ``closure`` (optional) re-evaluates the loss and its gradients and is returned."""
        loss = evaluate_closure(closure)
        for group in self.param_groups:
            if group["foreach"] is False:
                self._step_per_tensor(group)
                continue
            params, grads = params_with_grad(group, group["maximize"])
            if not params:
                continue
            lr, mu, d, wd = (
                scalar(group["lr"]),
                group["momentum"],
                group["dampening"],
                group["weight_decay"],
            )
            if wd != 0:
                grads = torch._foreach_add(
                    grads, params, alpha=wd
                )  # g ← g + λθ
            if mu != 0:
                bufs = self._momentum_buffers(
                    params, grads, mu, d
                )  # b ← μ b + (1 − d) g
                if group["nesterov"]:
                    grads = torch._foreach_add(
                        grads, bufs, alpha=mu
                    )  # step along g + μ b
                else:
                    grads = bufs  # step along b
            torch._foreach_add_(
                params, grads, alpha=-lr
            )  # θ ← θ − η (step direction)
        return loss

    def _step_per_tensor(self, group: dict) -> None:
        """The readable path: one call of the chapter's update function per tensor."""
        lr, mu, d, wd = (
            scalar(group["lr"]),
            group["momentum"],
            group["dampening"],
            group["weight_decay"],
        )
        for theta in group["params"]:
            if theta.grad is None:
                continue
            g = self._gradient(theta, group)
            state = self.state[theta]
            if mu == 0:
                sgd_update(theta, g, lr)
            elif group["nesterov"]:
                state["momentum_buffer"] = nesterov_update(
                    theta, g, state.get("momentum_buffer"), lr, mu
                )
            else:
                state["momentum_buffer"] = momentum_update(
                    theta, g, state.get("momentum_buffer"), lr, mu, d
                )

    def _momentum_buffers(self, params, grads, mu, d):
        """Update and return the momentum buffers b of ``params``; a new buffer starts as b_1 = g_1."""
        bufs, old_bufs, old_grads = [], [], []
        for p, g in zip(params, grads):
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = g.detach().clone()
            else:
                old_bufs.append(state["momentum_buffer"])
                old_grads.append(g)
            bufs.append(state["momentum_buffer"])
        if old_bufs:
            torch._foreach_mul_(old_bufs, mu)
            torch._foreach_add_(old_bufs, old_grads, alpha=1 - d)
        return bufs
