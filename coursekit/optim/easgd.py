"""Elastic averaging SGD (Zhang, Choromanska & LeCun 2015) on torch.distributed.

Each of p worker processes holds its own copy x_i of the parameters and trains on its own data; an
elastic force pulls every x_i toward a center variable x~, and x~ toward the workers. The workers talk
only every tau steps, through one ``all_reduce``. The code runs the same on one machine
(processes started by :func:`coursekit.distributed.run_workers`, gloo over 127.0.0.1) and
across machines (``torchrun``: see :class:`EASGD`).
"""

from __future__ import annotations

import copy
import os

import torch
import torch.distributed as dist

from ._base import (
    ValidatedOptimizer,
    check_bool,
    check_count,
    check_lr,
    check_nonnegative,
    check_unit_interval,
    check_weight,
    evaluate_closure,
    scalar,
)
from .sgd import momentum_update, nesterov_update, sgd_update

__all__ = ["EASGD", "elastic_average", "elastic_update"]

_LAUNCHER_VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK")


def _check_tau(value) -> int:
    return check_count("tau", value, "communication period", 1)


def _check_moving_rate(value) -> float:
    return check_weight("alpha", value, "moving rate")


def elastic_update(x, center, diff, diff_sum, alpha):
    r"""EASGD's elastic step on one tensor of worker i, in place.

    .. math::

        \tilde x \leftarrow \tilde x + \alpha \sum_j (x_j - \tilde x), \qquad
        x_i \leftarrow x_i - \alpha\, (x_i - \tilde x)

    with ``diff`` = x_i − x̃ and ``diff_sum`` = Σ_j (x_j − x̃), with the old center.
    """
    center.add_(diff_sum, alpha=alpha)  # the center moves toward the workers
    x.sub_(diff, alpha=alpha)  # the elastic force pulls x_i toward x~


def elastic_average(workers: torch.Tensor, center: torch.Tensor, alpha: float):
    """One communication of EASGD written for all p workers at once (no torch.distributed).

        x~_new  = x~ + alpha sum_i (x_i - x~)
        x_i,new = x_i - alpha (x_i - x~)

    Args:
        workers: the workers' parameters as rows, shape (p, n).
        center: the center variable x~, shape (n,).
        alpha: the moving rate, in (0, 1], with p * alpha <= 1.

    Returns:
        ``(new_workers, new_center)``.
    """
    if not isinstance(workers, torch.Tensor) or workers.ndim != 2:
        raise ValueError(
            "workers must be a tensor of shape (p, n), got"
            f" {getattr(workers, 'shape', workers)!r}"
        )
    if (
        not isinstance(center, torch.Tensor)
        or center.shape != workers.shape[1:]
    ):
        raise ValueError(
            f"center must be a tensor of shape ({workers.shape[1]},), got"
            f" {getattr(center, 'shape', center)!r}"
        )
    alpha = _check_moving_rate(alpha)
    if len(workers) * alpha > 1.0 + 1e-12:
        raise ValueError(
            f"p * alpha must be <= 1, got {len(workers)} * {alpha}"
        )
    diffs = workers - center  # x_i - x~, with the old center
    return workers - alpha * diffs, center + alpha * diffs.sum(0)


