"""Suite-wide setup: headless plotting, and the per-notebook wall-time budget.

nbval runs every notebook under notebooks/ as a sequence of test items (one per cell). The
hooks below add up each notebook's time (kernel start included), print a table at the end, and
fail the run when a notebook takes longer than the budget: each chapter must run in under a
minute on a 2-core laptop CPU at its default size.
"""
from __future__ import annotations

import os
from collections import defaultdict

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
# The suite runs two workers on two cores (and the book build executes notebooks alongside). The
# chapters' tensors are small, where extra intra-op threads only fight over the cores: one thread
# per process. Notebook kernels and the book build inherit this from the environment.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
NOTEBOOK_BUDGET_S = float(os.environ.get("COURSEKIT_NOTEBOOK_BUDGET", "60"))
_notebook_seconds: dict[str, float] = defaultdict(float)
_notebook_failed: set[str] = set()


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
    tr.write_line(f"{sum(_notebook_seconds.values()):7.1f} s  total over {len(_notebook_seconds)} notebooks")


def pytest_sessionfinish(session, exitstatus):
    if _over_budget() and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        names = ", ".join(f"{nb} ({s:.0f} s)" for nb, s in _over_budget().items())
        print(f"\nFAILED: notebooks over the {NOTEBOOK_BUDGET_S:.0f} s budget: {names}")
