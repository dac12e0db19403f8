"""Adaptive learning rates: AdaGrad, RMSProp and Adam (with AMSGrad and decoupled weight decay).

Each scales the step of every parameter by a running estimate of the size of its gradients.
They differ in how the estimate forgets the past: AdaGrad never does (a sum), RMSProp and
Adam use an exponentially weighted moving average (EWMA), and Adam also averages the gradient
itself (momentum) and corrects both averages for their start at zero.
"""

from __future__ import annotations

import math

import torch

from ._base import (
    ValidatedOptimizer,
    check_betas,
    check_bool,
    check_eps,
    check_foreach,
    check_lr,
    check_torch_only,
    check_nonnegative,
    check_unit_interval,
    evaluate_closure,
    params_with_grad,
    per_tensor,
    scalar,
)

__all__ = [
    "AdaGrad",
    "Adagrad",
    "RMSProp",
    "RMSprop",
    "Adam",
    "AdamW",
    "ewma",
    "adagrad_update",
    "rmsprop_update",
    "adam_update",
]


def adagrad_update(theta, g, r, lr, eps, eps_inside_sqrt=False):
    r"""One AdaGrad step on one tensor, in place (r: the sum of squared gradients).

    .. math::

        r \leftarrow r + g \odot g, \qquad
        \theta \leftarrow \theta - \frac{\eta}{\delta + \sqrt{r}} \odot g

    or with :math:`\sqrt{\delta + r}` in the denominator when ``eps_inside_sqrt``.
    """
    r.addcmul_(g, g)  # r ← r + g ⊙ g
    if eps_inside_sqrt:
        denom = (r + eps).sqrt()  # √(δ + r)
    else:
        denom = r.sqrt() + eps  # δ + √r
    theta.addcdiv_(g, denom, value=-lr)  # θ ← θ − η g / denom


def rmsprop_update(
    theta,
    g,
    v,
    lr,
    alpha,
    eps,
    *,
    momentum=0.0,
    b=None,
    m=None,
    eps_inside_sqrt=False,
):
    r"""One RMSProp step on one tensor, in place (v: the EWMA of squared gradients).

    .. math::

        v \leftarrow \beta v + (1-\beta)\, g \odot g, \quad D = \sqrt{v} + \delta, \quad
        \theta \leftarrow \theta - \eta\, g / D

    with β = ``alpha``. Centered (``m``, the EWMA of g, given): D = √(v − m ⊙ m) + δ.
    With a momentum buffer ``b``: b ← μ b + g / D, θ ← θ − η b.
    """
    v.mul_(alpha).addcmul_(g, g, value=1 - alpha)  # v ← β v + (1 − β) g ⊙ g
    var = v
    if m is not None:
        m.lerp_(g, 1 - alpha)  # m ← β m + (1 − β) g
        var = v.addcmul(m, m, value=-1)  # v − m ⊙ m
    D = (var + eps).sqrt() if eps_inside_sqrt else var.sqrt() + eps
    if b is None:
        theta.addcdiv_(g, D, value=-lr)  # θ ← θ − η g / D
    else:
        b.mul_(momentum).addcdiv_(g, D)  # b ← μ b + g / D
        theta.add_(b, alpha=-lr)  # θ ← θ − η b


def adam_update(
    theta,
    g,
    m,
    v,
    t,
    lr,
    beta1,
    beta2,
    eps,
    *,
    v_max=None,
    bias_correction=True,
):
    r"""One Adam step on one tensor, in place (t >= 1: the index of this step).

    .. math::

        m \leftarrow \beta_1 m + (1-\beta_1)\, g, \quad
        v \leftarrow \beta_2 v + (1-\beta_2)\, g \odot g,

        \theta \leftarrow \theta - \eta\,
            \frac{m / (1-\beta_1^t)}{\sqrt{v / (1-\beta_2^t)} + \delta}

    AMSGrad (``v_max`` given) divides by the running maximum of v instead of v.
    """
    m.lerp_(g, 1 - beta1)  # m ← β1 m + (1 − β1) g
    v.mul_(beta2).addcmul_(g, g, value=1 - beta2)  # v ← β2 v + (1 − β2) g ⊙ g
    if v_max is not None:
        v = torch.maximum(v_max, v, out=v_max)  # AMSGrad: the largest v so far
    c1, c2 = (1 - beta1**t, 1 - beta2**t) if bias_correction else (1.0, 1.0)
    denom = v.sqrt() / math.sqrt(c2) + eps  # √v̂ + δ,  v̂ = v / (1 − β2^t)
    theta.addcdiv_(m, denom, value=-lr / c1)  # θ ← θ − η m̂ / (√v̂ + δ)


