"""Entropy-SGD (Chaudhari et al. 2017): gradient descent on the local entropy, estimated by Langevin dynamics."""

from __future__ import annotations

import math

import torch

from .. import _args
from ._base import (
    ValidatedOptimizer,
    check_bool,
    check_count,
    check_lr,
    check_nonnegative,
    check_positive,
    check_unit_interval,
    check_weight,
    evaluate_closure,
    scalar,
)
from .sgd import momentum_update, nesterov_update, sgd_update

__all__ = ["EntropySGD", "MinibatchClosure", "langevin_step"]


def _check_L(value) -> int:
    return check_count("L", value, "number of Langevin steps", 0)


def langevin_step(x_prime, g, x, mu, gamma, sgld_lr, noise, alpha, xi=None):
    r"""One step of Entropy-SGD's Langevin loop on one tensor, in place.

    .. math::

        x' \leftarrow x' - \eta' \left(\nabla f(x') - \gamma (x - x')\right)
              + \sqrt{2\eta'}\,\varepsilon\,\xi, \qquad
        \mu \leftarrow (1-\alpha)\,\mu + \alpha\, x'

    with g = ∇f(x') on a fresh minibatch, x the anchor, ξ ~ N(0, I) (``xi``; none when
    ε = ``noise`` is 0) and μ the running estimate of the Gibbs mean ⟨x'⟩.
    """
    dx = g.add(x_prime - x, alpha=gamma)  # ∇f(x') − γ (x − x')
    x_prime.add_(dx, alpha=-sgld_lr)  # x' ← x' − η' dx'
    if noise > 0:
        x_prime.add_(xi, alpha=noise * math.sqrt(2 * sgld_lr))  # + √(2η') ε ξ
    mu.mul_(1 - alpha).add_(x_prime, alpha=alpha)  # μ ← (1 − α) μ + α x'


