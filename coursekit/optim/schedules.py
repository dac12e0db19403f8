"""Learning-rate schedules of the chapter, as ``torch.optim.lr_scheduler`` schedulers.

Use them like torch's: build the scheduler on an optimizer and call ``scheduler.step()`` after every
``optimizer.step()``; after k calls each param group's learning rate is η_k. Both are written in
closed form from each group's initial rate η_0 (``base_lrs``).
"""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from .. import _args

__all__ = ["InverseTimeDecay", "LinearDecay", "linear_decay"]


def linear_decay(k: int, lr0: float, lr_tau: float, tau: int) -> float:
    r"""The learning rate after k steps of linear decay: (1 − k/τ) η_0 + (k/τ) η_τ for k ≤ τ, η_τ after."""
    k = _args.positive_int("k", k, allow_zero=True)
    tau = _args.positive_int("tau", tau)
    alpha = min(k, tau) / tau
    return (1.0 - alpha) * _args.real("lr0", lr0, low=0.0) + alpha * _args.real(
        "lr_tau", lr_tau, low=0.0
    )


class InverseTimeDecay(LRScheduler):
    r"""Robbins–Monro style decay η_k = η_0 / (1 + k / time_scale)^power.

    With ``power`` p in (1/2, 1] the steps satisfy the Robbins–Monro conditions
    Σ_k η_k = ∞ and Σ_k η_k² < ∞ (Robbins & Monro, 1951), under which SGD converges despite
    the gradient noise; p = 1 is the classic 1/k decay. ``time_scale`` (in steps) is how long η
    stays near η_0 before the decay sets in.

    Args:
        optimizer: the optimizer whose ``lr`` to schedule.
        time_scale: s > 0 in steps.
        power: p > 0 (the conditions hold for 1/2 < p <= 1).
        last_epoch: index of the last step, for resuming (-1 starts afresh), as in torch.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        time_scale: float,
        power: float = 1.0,
        last_epoch: int = -1,
    ):
        self.time_scale = _args.positive("time_scale", time_scale)
        self.power = _args.positive("power", power)
        super().__init__(optimizer, last_epoch)

    def factor(self, k: int) -> float:
        """η_k / η_0 after k steps."""
        return (1.0 + k / self.time_scale) ** -self.power

    def get_lr(self) -> list[float]:
        return [
            base_lr * self.factor(self.last_epoch) for base_lr in self.base_lrs
        ]

    _get_closed_form_lr = get_lr


class LinearDecay(LRScheduler):
    r"""Linear decay to η_τ at step τ, constant afterwards (Goodfellow et al., 2016, sec. 8.3.1).

    .. math::

        \epsilon_k = (1-\alpha)\,\epsilon_0 + \alpha\,\epsilon_\tau, \quad \alpha = \frac{k}{\tau}
        \quad (k \le \tau), \qquad \epsilon_k = \epsilon_\tau \quad (k > \tau),

    with η_τ = ``final_factor`` · η_0 for each param group (typically 1 %). Unlike the 1/k decay this
    schedule does not satisfy Σ η_k² < ∞: after τ the steps stay at η_τ, so SGD ends at the (small)
    noise floor of η_τ rather than converging exactly. It equals torch's
    ``LinearLR(optimizer, start_factor=1, end_factor=final_factor, total_iters=tau)``.

    Args:
        optimizer: the optimizer whose ``lr`` to schedule.
        tau: τ, the step at which the decay ends (>= 1).
        final_factor: η_τ / η_0 in [0, 1].
        last_epoch: index of the last step, for resuming (-1 starts afresh), as in torch.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        tau: int,
        final_factor: float = 0.01,
        last_epoch: int = -1,
    ):
        self.tau = _args.positive_int("tau", tau)
        self.final_factor = _args.real(
            "final_factor", final_factor, low=0.0, high=1.0
        )
        super().__init__(optimizer, last_epoch)

    def factor(self, k: int) -> float:
        """η_k / η_0 after k steps."""
        alpha = min(k, self.tau) / self.tau
        return (1.0 - alpha) + alpha * self.final_factor

    def get_lr(self) -> list[float]:
        return [
            base_lr * self.factor(self.last_epoch) for base_lr in self.base_lrs
        ]

    _get_closed_form_lr = get_lr