def ewma(values, beta: float, *, bias_correction: bool = False) -> torch.Tensor:
    r"""Exponentially weighted moving average of a sequence, the estimator inside RMSProp and Adam.

    .. math::

        v_0 = 0, \qquad v_t = \beta v_{t-1} + (1-\beta) x_t = (1-\beta)\sum_{k=1}^{t} \beta^{t-k} x_k,

    and with ``bias_correction`` :math:`\hat v_t = v_t / (1-\beta^t)`. Because the weights
    :math:`(1-\beta)\beta^{t-k}` sum to :math:`1-\beta^t` and not to 1, the uncorrected average is biased
    towards its starting value 0 for the first :math:`\approx 1/(1-\beta)` steps; the correction removes it.

    Args:
        values: the sequence x_1..x_T along the first dimension (tensor or list of numbers).
        beta: the decay β in [0, 1).
        bias_correction: divide by 1 − β^t.

    Returns:
        a tensor of the same shape with v_1..v_T (or the corrected averages).
    """
    x = torch.as_tensor(values)
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(
            f"values must be a non-empty sequence, got shape {tuple(x.shape)}"
        )
    beta = check_unit_interval("beta", beta, "beta")
    check_bool("bias_correction", bias_correction)
    out = torch.empty_like(x)
    v = torch.zeros_like(x[0])
    for t in range(
        len(x)
    # a loop over time (each step depends on the last), vectorized over the rest
    ):
        v = beta * v + (1 - beta) * x[t]
        out[t] = v / (1 - beta ** (t + 1)) if bias_correction else v
    return out


