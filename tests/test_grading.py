"""A hostile class, graded in one run: every student's code in a sandbox, nothing lost,
no cheat paid.

The class (fixture chapter 98: three autograded exercises, 8 points, and an open
question):
- honest: the reference answers;
- vandal: deletes the course's source/ folder and overwrites the gradebook (paths it
  finds by walking up from its working folder, and the course's real path);
- reader: prints the instructor's source notebook (solutions and hidden tests) and, from
  inside the kernel, the code of every later cell (the hidden tests);
- killer: its first answer kills the kernel (os._exit); the other two answers are right;
- crasher: its third answer crashes the interpreter (a segmentation fault);
- looper: its second answer never ends; the others are right;
- hog: its first answer asks for 8 GB; the others are right;
- forker: its third answer is a fork bomb; the others are right;
- flooder: right answers, but the first prints 60 MB;
- patcher: replaces coursekit.check.compare with a no-op, then answers nothing right;
- caller: answers with the reference implementation the test compares with;
- corrupt: half a notebook file.
Limits are small here (10 s per cell, 1.5 GB) so the whole class takes well under a
minute.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import re
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "chapters"
sys.path.insert(0, str(ROOT / "tools"))
import grading_sandbox as sandbox  # noqa: E402
import homework as hw  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Object of type .* not in session")
A = "98_thresholds_fixture"
SOFT, LSE, CLIP = (
    "ex-98-soft-threshold-solution",
    "ex-98-logsumexp-solution",
    "ex-98-clip-solution",
)
TESTS = {
    SOFT: ["ex-98-soft-threshold-test"],
    LSE: ["ex-98-logsumexp-test"],
    CLIP: ["ex-98-clip-test", "ex-98-clip-test-errors"],
}
POINTS = {
    "ex-98-soft-threshold-test": 3,
    "ex-98-logsumexp-test": 2,
    "ex-98-clip-test": 2,
    "ex-98-clip-test-errors": 1,
}
LIMITS = sandbox.Limits(
    cell_seconds=10, notebook_seconds=90, memory_mb=1536, processes=128, file_mb=64
)
STUB = "raise NotImplementedError()"


def _gid(cell):
    return cell["metadata"].get("nbgrader", {}).get("grade_id")


def _src(cell) -> str:
    return (
        "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    )


def _tree_digest(*paths: Path) -> dict:
    files = sorted(
        f for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()
    )
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def _submission(course: Path, **answers) -> dict:
    """The student version with the reference answers, some replaced."""
    solutions = {
        _gid(c): _src(c)
        for c in json.loads((course / "source" / A / f"{A}.ipynb").read_text())["cells"]
        if _gid(c)
    }
    nb = json.loads((course / "release" / A / f"{A}.ipynb").read_text())
    for cell in nb["cells"]:
        gid = _gid(cell)
        if gid and cell["metadata"]["nbgrader"].get("solution"):
            cell["source"] = answers.get(
                gid, solutions[gid] if cell["cell_type"] == "code" else "Because ..."
            )
    return nb


def _secrets(course: Path) -> list[str]:
    return hw.secret_lines(hw.Course(course), A)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("grading")
    course = root / "course"
    hw.release(["98"], course, FIXTURES, validate=False)
    vandal = f"""{{answer}}
import os, pathlib, shutil
targets = [pathlib.Path({str(course)!r})] + list(pathlib.Path.cwd().parents)[:4]
for place in targets:
    if (place / "nbgrader_config.py").exists():
        shutil.rmtree(place / "source", ignore_errors=True)
        (place / "gradebook.db").write_text("gone")
        (place / "grades.csv").write_text("student_id\\nnobody\\n")
"""
    reader = f"""{{answer}}
import pathlib
print(pathlib.Path({str(course / "source" / A / (A + ".ipynb"))!r}).read_text())
"""
    spy = """{answer}
