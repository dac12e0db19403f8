"""Tests of coursekit.optim.EASGD: real torch.distributed runs (gloo, spawned processes) against a one-process reference."""
import time

import pytest
import torch
import torch.distributed as dist

from coursekit.optim import EASGD
from coursekit.distributed import run_workers, train_worker
from coursekit.optim.easgd import elastic_average


def least_squares(rank, world_size, seed=0):
    """Worker `rank`'s shard of a least-squares problem: f_i(x) = 1/2 ||A_i x - b_i||^2 / rows."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(12, 4, generator=g, dtype=torch.float64)
    b = torch.randn(12, generator=g, dtype=torch.float64)
    rows = torch.arange(rank, 12, world_size)
    return A[rows], b[rows]


def distributed_worker(rank, world_size, steps, lr, alpha, tau, momentum):
    """Runs in a spawned process: EASGD with deterministic full-batch gradients on this rank's shard."""
    A, b = least_squares(rank, world_size)
    x = torch.nn.Parameter(torch.randn(4, dtype=torch.float64, generator=torch.Generator().manual_seed(100 + rank)))
    opt = EASGD([x], lr=lr, alpha=alpha, tau=tau, momentum=momentum)   # broadcasts rank 0's x
    centers = []
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * (A @ x - b).pow(2).sum() / len(b)).backward()
        opt.step()
        centers.append(opt.center()[0].clone())
    return {"center": torch.stack(centers), "x": x.detach().clone(), "communications": opt.communications}


def reference(world_size, steps, lr, alpha, tau, momentum):
    """The same update written out for all workers in one process (no torch.distributed)."""
    shards = [least_squares(r, world_size) for r in range(world_size)]
    x0 = torch.randn(4, dtype=torch.float64, generator=torch.Generator().manual_seed(100))   # rank 0's start
    xs = [x0.clone() for _ in range(world_size)]
    bufs = [None] * world_size
    center = x0.clone()
    centers = []
    for t in range(steps):
        grads = [A.T @ (A @ x - b) / len(b) for (A, b), x in zip(shards, xs)]   # at x_i before the step
        if t % tau == 0:
            diffs = [x - center for x in xs]
            center = center + alpha * sum(diffs)
            xs = [x - alpha * d for x, d in zip(xs, diffs)]
        new = []
        for i, (x, g) in enumerate(zip(xs, grads)):
            if momentum:
                bufs[i] = g.clone() if bufs[i] is None else momentum * bufs[i] + g
                g = bufs[i]
            new.append(x - lr * g)
        xs = new
        centers.append(center.clone())
    return torch.stack(centers), xs


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_distributed_center_matches_the_single_process_reference(start_method):
    if start_method not in torch.multiprocessing.get_all_start_methods():
        pytest.skip(f"{start_method} is not available on this platform")
    world_size, tau, momentum, steps, lr, alpha = 3, 2, 0.5, 20, 0.2, 0.3
    results = run_workers(distributed_worker, world_size, steps, lr, alpha, tau, momentum, timeout=120,
                          start_method=start_method)
    centers, xs = reference(world_size, steps, lr, alpha, tau, momentum)
    for rank, out in enumerate(results):
        assert torch.allclose(out["center"], centers, rtol=0, atol=1e-12), (out["center"] - centers).abs().max()
        assert torch.allclose(out["x"], xs[rank], rtol=0, atol=1e-12)
        assert out["communications"] == -(-steps // tau)
    assert not torch.allclose(xs[0], xs[1])            # the workers really differ (different shards)


def _fails_on_rank_one(rank, world_size):
    if rank == 1:
        raise ValueError("boom on rank 1")
    dist.barrier()                                     # rank 0 would wait here forever without the launcher's care
    return rank


def _sleeps(rank, world_size):
    time.sleep(120)


def test_a_failing_worker_fails_loudly_and_nothing_hangs():
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="boom on rank 1"):
        run_workers(_fails_on_rank_one, 2, timeout=60)
    assert time.monotonic() - start < 60


def test_a_slow_run_times_out():
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        run_workers(_sleeps, 2, timeout=4)
    assert time.monotonic() - start < 30


def test_single_process_easgd_without_a_process_group():
    A, b = least_squares(0, 1)
    x = torch.nn.Parameter(torch.zeros(4, dtype=torch.float64))
    opt = EASGD([x], lr=0.1, alpha=0.5, tau=2)
    for _ in range(1000):
        opt.zero_grad()
        (0.5 * (A @ x - b).pow(2).sum() / len(b)).backward()
        opt.step()
    solution = torch.linalg.lstsq(A, b).solution
    assert torch.allclose(x.detach(), solution, atol=1e-4) and torch.allclose(opt.center()[0], solution, atol=1e-3)
    assert opt.communications == 500
    model = torch.nn.Linear(3, 2)
    opt = EASGD(model.parameters(), lr=0.1, alpha=0.5)
    clone = opt.center_model(model)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), clone.parameters()))
    state = opt.state_dict()
    opt.load_state_dict(state)


