"""What every coursekit optimizer shares: argument checks in torch's words, gathering
gradients, and loading a ``torch.optim`` state_dict.

The checks (from :mod:`coursekit._args`) raise the same kind of message as
``torch.optim`` (``Invalid learning rate: -0.1``), so a student who swaps one library
for the other sees familiar errors; non-numbers raise a ``TypeError`` naming the
argument.
"""

from __future__ import annotations

import torch

from .. import _args

# The checks live in coursekit._args (one vocabulary for the whole library);
# these are
# their names in the optimizers' code.
check_lr = _args.lr
check_nonnegative = _args.nonnegative
check_positive = _args.positive_hyper
check_eps = _args.eps
check_betas = _args.betas
check_count = _args.count
check_bool = _args.flag


def check_unit_interval(name: str, value, what: str) -> float:
    """A real in [0, 1), e.g. a momentum or a decay rate."""
    return _args.unit_interval_hyper(name, value, what, "[0, 1)")


def check_weight(name: str, value, what: str) -> float:
    """A real in (0, 1], e.g. the weight of the newest sample in a running average."""
    return _args.unit_interval_hyper(name, value, what, "(0, 1]")


def check_foreach(value):
    """torch's ``foreach``: None or True (multi-tensor path), False (per tensor)."""
    if value is None:
        return None
    return check_bool("foreach", value)


def check_torch_only(
    name: str, capturable=False, differentiable=False, fused=None
) -> None:
    """torch.optim's ``capturable``, ``differentiable`` and ``fused`` (those the torch class
    has) are accepted for code written for torch, but only switched off: coursekit has
    none of these implementations."""
    for option, value in (
        ("capturable", capturable),
        ("differentiable", differentiable),
        ("fused", fused),
    ):
        if value is not None and check_bool(option, value):
            raise NotImplementedError(
                f"coursekit.optim.{name} has no {option} implementation "
                f"({option}=True); use torch.optim.{name}"
            )


def scalar(value) -> float:
    """A hyperparameter as a Python float (a 1-element tensor lr is read, as torch)."""
    return value.item() if isinstance(value, torch.Tensor) else value


def evaluate_closure(closure):
    """Call ``closure`` (which recomputes the loss and its gradients) with gradients enabled."""
    if closure is None:
        return None
    if not callable(closure):
        raise TypeError(
            f"closure must be callable or None, got {type(closure).__name__}"
        )
    with torch.enable_grad():
        return closure()


def per_tensor(values: list):
    """A list of per-tensor scalars for a ``torch._foreach_*`` op, or one scalar when they are all equal
    (the usual case: all parameters have taken the same number of steps), which is faster.
    """
    first = values[0]
    return first if all(v == first for v in values) else values


def _check_gradient(p: torch.Tensor, g: torch.Tensor) -> None:
    if g.is_sparse:
        raise RuntimeError(
            "coursekit optimizers do not support sparse gradients; "
            "use torch.optim.SparseAdam"
        )
    if not p.is_floating_point():
        raise TypeError(
            f"parameters must have a real floating dtype, got {p.dtype}"
        )


def params_with_grad(group: dict, maximize: bool = False) -> tuple[list, list]:
    """The parameters of ``group`` that have a gradient, and their gradients (negated to maximize).

    Raises:
        RuntimeError: for sparse gradients (these optimizers keep dense state).
        TypeError: for parameters that are not real floating-point tensors.
    """
    params, grads = [], []
    for p in group["params"]:
        g = p.grad
        if g is None:
            continue
        _check_gradient(p, g)
        params.append(p)
        grads.append(g)
    if maximize and grads:
        grads = torch._foreach_neg(grads)
    return params, grads


class ValidatedOptimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` whose hyperparameters are checked, in the defaults and in every param group.

    Subclasses list their checks in ``_checks = {name: check(value) -> value}`` and may override
    ``_check_group(group)`` for conditions that involve several hyperparameters.
    """

    _checks: dict = {}
    _tensor_hyperparameters_refuse_foreach = (
        False  # True for Adam, AdamW (as torch)
    )

    def __init__(self, params, defaults: dict):
        super().__init__(params, self._validate(dict(defaults)))

    def _validate(self, group: dict) -> dict:
        if (
            group.get("foreach") is True
            and self._tensor_hyperparameters_refuse_foreach
        ):
            # torch refuses these (its fast path needs Python numbers); so do we
            unsupported = (
                "as a Tensor is not supported for capturable=False "
                "and foreach=True"
            )
            if isinstance(group.get("lr"), torch.Tensor):
                raise ValueError(f"lr {unsupported}")
            for i, beta in enumerate(group.get("betas", ())):
                if isinstance(beta, torch.Tensor):
                    raise ValueError(f"betas[{i}] {unsupported}")
        for key, check in self._checks.items():
            if key in group:
                group[key] = check(group[key])
        return group

    def add_param_group(self, param_group: dict) -> None:
        if not isinstance(param_group, dict):
            raise TypeError(
                f"param_group must be a dict, got {type(param_group).__name__}"
            )
        super().add_param_group(self._validate(param_group))
        self._check_group(self.param_groups[-1])

    def _check_group(self, group: dict) -> None:
        """Checks that involve several hyperparameters of one (complete) group."""

    def __setstate__(self, state: dict) -> None:
        """Called by ``load_state_dict``. A state_dict saved by ``torch.optim`` (or by
        an older coursekit) lacks coursekit-only group keys: they take this optimizer's
        defaults. torch stores step counts as tensors: they become the ints we use.
        """
        super().__setstate__(state)
        for group in self.param_groups:
            for key, value in self.defaults.items():
                group.setdefault(key, value)
        for param_state in self.state.values():
            if isinstance(param_state.get("step"), torch.Tensor):
                param_state["step"] = int(param_state["step"].item())

    @staticmethod
    def _gradient(theta: torch.Tensor, group: dict) -> torch.Tensor:
        """The gradient the update uses: ∇J(θ), negated to maximize, plus λθ (L2)."""
        g = theta.grad
        _check_gradient(theta, g)
        if group.get("maximize", False):
            g = -g
        coupled = not group.get("decoupled_weight_decay", False)
        if group.get("weight_decay", 0) != 0 and coupled:
            g = g.add(theta, alpha=group["weight_decay"])  # g ← g + λθ
        return g