class EntropySGD(ValidatedOptimizer):
    r"""Entropy-SGD: descend the negative local entropy -F(x, gamma) instead of the loss f(x).

    The local entropy F(x, gamma) = log \int exp(-f(x') - gamma/2 ||x - x'||^2) dx' has the gradient
    -grad F(x, gamma) = gamma (x - <x'>), where <x'> is the mean of the Gibbs distribution
    P(x'; x, gamma) ~ exp(-f(x') - gamma/2 ||x - x'||^2). One step (Algorithm 1 of the paper)
    estimates <x'> with L steps of stochastic gradient Langevin dynamics (SGLD), then moves x::

        gamma = gamma_0 (1 + gamma_1)^t                          (scoping; t = steps taken so far)
        x', mu <- x
        for l = 1, ..., L:                                       (one closure call each: a fresh minibatch)
            dx' = grad f(x'; minibatch) - gamma (x - x')
            x'  <- x' - eta' dx' + sqrt(2 eta') eps N(0, I)      (SGLD at temperature eps^2)
            mu  <- (1 - alpha) mu + alpha x'                     (exponential average: mu estimates <x'>)
        g = gamma (x - mu)                                       (= -grad F, the local-entropy gradient)
        x <- x - eta g                                           (or with momentum / Nesterov momentum on g)

    With L = 0 there is nothing to average: the step uses g = grad f(x) (the gamma -> infinity limit of
    gamma (x - <x'>)), so the optimizer *is* SGD, with momentum or Nesterov momentum, and gives the same
    numbers as ``torch.optim.SGD`` (as in the authors' code, where L = 0 is SGD with Nesterov momentum).
    One step costs max(L, 1) gradient evaluations.

    Where the paper and its authors' public code differ, and what this class does:

    - *outer step*: the paper moves x by eta gamma (x - mu); the code by eta (x - mu), dropping gamma
      (it is absorbed in the code's learning rate, which then acts as eta gamma, and changes meaning as
      scoping grows gamma). We follow the paper, so g has the units of a gradient of f: for large gamma,
      gamma (x - mu) ~ grad f(x).
    - *scoping counter*: the paper's gamma(t) = gamma_0 (1 + gamma_1)^t counts parameter updates; the
      Lua code counts updates from 1, and the PyTorch code initializes its counter t = 0 and never
      increments it, so scoping is silently off there. We count updates from t = 0.
    - *noise*: the paper writes the SGLD noise as sqrt(eta') eps N(0, I); the code adds
      sqrt(2 eta') eps N(0, I), the standard Langevin discretization, which samples
      exp(-(f + gamma/2 ||x - x'||^2) / eps^2). We follow the code: with eps = 1 the chain samples the
      Gibbs distribution of F's definition exactly (in the small-step limit).
    - *averaging*: the code keeps mu <- 0.75 mu + 0.25 x', i.e. alpha = 0.25 here (the default).
    - *inner momentum and extra gradient*: the code also runs Nesterov momentum inside the Langevin loop
      and evaluates one gradient at x that Entropy-SGD then discards; we do neither (plain SGLD as in
      Algorithm 1; the loss returned is the first Langevin step's, evaluated at x' = x).

    Args:
        params: parameters or param groups.
        lr: eta, the learning rate of the outer step (>= 0).
        gamma: gamma_0 > 0, the initial scope (coupling between x' and x).
        scoping: gamma_1 >= 0; gamma grows by the factor (1 + gamma_1) every step.
        L: Langevin steps per update (>= 0; 0 gives SGD). The same for all param groups.
        sgld_lr: eta', the SGLD step size (> 0).
        noise: eps, the thermal noise of SGLD (>= 0; 0 makes the inner loop plain gradient descent).
        alpha: the weight of the newest sample in the average mu, in (0, 1].
        momentum: momentum of the outer step, in [0, 1) (torch's buffer b <- m b + g).
        nesterov: Nesterov momentum for the outer step (needs momentum > 0).
        weight_decay: lambda >= 0: the loss is f(x) + lambda/2 ||x||^2 (in the Langevin steps when L > 0).
        generator: optional ``torch.Generator`` (on the parameters' device) for the Langevin noise.

    Call ``step(closure)`` with a closure that zeroes the gradients, evaluates the loss on a minibatch
    and backpropagates; for the paper's algorithm it should draw a fresh minibatch on every call
    (see :class:`MinibatchClosure`). After a step with L > 0, each ``p.grad`` holds the local-entropy
    gradient gamma (x - mu) the step used.
    """

    _checks = {
        "lr": check_lr,
        "gamma": lambda v: check_positive("gamma", v, "scope"),
        "scoping": lambda v: check_nonnegative("scoping", v, "scoping"),
        "L": _check_L,
        "sgld_lr": lambda v: check_positive("sgld_lr", v, "SGLD step size"),
        "noise": lambda v: check_nonnegative("noise", v, "thermal noise"),
        "alpha": lambda v: check_weight("alpha", v, "averaging weight"),
        "momentum": lambda v: check_unit_interval("momentum", v, "momentum"),
        "nesterov": lambda v: check_bool("nesterov", v),
        "weight_decay": lambda v: check_nonnegative(
            "weight_decay", v, "weight_decay"
        ),
    }

    def __init__(
        self,
        params,
        lr: float = 0.1,
        *,
        gamma: float = 0.03,
        scoping: float = 1e-3,
        L: int = 20,
        sgld_lr: float = 0.1,
        noise: float = 1e-4,
        alpha: float = 0.25,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        generator: torch.Generator | None = None,
    ):
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(
                "generator must be a torch.Generator or None, got"
                f" {type(generator).__name__}"
            )
        self.generator = generator
        super().__init__(
            params,
            dict(
                lr=lr,
                gamma=gamma,
                scoping=scoping,
                L=L,
                sgld_lr=sgld_lr,
                noise=noise,
                alpha=alpha,
                momentum=momentum,
                nesterov=nesterov,
                weight_decay=weight_decay,
            ),
        )

    def _check_group(self, group: dict) -> None:
        if group["nesterov"] and group["momentum"] <= 0:
            raise ValueError(
                "Nesterov momentum requires a momentum > 0, got"
                f" momentum={group['momentum']}"
            )
        if group["L"] != self.param_groups[0]["L"]:
            raise ValueError(
                "all param groups must use the same number of Langevin steps L"
                f" (one closure call moves every parameter), got {group['L']}"
                f" and {self.param_groups[0]['L']}"
            )

    def scope(self) -> list[float]:
        """The gamma each param group will use at its next step, gamma_0 (1 + gamma_1)^t."""
        out = []
        for group in self.param_groups:
            steps = [self.state[p].get("step", 0) for p in group["params"]]
            t = max(steps) if steps else 0
            out.append(group["gamma"] * (1.0 + group["scoping"]) ** t)
        return out

    def _noise(self, p: torch.Tensor) -> torch.Tensor:
        return torch.randn(
            p.shape, generator=self.generator, dtype=p.dtype, device=p.device
        )

    @torch.no_grad()
    def step(self, closure):
        """One Entropy-SGD update. ``closure`` re-evaluates the loss on a minibatch and its gradients.

        Returns:
            the loss of the first closure call (at the current x).
        """
        if closure is None:
            raise ValueError(
                "EntropySGD needs a closure that re-evaluates the loss and its"
                " gradients: optimizer.step(closure)"
            )
        L = self.param_groups[0]["L"]
        if L == 0:
            loss = evaluate_closure(closure)
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        g = (
                            p.grad
                            if group["weight_decay"] == 0
                            else p.grad.add(p, alpha=group["weight_decay"])
                        )
                        self._outer(p, g, group)
            return loss

        # Langevin loop: x' and mu start at x, which is kept as the anchor.
        gammas = self.scope()
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                if "anchor" not in state:
                    state["anchor"], state["mu"] = (
                        p.detach().clone(),
                        p.detach().clone(),
                    )
                else:
                    state["anchor"].copy_(p)
                    state["mu"].copy_(p)
        loss = None
        for _ in range(L):
            value = evaluate_closure(closure)  # grad f(x') on a fresh minibatch
            loss = value if loss is None else loss
            for group, gamma in zip(self.param_groups, gammas):
                eta, eps, alpha = (
                    group["sgld_lr"],
                    group["noise"],
                    group["alpha"],
                )
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state[p]
                    g = p.grad
                    if group["weight_decay"] != 0:
                        g = g.add(p, alpha=group["weight_decay"])
                    xi = self._noise(p) if eps > 0 else None
                    langevin_step(
                        p,
                        g,
                        state["anchor"],
                        state["mu"],
                        gamma,
                        eta,
                        eps,
                        alpha,
                        xi,
                    )
        # Outer step from the anchor x along the local-entropy gradient g =
        # gamma (x - mu).
        for group, gamma in zip(self.param_groups, gammas):
            for p in group["params"]:
                state = self.state[p]
                p.copy_(state["anchor"])
                g = (state["anchor"] - state["mu"]).mul_(gamma)
                if p.grad is not None:
                    p.grad.copy_(g)
                self._outer(p, g, group)
        return loss

    def _outer(self, p: torch.Tensor, g: torch.Tensor, group: dict) -> None:
        """x <- x - eta g, with torch's (Nesterov) momentum; counts the step for scoping."""
        state = self.state[p]
        lr, mu = scalar(group["lr"]), group["momentum"]
        if mu == 0:
            sgd_update(p, g, lr)
        elif group["nesterov"]:
            state["momentum_buffer"] = nesterov_update(
                p, g, state.get("momentum_buffer"), lr, mu
            )
        else:
            state["momentum_buffer"] = momentum_update(
                p, g, state.get("momentum_buffer"), lr, mu
            )
        state["step"] = state.get("step", 0) + 1