class AdaGrad(ValidatedOptimizer):
    r"""AdaGrad (Duchi et al., 2011): divide each step by the root of the sum of all past squared gradients.

    With gradient :math:`g_k` (plus λθ if ``weight_decay`` = λ) and ⊙ the element-wise product::

        r_k = r_{k-1} + g_k ⊙ g_k                              (r_0 = initial_accumulator_value)
        θ_k = θ_{k-1} − η_k / (δ + √r_k) ⊙ g_k                  (eps_inside_sqrt=False, torch's form)
        θ_k = θ_{k-1} − η_k / √(δ + r_k) ⊙ g_k                  (eps_inside_sqrt=True)

    with δ = ``eps`` and η_k = ``lr`` / (1 + (k − 1)·``lr_decay``). The effective step of a coordinate
    shrinks like 1/√k when its gradients keep the same size: fast at first, too cautious later.

    Args:
        params: parameters or param groups.
        lr: global learning rate η.
        lr_decay: torch's optional 1/k decay of η (0 disables it).
        weight_decay: L2 penalty λ.
        initial_accumulator_value: starting value of r (>= 0).
        eps: δ > 0, keeps the division finite.
        eps_inside_sqrt: put δ inside the square root, as some texts write it (not torch's form).
        maximize: ascend instead of descend.
        foreach: ``None``/``True``: the multi-tensor fast path; ``False``: :func:`adagrad_update`
            per tensor (same numbers, bit for bit).
        differentiable, fused: torch's switches, accepted for torch code when off.
    """

    _checks = {
        "lr": check_lr,
        "lr_decay": lambda v: check_nonnegative("lr_decay", v, "lr_decay"),
        "weight_decay": lambda v: check_nonnegative(
            "weight_decay", v, "weight_decay"
        ),
        "initial_accumulator_value": lambda v: check_nonnegative(
            "initial_accumulator_value", v, "initial_accumulator_value"
        ),
        "eps": check_eps,
        "eps_inside_sqrt": lambda v: check_bool("eps_inside_sqrt", v),
        "maximize": lambda v: check_bool("maximize", v),
        "foreach": check_foreach,
    }

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        eps_inside_sqrt: bool = False,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ):
        check_torch_only("Adagrad", differentiable=differentiable, fused=fused)
        super().__init__(
            params,
            dict(
                lr=lr,
                lr_decay=lr_decay,
                weight_decay=weight_decay,
                initial_accumulator_value=initial_accumulator_value,
                eps=eps,
                eps_inside_sqrt=eps_inside_sqrt,
                maximize=maximize,
                foreach=foreach,
            ),
        )

    def _state(self, p, group):
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["sum"] = torch.full_like(
                p,
                group["initial_accumulator_value"],
                memory_format=torch.preserve_format,
            )
        state["step"] += 1
        return state

    def _step_per_tensor(self, group: dict) -> None:
        """The readable path: :func:`adagrad_update` on each tensor."""
        for theta in group["params"]:
            if theta.grad is None:
                continue
            g = self._gradient(theta, group)
            state = self._state(theta, group)
            lr = scalar(group["lr"]) / (
                1 + (state["step"] - 1) * group["lr_decay"]
            )  # η_k
            adagrad_update(
                theta,
                g,
                state["sum"],
                lr,
                group["eps"],
                group["eps_inside_sqrt"],
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
            states = [self._state(p, group) for p in params]
            r, steps = [st["sum"] for st in states], [
                st["step"] for st in states
            ]
            if group["weight_decay"] != 0:
                grads = torch._foreach_add(
                    grads, params, alpha=group["weight_decay"]
                )
            torch._foreach_addcmul_(r, grads, grads, value=1)  # r ← r + g ⊙ g
            if group["eps_inside_sqrt"]:
                denom = torch._foreach_sqrt(
                    torch._foreach_add(r, group["eps"])
                )  # √(δ + r)
            else:
                denom = torch._foreach_sqrt(r)
                torch._foreach_add_(denom, group["eps"])  # δ + √r
            lr, lr_decay = scalar(group["lr"]), group["lr_decay"]
            step_sizes = per_tensor(
                [-(lr / (1 + (k - 1) * lr_decay)) for k in steps]
            )
            torch._foreach_addcdiv_(
                params, grads, denom, step_sizes
            )  # θ ← θ − η g / denom
        return loss


class RMSProp(ValidatedOptimizer):
    r"""RMSProp (Tieleman & Hinton, 2012): divide each step by the root of an EWMA of squared gradients.

    With gradient :math:`g_k` (plus λθ if ``weight_decay`` = λ), decay β = ``alpha`` and δ = ``eps``::

        v_k = β v_{k-1} + (1 − β) g_k ⊙ g_k                     (v_0 = 0)
        D_k = √v_k + δ                   (torch's form)    or    D_k = √(δ + v_k)   (eps_inside_sqrt=True)
        m_k = β m_{k-1} + (1 − β) g_k,   D_k = √(v_k − m_k ⊙ m_k) + δ   (centered=True)
        θ_k = θ_{k-1} − η g_k / D_k                             (momentum μ = 0)
        b_k = μ b_{k-1} + g_k / D_k,   θ_k = θ_{k-1} − η b_k    (momentum μ > 0)

    Unlike AdaGrad the average forgets old gradients (over ≈ 1/(1 − β) steps), so the step size
    recovers when the gradients become small. The centered variant divides by an estimate of the
    standard deviation of the gradient instead of its root mean square.

    Args:
        params: parameters or param groups.
        lr: learning rate η.
        alpha: the decay β in [0, 1) of the moving averages (torch's name).
        eps: δ > 0.
        weight_decay: L2 penalty λ.
        momentum: μ in [0, 1).
        centered: subtract the squared mean gradient inside the root.
        eps_inside_sqrt: put δ inside the square root (Goodfellow et al.'s form), not torch's.
        maximize: ascend instead of descend.
        foreach: ``None``/``True``: the multi-tensor fast path; ``False``: :func:`rmsprop_update`
            per tensor (same numbers, bit for bit).
        capturable, differentiable: torch's switches, accepted for torch code when off.
    """

    _checks = {
        "lr": check_lr,
        "alpha": lambda v: check_unit_interval("alpha", v, "alpha"),
        "eps": check_eps,
        "weight_decay": lambda v: check_nonnegative(
            "weight_decay", v, "weight_decay"
        ),
        "momentum": lambda v: check_unit_interval("momentum", v, "momentum"),
        "centered": lambda v: check_bool("centered", v),
        "eps_inside_sqrt": lambda v: check_bool("eps_inside_sqrt", v),
        "maximize": lambda v: check_bool("maximize", v),
        "foreach": check_foreach,
    }

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        eps_inside_sqrt: bool = False,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
    ):
        check_torch_only(
            "RMSprop", capturable=capturable, differentiable=differentiable
        )
        super().__init__(
            params,
            dict(
                lr=lr,
                alpha=alpha,
                eps=eps,
                weight_decay=weight_decay,
                momentum=momentum,
                centered=centered,
                eps_inside_sqrt=eps_inside_sqrt,
                maximize=maximize,
                foreach=foreach,
            ),
        )

    def _step_per_tensor(self, group: dict) -> None:
        """The readable path: :func:`rmsprop_update` on each tensor."""
        for theta in group["params"]:
            if theta.grad is None:
                continue
            g = self._gradient(theta, group)
            state = self._state(theta, group)
            rmsprop_update(
                theta,
                g,
                state["square_avg"],
                scalar(group["lr"]),
                group["alpha"],
                group["eps"],
                momentum=group["momentum"],
                b=state.get("momentum_buffer"),
                m=state.get("grad_avg"),
                eps_inside_sqrt=group["eps_inside_sqrt"],
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
            beta, mu, eps = group["alpha"], group["momentum"], group["eps"]
            states = [self._state(p, group) for p in params]
            v = [s["square_avg"] for s in states]
            if group["weight_decay"] != 0:
                grads = torch._foreach_add(
                    grads, params, alpha=group["weight_decay"]
                )
            torch._foreach_mul_(v, beta)
            torch._foreach_addcmul_(
                v, grads, grads, value=1 - beta
            )  # v ← β v + (1 − β) g ⊙ g
            if group["centered"]:
                m = [st["grad_avg"] for st in states]
                torch._foreach_lerp_(m, grads, 1 - beta)  # m ← β m + (1 − β) g
                var = torch._foreach_addcmul(v, m, m, value=-1)  # v − m ⊙ m
            else:
                var = v
            if group["eps_inside_sqrt"]:
                denom = torch._foreach_sqrt(
                    torch._foreach_add(var, eps)
                )  # D = √(δ + v)
            else:
                denom = torch._foreach_sqrt(var)
                torch._foreach_add_(denom, eps)  # D = √v + δ
            if mu > 0:
                b = [st["momentum_buffer"] for st in states]
                torch._foreach_mul_(b, mu)
                torch._foreach_addcdiv_(b, grads, denom)  # b ← μ b + g / D
                torch._foreach_add_(
                    params, b, alpha=-scalar(group["lr"])
                )  # θ ← θ − η b
            else:
                torch._foreach_addcdiv_(
                    params, grads, denom, value=-scalar(group["lr"])
                )  # θ ← θ − η g / D
        return loss

    def _state(self, p, group):
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["square_avg"] = torch.zeros_like(
                p, memory_format=torch.preserve_format
            )
            if group["momentum"] > 0:
                state["momentum_buffer"] = torch.zeros_like(
                    p, memory_format=torch.preserve_format
                )
            if group["centered"]:
                state["grad_avg"] = torch.zeros_like(
                    p, memory_format=torch.preserve_format
                )
        state["step"] += 1
        return state


class Adam(ValidatedOptimizer):
    r"""Adam (Kingma & Ba, 2015): momentum on the gradient, RMSProp scaling, both bias-corrected.

    With gradient :math:`g_t` (plus λθ if ``weight_decay`` = λ and the decay is coupled), β1, β2 = ``betas``
    and δ = ``eps``::

        t ← t + 1
        m_t = β1 m_{t-1} + (1 − β1) g_t                 first moment (momentum), m_0 = 0
        v_t = β2 v_{t-1} + (1 − β2) g_t ⊙ g_t           second moment, v_0 = 0
        m̂_t = m_t / (1 − β1^t),   v̂_t = v_t / (1 − β2^t)   bias correction
        θ_t = θ_{t-1} − η m̂_t / (√v̂_t + δ)

    δ is a small constant (1e-8) added to the root: the update is *not* divided by √v̂ + 1 (a typo
    in some lecture slides). ``amsgrad=True`` divides by the running maximum of v instead (Reddi et al.,
    2018). ``decoupled_weight_decay=True`` (AdamW, Loshchilov & Hutter, 2019) shrinks the weights
    directly, θ ← (1 − ηλ) θ, before the step, instead of adding λθ to the gradient.
    ``bias_correction=False`` drops the two divisions (for showing why they are there).

    Args:
        params: parameters or param groups.
        lr: learning rate η.
        betas: (β1, β2), each in [0, 1).
        eps: δ > 0.
        weight_decay: λ >= 0.
        amsgrad: use the running maximum of the second moment.
        decoupled_weight_decay: AdamW's weight decay.
        bias_correction: divide the moments by 1 − β^t.
        maximize: ascend instead of descend.
        foreach: ``None``/``True``: the multi-tensor fast path; ``False``: :func:`adam_update`
            per tensor (same numbers, bit for bit).
        capturable, differentiable, fused: torch's switches, accepted for torch code when off.
    """

    _checks = {
        "lr": check_lr,
        "betas": check_betas,
        "eps": check_eps,
        "weight_decay": lambda v: check_nonnegative(
            "weight_decay", v, "weight_decay"
        ),
        "amsgrad": lambda v: check_bool("amsgrad", v),
        "decoupled_weight_decay": lambda v: check_bool(
            "decoupled_weight_decay", v
        ),
        "bias_correction": lambda v: check_bool("bias_correction", v),
        "maximize": lambda v: check_bool("maximize", v),
        "foreach": check_foreach,
    }
    _tensor_hyperparameters_refuse_foreach = True

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        decoupled_weight_decay: bool = False,
        bias_correction: bool = True,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ):
        check_torch_only(type(self).__name__, capturable, differentiable, fused)
        super().__init__(
            params,
            dict(
                lr=lr,
                betas=betas,
                eps=eps,
                weight_decay=weight_decay,
                amsgrad=amsgrad,
                decoupled_weight_decay=decoupled_weight_decay,
                bias_correction=bias_correction,
                maximize=maximize,
                foreach=foreach,
            ),
        )

    def _step_per_tensor(self, group: dict) -> None:
        """The readable path: :func:`adam_update` on each tensor."""
        lr, (beta1, beta2), wd = (
            scalar(group["lr"]),
            group["betas"],
            group["weight_decay"],
        )
        for theta in group["params"]:
            if theta.grad is None:
                continue
            g = self._gradient(theta, group)
            state = self._state(theta, group)
            if wd != 0 and group["decoupled_weight_decay"]:
                theta.mul_(1 - lr * wd)  # θ ← (1 − ηλ) θ
            adam_update(
                theta,
                g,
                state["exp_avg"],
                state["exp_avg_sq"],
                state["step"],
                lr,
                beta1,
                beta2,
                group["eps"],
                v_max=state.get("max_exp_avg_sq"),
                bias_correction=group["bias_correction"],
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
            lr, (beta1, beta2), eps, wd = (
                scalar(group["lr"]),
                group["betas"],
                group["eps"],
                group["weight_decay"],
            )
            states = [self._state(p, group) for p in params]
            m = [st["exp_avg"] for st in states]
            v = [st["exp_avg_sq"] for st in states]
            if wd != 0 and group["decoupled_weight_decay"]:
                torch._foreach_mul_(params, 1 - lr * wd)  # θ ← (1 − ηλ) θ
            elif wd != 0:
                grads = torch._foreach_add(
                    grads, params, alpha=wd
                )  # g ← g + λθ
            torch._foreach_lerp_(m, grads, 1 - beta1)  # m ← β1 m + (1 − β1) g
            torch._foreach_mul_(v, beta2)
            torch._foreach_addcmul_(
                v, grads, grads, value=1 - beta2
            )  # v ← β2 v + (1 − β2) g ⊙ g
            if group["amsgrad"]:
                v_max = [st["max_exp_avg_sq"] for st in states]
                torch._foreach_maximum_(v_max, v)  # v ← max(v_max, v)
                v = v_max
            if group["bias_correction"]:
                steps = [st["step"] for st in states]
                step_sizes = per_tensor(
                    [-lr / (1 - beta1**t) for t in steps]
                )  # η / (1 − β1^t)
                root_corrections = per_tensor(
                    [math.sqrt(1 - beta2**t) for t in steps]
                )  # √(1 − β2^t)
            else:
                step_sizes, root_corrections = -lr, None
            denom = torch._foreach_sqrt(v)
            if root_corrections is not None:
                torch._foreach_div_(
                    denom, root_corrections
                )  # √v̂ = √v / √(1 − β2^t)
            torch._foreach_add_(denom, eps)  # √v̂ + δ
            torch._foreach_addcdiv_(
                params, m, denom, step_sizes
            )  # θ ← θ − η m̂ / (√v̂ + δ)
        return loss

    def _state(self, p, group):
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(
                p, memory_format=torch.preserve_format
            )
            state["exp_avg_sq"] = torch.zeros_like(
                p, memory_format=torch.preserve_format
            )
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = torch.zeros_like(
                    p, memory_format=torch.preserve_format
                )
        state["step"] += 1
        return state


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as ``torch.optim.AdamW``.

    The same as ``Adam(..., decoupled_weight_decay=True)``; the default ``weight_decay`` is 1e-2 as in torch.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        bias_correction: bool = True,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ):
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            decoupled_weight_decay=True,
            bias_correction=bias_correction,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
        )


# torch.optim's spellings, so the classes drop into code written for torch.
Adagrad = AdaGrad
RMSprop = RMSProp