get_ipython().events.register("pre_run_cell", lambda info: print(info.raw_cell))
"""
    sol = {
        g: _src(c)
        for c in json.loads((course / "source" / A / f"{A}.ipynb").read_text())["cells"]
        if (g := _gid(c))
    }
    plain = {g: re.sub(r" *### (BEGIN|END) SOLUTION\n", "", s) for g, s in sol.items()}
    students = {
        "honest": {},
        "vandal": {SOFT: vandal.format(answer=plain[SOFT])},
        "reader": {
            SOFT: reader.format(answer=plain[SOFT]),
            LSE: spy.format(answer=plain[LSE]),
        },
        "killer": {SOFT: "import os\nos._exit(0)"},
        "crasher": {CLIP: "import ctypes\nctypes.string_at(0)"},
        "looper": {LSE: "while True:\n    pass"},
        "hog": {SOFT: "hoard = bytearray(8 << 30)"},
        "forker": {
            CLIP: "import os\nwhile True:\n    try:\n        os.fork()\n"
            "    except OSError:\n        pass"
        },
        "flooder": {
            SOFT: plain[SOFT] + '\nfor _ in range(300):\n    print("flood " * 33000)\n'
        },
        "patcher": {
            SOFT: "def soft_threshold(v, theta):\n    return v\n\n"
            "ck.check.compare = lambda *args, **kwargs: None",
            LSE: "def logsumexp(x):\n    return x",
            CLIP: "def clip_by_norm(g, c):\n    return g",
        },
        "caller": {
            SOFT: "def soft_threshold(v, theta):\n"
            "    return torch.nn.functional.softshrink(v, theta)",
            LSE: STUB,
            CLIP: STUB,
        },
    }
    inbox = root / "inbox"
    inbox.mkdir()
    for name, answers in students.items():
        (inbox / f"{name}.ipynb").write_text(json.dumps(_submission(course, **answers)))
    (inbox / "corrupt.ipynb").write_text(json.dumps(_submission(course))[:900])
    # a first grading crashed after the honest student: grading again resumes (honest is
    # not run again)
    hw.grade([inbox / "honest.ipynb"], course, limits=LIMITS, workers=2)
    protected = [
        course / "source",
        course / "release",
        course / "nbgrader_config.py",
        inbox,
    ]
    before = _tree_digest(*protected)
    t0 = time.perf_counter()
    summary = hw.grade([inbox], course, limits=LIMITS, workers=2)
    seconds = time.perf_counter() - t0
    rows = {r["student_id"]: r for r in csv.DictReader(open(course / "grades.csv"))}
    return {
        "course": course,
        "rows": rows,
        "summary": summary,
        "before": before,
        "seconds": seconds,
        "after": _tree_digest(*protected),
        "students": set(students) | {"corrupt"},
    }


def _points(row, answer) -> float:
    return sum(float(row[t]) for t in TESTS[answer])


def test_course_and_submissions_are_intact(hostile):
    assert hostile["before"] == hostile["after"]
    course = hostile["course"]
    assert (course / "gradebook.db").read_bytes()[:15] == b"SQLite format 3"


def test_every_student_has_a_row(hostile):
    assert set(hostile["rows"]) == hostile["students"]
    assert hostile["rows"]["corrupt"]["status"] == "not graded"
    assert "not a readable notebook" in hostile["rows"]["corrupt"]["notes"]


def test_honest_student_has_full_marks_and_was_not_run_again(hostile):
    row = hostile["rows"]["honest"]
    assert (
        row["status"] == "graded"
        and float(row["autograded_score"]) == float(row["autograded_max"]) == 8
    )
    assert len(hostile["summary"]["graded"]) == 11
    # graded by the first (interrupted) run, kept by the second: only the others ran
    # again
    assert sorted(hostile["summary"]["ran"]) == sorted(
        hostile["students"] - {"honest", "corrupt"}
    )


@pytest.mark.parametrize(
    "student, broken, why",
    [
        ("killer", SOFT, "the kernel exited (status 0)"),
        ("crasher", CLIP,
         "the kernel was killed by signal SIGSEGV (a crash in native code)"),
        ("looper", LSE, "time limit: a cell may run 10 s"),
        ("forker", CLIP, "time limit: a cell may run 10 s"),
    ],
)
def test_a_crash_costs_only_its_own_exercise(hostile, student, broken, why):
    row = hostile["rows"][student]
    assert row["status"] == "graded", row
    assert (
        f"answer cell {broken}: {why}; graded again with that cell replaced by its stub"
        in row["notes"]
    )
    for answer in TESTS:
        expected = 0 if answer == broken else sum(POINTS[t] for t in TESTS[answer])
        assert _points(row, answer) == expected, (answer, row)


def test_memory_hog_is_stopped_and_keeps_its_other_points(hostile):
    row = hostile["rows"]["hog"]
    assert (
        _points(row, SOFT) == 0 and _points(row, LSE) == 2 and _points(row, CLIP) == 3
    )
    autograded = (
        hostile["course"] / "autograded" / "hog" / A / f"{A}.ipynb"
    ).read_text()
    assert "MemoryError" in autograded
    note = f"answer cell {SOFT}: out of memory (a process may use 1536 MB)"
    assert note in row["notes"]


def test_vandal_and_reader_get_nothing_from_the_course(hostile):
    vandal = hostile["rows"]["vandal"]
    assert (
        vandal["status"] == "graded" and float(vandal["autograded_score"]) == 8
    )  # its code is right
    text = (hostile["course"] / "autograded" / "reader" / A / f"{A}.ipynb").read_text()
    assert "FileNotFoundError" in text or "No such file" in text
    reader = hostile["rows"]["reader"]
    assert reader["status"] == "needs review" and float(reader["autograded_score"]) == 0
    assert (
        "some outputs quoted the hidden tests or the reference solution"
        in reader["notes"]
    )


@pytest.mark.parametrize("student", ["patcher", "caller", "reader"])
def test_no_cheat_is_paid_automatically(hostile, student):
    row = hostile["rows"][student]
    assert row["status"] == "needs review" and float(row["autograded_score"]) == 0, row
    assert f"python tools/homework.py accept {A} {student} --answer" in row["notes"]


def test_no_output_or_feedback_holds_solutions_or_hidden_tests(hostile):
    course = hostile["course"]
    secrets = _secrets(course)
    assert len(secrets) >= 8
    pages = sorted((course / "feedback").rglob("*.html")) + sorted(
        (course / "autograded").rglob("*.ipynb")
    )
    assert len(pages) == 22
    for page in pages:
        text = page.read_text()
        if page.suffix == ".html":
            text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())
        else:  # the outputs of the autograded notebook
            text = " ".join(
                hw.output_text(o)
                for c in json.loads(text)["cells"]
                for o in c.get("outputs", [])
            )
        leaks = [s for s in secrets if s in text]
        assert not leaks, (page, leaks[:2])


def test_class_is_graded_within_its_budget(hostile):
    assert hostile["seconds"] < 120, hostile["seconds"]
    report = (hostile["course"] / "grading_report.txt").read_text()
    assert re.search(
        r"Throughput: 10 submission\(s\) run in [\d.]+ s with 2 worker\(s\)", report
    ), report


def test_without_bubblewrap_a_warning_is_printed(monkeypatch):
    monkeypatch.setenv("COURSEKIT_NO_SANDBOX", "1")
    sandbox.bwrap_path.cache_clear()
    try:
        assert sandbox.isolation().startswith("WARNING: bubblewrap is not available")
    finally:
        monkeypatch.delenv("COURSEKIT_NO_SANDBOX")
        sandbox.bwrap_path.cache_clear()
    assert sandbox.bwrap_path(), "bubblewrap must work here (make test installs it)"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"cell_seconds": 0}, "cell_seconds must be a positive"),
        ({"memory_mb": "4G"}, "memory_mb must be a positive"),
    ],
)
def test_limits_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sandbox.Limits(**kwargs)


def test_without_bubblewrap_the_class_is_still_graded(hostile, monkeypatch, capsys):
    """The fallback (no bubblewrap): a warning, then the same grades for an honest
    student."""
    course = hostile["course"]
    monkeypatch.setenv("COURSEKIT_NO_SANDBOX", "1")
    sandbox.bwrap_path.cache_clear()
    try:
        summary = hw.grade([course.parent / "inbox" / "honest.ipynb"], course,
                           limits=LIMITS, workers=1, regrade=True)
    finally:
        monkeypatch.delenv("COURSEKIT_NO_SANDBOX")
        sandbox.bwrap_path.cache_clear()
    assert "kernels: WARNING: bubblewrap is not available" in capsys.readouterr().out
    row = next(r for r in summary["rows"] if r["student_id"] == "honest")
    assert summary["ran"] == ["honest"] and float(row["autograded_score"]) == 8


def test_a_flood_of_output_is_cut(hostile):
    row = hostile["rows"]["flooder"]
    assert row["status"] == "graded" and float(row["autograded_score"]) == 8
    path = hostile["course"] / "autograded" / "flooder" / A / f"{A}.ipynb"
    assert path.stat().st_size < 3 << 20
    assert "[output cut: a cell may print 1 MB at most when graded]" in path.read_text()


@pytest.mark.parametrize("status, why", [
    (137, "the kernel was killed by signal SIGKILL (out of memory, or a resource "
          "limit)"),
    (152, "the kernel was killed by signal SIGXCPU (CPU time limit)"),
    (-11, "the kernel was killed by signal SIGSEGV (a crash in native code)"),
    (3, "the kernel exited (status 3)"),
    (None, "the kernel stopped responding")])
def test_why_a_kernel_died(status, why):
    assert sandbox._why(status) == why