class MinibatchClosure:
    """A closure that draws a fresh random minibatch on every call, and counts the calls.

    Entropy-SGD's Langevin loop samples a new minibatch at each of its L steps; this closure does that
    for any optimizer, and ``calls`` counts gradient evaluations, so optimizers can be compared at an
    equal budget::

        closure = MinibatchClosure(model, loss_fn, X, y, batch_size=32, generator=g)
        while closure.calls < budget:
            optimizer.step(closure)

    Args:
        model: the ``nn.Module`` to train.
        loss_fn: ``loss_fn(model(X_b), y_b)``.
        X, y: the training set (rows are examples).
        batch_size: examples per minibatch.
        generator: a CPU ``torch.Generator`` for the minibatches.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        loss_fn,
        X: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        generator: torch.Generator | None = None,
    ):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(
                f"model must be a torch.nn.Module, got {type(model).__name__}"
            )
        if not callable(loss_fn):
            raise TypeError(
                f"loss_fn must be callable, got {type(loss_fn).__name__}"
            )
        if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor):
            raise TypeError("X and y must be torch.Tensors")
        if len(X) != len(y) or len(X) == 0:
            raise ValueError(
                "X and y must have the same, non-zero number of rows, got"
                f" {len(X)} and {len(y)}"
            )
        batch_size = _args.positive_int("batch_size", batch_size)
        if batch_size > len(X):
            raise ValueError(
                f"batch_size must be an integer in [1, {len(X)}], got"
                f" {batch_size!r}"
            )
        self.model, self.loss_fn, self.X, self.y = model, loss_fn, X, y
        self.batch_size, self.generator, self.calls = batch_size, generator, 0

    def __call__(self) -> torch.Tensor:
        idx = torch.randint(
            0, len(self.X), (self.batch_size,), generator=self.generator
        ).to(self.X.device)
        self.model.zero_grad()
        loss = self.loss_fn(self.model(self.X[idx]), self.y[idx])
        loss.backward()
        self.calls += 1
        return loss
