"""Run a student's notebook in a sandbox: a throwaway folder, no course files, no
network, limits.

The grader (tools/homework.py) runs outside the sandbox and talks to the student's
kernel over Unix sockets in a private folder; only the kernel runs inside it. With
bubblewrap (`bwrap`, Debian package `bubblewrap`) the kernel gets

- its own mount namespace: the system (/usr, /etc), Python and coursekit read-only, a
  fresh tmpfs home holding only the files of the released assignment, a tmpfs /tmp,
  nothing else (no course folder, no repository, no other submissions);
- its own network namespace (no network at all), PID, IPC and UTS namespaces; it dies
  with the grader;
- an unprivileged user id of its own (one per worker, claimed with a lock file, so a
  fork bomb in one sandbox does not starve another), no capabilities, ``no_new_privs``;
- resource limits (``prlimit``): address space, processes, file size, open files, CPU
  seconds.

Without bubblewrap the kernel still runs in a throwaway folder with the limits (and as
an unprivileged user when the grader is root), but it can read what that user can read:
a warning says so. See book/instructors.md.
"""

from __future__ import annotations

import asyncio
import atexit
import copy
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNEL_ARGS = ["--HistoryManager.hist_file=:memory:", "--log-level=ERROR"]
HOME = "/home/student"  # the kernel's working folder inside the sandbox
FIRST_UID = 61000  # sandbox user ids: FIRST_UID + worker slot


@dataclass
class Limits:
    """What one submission may use. Defaults are generous; the tests use small ones."""

    cell_seconds: float = 120  # wall time per cell
    notebook_seconds: float = 900  # wall time per submission, restarts included
    memory_mb: int = 4096  # address space of each process in the sandbox
    processes: int = 512  # processes and threads of the sandbox user
    file_mb: int = 256  # largest file it may write; also the size of its tmpfs
    open_files: int = 1024

    def __post_init__(self):
        for name in (
            "cell_seconds",
            "notebook_seconds",
            "memory_mb",
            "processes",
            "file_mb",
            "open_files",
        ):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or value <= 0
            ):
                raise ValueError(f"{name} must be a positive number, got {value!r}")


@lru_cache(maxsize=None)
def bwrap_path() -> str | None:
    """bubblewrap, if it is installed and works here (user and mount namespaces
    allowed)."""
    exe = shutil.which("bwrap")
    if exe is None or os.environ.get("COURSEKIT_NO_SANDBOX") == "1":
        return None
    probe = subprocess.run(
        [
            exe,
            "--ro-bind",
            "/",
            "/",
            "--unshare-net",
            "--unshare-pid",
            "--die-with-parent",
            "true",
        ],
        capture_output=True,
    )
    return exe if probe.returncode == 0 else None


def isolation() -> str:
    """How kernels are isolated here, in one line (printed by the grader)."""
    if bwrap_path():
        return "bubblewrap sandbox (no course files, no network, own user, limits)"
    return (
        "WARNING: bubblewrap is not available (apt-get install bubblewrap, or "
        "`make grade` as root installs it), so student code runs WITHOUT a sandbox: "
        "only a throwaway folder, resource limits"
        + (" and an unprivileged user" if can_switch_user() else "")
        + "; it can read (and may write) what that user can"
    )


def _ancestors(path: Path) -> list[Path]:
    return list(reversed(path.parents))[1:] + [path]


def _read_only_roots() -> list[Path]:
    """What a kernel needs to run: the Python installation, the virtualenv,
    coursekit."""
    import coursekit

    roots = {
        Path(sys.prefix),
        Path(sys.base_prefix),
        Path(os.path.realpath(sys.executable)).parents[1],
        Path(coursekit.__file__).resolve().parent,
    }
    out = []
    for r in sorted(roots, key=lambda p: len(p.parts)):
        if not any(r == o or o in r.parents for o in out) and not str(r).startswith(
            "/usr"
        ):
            out.append(r)
    return out


