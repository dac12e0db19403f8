"""Polyak averaging: average the iterates of an optimizer, not its gradients."""

from __future__ import annotations

from contextlib import contextmanager

import torch

from .. import _args

__all__ = ["PolyakAverage", "polyak_update"]


def polyak_update(average, theta, t, mode="mean", alpha=0.99):
    r"""Fold the t-th iterate θ into the running average θ̂ of one tensor, in place.

    .. math::

        \hat\theta^{(1)} = \theta^{(1)}, \qquad
        \hat\theta^{(t)} = \hat\theta^{(t-1)}
            + \tfrac{1}{t}\,(\theta^{(t)} - \hat\theta^{(t-1)}) \quad \text{(mean)},

        \hat\theta^{(t)} = \alpha\,\hat\theta^{(t-1)} + (1-\alpha)\,\theta^{(t)}
            \quad \text{(ema)}
    """
    if t == 1:
        average.copy_(theta)  # θ̂^(1) = θ^(1)
    elif mode == "mean":
        average.lerp_(theta, 1.0 / t)  # θ̂ ← θ̂ + (θ − θ̂) / t
    else:
        average.lerp_(theta, 1.0 - alpha)  # θ̂ ← α θ̂ + (1 − α) θ


class PolyakAverage:
    r"""A running average of parameters along an optimization path (Polyak & Juditsky, 1992).

    Call :meth:`update` after every ``optimizer.step()``. After t updates with parameters
    θ^(1), ..., θ^(t), the average is::

        mode="mean":  θ̂^(t) = (1/t) Σ_{i=1}^t θ^(i)            (= θ̂^(t−1) + (θ^(t) − θ̂^(t−1)) / t)
        mode="ema":   θ̂^(t) = α θ̂^(t−1) + (1 − α) θ^(t),   θ̂^(1) = θ^(1)

    The arithmetic mean suits convex problems, where the iterates bounce around the minimum and
    their mean is closer to it than any one of them. On non-convex problems the path may pass
    through far-away regions, so an exponential average (``alpha`` close to 1) forgets them.
    The averages match ``torch.optim.swa_utils.AveragedModel`` (default, and with
    ``get_ema_multi_avg_fn(alpha)``).

    Args:
        params: an ``nn.Module`` (its parameters are averaged) or an iterable of tensors.
        mode: ``"mean"`` or ``"ema"``.
        alpha: α in [0, 1) for ``mode="ema"``.
        foreach: ``None``/``True``: update all tensors at once (fast); ``False``: call
            :func:`polyak_update` per tensor (same numbers, bit for bit).

    Example::

        avg = PolyakAverage(model, mode="ema", alpha=0.99)
        for X, y in data:
            ...; optimizer.step(); avg.update()
        with avg.swapped():            # evaluate the averaged model
            evaluate(model, X_val, y_val)
    """

    def __init__(
        self,
        params,
        mode: str = "mean",
        alpha: float = 0.99,
        *,
        foreach: bool | None = None,
    ):
        if isinstance(params, torch.nn.Module):
            params = params.parameters()
        if isinstance(params, torch.Tensor):
            raise TypeError(
                "params must be an nn.Module or an iterable of tensors, got a"
                " single tensor; wrap it in a list"
            )
        self.params = list(params)
        if not self.params:
            raise ValueError("params must contain at least one tensor")
        for i, p in enumerate(self.params):
            _args.tensor(f"params[{i}]", p, floating=True)
        self.mode = _args.one_of("mode", mode, {"mean", "ema"})
        self.alpha = _args.fraction("alpha", alpha)
        self.foreach = (
            None if foreach is None else _args.flag("foreach", foreach)
        )
        self.averaged = [p.detach().clone() for p in self.params]
        self.num_averaged = 0

    @torch.no_grad()
    def update(self) -> None:
        """Fold the current parameters into the average."""
        current = [p.detach() for p in self.params]
        if self.foreach is False:
            for average, theta in zip(self.averaged, current):
                polyak_update(
                    average, theta, self.num_averaged + 1, self.mode, self.alpha
                )
        elif self.num_averaged == 0:
            torch._foreach_copy_(self.averaged, current)  # θ̂^(1) = θ^(1)
        elif self.mode == "mean":
            torch._foreach_lerp_(
                self.averaged, current, 1.0 / (self.num_averaged + 1)
            )  # θ̂ += (θ − θ̂)/t
        else:
            torch._foreach_lerp_(
                self.averaged, current, 1.0 - self.alpha
            )  # θ̂ ← α θ̂ + (1 − α) θ
        self.num_averaged += 1

    @torch.no_grad()
    def copy_to(self, params=None) -> None:
        """Write the averaged values into ``params`` (default: the tracked parameters)."""
        if params is None:
            params = self.params
        elif isinstance(params, torch.nn.Module):
            params = list(params.parameters())
        params = list(params)
        if len(params) != len(self.averaged):
            raise ValueError(
                f"params must hold {len(self.averaged)} tensors, got"
                f" {len(params)}"
            )
        for p, a in zip(params, self.averaged):
            p.copy_(a)

    @contextmanager
    def swapped(self):
        """Within the ``with`` block the tracked parameters hold the average; afterwards they are restored."""
        backup = [p.detach().clone() for p in self.params]
        self.copy_to()
        try:
            yield self
        finally:
            with torch.no_grad():
                for p, b in zip(self.params, backup):
                    p.copy_(b)

    def state_dict(self) -> dict:
        """The averages and the count, for checkpoints."""
        return {
            "mode": self.mode,
            "alpha": self.alpha,
            "num_averaged": self.num_averaged,
            "averaged": [a.clone() for a in self.averaged],
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` saved."""
        if not isinstance(state, dict) or not {
            "mode",
            "alpha",
            "num_averaged",
            "averaged",
        } <= set(state):
            raise ValueError(
                "state must be a dict returned by PolyakAverage.state_dict()"
            )
        if len(state["averaged"]) != len(self.averaged):
            raise ValueError(
                f"state holds {len(state['averaged'])} tensors, this average"
                f" tracks {len(self.averaged)}"
            )
        self.mode = _args.one_of("mode", state["mode"], {"mean", "ema"})
        self.alpha = _args.fraction("alpha", state["alpha"])
        self.num_averaged = _args.positive_int(
            "num_averaged", state["num_averaged"], allow_zero=True
        )
        with torch.no_grad():
            for a, s in zip(self.averaged, state["averaged"]):
                a.copy_(s)

    def __repr__(self) -> str:
        extra = f", alpha={self.alpha}" if self.mode == "ema" else ""
        return (
            f"PolyakAverage(mode={self.mode!r}{extra},"
            f" tensors={len(self.averaged)}, num_averaged={self.num_averaged})"
        )
