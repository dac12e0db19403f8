"""pytest plugin: the per-notebook wall-time budget, and the book reusing nbval's executions.

Enabled by the repository's root conftest.py (``pytest_plugins``), so it is active for every run of
the suite; it only acts on notebook items (nbval, one test item per cell) and does nothing for the
unit tests.

Timing. The hooks below add up each notebook's time (kernel start included), print a table at the
end, and fail the run when a notebook takes longer than the budget: each chapter must run in under
a minute on a 2-core laptop CPU at its default size (``COURSEKIT_NOTEBOOK_BUDGET`` seconds, 60).

Executions kept for the book. When every cell of a chapter has passed, its outputs and the state
of its widgets (read from the kernel before it stops) make an executed copy of the notebook, which
is stored in the book's jupyter-cache at the end of the session. The cache is keyed by the
chapter's code and lives in a folder named after the library's fingerprint (tools/bookcache.py),
so the book build that follows (tests/test_book.py, or `make book`) renders these outputs instead
of running every chapter a second time; a chapter edited since, or any change to coursekit or the
requirements, is executed again. Runs at ``COURSEKIT_FULL=1`` are not kept (the book shows the
default size).

It lives in tools/, next to the other book-building scripts, rather than in coursekit: it is part
of how the book is built and tested, not of the library students import, and a change to it must
not change the library's fingerprint.
"""

from __future__ import annotations

import ast
import json
import os
import time
from collections import defaultdict
from pathlib import Path

import pytest

from tools.bookcache import cache_path

ROOT = Path(__file__).resolve().parents[1]
EXECUTED = (
    ROOT / "_build" / "executed"
)  # executed copies waiting to be stored in the cache
# The suite runs two workers on two cores (and the book build executes notebooks
# alongside). The
# chapters' tensors are small, where extra intra-op threads only fight over the cores:
# one thread
# per process. Notebook kernels and the book build inherit this from the environment.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
NOTEBOOK_BUDGET_S = float(os.environ.get("COURSEKIT_NOTEBOOK_BUDGET", "60"))
_notebook_seconds: dict[str, float] = defaultdict(float)
_notebook_failed: set[str] = set()


_notebook_outputs: dict[str, dict[int, list]] = defaultdict(dict)


def _is_notebook_cell(item) -> bool:
    return (
        hasattr(item, "cell_num")
        and hasattr(item, "test_outputs")
        and str(item.fspath).endswith(".ipynb")
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    """After a chapter's last cell, while its kernel still runs, write its executed copy."""
    if not _is_notebook_cell(item):
        return
    path = item.nodeid.split("::", 1)[0]
    if item.test_outputs is not None:
        _notebook_outputs[path][item.cell_num] = item.test_outputs
    last = nextitem is None or nextitem.parent is not item.parent
    if last and os.environ.get("COURSEKIT_FULL", "0") in (
        "",
        "0",
    ):  # the book shows the default size
        try:
            _write_executed(item.parent, path)
        except (
            Exception
        ) as exc:  # noqa: BLE001 - a copy we cannot make only means the book runs this chapter
            print(f"\n{path}: not kept for the book ({type(exc).__name__}: {exc})")


def _write_executed(nb_file, path: str) -> None:
    import nbformat

    outputs = _notebook_outputs.pop(path, {})
    nb = nbformat.from_dict(
        json.loads(json.dumps(nb_file.nb))
    )  # a copy of what nbval ran
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    if path in _notebook_failed or sorted(outputs) != list(range(len(code))):
        return  # failed, or not every cell ran
    for number, cell in enumerate(code):
        cell.outputs = outputs[number]
        cell.execution_count = number + 1
    EXECUTED.mkdir(parents=True, exist_ok=True)
    name = Path(path).stem
    widgets = EXECUTED / f"{name}.widgets.json"
    _save_widget_state(nb_file.kernel.kc, widgets)
    state = json.loads(widgets.read_text())
    widgets.unlink()
    if state and state.get("state"):
        nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": state}
    nbformat.validate(nb)
    partial = EXECUTED / f"{name}.ipynb.partial"
    nbformat.write(nb, partial)
    partial.replace(EXECUTED / f"{name}.ipynb")


def _save_widget_state(client, target: Path, timeout: float = 60.0) -> None:
    """Have the kernel write ipywidgets' manager state (what nbclient stores in a notebook) to target."""
    expression = (
        f"__import__('pathlib').Path({str(target)!r}).write_text(__import__('json').dumps(__import__('sys').modules['ipywidgets'].Widget.get_manager_state(drop_defaults=False)"
        " if 'ipywidgets' in __import__('sys').modules else None))"
    )
    msg_id = client.execute(
        "", silent=True, store_history=False, user_expressions={"written": expression}
    )
    deadline = time.monotonic() + timeout
    while True:
        reply = client.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    result = reply["content"]["user_expressions"]["written"]
    if result.get("status") != "ok":
        raise RuntimeError(f"{result.get('ename')}: {result.get('evalue')}")
    ast.literal_eval(result["data"]["text/plain"])  # the number of characters written


def _store_executed_in_book_cache() -> None:
    """Move the executed copies into the book's jupyter-cache (one process: the cache is SQLite)."""
    copies = sorted(EXECUTED.glob("*.ipynb")) if EXECUTED.exists() else []
    if not copies:
        return
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    book_cache = cache_path(ROOT)
    cache = get_cache(str(book_cache))
    for copy in copies:
        source = ROOT / "notebooks" / copy.name
        cache.cache_notebook_bundle(
            CacheBundleIn(
                nbformat.read(copy, 4),
                str(source),
                data={
                    "execution_seconds": _notebook_seconds.get(f"notebooks/{copy.name}")
                },
            ),
            check_validity=False,
            overwrite=True,
        )
        copy.unlink()
    print(
        f"\n{len(copies)} executed notebooks stored in {book_cache.relative_to(ROOT)}"
        " for the book build"
    )


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration
        if report.failed:
            _notebook_failed.add(path)


def _over_budget():
    return {nb: s for nb, s in _notebook_seconds.items() if s > NOTEBOOK_BUDGET_S}


def pytest_terminal_summary(terminalreporter):
    if not _notebook_seconds:
        return
    tr = terminalreporter
    tr.section(f"notebook wall times (budget {NOTEBOOK_BUDGET_S:.0f} s each)")
    for nb in sorted(_notebook_seconds):
        seconds = _notebook_seconds[nb]
        flag = "  OVER BUDGET" if seconds > NOTEBOOK_BUDGET_S else ""
        flag += "  (failed)" if nb in _notebook_failed else ""
        tr.write_line(f"{seconds:7.1f} s  {nb}{flag}")
    tr.write_line(
        f"{sum(_notebook_seconds.values()):7.1f} s  total over {len(_notebook_seconds)}"
        " notebooks"
    )


def pytest_sessionfinish(session, exitstatus):
    if not hasattr(
        session.config, "workerinput"
    ):  # the main process, after every xdist worker is done
        _store_executed_in_book_cache()
    if _over_budget() and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        names = ", ".join(f"{nb} ({s:.0f} s)" for nb, s in _over_budget().items())
        print(f"\nFAILED: notebooks over the {NOTEBOOK_BUDGET_S:.0f} s budget: {names}")