def sandbox_command(
    cmd: list[str],
    home_files: dict[str, Path],
    run_dir: Path,
    slot: int,
    limits: Limits,
) -> list[str]:
    """``cmd`` wrapped in bubblewrap, a user switch and resource limits."""
    uid = FIRST_UID + slot
    args = [bwrap_path(), "--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib64", "lib32"):
        p = Path("/" + name)
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), str(p)]
        elif p.is_dir():
            args += ["--ro-bind", str(p), str(p)]
    args += [
        "--ro-bind",
        "/etc",
        "/etc",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--perms",
        "1777",
        "--size",
        str(64 << 20),
        "--tmpfs",
        "/tmp",
    ]
    made = {Path("/")}
    for root in _read_only_roots() + [run_dir / "conn"]:
        for parent in _ancestors(root)[:-1]:
            if parent not in made:
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        made.add(root)
        args += ["--bind" if root.name == "conn" else "--ro-bind", str(root), str(root)]
    args += [
        "--perms",
        "0755",
        "--dir",
        "/home",
        "--size",
        str(limits.file_mb << 20),
        "--perms",
        "0700",
        "--tmpfs",
        HOME,
    ]
    for name, path in home_files.items():
        args += ["--ro-bind", str(path), f"{HOME}/{name}"]
    args += [
        "--chdir",
        HOME,
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "sandbox",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
    ]
    for key, value in kernel_env().items():
        args += ["--setenv", key, value]
    # the tmpfs home belongs to root; the kernel's user gets it through a tiny shell
    # step
    inner = [
        "/usr/bin/setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]
    return (
        args
        + ["--", "/bin/sh", "-c", f'chown {uid}:{uid} {HOME} && exec "$@"', "sh"]
        + inner
        + prlimit_args(limits)
        + cmd
    )


def prlimit_args(limits: Limits) -> list[str]:
    return [
        "/usr/bin/prlimit",
        f"--as={limits.memory_mb << 20}",
        f"--nproc={limits.processes}",
        f"--fsize={limits.file_mb << 20}",
        f"--nofile={limits.open_files}",
        f"--cpu={int(limits.notebook_seconds) + 5}",
        "--core=0",
        "--",
    ]


def kernel_env() -> dict[str, str]:
    env = {
        "HOME": HOME,
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "COURSEKIT_FULL": "0",
        "PYTHONWARNINGS": "ignore",
        "TQDM_DISABLE": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "JPY_PARENT_PID": "1",
        "MALLOC_ARENA_MAX": "2",
        "JUPYTER_PLATFORM_DIRS": "1",
        "IPYTHONDIR": "/tmp/ipython",
    }
    if os.environ.get("COURSEKIT_FULL") == "1":
        env["COURSEKIT_FULL"] = "1"
    return env


def _switch_user(uid: int) -> list[str]:
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
            "--no-new-privs", "--"]


@lru_cache(maxsize=None)
def can_switch_user() -> bool:
    """Whether an unprivileged user can run this Python and coursekit (not when they
    live in a private folder such as /root), so that kernels may run as one without
    bubblewrap."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return False
    probe = _switch_user(FIRST_UID) + [sys.executable, "-c", "import coursekit"]
    return subprocess.run(probe, capture_output=True, cwd="/").returncode == 0


def fallback_command(cmd: list[str], slot: int, limits: Limits) -> list[str]:
    """Without bubblewrap: limits, and an unprivileged user when the grader is root and
    that user can run Python."""
    user = _switch_user(FIRST_UID + slot) if can_switch_user() else []
    limit = prlimit_args(limits) if shutil.which("prlimit") else []
    return user + limit + cmd


MAX_OUTPUT_BYTES = 1 << 20  # output kept per cell; the rest is dropped, with a note
OUTPUT_DROPPED = "[output cut: a cell may print {} MB at most when graded]\n"


@lru_cache(maxsize=None)
def _client_class():
    from nbclient import NotebookClient
    from nbformat.v4 import new_output

    class LimitedClient(NotebookClient):
        """A notebook client that keeps at most MAX_OUTPUT_BYTES of output per cell, so
        a submission that prints without end cannot fill the grader's memory."""

        def output(self, outs, msg, display_id, cell_index):
            sizes = self.__dict__.setdefault("_output_bytes", {})
            content = msg.get("content", {})
            data = content.get("data", {}).values()
            size = len(content.get("text", "")) + sum(
                len(v) if isinstance(v, str) else 64 for v in data)
            before = sizes.get(cell_index, 0)
            sizes[cell_index] = before + size
            if before + size <= MAX_OUTPUT_BYTES:
                return super().output(outs, msg, display_id, cell_index)
            if before <= MAX_OUTPUT_BYTES:
                note = OUTPUT_DROPPED.format(MAX_OUTPUT_BYTES >> 20)
                outs.append(new_output("stream", name="stdout", text=note))
            return None

    return LimitedClient


def _sandbox_manager_class():
    from jupyter_client.manager import AsyncKernelManager

    class SandboxKernelManager(AsyncKernelManager):
        """A kernel started inside the sandbox; its sockets are Unix sockets in
        ``run_dir/conn``."""

        run_dir: Path
        slot: int
        limits: Limits
        home_files: dict

        def format_kernel_cmd(self, extra_arguments=None):
            cmd = super().format_kernel_cmd(extra_arguments)
            if bwrap_path():
                return sandbox_command(
                    cmd, self.home_files, self.run_dir, self.slot, self.limits
                )
            return fallback_command(cmd, self.slot, self.limits)

        def write_connection_file(self, **kwargs):
            super().write_connection_file(**kwargs)
            if os.geteuid() == 0:
                os.chown(
                    self.connection_file, FIRST_UID + self.slot, FIRST_UID + self.slot
                )

    return SandboxKernelManager