def test_train_worker_single_process_sgd_and_easgd():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(200, 5, generator=g)
    y = (X[:, 0] > 0).long()
    config = dict(train=(X[:150], y[:150]), test=(X[150:], y[150:]), sizes=[5, 8, 2], steps=60, batch_size=16,
                  lr=0.2, alpha=0.5, tau=2, seed=0, eval_every=20)
    sgd = train_worker(0, 1, dict(config, optimizer="sgd"))
    easgd = train_worker(0, 1, config)
    assert sgd["steps"] == easgd["steps"] == [20, 40, 60]
    assert sgd["center_accuracy"][-1] > 0.8 and easgd["center_accuracy"][-1] > 0.8
    assert easgd["communications"] == 30


def test_bad_arguments_raise_clear_errors():
    x = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match="communication period"):
        EASGD(x, tau=0)
    with pytest.raises(TypeError, match="tau"):
        EASGD(x, tau=1.5)
    with pytest.raises(ValueError, match="moving rate"):
        EASGD(x, alpha=0.0)
    with pytest.raises(ValueError, match="moving rate"):
        EASGD(x, alpha=1.5)
    with pytest.raises(ValueError, match="learning rate"):
        EASGD(x, lr=-0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        EASGD(x, nesterov=True)
    with pytest.raises(ValueError, match="world_size"):
        run_workers(distributed_worker, 0)
    with pytest.raises(ValueError, match="timeout"):
        run_workers(distributed_worker, 2, timeout=-1)
    with pytest.raises(ValueError, match="start_method"):
        run_workers(distributed_worker, 2, start_method="thread")
    with pytest.raises(ValueError, match="exactly the parameters"):
        EASGD(x).center_model(torch.nn.Linear(2, 2))


def test_elastic_average_matches_the_reference_communication():
    g = torch.Generator().manual_seed(0)
    workers, center = torch.randn(3, 5, generator=g, dtype=torch.float64), torch.randn(5, generator=g, dtype=torch.float64)
    new_workers, new_center = elastic_average(workers, center, 0.3)
    assert torch.allclose(new_center, center + 0.3 * (workers - center).sum(0))
    assert torch.allclose(new_workers, workers - 0.3 * (workers - center))
    # the workers' mean and the center move toward each other: their gap shrinks by the factor 1 - alpha (1 + p)
    assert (new_workers.mean(0) - new_center).norm() < (workers.mean(0) - center).norm()
    with pytest.raises(ValueError, match="p \\* alpha"):
        elastic_average(workers, center, 0.5)
    with pytest.raises(ValueError, match="center"):
        elastic_average(workers, center[:3], 0.1)


# ------------------------------------------------------------------------------------
# Under a launcher: torchrun's recipe works; forgetting init_process_group fails loudly.

TORCHRUN_SCRIPT = '''
import json, sys
import torch
import torch.distributed as dist
from coursekit.optim import EASGD

dist.init_process_group("gloo")    # rank and world size from torchrun's environment
rank, world_size = dist.get_rank(), dist.get_world_size()
g = torch.Generator().manual_seed(0)
A = torch.randn(12, 4, generator=g, dtype=torch.float64)
b = torch.randn(12, generator=g, dtype=torch.float64)
rows = torch.arange(rank, 12, world_size)
A, b = A[rows], b[rows]
start = torch.Generator().manual_seed(100 + rank)
x = torch.nn.Parameter(torch.randn(4, dtype=torch.float64, generator=start))
opt = EASGD([x], lr=0.2, alpha=0.3, tau=2, momentum=0.5)
for _ in range(20):
    opt.zero_grad()
    (0.5 * (A @ x - b).pow(2).sum() / len(b)).backward()
    opt.step()
with open(sys.argv[1] + f".{rank}", "w") as f:
    json.dump({"center": opt.center()[0].tolist(), "x": x.tolist(),
               "world_size": world_size}, f)
dist.destroy_process_group()
'''


def test_torchrun_recipe(tmp_path):
    """The docstring's recipe under torch's launcher (python -m torch.distributed.run)."""
    import json
    import os
    import subprocess
    import sys

    script = tmp_path / "easgd_torchrun.py"
    script.write_text(TORCHRUN_SCRIPT)
    out = tmp_path / "result"
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo")
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", str(script), str(out)]
    subprocess.run(command, env=env, check=True, timeout=120, capture_output=True)
    results = [json.loads((tmp_path / f"result.{r}").read_text()) for r in range(2)]
    centers, xs = reference(2, 20, 0.2, 0.3, 2, 0.5)
    for rank, result in enumerate(results):
        assert result["world_size"] == 2
        center = torch.tensor(result["center"], dtype=torch.float64)
        x = torch.tensor(result["x"], dtype=torch.float64)
        assert torch.allclose(center, centers[-1], rtol=0, atol=1e-12)
        assert torch.allclose(x, xs[rank], rtol=0, atol=1e-12)


def test_built_under_a_launcher_without_a_process_group_raises(monkeypatch):
    """torchrun sets WORLD_SIZE: an EASGD built before init_process_group would train
    each rank alone."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(RuntimeError, match="init_process_group"):
        EASGD([torch.zeros(2, requires_grad=True)], lr=0.1, alpha=0.3)
    monkeypatch.setenv("WORLD_SIZE", "1")          # a launcher with one process is fine
    EASGD([torch.zeros(2, requires_grad=True)], lr=0.1, alpha=0.3)
