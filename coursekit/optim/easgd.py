"""Elastic averaging SGD (Zhang, Choromanska & LeCun 2015) on torch.distributed, and a local launcher.

Each of p worker processes holds its own copy x_i of the parameters and trains on its own data; an
elastic force pulls every x_i toward a center variable x~, and x~ toward the workers. The workers talk
only every tau steps, through one ``all_reduce``. The code runs the same on one machine (processes
started by :func:`run_workers`, gloo over 127.0.0.1) and across machines (start the processes with
``torchrun`` or your cluster's launcher and call ``torch.distributed.init_process_group`` with its
init method; nothing else changes).
"""
from __future__ import annotations

import copy
import datetime
import os
import pickle
import socket
import sys
import time
import traceback

import torch
import torch.distributed as dist

from ._base import (ValidatedOptimizer, check_bool, check_count, check_fraction, check_lr,
                    check_nonnegative, check_unit_interval, evaluate_closure)

__all__ = ["EASGD", "elastic_average", "run_workers", "free_port", "train_worker"]


def _check_tau(value) -> int:
    return check_count("tau", value, "communication period", 1)


def _check_moving_rate(value) -> float:
    return check_fraction("alpha", value, "moving rate")


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
        raise ValueError(f"workers must be a tensor of shape (p, n), got {getattr(workers, 'shape', workers)!r}")
    if not isinstance(center, torch.Tensor) or center.shape != workers.shape[1:]:
        raise ValueError(f"center must be a tensor of shape ({workers.shape[1]},), got {getattr(center, 'shape', center)!r}")
    alpha = _check_moving_rate(alpha)
    if len(workers) * alpha > 1.0 + 1e-12:
        raise ValueError(f"p * alpha must be <= 1, got {len(workers)} * {alpha}")
    diffs = workers - center                       # x_i - x~, with the old center
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
    group the optimizer runs as a single worker (p = 1), which is useful for testing.

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
        "weight_decay": lambda v: check_nonnegative("weight_decay", v, "weight_decay"),
    }

    def __init__(self, params, lr: float = 0.01, *, alpha: float = 0.1, tau: int = 1, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0, group=None):
        self.tau = _check_tau(tau)
        self.group = group
        self.distributed = dist.is_available() and dist.is_initialized()
        self.world_size = dist.get_world_size(group) if self.distributed else 1
        self.communications = 0
        self._t = 0
        super().__init__(params, dict(lr=lr, alpha=alpha, momentum=momentum, nesterov=nesterov,
                                      weight_decay=weight_decay))
        params = self._params()
        if self.distributed:                                                  # every worker starts at rank 0's x
            flat = torch.cat([p.detach().reshape(-1) for p in params])
            dist.broadcast(flat, src=dist.get_global_rank(group, 0) if group is not None else 0, group=group)
            self._unflatten_into(flat, params)
        for p in params:
            self.state[p]["center"] = p.detach().clone()

    def _check_group(self, group: dict) -> None:
        if group["nesterov"] and group["momentum"] <= 0:
            raise ValueError(f"Nesterov momentum requires a momentum > 0, got momentum={group['momentum']}")
        if self.world_size * group["alpha"] > 1.0 + 1e-12:
            raise ValueError(f"the moving rate alpha={group['alpha']} is too large for {self.world_size} workers: "
                             f"p * alpha = {self.world_size * group['alpha']:.3g} must be <= 1 (the paper uses 0.9)")
        if any(g is not group and g["alpha"] != group["alpha"] for g in self.param_groups):
            raise ValueError("all param groups must share the same moving rate alpha")

    def _params(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    @staticmethod
    @torch.no_grad()
    def _unflatten_into(flat: torch.Tensor, tensors: list[torch.Tensor]) -> None:
        offset = 0
        for t in tensors:
            t.copy_(flat[offset:offset + t.numel()].view_as(t))
            offset += t.numel()

    def center(self) -> list[torch.Tensor]:
        """The center variable x~, one tensor per parameter (in the order of the param groups)."""
        return [self.state[p]["center"] for p in self._params()]

    def center_model(self, model: torch.nn.Module) -> torch.nn.Module:
        """A copy of ``model`` whose parameters are the center variable (``model`` must own this optimizer's params)."""
        own = {id(p) for p in self._params()}
        params = list(model.parameters())
        if {id(p) for p in params} != own:
            raise ValueError("model's parameters must be exactly the parameters this optimizer updates")
        clone = copy.deepcopy(model)
        with torch.no_grad():
            for q, p in zip(clone.parameters(), params):
                q.copy_(self.state[p]["center"])
        return clone

    @torch.no_grad()
    def _communicate(self) -> None:
        params = self._params()
        diffs = [p - self.state[p]["center"] for p in params]                # x_i - x~ (before any update)
        total = torch.cat([d.reshape(-1) for d in diffs])
        if self.distributed:
            dist.all_reduce(total, op=dist.ReduceOp.SUM, group=self.group)  # sum_j (x_j - x~)
        alpha = self.param_groups[0]["alpha"]
        offset = 0
        for p, d in zip(params, diffs):
            center = self.state[p]["center"]
            center.add_(total[offset:offset + p.numel()].view_as(p), alpha=alpha)
            p.sub_(d, alpha=alpha)
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
            m, wd = group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad if wd == 0 else p.grad.add(p, alpha=wd)
                if m != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = g.detach().clone()
                    else:
                        buf.mul_(m).add_(g)
                    g = g.add(buf, alpha=m) if group["nesterov"] else buf
                p.add_(g, alpha=-group["lr"])
        return loss

    def state_dict(self):
        sd = super().state_dict()
        sd["easgd"] = {"t": self._t, "communications": self.communications, "tau": self.tau}
        return sd

    def load_state_dict(self, state_dict):
        extra = state_dict.get("easgd", {})
        state_dict = {k: v for k, v in state_dict.items() if k != "easgd"}
        super().load_state_dict(state_dict)
        self._t = extra.get("t", 0)
        self.communications = extra.get("communications", 0)
        self.tau = extra.get("tau", self.tau)


# --------------------------------------------------------------------------------------------
# Starting p worker processes on this machine

def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank, fn, world_size, port, args, results, timeout):
    """What each spawned process runs: join the group, call fn, report, always leave the group."""
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")     # this launcher is for one machine: use loopback
    torch.set_num_threads(1)                               # p processes share the cores
    try:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size,
                                timeout=datetime.timedelta(seconds=timeout))
        try:
            out = fn(rank, world_size, *args)
        finally:
            dist.destroy_process_group()
        # plain pickle copies tensors into the message (the queue's own pickler would share their memory
        # with this process, which is about to exit)
        results.put((rank, "ok", pickle.dumps(out)))
    except BaseException:  # noqa: BLE001 - report any failure to the parent, then exit non-zero
        results.put((rank, "error", traceback.format_exc()))
        raise