@dataclass
class RunResult:
    """An executed notebook and what went wrong on the way (one line each)."""

    nb: object
    events: list[str] = field(default_factory=list)
    stubbed: list[str] = field(
        default_factory=list
    )  # grade_ids of answers replaced by their stub
    failed: str | None = None  # the run could not finish: why
    seconds: float = 0.0
    attempts: int = 0
    cpu_seconds: float = 0.0  # CPU time of the sandbox's processes


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader") or {}


def _culprit(nb, index: int, given: set[str]) -> int | None:
    """The student cell to blame for a problem in cell ``index``: that cell if students
    write it, else the last answer (or student-added) cell before it. ``given``: the
    sources of the cells the assignment hands out (set-up cells, never blamed)."""
    for i in range(index, -1, -1):
        cell = nb.cells[i]
        meta = _meta(cell)
        if cell.cell_type == "code" and (
            meta.get("solution") or (not meta and cell.source.strip() not in given)
        ):
            return i
    return None


def _why(code: int | None) -> str:
    """Why a kernel died, from the exit status of its sandbox (128 + n: signal n)."""
    if code is None:
        return "the kernel stopped responding"
    if code < 0 or code > 128:
        number = -code if code < 0 else code - 128
        try:
            sig = signal.Signals(number)
        except ValueError:
            return f"the kernel was killed by signal {number}"
        hint = {signal.SIGKILL: " (out of memory, or a resource limit)",
                signal.SIGSEGV: " (a crash in native code)",
                signal.SIGXCPU: " (CPU time limit)",
                signal.SIGXFSZ: " (file size limit)"}
        return f"the kernel was killed by signal {sig.name}{hint.get(sig, '')}"
    return f"the kernel exited (status {code})"


async def run_notebook(
    nb,
    home_files: dict[str, Path],
    limits: Limits,
    slot: int = 0,
    given: set[str] = frozenset(),
    stub: str = "raise NotImplementedError()",
) -> RunResult:
    """Execute ``nb`` (not changed) in a fresh sandboxed kernel, cell by cell.

    When the kernel dies or a cell runs out of time, the answer cell to blame is named,
    replaced by ``stub``, and the notebook is run again from the top in a new kernel, so
    the other exercises are still graded.
    """
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    started = time.monotonic()
    work = copy.deepcopy(nb)
    result = RunResult(work)
    manager_class = _sandbox_manager_class()
    run_root = Path(tempfile.mkdtemp(prefix="grading-run-"))
    try:
        while True:
            result.attempts += 1
            run_dir = run_root / str(result.attempts)
            (run_dir / "conn").mkdir(parents=True)
            (run_dir / "home").mkdir()
            if os.geteuid() == 0:
                os.chown(run_dir / "conn", FIRST_UID + slot, FIRST_UID + slot)
                os.chown(run_dir / "home", FIRST_UID + slot, FIRST_UID + slot)
            km = manager_class(
                kernel_name="python3",
                transport="ipc",
                ip=str(run_dir / "conn" / "k"),
                connection_file=str(run_dir / "conn" / "kernel.json"),
            )
            km.run_dir, km.slot, km.limits, km.home_files = (
                run_dir,
                slot,
                limits,
                home_files,
            )
            if (
                not bwrap_path()
            ):  # fallback: a throwaway folder with copies of the files
                for name, path in home_files.items():
                    shutil.copy(path, run_dir / "home" / name)
            attempt = copy.deepcopy(work)
            for cell in attempt.cells:
                if cell.cell_type == "code":
                    cell.outputs, cell.execution_count = [], None
            client = _client_class()(
                attempt,
                km=km,
                timeout=limits.cell_seconds,
                kernel_name="python3",
                allow_errors=True,
                extra_arguments=KERNEL_ARGS,
                startup_timeout=60,
                resources={"metadata": {"path": str(run_dir / "home")}},
            )
            index, problem = None, None
            try:
                async with client.async_setup_kernel():
                    for index, cell in enumerate(attempt.cells):
                        left = limits.notebook_seconds - (time.monotonic() - started)
                        if left <= 0:
                            raise CellTimeoutError("notebook time limit")
                        client.timeout = max(1, int(min(limits.cell_seconds, left)))
                        await client.async_execute_cell(
                            cell, index, execution_count=index + 1
                        )
                    index = None
            except CellTimeoutError:
                total = time.monotonic() - started >= limits.notebook_seconds - 1
                problem = (
                    "time limit: the whole notebook may run "
                    f"{limits.notebook_seconds:g} s"
                    if total
                    else f"time limit: a cell may run {limits.cell_seconds:g} s"
                )
            except DeadKernelError:
                code = None
                proc = (
                    getattr(km.provisioner, "process", None) if km.provisioner else None
                )
                if proc is not None:
                    code = proc.poll()
                problem = _why(code)
            except (
                Exception
            ) as exc:  # noqa: BLE001 - a kernel that cannot start, a broken channel...
                problem = f"the kernel failed ({type(exc).__name__}: {str(exc)[:200]})"
            finally:
                atexit.unregister(client._cleanup_kernel)
                result.cpu_seconds += cpu_seconds_of(FIRST_UID + slot)
                if await _alive(km):
                    await km.shutdown_kernel(now=True)
                await reap(FIRST_UID + slot)
            result.nb = attempt
            if problem is None:
                break
            culprit = _culprit(attempt, index, given) if index is not None else None
            if culprit is None or time.monotonic() - started >= limits.notebook_seconds:
                result.failed = problem + (
                    f" (cell {index + 1})" if index is not None else ""
                )
                break
            cell = work.cells[culprit]
            gid = _meta(cell).get("grade_id")
            what = (
                f"answer cell {gid}"
                if gid
                else f"cell {culprit + 1} (added by the student)"
            )
            result.events.append(
                f"{what}: {problem}; graded again with that cell "
                + ("replaced by its stub" if gid else "removed")
            )
            cell.source = stub if gid else "pass"
            if gid:
                result.stubbed.append(gid)
    finally:
        shutil.rmtree(run_root, ignore_errors=True)
    result.seconds = time.monotonic() - started
    return result