class EASGD(ValidatedOptimizer):
    r"""Elastic averaging SGD, synchronous, with communication period tau.

    Worker i (of p) holds x_i; every worker holds the same copy of the center variable x~. With the
    minibatch gradient g_i = grad f(x_i) computed before the step, step t of worker i is::

        if t mod tau == 0:                                  (communicate: one all_reduce of x_i - x~)
            x~  <- x~ + alpha sum_j (x_j - x~)              (the center moves toward the workers)
            x_i <- x_i - alpha (x_i - x~)                   (the elastic force pulls x_i toward the old x~)
        x_i <- x_i - eta g_i                                (a local SGD step, optionally with momentum)

    alpha = eta rho is the *moving rate* (rho is the strength of the elastic penalty
    rho/2 ||x_i - x~||^2); the center moves by beta = p alpha times the mean difference, and the
    paper uses beta = 0.9. With tau = 1 this is the paper's synchronous EASGD (gradient descent on
    sum_i f_i(x_i) + rho/2 sum_i ||x_i - x~||^2); its Algorithm 1 is the asynchronous version, where
    each worker exchanges x_i - x~ with a parameter server on its own clock. Momentum on the local
    step gives EAMSGD (torch's Nesterov form of the look-ahead update).

    All workers start from rank 0's parameters (x_i = x~), broadcast when the optimizer is created, so
    build the optimizer in every process after ``init_process_group``. Without an initialized process
    group the optimizer runs as a single worker (p = 1), which is useful for testing; but if
    a launcher has set ``WORLD_SIZE`` > 1 (torchrun does), building it before
    ``init_process_group`` would silently train each rank alone, so it raises a
    ``RuntimeError``.

    With ``torchrun`` (one machine or several), each process runs the same script::

        import torch.distributed as dist
        dist.init_process_group("gloo")    # rank and world size from torchrun's environment
        model = ...                        # the same architecture in every process
        p = dist.get_world_size()
        opt = EASGD(model.parameters(), lr=0.1, alpha=0.9 / p, tau=4)
        for X, y in my_shard:              # each rank trains on its own data
            opt.zero_grad(); loss_fn(model(X), y).backward(); opt.step()
        center = opt.center_model(model)   # the same on every rank
        dist.destroy_process_group()

    started by ``torchrun --nproc_per_node=N script.py`` (add ``--nnodes`` and a
    rendezvous endpoint for several machines). On one machine,
    :func:`coursekit.distributed.run_workers` does the same from Python or a notebook.

    Args:
        params: parameters or param groups of this worker's model.
        lr: eta, the local learning rate (>= 0).
        alpha: the moving rate in (0, 1]; p * alpha must be <= 1 (the center moves to a convex
            combination of itself and the workers).
        tau: the communication period (>= 1 steps).
        momentum: momentum of the local step in [0, 1); nesterov: use Nesterov momentum.
        weight_decay: lambda >= 0, an L2 penalty lambda/2 ||x_i||^2 added to the loss.
        group: the ``torch.distributed`` process group of the workers (default: the whole world).

    Attributes:
        communications: how many times this worker has exchanged with the others.
    """

    _checks = {
        "lr": check_lr,
        "alpha": _check_moving_rate,
        "momentum": lambda v: check_unit_interval("momentum", v, "momentum"),
        "nesterov": lambda v: check_bool("nesterov", v),
        "weight_decay": lambda v: check_nonnegative(
            "weight_decay", v, "weight_decay"
        ),
    }

    def __init__(
        self,
        params,
        lr: float = 0.01,
        *,
        alpha: float = 0.1,
        tau: int = 1,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        group=None,
    ):
        self.tau = _check_tau(tau)
        self.group = group
        self.distributed = dist.is_available() and dist.is_initialized()
        launched = {
            k: os.environ[k] for k in _LAUNCHER_VARIABLES if k in os.environ
        }
        if (
            not self.distributed
            and int(launched.get("WORLD_SIZE", "1") or "1") > 1
        ):
            raise RuntimeError(
                "EASGD was built before torch.distributed.init_process_group,"
                f" but a launcher set {launched}: each rank would train alone."
                " Call torch.distributed.init_process_group('gloo') first (it"
                " reads the launcher's environment)."
            )
        self.world_size = dist.get_world_size(group) if self.distributed else 1
        self.communications = 0
        self._t = 0
        super().__init__(
            params,
            dict(
                lr=lr,
                alpha=alpha,
                momentum=momentum,
                nesterov=nesterov,
                weight_decay=weight_decay,
            ),
        )
        params = self._params()
        if self.distributed:  # every worker starts at rank 0's x
            flat = torch.cat([p.detach().reshape(-1) for p in params])
            dist.broadcast(
                flat,
                src=dist.get_global_rank(group, 0) if group is not None else 0,
                group=group,
            )
            self._unflatten_into(flat, params)
        for p in params:
            self.state[p]["center"] = p.detach().clone()

    def _check_group(self, group: dict) -> None:
        if group["nesterov"] and group["momentum"] <= 0:
            raise ValueError(
                "Nesterov momentum requires a momentum > 0, got"
                f" momentum={group['momentum']}"
            )
        if self.world_size * group["alpha"] > 1.0 + 1e-12:
            raise ValueError(
                f"the moving rate alpha={group['alpha']} is too large for"
                f" {self.world_size} workers: p * alpha ="
                f" {self.world_size * group['alpha']:.3g} must be <= 1 (the"
                " paper uses 0.9)"
            )
        if any(
            g is not group and g["alpha"] != group["alpha"]
            for g in self.param_groups
        ):
            raise ValueError(
                "all param groups must share the same moving rate alpha"
            )

    def _params(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    @staticmethod
    @torch.no_grad()
    def _unflatten_into(
        flat: torch.Tensor, tensors: list[torch.Tensor]
    ) -> None:
        offset = 0
        for t in tensors:
            t.copy_(flat[offset : offset + t.numel()].view_as(t))
            offset += t.numel()

    def center(self) -> list[torch.Tensor]:
        """The center variable x~, one tensor per parameter (in the order of the param groups)."""
        return [self.state[p]["center"] for p in self._params()]

    def center_model(self, model: torch.nn.Module) -> torch.nn.Module:
        """A copy of ``model`` whose parameters are the center variable (``model`` must own this optimizer's params)."""
        own = {id(p) for p in self._params()}
        params = list(model.parameters())
        if {id(p) for p in params} != own:
            raise ValueError(
                "model's parameters must be exactly the parameters this"
                " optimizer updates"
            )
        clone = copy.deepcopy(model)
        with torch.no_grad():
            for q, p in zip(clone.parameters(), params):
                q.copy_(self.state[p]["center"])
        return clone

    @torch.no_grad()
    def _communicate(self) -> None:
        params = self._params()
        diffs = [
            p - self.state[p]["center"] for p in params
        ]  # x_i - x~ (before any update)
        total = torch.cat([d.reshape(-1) for d in diffs])
        if self.distributed:
            dist.all_reduce(
                total, op=dist.ReduceOp.SUM, group=self.group
            )  # sum_j (x_j - x~)
        alpha = self.param_groups[0]["alpha"]
        offset = 0
        for p, d in zip(params, diffs):
            diff_sum = total[offset : offset + p.numel()].view_as(p)
            elastic_update(p, self.state[p]["center"], d, diff_sum, alpha)
            offset += p.numel()
        self.communications += 1

    @torch.no_grad()
    def step(self, closure=None):
        """One EASGD step with the gradients in ``p.grad`` (or those ``closure`` computes). Returns the loss."""
        loss = evaluate_closure(closure)
        if self._t % self.tau == 0:
            self._communicate()
        self._t += 1
        for group in self.param_groups:
            lr, mu = scalar(group["lr"]), group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = self._gradient(p, group)  # g + λ x_i
                state = self.state[p]
                if mu == 0:
                    sgd_update(p, g, lr)  # x_i ← x_i − η g
                elif group["nesterov"]:
                    state["momentum_buffer"] = nesterov_update(
                        p, g, state.get("momentum_buffer"), lr, mu
                    )
                else:
                    state["momentum_buffer"] = momentum_update(
                        p, g, state.get("momentum_buffer"), lr, mu
                    )
        return loss

    def state_dict(self):
        sd = super().state_dict()
        sd["easgd"] = {
            "t": self._t,
            "communications": self.communications,
            "tau": self.tau,
        }
        return sd

    def load_state_dict(self, state_dict):
        extra = state_dict.get("easgd", {})
        state_dict = {k: v for k, v in state_dict.items() if k != "easgd"}
        super().load_state_dict(state_dict)
        self._t = extra.get("t", 0)
        self.communications = extra.get("communications", 0)
        self.tau = extra.get("tau", self.tau)