def run_workers(fn, world_size: int, *args, timeout: float = 60.0, start_method: str | None = None) -> list:
    """Run ``fn(rank, world_size, *args)`` in ``world_size`` fresh processes joined by torch.distributed.

    The processes are started with ``torch.multiprocessing``, join a gloo process group on 127.0.0.1 at
    a free port chosen now, and always destroy it when ``fn`` returns. ``start_method`` is "fork" on
    Linux by default (the workers start at once, with torch already imported: about 1.5 s for two
    workers instead of 9.5 s with "spawn", which imports torch afresh in every process) and "spawn"
    elsewhere (macOS and Windows cannot fork safely). With "spawn", ``fn`` must be importable (defined
    in a module, not in a notebook) and its arguments picklable; results are always pickled.

    A worker that raises makes this function raise at once (with the worker's traceback), after the
    other workers are stopped; if the workers have not all finished after ``timeout`` seconds they are
    stopped and a ``TimeoutError`` is raised. Nothing waits forever: collective operations also time
    out after ``timeout`` seconds.

    Returns:
        the list of what ``fn`` returned, indexed by rank.
    """
    import torch.multiprocessing as mp

    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be a positive integer, got {world_size!r}")
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if start_method is None:
        start_method = "fork" if sys.platform.startswith("linux") else "spawn"
    if start_method not in ("fork", "spawn", "forkserver"):
        raise ValueError(f"start_method must be 'fork', 'spawn' or 'forkserver', got {start_method!r}")
    ctx = mp.get_context(start_method)
    results = ctx.SimpleQueue()
    port = free_port()
    context = mp.start_processes(_entry, args=(fn, world_size, port, args, results, float(timeout)),
                                 nprocs=world_size, join=False, start_method=start_method)
    outputs: dict[int, object] = {}
    errors: dict[int, str] = {}
    deadline = time.monotonic() + timeout
    crashed = None                     # the launcher's exception when a worker died

    def collect() -> None:
        while not results.empty():
            rank, status, value = results.get()
            if status == "error":
                errors[rank] = value
            else:
                outputs[rank] = pickle.loads(value)

    def reported() -> bool:
        return len(outputs) + len(errors) == world_size

    try:
        while not reported():
            collect()
            if reported() or errors:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the {world_size} workers did not finish within {timeout} s")
            try:
                context.join(timeout=0.05)                  # raises if a worker died
            except (mp.ProcessExitedException, mp.ProcessRaisedException) as exc:
                crashed = exc
                break
        # After a failure the other workers fail too (their collectives lose a peer) and the launcher
        # stops them: give the reports already on their way a moment to arrive, so that the error
        # shown is every worker's, the root cause included, not just the first one noticed.
        grace = time.monotonic() + 2.0
        while (errors or crashed) and not reported() and time.monotonic() < grace:
            time.sleep(0.05)
            collect()
        if errors:
            text = "\n".join(f"worker {r} of {world_size} failed:\n{e}" for r, e in sorted(errors.items()))
            raise RuntimeError(text)
        if isinstance(crashed, mp.ProcessExitedException):
            raise RuntimeError(f"worker {crashed.error_index} of {world_size} exited with code {crashed.exit_code}")
        if crashed is not None:
            raise RuntimeError(f"a worker of {world_size} failed:\n{crashed}")
        context.join(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for process in context.processes:
            if process.is_alive():
                process.terminate()
        for process in context.processes:
            process.join(timeout=5)
    return [outputs[r] for r in range(world_size)]


# --------------------------------------------------------------------------------------------
# A complete worker: EASGD (or SGD) on a shard of a classification set

def train_worker(rank: int, world_size: int, config: dict) -> dict:
    """Train an MLP on this worker's shard of ``config["train"]`` with EASGD; evaluate the center on the test set.

    Every worker builds the same model (seeded with ``config["seed"]``), takes every p-th training
    example as its shard, and runs ``config["steps"]`` steps of EASGD on minibatches drawn from it
    (its own generator, seeded with seed + rank). With ``world_size = 1`` and ``config["optimizer"] ==
    "sgd"`` it is plain minibatch SGD on the whole set, in the calling process.

    Args:
        rank, world_size: this worker and the number of workers (as given by :func:`run_workers`).
        config: ``train``/``test`` (pairs of tensors), ``sizes`` (MLP widths), ``steps``, ``batch_size``,
            ``lr``, ``alpha``, ``tau``, ``momentum``, ``seed``, ``eval_every`` and ``optimizer``
            (``"easgd"`` or ``"sgd"``).

    Returns:
        a dict with the test loss and accuracy of the center (``center_loss``, ``center_accuracy``: one
        entry every ``eval_every`` steps and at the end, at the ``steps`` listed), of this worker's own
        x_i at the end (``worker_loss``, ``worker_accuracy``), the number of communications and the
        distance ||x_i - x~|| at the end. For SGD the "center" is the model itself.
    """
    from ..nn import mlp
    from ..train import evaluate

    X, y = config["train"]
    X_test, y_test = config["test"]
    torch.manual_seed(config["seed"])
    model = mlp(config["sizes"])
    shard = torch.arange(rank, len(X), world_size)
    Xs, ys = X[shard], y[shard]
    g = torch.Generator().manual_seed(config["seed"] + 1000 * (rank + 1))
    if config.get("optimizer", "easgd") == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=config.get("momentum", 0.0))
    else:
        opt = EASGD(model.parameters(), lr=config["lr"], alpha=config["alpha"], tau=config["tau"],
                    momentum=config.get("momentum", 0.0))
    loss_fn = torch.nn.functional.cross_entropy
    steps, center_loss, center_accuracy = [], [], []

    def center():
        return opt.center_model(model) if isinstance(opt, EASGD) else model

    for t in range(1, config["steps"] + 1):
        idx = torch.randint(0, len(Xs), (config["batch_size"],), generator=g)
        opt.zero_grad()
        loss_fn(model(Xs[idx]), ys[idx]).backward()
        opt.step()
        if t % config["eval_every"] == 0 or t == config["steps"]:
            result = evaluate(center(), X_test, y_test)
            steps.append(t)
            center_loss.append(result["loss"])
            center_accuracy.append(result["accuracy"])
    distance = 0.0
    if isinstance(opt, EASGD):
        distance = float(torch.cat([(p.detach() - c).reshape(-1) for p, c in zip(model.parameters(), opt.center())]).norm())
    own = evaluate(model, X_test, y_test)
    return {"rank": rank, "steps": steps, "center_loss": center_loss, "center_accuracy": center_accuracy,
            "worker_loss": own["loss"], "worker_accuracy": own["accuracy"],
            "communications": getattr(opt, "communications", 0), "distance": distance}