def _processes_of(uid: int) -> list[int]:
    pids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            line = next(
                x for x in status.read_text().splitlines() if x.startswith("Uid:")
            )
        except (OSError, StopIteration):
            continue
        if int(line.split()[1]) == uid:
            pids.append(int(status.parent.name))
    return pids


def cpu_seconds_of(uid: int) -> float:
    """CPU time used so far by the processes of ``uid`` (and their finished
    children)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in _processes_of(uid):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / ticks


async def reap(uid: int) -> None:
    """Kill every process left by a sandbox (a fork bomb's children, a daemon it
    started): all processes of its user id, which nothing else uses. Only possible (and
    needed) as root.
    """
    if os.geteuid() != 0:
        return
    for _ in range(50):
        if not _processes_of(uid):
            return
        subprocess.run(
            [
                "setpriv",
                f"--reuid={uid}",
                f"--regid={uid}",
                "--clear-groups",
                "--",
                "kill",
                "-s",
                "KILL",
                "--",
                "-1",
            ],
            capture_output=True,
        )
        await asyncio.sleep(0.1)


async def _alive(km) -> bool:
    try:
        return bool(km.has_kernel and await km.is_alive())
    except Exception:  # noqa: BLE001
        return False


async def run_many(
    jobs: list[tuple], limits: Limits, workers: int, on_done=None
) -> list[RunResult]:
    """Run notebooks ``[(nb, home_files, given)]``, ``workers`` sandboxes at a time
    (each its own user)."""
    slots = asyncio.Queue()
    locks = claim_slots(max(1, workers))
    for s in locks:
        slots.put_nowait(s)

    async def one(i, nb, files, given):
        slot = await slots.get()
        try:
            res = await run_notebook(nb, files, limits, slot, given)
        except Exception as exc:  # noqa: BLE001 - one broken run never stops the class
            res = RunResult(
                nb, failed=f"the grader could not run it ({type(exc).__name__}: {exc})"
            )
        finally:
            slots.put_nowait(slot)
        if on_done is not None:
            on_done(i, res)
        return res

    try:
        return await asyncio.gather(*(one(i, *job) for i, job in enumerate(jobs)))
    finally:
        for handle in locks.values():
            handle.close()


def claim_slots(n: int, first: int = 0) -> dict:
    """``n`` sandbox user ids no other grader on this machine uses now (two classes
    graded at once, or two test files side by side, never share a user: each kills every
    process of its users after a run). A slot is held by a lock file until the grading
    ends."""
    import fcntl
    held = {}
    folder = Path(tempfile.gettempdir()) / "coursekit-sandbox-users"
    folder.mkdir(exist_ok=True)
    for slot in range(first, first + 4096):
        handle = open(folder / f"{FIRST_UID + slot}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        held[slot] = handle
        if len(held) == n:
            return held
    raise RuntimeError("no free sandbox user id")
