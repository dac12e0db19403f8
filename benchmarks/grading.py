"""Grading throughput: N honest submissions of a chapter, graded with 1 and with 2
workers.

Run from the repository root (about 5 minutes for 100 submissions on a 2-core laptop)::

    .venv/bin/python benchmarks/grading.py             # 100 submissions of chapter 05
    .venv/bin/python benchmarks/grading.py --n 10          # a quick look
    .venv/bin/python benchmarks/grading.py --workers 1 2 4

The chapter is released once (into a temporary course folder); then, for each number of
workers, a fresh copy of that course grades the same N submissions (the reference
answers, each in its own sandbox, as `make grade` does) and the script reports
submissions per minute: for the whole `grade` command (collecting, sandboxed runs,
gradebook, feedback, grades.csv) and for the sandboxed runs alone. The target on a
2-core machine is 100 submissions of chapter 05 in under 3 minutes with 2 workers
(book/instructors.md).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import homework as hw  # noqa: E402


def honest_submissions(course: Path, assignment: str, n: int, out: Path) -> None:
    """``n`` copies of the student version with the reference answers, one file per
    student."""
    c = hw.Course(course)
    answers = hw.grade_cells(hw.load_notebook(c.path("source", assignment)))
    student = json.loads(c.path("release", assignment).read_text())
    for cell in student["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader") or {}
        if meta.get("solution") and meta.get("grade_id") in answers:
            cell["source"] = answers[meta["grade_id"]]["source"]
    out.mkdir(parents=True)
    for i in range(n):
        nb = copy.deepcopy(student)
        nb["metadata"]["student"] = i  # every file differs, as in a real class
        (out / f"student{i:03d}_{assignment}.ipynb").write_text(json.dumps(nb))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--chapter", default="05", help="chapter to hand out (default 05)"
    )
    parser.add_argument("--n", type=int, default=100, help="submissions (default 100)")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="worker counts (default 1 2)",
    )
    args = parser.parse_args(argv)
    if args.n < 1 or min(args.workers) < 1:
        parser.error("--n and --workers must be at least 1")
    with tempfile.TemporaryDirectory(prefix="grading-benchmark-") as tmp:
        tmp = Path(tmp)
        with contextlib.redirect_stdout(io.StringIO()):
            released = hw.release(
                [args.chapter], tmp / "course", hw.CHAPTERS_DIR, validate=False
            )
        assignment = released[0].parent.name
        honest_submissions(tmp / "course", assignment, args.n, tmp / "class")
        print(f"{args.n} honest submissions of {assignment}; kernels: "
              f"{hw.sandbox.isolation()}")
        print(
            f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
        print(
            f"{'workers':>7}  {'total s':>8}  {'per minute':>10}  "
            f"{'runs only, per minute':>21}  "
            f"{'CPU s per submission (sandbox + grader)':>40}  full marks"
        )
        cpu = []
        for workers in args.workers:
            course = tmp / f"course-{workers}"
            shutil.copytree(tmp / "course", course)
            log = io.StringIO()
            t0, cpu0 = time.perf_counter(), time.process_time()
            with contextlib.redirect_stdout(log):
                summary = hw.grade([tmp / "class"], course, workers=workers)
            total = time.perf_counter() - t0
            grader_cpu = (time.process_time() - cpu0) / args.n
            sandbox_cpu = summary["sandbox_cpu_seconds"] / args.n
            cpu.append(sandbox_cpu + grader_cpu)
            full = sum(
                float(r["autograded_score"]) == float(r["autograded_max"])
                for r in summary["rows"]
            )
            print(
                f"{workers:>7}  {total:>8.1f}  {60 * args.n / total:>10.1f}  "
                f"{60 * args.n / summary['run_seconds']:>21.1f}  "
                f"{f'{sandbox_cpu:.2f} + {grader_cpu:.2f}':>40}  {full} of {args.n}",
                flush=True,
            )
            if full != args.n:
                print(log.getvalue()[-3000:])
                return 1
        per_sub = statistics.median(cpu)
        cores = os.cpu_count() or 1
        print(
            f"load average after: {os.getloadavg()[0]:.1f}. The wall times above count "
            f"whatever else runs on the machine; on {cores} idle cores, "
            f"{per_sub:.2f} CPU s per submission is {60 * cores / per_sub:.0f} submissions per minute, "
            f"{args.n * per_sub / cores:.0f} s for these {args.n}."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
