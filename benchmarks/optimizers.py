"""Step time of coursekit's optimizers relative to torch.optim's, at default settings.

Run from the repository root (about a minute on a 2-core laptop CPU)::

    .venv/bin/python benchmarks/optimizers.py            # the table
    .venv/bin/python benchmarks/optimizers.py --quick    # fewer repeats, for a smoke test
    .venv/bin/python benchmarks/optimizers.py --device cuda

For every optimizer pair and each of two models it fills the gradients once, then times blocks of
``optimizer.step()`` calls, alternating coursekit and torch blocks so that both see the same machine
load, and reports the median over the repeats of the ratio (coursekit time / torch time) — below 1
means coursekit is faster. On CPU with one thread (the default) the clock is the CPU time of the
thread, so other programs running on the machine do not distort the numbers. The two models stress the two costs of an optimizer step:

* ``mlp``: a small MLP (64-256-256-10, 6 tensors, ~84k parameters): arithmetic on a few tensors;
* ``many``: 200 tiny tensors (100 Linear(8, 8) layers): per-tensor overhead.

The ``torch`` column is torch.optim's default implementation on this device (on CPU the per-tensor
for-loop; on CUDA the ``foreach`` one). The ``vs foreach`` column compares with torch's
``foreach=True`` implementation, which batches each operation over the list of tensors as
coursekit's optimizers do by default. The ``readable`` column times coursekit's
``foreach=False`` path (the per-tensor update functions the book prints, ``sgd_update``,
``adam_update``, ...) against torch's default, for information only.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time

import torch
from torch import nn

import coursekit.optim as ko

PAIRS = [  # (label, coursekit factory, torch class, keyword arguments shared by both)
    ("SGD", ko.SGD, torch.optim.SGD, {}),
    ("SGD momentum", ko.SGD, torch.optim.SGD, {"momentum": 0.9}),
    ("SGD Nesterov", ko.SGD, torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
    ("AdaGrad", ko.AdaGrad, torch.optim.Adagrad, {}),
    ("RMSProp", ko.RMSProp, torch.optim.RMSprop, {}),
    ("RMSProp centered+mom.", ko.RMSProp, torch.optim.RMSprop, {"centered": True, "momentum": 0.9}),
    ("Adam", ko.Adam, torch.optim.Adam, {}),
    ("Adam AMSGrad", ko.Adam, torch.optim.Adam, {"amsgrad": True}),
    ("AdamW", ko.AdamW, torch.optim.AdamW, {}),
]


def models(device) -> dict:
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    many = nn.Sequential(*[nn.Linear(8, 8) for _ in range(100)])
    return {"mlp": mlp.to(device), "many": many.to(device)}


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_block(opt, steps: int, device) -> float:
    """Seconds per step. On CPU (one torch thread) the CPU time of this thread, which other processes on a
    shared machine do not inflate; on an accelerator the wall time between synchronizations."""
    clock = time.thread_time if device.type == "cpu" and torch.get_num_threads() == 1 else time.perf_counter
    sync(device)
    start = clock()
    for _ in range(steps):
        opt.step()
    sync(device)
    return (clock() - start) / steps


def bench(model, ours, theirs, kwargs, *, repeats: int, steps: int, device, foreach=None,
          our_foreach=None) -> tuple[float, float, float]:
    """Median (ratio, our step time, their step time) over ``repeats`` alternating blocks of ``steps`` steps."""
    params_a = [p.detach().clone().requires_grad_(True) for p in model.parameters()]
    params_b = [p.detach().clone().requires_grad_(True) for p in model.parameters()]
    g = torch.Generator().manual_seed(1)
    for pa, pb in zip(params_a, params_b):
        grad = (1e-3 * torch.randn(pa.shape, generator=g)).to(device)
        pa.grad, pb.grad = grad.clone(), grad.clone()
    opt_a = ours(params_a, **kwargs, foreach=our_foreach)
    opt_b = theirs(params_b, **kwargs, foreach=foreach)
    for opt in (opt_a, opt_b):  # warm up: create the state, fill caches
        time_block(opt, 5, device)
    ratios, ta, tb = [], [], []
    gc.disable()  # no collection pauses inside a timed block
    try:
        for r in range(repeats):
            first, second = (opt_a, opt_b) if r % 2 == 0 else (opt_b, opt_a)  # alternate who goes first
            t_first = time_block(first, steps, device)
            t_second = time_block(second, steps, device)
            a, b = (t_first, t_second) if r % 2 == 0 else (t_second, t_first)
            ratios.append(a / b)
            ta.append(a)
            tb.append(b)
    finally:
        gc.enable()
    return statistics.median(ratios), statistics.median(ta), statistics.median(tb)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke test)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: small tensors)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    repeats, steps = (5, 2) if args.quick else (25, 4)  # many short alternating blocks: robust to load
    start = time.perf_counter()
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} thread(s), "
          f"median of {repeats} repeats x {steps} steps")
    print(f"{'optimizer':24s} {'model':5s} {'coursekit us':>12s} {'torch us':>9s} "
          f"{'ratio':>6s} {'vs foreach':>10s} {'readable':>8s}")
    worst = 0.0
    for name, model in models(device).items():
        for label, ours, theirs, kwargs in PAIRS:
            ratio, ta, tb = bench(model, ours, theirs, kwargs, repeats=repeats, steps=steps, device=device)
            ratio_fe, _, _ = bench(model, ours, theirs, kwargs, repeats=repeats, steps=steps, device=device,
                                   foreach=True)
            ratio_readable, _, _ = bench(model, ours, theirs, kwargs, repeats=repeats,
                                         steps=steps, device=device, our_foreach=False)
            worst = max(worst, ratio)
            print(f"{label:24s} {name:5s} {ta * 1e6:12.1f} {tb * 1e6:9.1f} {ratio:6.2f} "
                  f"{ratio_fe:10.2f} {ratio_readable:8.2f}", flush=True)
    print(f"worst ratio {worst:.2f} (target <= 1.2); {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
