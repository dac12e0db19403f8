#!/usr/bin/env python3
"""Homework from the chapter notebooks: release student versions, grade a class (nbgrader, offline).

    python tools/homework.py release 05 09          # course folder homework/ with the student notebooks
    python tools/homework.py grade SUBMISSIONS      # grades.csv and feedback/ for a folder or an LMS zip
    python tools/homework.py samples                # sample submissions to try `grade` on
    python tools/homework.py check [NOTEBOOK ...]   # the exercise markup of the chapters
    python tools/homework.py table [--write]        # the exercise table of book/instructors.md

`release` turns each chapter's exercises (with the chapter's set-up cells) into an nbgrader source
assignment, generates the student version (solutions replaced by stubs, hidden tests removed) and
checks it: the reference solutions pass every test, the stubs fail every test. `grade` collects
submissions (nbgrader's submitted/<student>/<assignment>/ layout, a flat folder of files named by
student, or an LMS zip download), autogrades them in a fresh kernel each, writes per-student feedback
HTML (hidden tests and tracebacks removed) and grades.csv, and reports every problem (tampered test
cells, unreadable files, answers to review) without stopping. Nothing submitted is changed.
See book/instructors.md.
"""
from __future__ import annotations

import argparse
import copy
import csv
import hashlib
import html
import json
import os
import re
import shutil
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import exercise_markup as em  # noqa: E402
import grading_sandbox as sandbox  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS_DIR = ROOT / "notebooks"
DEFAULT_COURSE = ROOT / "homework"
INSTRUCTORS_PAGE = ROOT / "book" / "instructors.md"
TABLE_START, TABLE_END = "<!-- exercise-table:start -->", "<!-- exercise-table:end -->"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
# The kernels that run homework: quick settings, nothing written to stderr (nbgrader counts any stderr
# output of a test cell as a failure), no progress bars.
GRADING_ENV = {"COURSEKIT_FULL": "0", "PYTHONWARNINGS": "ignore", "TQDM_DISABLE": "1", "MPLBACKEND": "Agg"}
IGNORED_FILES = {".DS_Store", "Thumbs.db", "timestamp.txt", "desktop.ini"}

NBGRADER_CONFIG = '''\
"""nbgrader configuration of this course folder, written by tools/homework.py (your edits are kept).

tools/homework.py reads it; so does nbgrader run from this folder (e.g. its formgrader in JupyterLab,
to grade the open questions by hand).
"""
import os

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests, GetGrades, NbGraderPreprocessor

c = get_config()  # noqa: F821 (traitlets provides get_config when it loads this file)

# The kernels that run homework (also when nbgrader runs from this folder by hand): CPU sizes, no
# warnings or progress bars on stderr (nbgrader fails a test cell that writes to stderr).
for key, value in {grading_env}.items():
    os.environ.setdefault(key, value)


class OneLineTestErrors(NbGraderPreprocessor):
    """In feedback, a failing test cell shows its error in one line (the check's message), no traceback:
    a traceback would quote the hidden test lines that ClearHiddenTests removed from the cell."""

    def preprocess_cell(self, cell, resources, index):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    message = output.get("evalue", "")
                    if output.get("ename") == "NotImplementedError" and not message:
                        message = "not done yet: a function this test calls still raises NotImplementedError"
                    output["traceback"] = ["\\x1b[0;31m%s\\x1b[0m: %s" % (output.get("ename", "Error"), message)]
        return cell, resources


# Feedback: scores, hidden tests removed (source and tracebacks), the usual styles.
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, OneLineTestErrors, CSSHTMLHeaderPreprocessor]
# Student versions: the stubs the book's notebooks promise.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
# Autograding: a deleted test cell is put back (and graded); a cell may run for {timeout} s at most.
c.OverwriteCells.add_missing_cells = True
c.Execute.timeout = {timeout}
c.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:", "--log-level=ERROR"]
'''


class HomeworkError(Exception):
    """A problem that stops the command, with a message for the instructor."""


# -------------------------------------------------------------------------------------------- utils
def prepare_environment(full: bool = False) -> None:
    """Settings for the kernels that run homework; nbgrader's helpers (alembic) found next to this Python."""
    import warnings
    warnings.filterwarnings("ignore", message="Cell is missing an id field")   # students' older notebooks
    warnings.filterwarnings("ignore", message="Object of type .* not in session")  # nbgrader's SQLAlchemy use
    os.environ.update(GRADING_ENV)
    if full:
        os.environ["COURSEKIT_FULL"] = "1"
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def say(*args, **kwargs) -> None:
    print(*args, **kwargs, flush=True)


def slug(text: str) -> str:
    """A student id from a name: 'José Pérez (1)' -> 'jose_perez'."""
    import unicodedata
    text = re.sub(r"\s*\(\d+\)$", "", text.strip())            # "alice (1)": a browser's copy number
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_json_notebook(path: Path) -> dict:
    """A notebook as plain JSON, or a HomeworkError saying in one line why it is not one."""
    data = path.read_bytes()
    if not data.strip():
        raise HomeworkError("the file is empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise HomeworkError("not a notebook: the file is not text (is it a PDF, an image or an archive?)") from None
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HomeworkError(f"not a readable notebook: invalid JSON at line {exc.lineno}, column {exc.colno} "
                            f"({exc.msg}); the file may be truncated or edited by hand") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells", nb.get("worksheets")), list):
        raise HomeworkError("not a notebook: JSON without notebook cells")
    return nb


def load_notebook(path: Path):
    """Read with nbformat (upgrading old notebooks), or raise HomeworkError."""
    import nbformat
    read_json_notebook(path)
    try:
        return nbformat.read(str(path), as_version=4)
    except Exception as exc:  # noqa: BLE001 - any reading error is the same message to the instructor
        raise HomeworkError(f"not a readable notebook ({type(exc).__name__}: {exc})") from None


def grade_cells(nb) -> dict[str, dict]:
    out = {}
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader")
        if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str):
            out.setdefault(meta["grade_id"], cell)
    return out


def resolve_chapters(names: list[str], chapters_dir: Path) -> list[Path]:
    """Chapter notebooks from numbers ('5', '05'), names ('05_optimizers') or paths; all when none given."""
    available = em.chapter_paths(chapters_dir)
    if not names:
        if not available:
            raise HomeworkError(f"no chapter notebooks (NN_topic.ipynb) in {chapters_dir}")
        return available
    out = []
    for name in names:
        path = Path(name)
        if path.suffix == ".ipynb" and path.exists():
            out.append(path)
            continue
        stem = path.stem if path.suffix == ".ipynb" else name
        match = [p for p in available if p.stem == stem or (stem.isdigit() and p.name.split("_")[0].isdigit()
                                                             and int(p.name.split("_")[0]) == int(stem))]
        if len(match) != 1:
            names_ = ", ".join(p.stem for p in available) or "none"
            raise HomeworkError(f"no chapter {name!r} in {chapters_dir} (chapters: {names_})" if not match else
                                f"chapter {name!r} is ambiguous: {', '.join(p.stem for p in match)}")
        out.append(match[0])
    return list(dict.fromkeys(out))


# ------------------------------------------------------------------------------------ course folder
class Course:
    """An nbgrader course folder: nbgrader_config.py, source/, release/, submitted/, autograded/, feedback/."""

    def __init__(self, root: Path, timeout: int = 120):
        self.root = Path(root).resolve()
        self.timeout = timeout
        self._api = None

    @property
    def config_file(self) -> Path:
        return self.root / "nbgrader_config.py"

    def create(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.config_file.exists():
            self.config_file.write_text(NBGRADER_CONFIG.replace("{timeout}", str(self.timeout))
                                        .replace("{grading_env}", repr(GRADING_ENV)))

    def require(self) -> None:
        if not self.config_file.exists() or not (self.root / "source").is_dir():
            raise HomeworkError(f"{self.root} is not a course folder yet: run `python tools/homework.py release "
                                "CHAPTER ...` (or `make homework`) first")

    def api(self):
        if self._api is None:
            import logging

            from nbgrader.apps import NbGraderAPI
            from traitlets.config.loader import PyFileConfigLoader
            config = PyFileConfigLoader(self.config_file.name, path=str(self.root)).load_config()
            config.CourseDirectory.root = str(self.root)
            config.Exchange.root = str(self.root / ".exchange")     # unused; keeps nbgrader off /srv
            # student code never runs in this process: the outputs come from the
            # sandbox (grade())
            from nbconvert.preprocessors import ClearMetadataPreprocessor
            from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata,
                                                IgnorePattern, LimitOutput,
                                                SaveAutoGrades)
            config.Autograde.autograde_preprocessors = [
                SandboxOutputs, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
            self._api = NbGraderAPI(config=config)
            self._api.log.setLevel(logging.WARNING)
        return self._api

    def assignments(self) -> list[str]:
        src = self.root / "source"
        return sorted(p.name for p in src.iterdir() if p.is_dir() and (p / f"{p.name}.ipynb").exists()) \
            if src.is_dir() else []

    def path(self, step: str, assignment: str, student: str | None = None) -> Path:
        base = self.root / step
        return (base / student / assignment if student else base / assignment) / f"{assignment}.ipynb"

    def db_url(self) -> str:
        return "sqlite:///" + str(self.root / "gradebook.db")


# ----------------------------------------------------------------------------------------- release
def source_assignment(ch: em.Chapter, whole: bool = False):
    """The nbgrader source notebook of a chapter: its exercises with the set-up cells, or the whole chapter."""
    import nbformat
    cells, title = ch.cells, None
    if whole:
        end = ch.exercises_end if ch.exercises_end is not None else len(cells)
        title = next((i for i, c in enumerate(cells) if em.heading(c, em._TITLE)), None)
        selection = [i for i in range(end) if i != title]
    else:
        selection = sorted(set(ch.setup + ch.homework_cells)) + ch.exercise_cells
    out = [nbformat.v4.new_markdown_cell(header(ch, whole))]
    out[0]["id"] = "homework-header"
    used_ids = {"homework-header"}
    if whole and title is not None:
        selection = [title] + selection
    for i in selection:
        cell = copy.deepcopy(cells[i])
        text = em.source(cell)
        if whole and i == title:       # the header has the title; keep the chapter's introduction and objectives
            text = "\n".join(line for line in text.split("\n") if not em._TITLE.match(line.strip())).strip()
            if not text:
                continue
        if i == ch.exercises_heading and not whole:      # only from '## Exercises' on (not the Summary before it)
            text = "\n".join(text.split("\n")[em.exercises_line(cell):])
        if cell["cell_type"] == "markdown":
            names = {d["name"] for d in em.directives(text)}
            if names and names <= {"solution-start", "solution-end"} and not em.demyst(text).strip():
                continue                                   # book-only markup around a solution cell
            text = em.demyst(text)
        cell["source"] = text
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        book_tags = [t for t in cell.get("metadata", {}).get("tags", []) if t not in em.HIDDEN_TAGS]
        if book_tags:
            cell["metadata"]["tags"] = book_tags
        else:
            cell.get("metadata", {}).pop("tags", None)     # hide-input etc. only matter in the book
        cid = str(cell.get("id") or f"cell-{i}")
        while cid in used_ids:
            cid += "-1"
        cell["id"] = cid
        used_ids.add(cid)
        out.append(nbformat.from_dict(cell))
    nb = nbformat.v4.new_notebook(cells=out)
    nb.metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python", "pygments_lexer": "ipython3"}}
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def header(ch: em.Chapter, whole: bool) -> str:
    auto = sum(ex.test_points for ex in ch.exercises)
    manual = sum(ex.answer_points for ex in ch.exercises)
    what = (f"The chapter *{ch.title}* with its exercises, as homework." if whole else
            f"The exercises of the chapter *{ch.title}*, as homework. Read the chapter first (the notebook "
            f"`{ch.name}.ipynb`, or its page in the book): the first cells below only set up what the "
            "exercises need.")
    return "\n".join([
        f"# Homework: {ch.title}", "", what, "",
        "- Write your code where a cell says `# YOUR CODE HERE` (replace `raise NotImplementedError()`), and your "
        "written answers where a cell says `YOUR ANSWER HERE`.",
        "- The test cell after each exercise checks your code: it is silent when your code passes and says in "
        "one line what is wrong when it does not. Grading runs more checks on random inputs, so make your code "
        "right in general, not only on the cases shown.",
        "- Do not edit, delete or move the test cells (they are restored from the original before grading), and "
        f"keep the file's name, `{ch.name}.ipynb`.",
        "- Before you submit: *Kernel → Restart Kernel and Run All Cells*. The notebook must run from top to bottom.",
        "",
        f"**Points:** {auto:g} checked by the autograder ({len(ch.graded)} exercises) and {manual:g} for written "
        f"answers graded by hand ({len(ch.open_questions)} question{'s' if len(ch.open_questions) != 1 else ''}); "
        f"{auto + manual:g} in all.",
    ])


KERNEL_ARGS = ["--HistoryManager.hist_file=:memory:", "--log-level=ERROR"]


def execute_many(jobs: list[tuple], timeout: int, limit: int | None = None) -> list:
    """Run notebooks, each in a fresh kernel, a few at a time (one per CPU core): [(notebook, cwd)] -> executed.

    Errors are recorded in the cells' outputs, not raised (as nbgrader does when it grades).
    """
    import asyncio

    from nbclient import NotebookClient

    async def run_all():
        gate = asyncio.Semaphore(limit or max(1, min(len(jobs), os.cpu_count() or 1)))

        async def one(nb, cwd):
            nb = copy.deepcopy(nb)
            async with gate:
                await NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                                     extra_arguments=KERNEL_ARGS,
                                     resources={"metadata": {"path": str(cwd)}}).async_execute()
            return nb
        return await asyncio.gather(*(one(nb, cwd) for nb, cwd in jobs))
    return asyncio.run(run_all()) if jobs else []


def first_error(cell, stderr: bool = False) -> str | None:
    """The cell's error, in one line; with ``stderr``, output on stderr counts too (as nbgrader grades tests)."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output.get('ename')}: {output.get('evalue')}"
        if stderr and output.get("output_type") == "stream" and output.get("name") == "stderr":
            return "wrote to stderr (nbgrader counts that as a failed test): " + output.get("text", "").strip()[:200]
    return None


def validate_release(course: Course, assignments: list[str]) -> list[str]:
    """Run the instructor and student versions: reference solutions pass every test, stubs fail every test."""
    jobs, what = [], []
    for a in assignments:
        for step in ("source", "release"):
            path = course.path(step, a)
            jobs.append((load_notebook(path), path.parent))
            what.append((a, step))
    problems = []
    for (a, step), done in zip(what, execute_many(jobs, course.timeout)):
        problems += run_problems(a, step, done)
    return problems


def run_problems(assignment: str, step: str, done) -> list[str]:
    """What is wrong with an executed source ("source": everything must pass) or student version ("release":
    every test must fail, and the set-up must run)."""
    problems, before_exercises = [], True
    for n, cell in enumerate(done.cells, start=1):
        meta = cell.get("metadata", {}).get("nbgrader") or {}
        before_exercises = before_exercises and not meta
        if cell.cell_type != "code":
            continue
        is_test = bool(meta.get("grade")) and not meta.get("solution")
        error = first_error(cell, stderr=is_test)
        if step == "source" and error:
            where = f"test {meta['grade_id']}" if is_test else f"cell {n}"
            problems.append(f"{assignment}: with the reference solutions, {where} fails: {error}")
        elif step == "release" and is_test and not error:
            problems.append(f"{assignment}: test {meta['grade_id']} passes on the student version (the stub), so it "
                            "does not check the answer")
        elif step == "release" and before_exercises and error:
            problems.append(f"{assignment}: set-up cell {n} fails in the student version: {error}")
    return problems


def release(names: list[str], course_dir: Path, chapters_dir: Path, whole: bool = False, validate: bool = True,
            timeout: int = 120) -> list[Path]:
    """Build the course folder's source and student versions of the chapters; return the student notebooks."""
    started = time.perf_counter()
    paths = resolve_chapters(names, chapters_dir)
    chapters, problems = em.check_book(paths)
    if problems and not names:          # every chapter asked for: hand out those that are ready
        broken = {p.notebook for p in problems}
        say("Skipping chapters whose exercise markup has problems (CONTRIBUTING.md, 'Exercises'):\n  "
            + "\n  ".join(map(str, problems)))
        chapters = [ch for ch in chapters if ch.path.name not in broken]
        if not chapters:
            raise HomeworkError("no chapter is ready to hand out")
    elif problems:
        raise HomeworkError("the exercise markup has problems (CONTRIBUTING.md, 'Exercises'); fix them first:\n  "
                            + "\n  ".join(map(str, problems)))
    course = Course(course_dir, timeout)
    course.create()
    prepare_environment()
    api = course.api()
    released = []
    import nbformat
    for ch in chapters:
        src = course.path("source", ch.name)
        src.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(source_assignment(ch, whole), str(src))
        result = api.generate_assignment(ch.name, force=True, create=True)
        if not result.get("success"):
            raise HomeworkError(f"nbgrader could not generate {ch.name}:\n{result.get('log')}\n{result.get('error')}")
        released.append(course.path("release", ch.name))
        say(f"  {ch.name}: {len(ch.graded)} autograded exercises + {len(ch.open_questions)} open question(s), "
            f"{ch.points:g} points -> {released[-1]}")
    if validate:
        t0 = time.perf_counter()
        issues = validate_release(course, [ch.name for ch in chapters])
        if issues:
            for a in {issue.split(":")[0] for issue in issues}:
                shutil.rmtree(course.root / "release" / a, ignore_errors=True)   # nothing half-checked to hand out
            raise HomeworkError("the homework does not pass its own checks, so it was not released:\n  "
                                + "\n  ".join(issues))
        say(f"  checked: the reference solutions pass every test and the student versions fail every test "
            f"({time.perf_counter() - t0:.1f} s)")
    say(f"Released {len(released)} assignment(s) in {time.perf_counter() - started:.1f} s. Hand out the notebooks in "
        f"{course.root / 'release'}/<assignment>/.")
    return released


# ------------------------------------------------------------------------------------------ collect
@dataclass
class Submission:
    """One student's file for one assignment, and what happened to it."""
    student: str | None
    assignment: str | None
    origin: str                       # where it came from, as the instructor knows it
    path: Path | None = None          # a readable local copy (inside a temporary folder for zips)
    mtime: float = 0.0
    status: str = "pending"           # graded | not graded
    notes: list[str] = field(default_factory=list)
    # answer grade_id -> why its points wait for a review
    withheld: dict[str, str] = field(default_factory=dict)


_CANVAS = re.compile(r"^(?P<student>[A-Za-z0-9-]+?)(?:_late|_LATE)?_\d+_\d+_(?P<rest>.+)$")
_BLACKBOARD = re.compile(r"^(?P<assignment>.+?)_(?P<student>[^_\s]+)_attempt_\d{4}(?:-\d\d){5}(?:_(?P<rest>.+))?$")
_MOODLE = re.compile(r"^(?P<student>.+?)_\d+_assign(?:submission|feedback)_\w+?_?$")


def student_of(parts: tuple[str, ...], assignments: list[str]) -> str | None:
    """Who submitted a file, from its path in a download: LMS naming patterns, a folder per student, or the name."""
    for part in parts[:-1]:
        m = _MOODLE.match(part)
        if m:
            return slug(m["student"])
    first = parts[0]                                   # the file, its folder, or the zip it came in
    name = Path(first).stem if len(parts) == 1 or first.lower().endswith(".zip") else first
    for pattern in (_CANVAS, _BLACKBOARD):
        m = pattern.match(name)
        if m:
            return slug(m["student"])
    if len(parts) > 1 and not first.lower().endswith(".zip"):
        return slug(first)
    for assignment in sorted(assignments, key=len, reverse=True):
        name = re.sub(re.escape(assignment), " ", name, flags=re.IGNORECASE)
    return slug(name) or None


def assignment_of(nb: dict | None, parts: tuple[str, ...], assignments: dict[str, set[str]],
                  forced: str | None) -> str | None:
    if forced:
        return forced
    if nb is not None:
        ids = {(c.get("metadata", {}).get("nbgrader") or {}).get("grade_id") for c in nb.get("cells", [])}
        overlap = {name: len(ids & gids) for name, gids in assignments.items()}
        best = max(overlap, key=overlap.get, default=None)
        if best and overlap[best] > 0:
            return best
    text = "/".join(parts).lower()
    named = [name for name in assignments if name.lower() in text]
    if len(named) == 1:
        return named[0]
    return next(iter(assignments)) if len(assignments) == 1 else None


def walk(root: Path, prefix: tuple[str, ...], tmp: Path, label: str, depth: int = 0):
    """Files in a folder or a zip (zips inside opened too): (where, local path, path parts, mtime).

    ``label`` names ``root`` for messages; files inside a zip are named ``archive.zip:inner/path``.
    """
    if root.is_file():
        if root.suffix.lower() != ".zip" or depth > 3:
            yield label, root, prefix or (root.name,), root.stat().st_mtime
            return
        target = Path(tempfile.mkdtemp(dir=tmp))
        try:
            with zipfile.ZipFile(root) as zf:
                for info in zf.infolist():
                    inner = Path(info.filename)
                    if info.is_dir() or inner.is_absolute() or ".." in inner.parts:
                        continue
                    out = target / inner
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as fin, open(out, "wb") as fout:
                        shutil.copyfileobj(fin, fout)
                    stamp = time.mktime(info.date_time + (0, 0, -1))
                    os.utime(out, (stamp, stamp))
        except (zipfile.BadZipFile, OSError):
            yield label, root, prefix or (root.name,), root.stat().st_mtime
            return
        yield from walk(target, prefix, tmp, label + ":", depth + 1)
        return
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).parts
        if path.is_dir() or any(p.startswith(".") or p in ("__MACOSX", "__pycache__") for p in rel) \
                or path.name in IGNORED_FILES:
            continue
        where = label + "/".join(rel) if label.endswith(":") else str(path)
        if path.suffix.lower() == ".zip":
            yield from walk(path, prefix + rel, tmp, where, depth + 1)
        else:
            yield where, path, prefix + rel, path.stat().st_mtime


def collect(inputs: list[Path], course: Course, forced: str | None, tmp: Path) -> list[Submission]:
    """Find each student's notebook per assignment in folders and zips of any usual layout."""
    known = course.assignments()
    if forced and forced not in known:
        raise HomeworkError(f"no assignment {forced!r} in {course.root} (assignments: {', '.join(known) or 'none'})")
    gids = {a: set(grade_cells(load_notebook(course.path("source", a)))) for a in known}
    found: list[Submission] = []
    extras: list[Submission] = []
    for inp in inputs:
        if not inp.exists():
            raise HomeworkError(f"{inp} does not exist")
        for origin, path, parts, mtime in walk(inp, (), tmp, str(inp)):
            layout = len(parts) >= 3 and parts[-2] in known and path.suffix.lower() == ".ipynb"
            student = slug(parts[-3]) if layout else student_of(parts, known)
            sub = Submission(student, None, origin, path, mtime)
            if path.suffix.lower() != ".ipynb":
                sub.status = "not graded"
                kind = "a zip file that cannot be opened" if path.suffix.lower() == ".zip" else "not a notebook"
                sub.notes.append(f"{origin}: {kind} (.ipynb expected); not graded")
                sub.assignment = assignment_of(None, parts, gids, forced)
                extras.append(sub)
                continue
            try:
                nb = read_json_notebook(path)
            except HomeworkError as exc:
                nb = None
                sub.status = "not graded"
                sub.notes.append(f"{origin}: {exc}; not graded")
            sub.assignment = parts[-2] if layout else assignment_of(nb, parts, gids, forced)
            if sub.student is None:
                sub.status = "not graded"
                sub.notes.append(f"{origin}: cannot tell whose file this is (name files by student, or put each "
                                 "student's files in a folder named after them); not graded")
            elif sub.assignment is None:
                sub.status = "not graded"
                sub.notes.append(f"{origin}: cannot tell which assignment this is ({', '.join(known)}); use "
                                 "--assignment; not graded")
            found.append(sub)
    # one notebook per student and assignment: a readable one, the newest (then: the one with the expected name)
    chosen: dict[tuple, Submission] = {}
    for sub in found:
        key = (sub.student, sub.assignment)
        old = chosen.get(key)
        rank = (sub.status == "pending", sub.mtime, sub.path.name == f"{sub.assignment}.ipynb")
        if old is None or rank > (old.status == "pending", old.mtime, old.path.name == f"{old.assignment}.ipynb"):
            if old is not None:
                sub.notes.append(f"also submitted {old.origin} (not graded: this one is newer or more complete)")
                sub.notes += [n for n in old.notes if "not graded" in n and n not in sub.notes and sub.status != "pending"]
            chosen[key] = sub
        else:
            old.notes.append(f"also submitted {sub.origin} (not graded: the other one is newer or more complete)")
    result = list(chosen.values())
    by_student = {sub.student: sub for sub in result if sub.student}
    for extra in extras:
        owner = by_student.get(extra.student)
        if owner is not None:
            owner.notes += extra.notes
        else:
            result.append(extra)
    return result


def place(sub: Submission, course: Course) -> None:
    """Copy a submission into submitted/<student>/<assignment>/ (an earlier, different copy is archived)."""
    target = course.path("submitted", sub.assignment, sub.student)
    if sub.path.resolve() == target.resolve():
        return
    if target.exists():
        if digest(target) == digest(sub.path):
            return
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        archived = course.root / "archive" / stamp / sub.student / sub.assignment / target.name
        archived.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(target), archived)
        sub.notes.append(f"replaced an earlier, different submission (kept in {archived.relative_to(course.root)})")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(sub.path, target)


# -------------------------------------------------------------------------------------------- grade
_TOUCHES_CHECKS = re.compile(r"\b(?:ck|coursekit)\.check\b|\bCheckError\b|\bsys\.modules\b|\bbuiltins\b|"
                             r"__import__|\bimportlib\b|\bcompare\s*=|"
                             r"\bassert_close\s*=|"
                             r"(?<![\w.])"
                             r"(?:exec|eval|compile|setattr|delattr|globals|vars)"
                             r"\s*\(|\bget_ipython\b|"
                             r"\bsys\.(?:settrace|setprofile|excepthook|meta_path)\b|"
                             r"__builtins__|\bgc\.get_")


def library_aliases(nb) -> dict[str, str]:
    """Short names the notebook gives coursekit modules, e.g. ``L = ck.landscapes`` -> {"L": "landscapes"}."""
    aliases = {}
    for cell in nb["cells"]:
        if cell.get("cell_type") == "code":
            for m in re.finditer(r"^(\w+)\s*=\s*(?:ck|coursekit)\.(\w+)\s*$", em.source(cell), re.MULTILINE):
                aliases[m.group(1)] = m.group(2)
    return aliases


def reference_calls(text: str, aliases: dict[str, str]) -> set[str]:
    """What a test compares with: coursekit functions it calls (``landscapes.quadratic``), and the dotted
    reference it passes to ``compare`` (``functional.softshrink``, from ``torch.nn.functional.softshrink``)."""
    import ast
    found = set()
    roots = "|".join(["ck", "coursekit"] + [re.escape(a) for a in aliases])
    for m in re.finditer(r"\b(" + roots + r")\.([\w.]+?)\s*\(", text):
        full = m.group(2) if m.group(1) in ("ck", "coursekit") else f"{aliases[m.group(1)]}.{m.group(2)}"
        if not full.startswith("check."):
            found.add(full)
    tree = em.parse(text)
    for node in ast.walk(tree) if tree else []:
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "compare" \
                and len(node.args) >= 2:
            ref = node.args[1]
            if isinstance(ref, ast.Lambda) and isinstance(ref.body, ast.Call):   # lambda x: torch.logsumexp(x, -1)
                ref = ref.body.func
            refs = [ref] if isinstance(ref, ast.Attribute) else []
            for ref in refs:
                dotted = ast.unparse(ref).split(".")
                if dotted[0] in ("torch", "np", "numpy", "F", "scipy") and len(dotted) >= 2:
                    found.add(".".join(dotted[-2:]))
    return found


def calls_any(text: str, names: set[str], aliases: dict[str, str]) -> list[str]:
    """Which of ``names`` (as reference_calls gives them) the code calls."""
    text = re.sub(r"\b(?:ck|coursekit)\.", "", text)
    for alias, module in aliases.items():
        text = re.sub(r"\b" + re.escape(alias) + r"\.", module + ".", text)
    return sorted(n for n in names if re.search(r"(?<![\w.])" + re.escape(n) + r"\s*\(|\." + re.escape(n) + r"\s*\(",
                                                  text))


def inspect(sub: Submission, course: Course) -> None:
    """Notes on a readable submission: test cells changed or deleted, answers a person should look at."""
    nb = load_notebook(sub.path)
    given = grade_cells(load_notebook(course.path("release", sub.assignment)))
    source = grade_cells(load_notebook(course.path("source", sub.assignment)))
    mine = grade_cells(nb)

    counts: dict[str, int] = {}
    for cell in nb.cells:
        gid = (cell.get("metadata", {}).get("nbgrader") or {}).get("grade_id")
        if gid:
            counts[gid] = counts.get(gid, 0) + 1
    if not set(mine) & set(given):
        sub.notes.append(f"none of the exercise cells of {sub.assignment} are in this notebook: is it the right "
                         "file? (graded anyway: every test restored, no answers found)")
        return
    source_nb = load_notebook(course.path("source", sub.assignment))
    aliases = library_aliases(source_nb)
    refs = set().union(*[reference_calls(em.source(c), aliases) for c in source.values()
                         if c.metadata.nbgrader.get("grade") and not c.metadata.nbgrader.get("solution")] or [set()])
    for gid, cell in given.items():
        meta = cell.metadata.nbgrader
        theirs = mine.get(gid)
        if meta.get("grade") and not meta.get("solution"):
            if theirs is None:
                sub.notes.append(f"test cell {gid} was deleted (or its nbgrader metadata removed); the original was "
                                 "restored and graded")
            elif em.source(theirs).strip() != em.source(cell).strip() or theirs.cell_type != cell.cell_type:
                sub.notes.append(f"test cell {gid} was modified; the original was restored and graded")
            elif theirs.metadata.get("nbgrader", {}).get("points") != meta.get("points"):
                sub.notes.append(f"the points of test cell {gid} were changed; the original was restored")
        elif meta.get("solution"):
            if theirs is None:
                sub.notes.append(f"answer cell {gid} is missing (deleted, or its nbgrader metadata removed)")
                continue
            text = em.source(theirs)
            touched = _TOUCHES_CHECKS.search(text) if cell.cell_type == "code" else None
            if touched:
                sub.notes.append(f"review by hand: the answer in {gid} uses {touched.group(0).strip()!r}, which could "
                                 "change how the tests check it")
                sub.withheld.setdefault(gid, f"uses {touched.group(0).strip()!r}")
                what = touched.group(0).strip()
                sub.withheld.setdefault(
                    "checks", f"{gid} uses {what!r}, which can change every later "
                              "check")
            used = calls_any(text, refs, aliases) if cell.cell_type == "code" else []
            if used:
                sub.notes.append(f"review by hand: the answer in {gid} calls {', '.join(u + '()' for u in used)}, "
                                 "which the tests use as the reference")
                calls = ", ".join(u + "()" for u in used)
                sub.withheld.setdefault(gid, f"calls {calls}")
    for gid, n in counts.items():
        if n > 1:
            sub.notes.append(f"cell {gid} appears {n} times in the notebook (copied?); nbgrader grades one of them")


def write_flat_feedback(course: Course, assignment: str, student: str) -> Path | None:
    html = course.root / "feedback" / student / assignment / f"{assignment}.html"
    if not html.exists():
        return None
    flat = course.root / "feedback_by_assignment" / assignment / f"{student}.html"
    flat.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(html, flat)
    return flat


def load_notes(course: Course) -> dict:
    path = course.root / "grading_notes.json"
    return json.loads(path.read_text()) if path.exists() else {}


# ------------------------------------------------------------------------- sandboxed
# autograding Executed notebooks handed back by the sandbox, waiting for nbgrader to
# save their grades.
SANDBOX_RESULTS: dict[tuple[str, str], object] = {}
WITHHELD_MESSAGE = (
    "output withheld: it quotes the hidden tests or the reference solution"
)


def _nbgrader_preprocessor_base():
    from nbgrader.preprocessors import NbGraderPreprocessor

    return NbGraderPreprocessor


class SandboxOutputs(_nbgrader_preprocessor_base()):
    """nbgrader's autograde step without running anything: the outputs the sandbox
    produced for this very notebook (checked cell by cell) are put into it; nbgrader
    then saves the grades.
    """

    def preprocess(self, nb, resources):
        key = (resources["nbgrader"]["assignment"], resources["nbgrader"]["student"])
        done = SANDBOX_RESULTS.pop(key, None)
        if done is None or len(done.cells) != len(nb.cells):
            raise HomeworkError(f"no sandbox results for {key[1]} / {key[0]}")
        for cell, ran in zip(nb.cells, done.cells):
            if cell.cell_type != ran.cell_type:
                raise HomeworkError(
                    f"sandbox results do not match the notebook of {key[1]} / {key[0]}"
                )
            if cell.cell_type == "code":
                if (
                    cell.source != ran.source
                ):  # an answer replaced by its stub after a crash
                    cell.source = ran.source
                cell.outputs, cell.execution_count = ran.outputs, ran.execution_count
        return nb, resources


def sanitized(sub: Submission, course: Course):
    """The notebook nbgrader grades (test cells restored from the source, outputs
    cleared), built with nbgrader's own sanitizing steps, so the sandbox runs exactly
    what is graded."""
    import nbformat
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearOutput,
        DeduplicateIds,
        OverwriteCells,
        OverwriteKernelspec,
    )

    nb = nbformat.read(
        str(course.path("submitted", sub.assignment, sub.student)), as_version=4
    )
    resources = {
        "nbgrader": {
            "student": sub.student,
            "assignment": sub.assignment,
            "notebook": sub.assignment,
            "db_url": course.db_url(),
        }
    }
    for step in (
        ClearOutput,
        DeduplicateIds,
        OverwriteKernelspec,
        OverwriteCells,
        CheckCellMetadata,
    ):
        nb, resources = step(config=course.api().config).preprocess(nb, resources)
    return nb


def secret_lines(course: Course, assignment: str) -> list[str]:
    """Lines of the hidden tests and reference solutions (long enough to be telling)."""
    lines = []
    for cell in load_notebook(course.path("source", assignment)).cells:
        meta = cell.get("metadata", {}).get("nbgrader") or {}
        text = em.source(cell)
        if cell.cell_type != "code" or not meta.get("grade_id"):
            continue
        regions = em.region_lines(text, em.BEGIN_HIDDEN, em.END_HIDDEN)
        if meta.get("solution"):
            regions += em.region_lines(text, em.BEGIN_SOLUTION, em.END_SOLUTION)
        lines += [" ".join(line.split()) for line in regions if len(line.strip()) >= 16]
    return lines


def output_text(output) -> str:
    """The text of an output (stream, error, rich data), whitespace and colours
    normalized."""
    parts = [output.get("text", ""), output.get("ename", ""), output.get("evalue", "")]
    parts += output.get("traceback", [])
    for value in (output.get("data") or {}).values():
        parts += (
            [value]
            if isinstance(value, str)
            else (
                [v for v in value if isinstance(v, str)]
                if isinstance(value, list)
                else [json.dumps(value)]
            )
        )
    text = "\n".join(p if isinstance(p, str) else "".join(p) for p in parts)
    text = html.unescape(re.sub(r"\x1b\[[0-9;]*m|<[^>]*>", " ", text))
    return " ".join(text.split())


def redact(nb, secrets: list[str]) -> int:
    """Replace every output that quotes a secret line by a one-line notice; return how
    many. Tracebacks are cut to their last line first (they quote the code of the
    cells)."""
    import nbformat

    count = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for i, output in enumerate(cell.get("outputs", [])):
            if output.get("output_type") == "error":
                output["traceback"] = [
                    f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
                ]
            text = output_text(output)
            if any(secret in text for secret in secrets):
                cell.outputs[i] = nbformat.v4.new_output(
                    "stream", name="stdout", text=WITHHELD_MESSAGE + "\n"
                )
                count += 1
    return count


def exercise_tests(course: Course, assignment: str) -> dict[str, list[str]]:
    """Answer cell grade_id -> the autograded test cells after it (up to the next
    answer)."""
    out, current = {}, None
    for cell in load_notebook(course.path("source", assignment)).cells:
        meta = cell.get("metadata", {}).get("nbgrader") or {}
        if meta.get("solution") and meta.get("grade_id"):
            current = meta["grade_id"]
            out[current] = []
        elif meta.get("grade") and current is not None:
            out[current].append(meta["grade_id"])
    return out


def load_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except json.JSONDecodeError:
        return {}


def save_json(path: Path, data: dict) -> None:
    """Written to a temporary file, then renamed: a crash never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def set_withheld(
    course: Course, assignment: str, student: str, tests: list[str], withheld: bool
) -> None:
    """Withhold (score 0 until accepted) or release the points of test cells in the
    gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url()) as gb:
        for gid in tests:
            grade = gb.find_grade(gid, assignment, assignment, student)
            grade.manual_score = 0.0 if withheld else None
        gb.db.commit()


def home_files(course: Course, sub: Submission) -> dict[str, Path]:
    """What the sandbox's folder holds: the released assignment's files and the
    submission."""
    files = {}
    release = course.root / "release" / sub.assignment
    for path in sorted(release.rglob("*")) if release.is_dir() else []:
        if (
            path.is_file()
            and path.suffix != ".ipynb"
            and "/" not in str(path.relative_to(release))
        ):
            files[path.name] = path
    files[f"{sub.assignment}.ipynb"] = course.path(
        "submitted", sub.assignment, sub.student
    )
    return files


def given_sources(course: Course, assignment: str) -> set[str]:
    return {
        em.source(c).strip()
        for c in load_notebook(course.path("release", assignment)).cells
        if c.cell_type == "code"
    }


def memory_notes(nb, limits: sandbox.Limits) -> list[str]:
    """One line per cell that ran out of memory (a MemoryError under the sandbox's
    limit)."""
    notes = []
    for n, cell in enumerate(nb.cells, start=1):
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if cell.cell_type == "code" and any(o.get("ename") == "MemoryError"
                                            for o in errors):
            gid = (cell.get("metadata", {}).get("nbgrader") or {}).get("grade_id")
            what = f"answer cell {gid}" if gid else f"cell {n}"
            notes.append(f"{what}: out of memory (a process may use "
                         f"{limits.memory_mb} MB)")
    return notes


def setup_error(nb, given: set[str]) -> str | None:
    """An error in a set-up cell (before the exercises, as handed out) of an executed
    notebook."""
    for n, cell in enumerate(nb.cells, start=1):
        if cell.get("metadata", {}).get("nbgrader"):
            return None
        error = first_error(cell) if cell.cell_type == "code" else None
        if error and em.source(cell).strip() in given:
            return f"set-up cell {n} failed in the sandbox: {error}"
    return None


def grade(
    inputs: list[Path],
    course_dir: Path,
    assignment: str | None = None,
    autograde: bool = True,
    timeout: int = 120,
    full: bool = False,
    limits: sandbox.Limits | None = None,
    workers: int | None = None,
    regrade: bool = False,
) -> dict:
    """Collect, autograde in sandboxes, write feedback and grades.csv; return a summary.

    Submissions already graded from the same file (grading_state.json) are not run again
    unless ``regrade``: grading a class again after a crash resumes where it stopped.
    """
    import asyncio

    started = time.perf_counter()
    course = Course(course_dir, timeout)
    course.require()
    prepare_environment(full)
    limits = limits or sandbox.Limits(cell_seconds=timeout)
    workers = workers or max(1, os.cpu_count() or 1)
    api = course.api()
    notes = load_notes(course)
    state_file = course.root / "grading_state.json"
    state = load_json(state_file)
    withheld_file = course.root / "withheld.json"
    withheld = load_json(withheld_file)
    graded: list[Submission] = []
    problems: list[Submission] = []
    todo: list[tuple[Submission, object, str]] = []

    def feedback(sub: Submission) -> None:
        result = api.generate_feedback(sub.assignment, sub.student, force=True)
        if not result.get("success"):
            sub.notes.append(
                "feedback could not be generated: "
                + (result.get("error") or "").strip()[-300:]
            )
        write_flat_feedback(course, sub.assignment, sub.student)

    sandbox_cpu: list[float] = []
    run_seconds = 0.0
    with tempfile.TemporaryDirectory(prefix="homework-") as tmp:
        if autograde:
            if not inputs and not (course.root / "submitted").is_dir():
                raise HomeworkError(
                    "no submissions to grade: give a folder or zip of them (make grade "
                    "SUBMISSIONS=path), or put them in "
                    f"{course.root / 'submitted'}/<student>/<assignment>/"
                )
            subs = collect(
                inputs or [course.root / "submitted"], course, assignment, Path(tmp)
            )
            if not subs:
                where = ", ".join(map(str, inputs or [course.root / "submitted"]))
                raise HomeworkError(f"no submissions found in {where}")
            say(
                f"Grading {len(subs)} submission(s) in {course.root}, {workers} at a "
                f"time; kernels: {sandbox.isolation()}"
            )
            sources = {
                a: digest(course.path("source", a)) for a in course.assignments()
            }
            for sub in sorted(
                subs, key=lambda s: (s.assignment or "", s.student or "")
            ):
                label = f"{sub.student or '?'} / {sub.assignment or '?'}"
                if sub.status != "pending":
                    problems.append(sub)
                    say(f"  {label}: not graded")
                    continue
                try:
                    load_notebook(sub.path)
                    place(sub, course)
                    inspect(sub, course)
                    stamp = (
                        digest(course.path("submitted", sub.assignment, sub.student))
                        + sources[sub.assignment]
                    )
                    key = f"{sub.assignment}/{sub.student}"
                    done = state.get(key)
                    if (
                        not regrade
                        and done
                        and done.get("digest") == stamp
                        and course.path(
                            "autograded", sub.assignment, sub.student
                        ).exists()
                    ):
                        sub.status = "graded"
                        sub.notes = done.get("notes", sub.notes)
                        graded.append(sub)
                        say(
                            f"  {label}: already graded from this file (kept; "
                            "--regrade to run it again)"
                        )
                        continue
                    todo.append((sub, sanitized(sub, course), stamp))
                except HomeworkError as exc:
                    sub.status = "not graded"
                    sub.notes.append(f"{sub.origin}: {exc}; not graded")
                    problems.append(sub)
                    say(f"  {label}: not graded ({exc})")
            secrets = {
                a: secret_lines(course, a)
                for a in {sub.assignment for sub, _, _ in todo}
            }
            tests = {a: exercise_tests(course, a) for a in secrets}

            def finish(i: int, res: sandbox.RunResult) -> None:
                """Save one sandbox's results (the grader alone writes the course
                folder)."""
                sub, _, stamp = todo[i]
                sandbox_cpu.append(res.cpu_seconds)
                label = f"{sub.student} / {sub.assignment}"
                key = f"{sub.assignment}/{sub.student}"
                sub.notes += res.events
                if res.failed:
                    sub.status = "not graded"
                    sub.notes.append(f"autograding failed: {res.failed}")
                    problems.append(sub)
                    say(f"  {label}: autograding failed ({res.failed})")
                    return
                broken = setup_error(res.nb, given_sources(course, sub.assignment))
                if broken:  # the grader's problem, not the student's: no zeros
                    sub.status = "not graded"
                    sub.notes.append(
                        f"autograding failed: {broken} (raise the limits, e.g. "
                        "--memory-mb?)"
                    )
                    problems.append(sub)
                    say(f"  {label}: autograding failed ({broken})")
                    return
                sub.notes += memory_notes(res.nb, limits)
                if redact(res.nb, secrets[sub.assignment]):
                    sub.notes.append(
                        "some outputs quoted the hidden tests or the reference "
                        "solution; they were withheld"
                    )
                    sub.withheld.setdefault(
                        "outputs", "printed hidden tests or reference solutions"
                    )
                SANDBOX_RESULTS[(sub.assignment, sub.student)] = res.nb
                result = api.autograde(
                    sub.assignment, sub.student, force=True, create=True
                )
                SANDBOX_RESULTS.pop((sub.assignment, sub.student), None)
                if not result.get("success"):
                    sub.status = "not graded"
                    detail = (
                        (result.get("error") or result.get("log") or "")
                        .strip()
                        .splitlines()
                    )
                    sub.notes.append(
                        "autograding failed: "
                        + (detail[-1] if detail else "unknown error")
                    )
                    problems.append(sub)
                    say(f"  {label}: autograding failed")
                    return
                held = {
                    gid: why
                    for gid, why in sub.withheld.items()
                    if gid in tests[sub.assignment]
                }
                for scope in (
                    "checks",
                    "outputs",
                ):  # every exercise may have profited: all of them
                    if scope in sub.withheld:
                        held = {
                            gid: held.get(gid, sub.withheld[scope])
                            for gid in tests[sub.assignment]
                        }
                held = {
                    gid: why for gid, why in held.items() if tests[sub.assignment][gid]
                }
                set_withheld(
                    course,
                    sub.assignment,
                    sub.student,
                    [t for gid in held for t in tests[sub.assignment][gid]],
                    True,
                )
                if held:
                    withheld[key] = held
                else:
                    withheld.pop(key, None)
                save_json(withheld_file, withheld)
                feedback(sub)
                sub.status = "graded"
                graded.append(sub)
                state[key] = {"digest": stamp, "notes": sub.notes}
                save_json(state_file, state)
                runs = f", {res.attempts} runs" if res.attempts > 1 else ""
                say(f"  {label}: autograded ({res.seconds:.1f} s{runs})")
                for event in res.events:
                    say(f"      {event}")

            t0 = time.perf_counter()
            if todo:
                asyncio.run(
                    sandbox.run_many(
                        [
                            (
                                nb,
                                home_files(course, sub),
                                given_sources(course, sub.assignment),
                            )
                            for sub, nb, _ in todo
                        ],
                        limits,
                        workers,
                        on_done=finish,
                    )
                )
            run_seconds = time.perf_counter() - t0
        else:
            say(f"Refreshing feedback and grades in {course.root} (no autograding)")
            for a in course.assignments():
                for student_dir in sorted((course.root / "autograded").glob(f"*/{a}")):
                    graded.append(
                        Submission(student_dir.parent.name, a, "", status="graded")
                    )

    for sub in graded:
        if (
            not autograde
            or not (course.root / "feedback" / sub.student / sub.assignment).is_dir()
        ):
            feedback(sub)
    for sub in graded + problems:
        if sub.student and sub.assignment and (sub.notes or autograde):
            notes[f"{sub.assignment}/{sub.student}"] = sub.notes
    save_json(course.root / "grading_notes.json", notes)
    rows = write_grades(
        course,
        {s.assignment for s in graded + problems if s.assignment},
        notes,
        problems,
        withheld,
    )
    seconds = time.perf_counter() - started
    report = write_report(course, rows, problems, seconds)
    if autograde and todo and run_seconds:
        report += (
            f"\nThroughput: {len(todo)} submission(s) run in {run_seconds:.1f} s with "
            f"{workers} worker(s): {60 * len(todo) / run_seconds:.1f} per minute "
            f"({60 * len(todo) / seconds:.1f} per minute with collecting and feedback)"
        )
        (course.root / "grading_report.txt").write_text(report + "\n")
    say(report)
    return {
        "rows": rows,
        "graded": graded,
        "problems": problems,
        "seconds": seconds,
        "run_seconds": run_seconds,
        "sandbox_cpu_seconds": sum(sandbox_cpu),
        "ran": [sub.student for sub, _, _ in todo] if autograde else [],
    }


def accept(
    course_dir: Path,
    assignment: str,
    students: list[str],
    answers: list[str] | None = None,
) -> list[str]:
    """Give back the withheld points of ``students``' answers (all, or the grade_ids
    ``answers``) after an instructor has reviewed them; grades.csv and feedback are
    refreshed."""
    course = Course(course_dir)
    course.require()
    path = course.root / "withheld.json"
    withheld = load_json(path)
    tests = exercise_tests(course, assignment)
    done = []
    for student in students:
        key = f"{assignment}/{student}"
        held = withheld.get(key)
        if not held:
            raise HomeworkError(
                f"nothing is withheld for {student} / {assignment} "
                f"(withheld: {', '.join(sorted(withheld)) or 'none'})"
            )
        chosen = answers or list(held)
        unknown = [a for a in chosen if a not in held]
        if unknown:
            raise HomeworkError(
                f"answers {', '.join(unknown)} of {student} are not withheld "
                f"({', '.join(held)})"
            )
        set_withheld(
            course,
            assignment,
            student,
            [t for a in chosen for t in tests.get(a, [])],
            False,
        )
        for a in chosen:
            held.pop(a)
            done.append(f"{student} / {a}")
        if not held:
            withheld.pop(key)
    save_json(path, withheld)
    say(f"Accepted: {', '.join(done)}")
    grade([], course.root, autograde=False)
    return done


def write_grades(course: Course, assignments: set[str], notes: dict,
                 problems: list[Submission],
                 withheld: dict | None = None) -> list[dict]:
    """grades.csv: one row per student and assignment: totals, points per graded cell,
    what to look at.

    Answers whose points are withheld (withheld.json) score 0 and make the row
    "needs review"."""
    if withheld is None:
        withheld = load_json(course.root / "withheld.json")
    import warnings

    from nbgrader.api import Gradebook, MissingEntry
    rows, columns = [], []
    with warnings.catch_warnings(), Gradebook(course.db_url()) as gb:
        warnings.simplefilter("ignore")        # SQLAlchemy chatter from nbgrader's score queries
        for a in sorted(assignments):
            try:
                gb.find_assignment(a)
            except MissingEntry:
                continue
            cells = {gid: c for gid, c in grade_cells(load_notebook(course.path("source", a))).items()
                     if c.metadata.nbgrader.get("grade")}
            auto_ids = [gid for gid, c in cells.items() if not c.metadata.nbgrader.get("solution")]
            columns += [gid for gid in cells if gid not in columns]
            points = {gid: float(c.metadata.nbgrader["points"]) for gid, c in cells.items()}
            blank = {"assignment": a, "max_score": sum(points.values()),
                     "autograded_max": sum(points[g] for g in auto_ids)}
            seen = set()
            for submission in sorted(gb.assignment_submissions(a), key=lambda s: s.student.id):
                student = submission.student.id
                seen.add(student)
                row = dict(blank, student_id=student, status="graded", score=round(submission.score, 2))
                pending = []
                for nb in submission.notebooks:
                    for g in nb.grades:
                        row[g.name] = round(g.score, 2)
                        if g.needs_manual_grade:
                            pending.append(g.name)
                row["autograded_score"] = round(sum(row.get(g, 0) for g in auto_ids), 2)
                row["needs_manual_grading"] = " ".join(pending)
                held = withheld.get(f"{a}/{student}") or {}
                extra = []
                if held:
                    row["status"] = "needs review"
                    extra = [f"points withheld until reviewed: {gid} ({why}); to give "
                             f"them: python tools/homework.py accept {a} {student} "
                             f"--answer {gid}" for gid, why in sorted(held.items())]
                row["notes"] = " | ".join(notes.get(f"{a}/{student}", []) + extra)
                rows.append(row)
            for sub in problems:
                if sub.assignment == a and sub.student and sub.student not in seen:
                    seen.add(sub.student)
                    rows.append(dict(blank, student_id=sub.student, status="not graded", score=0,
                                     autograded_score=0, notes=" | ".join(sub.notes)))
    for sub in problems:
        if not (sub.assignment in assignments and sub.student and any(
                r["student_id"] == sub.student and r["assignment"] == sub.assignment for r in rows)):
            rows.append({"student_id": sub.student or "", "assignment": sub.assignment or "", "score": 0,
                         "status": "not graded", "notes": " | ".join(sub.notes)})
    fields = ["student_id", "assignment", "score", "max_score", "autograded_score", "autograded_max", "status",
              "needs_manual_grading"] + columns + ["notes"]
    with open(course.root / "grades.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return rows


def write_report(course: Course, rows: list[dict], problems: list[Submission], seconds: float) -> str:
    review = sum(r["status"] == "needs review" for r in rows)
    done = sum(r["status"] in ("graded", "needs review") for r in rows)
    failed = sum(r["status"] == "not graded" for r in rows)
    lines = [f"Graded {done} submission(s) ({review} with points withheld until "
             f"reviewed); {failed} not graded; {seconds:.1f} s.", ""]
    for r in rows:
        pending = f"; to grade by hand: {r['needs_manual_grading']}" if r.get("needs_manual_grading") else ""
        total = f" of {r['max_score']:g}" if "max_score" in r else ""
        auto = f", autograded {r['autograded_score']:g} of {r['autograded_max']:g}" if "autograded_max" in r else ""
        lines.append(f"{r['student_id'] or '?'} / {r['assignment'] or '?'}: {r['score']:g}{total} "
                     f"({r['status']}{auto}{pending})")
        for note in filter(None, r.get("notes", "").split(" | ")):
            lines.append(f"    - {note}")
    lines += ["", f"Grades: {course.root / 'grades.csv'}",
              f"Feedback to return: {course.root / 'feedback_by_assignment'}/<assignment>/<student>.html "
              f"(also {course.root / 'feedback'}/<student>/<assignment>/)"]
    text = "\n".join(lines)
    (course.root / "grading_report.txt").write_text(text + "\n")
    return text


# ------------------------------------------------------------------------------------------ samples
def samples(course_dir: Path, out: Path | None = None, assignments: list[str] | None = None) -> list[Path]:
    """Sample submissions to try grading on: the reference answers, an untouched copy, a corrupt file."""
    course = Course(course_dir)
    course.require()
    out = Path(out) if out else course.root / "samples"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for a in assignments or course.assignments():
        if not course.path("release", a).exists():
            raise HomeworkError(f"no released assignment {a!r} in {course.root}")
        answers = grade_cells(load_notebook(course.path("source", a)))
        student = json.loads(course.path("release", a).read_text())
        reference = copy.deepcopy(student)
        for cell in reference["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader") or {}
            if meta.get("solution") and meta.get("grade_id") in answers:
                cell["source"] = answers[meta["grade_id"]]["source"]
        text = json.dumps(reference, indent=1)
        for name, content in ((f"reference_{a}.ipynb", text), (f"unanswered_{a}.ipynb", json.dumps(student, indent=1)),
                              (f"corrupt_{a}.ipynb", text[: len(text) // 3])):
            (out / name).write_text(content)
            written.append(out / name)
    say(f"Wrote {len(written)} sample submissions to {out} (students 'reference', 'unanswered', 'corrupt'). "
        f"Grade them with: make grade SUBMISSIONS={out}")
    return written


# ------------------------------------------------------------------------------------ check / table
def check(paths: list[Path]) -> int:
    chapters, problems = em.check_book(paths)
    for ch in chapters:
        say(f"{ch.path.name}: {len(ch.graded)} autograded exercises, {len(ch.open_questions)} open question(s), "
            f"{ch.points:g} points")
    for p in problems:
        say(f"  PROBLEM {p}")
    say(f"{len(problems)} problem(s) in {len(chapters)} notebook(s)")
    return 1 if problems else 0


def table(chapters_dir: Path = CHAPTERS_DIR) -> str:
    chapters = [em.read_chapter(p) for p in em.chapter_paths(chapters_dir)]
    return em.exercise_table(chapters)


def replace_table(page: str, new_table: str) -> str:
    if TABLE_START not in page or TABLE_END not in page:
        raise HomeworkError(f"the page has no {TABLE_START} ... {TABLE_END} markers")
    head, rest = page.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    return f"{head}{TABLE_START}\n{new_table}{TABLE_END}{tail}"


def current_table(page: str) -> str:
    return page.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0].lstrip("\n")


# -------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="homework.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Details: book/instructors.md")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("release", help="build the student versions of chapters' exercises")
    p.add_argument("chapters", nargs="*", help="chapter numbers or names (05, 5, 05_optimizers); default: all")
    p.add_argument("--course", type=Path, default=DEFAULT_COURSE, help="course folder (default: homework/)")
    p.add_argument("--chapters-dir", type=Path, default=CHAPTERS_DIR, help="where the chapter notebooks are")
    p.add_argument("--whole", action="store_true", help="hand out whole chapters, not only their exercises")
    p.add_argument("--no-validate", dest="validate", action="store_false",
                   help="skip running the instructor and student versions")
    p.add_argument("--timeout", type=int, default=120, help="seconds a cell may run (default 120)")
    g = sub.add_parser("grade", help="autograde submissions; write grades.csv and feedback")
    g.add_argument("submissions", nargs="*", type=Path,
                   help="folders or zip files of submissions (default: the course's submitted/ folder)")
    g.add_argument("--course", type=Path, default=DEFAULT_COURSE, help="course folder (default: homework/)")
    g.add_argument("--assignment", help="the assignment all these files belong to (default: told by their cells)")
    g.add_argument("--no-autograde", dest="autograde", action="store_false",
                   help="only refresh feedback and grades.csv (e.g. after grading open questions by hand)")
    g.add_argument("--timeout", type=int, default=120, help="seconds a cell may run (default 120)")
    g.add_argument("--full", action="store_true", help="run with COURSEKIT_FULL=1 (slow; default: CPU sizes)")
    d = sandbox.Limits()
    g.add_argument("--notebook-timeout", type=float, default=d.notebook_seconds,
                   help="seconds a whole submission may run, restarts included "
                        f"(default {d.notebook_seconds:g})")
    g.add_argument("--memory-mb", type=int, default=d.memory_mb,
                   help=f"memory of each process of a submission, MB (default "
                        f"{d.memory_mb})")
    g.add_argument("--processes", type=int, default=d.processes,
                   help=f"processes and threads a submission may have (default "
                        f"{d.processes})")
    g.add_argument("--file-mb", type=int, default=d.file_mb,
                   help=f"largest file, and all files, a submission may write, MB "
                        f"(default {d.file_mb})")
    g.add_argument("--workers", type=int, default=None,
                   help="submissions graded at once (default: one per core)")
    g.add_argument("--regrade", action="store_true",
                   help="run every submission again (default: keep those already "
                        "graded from the same file)")
    a = sub.add_parser("accept",
                       help="give back the withheld points of answers reviewed by hand")
    a.add_argument("assignment")
    a.add_argument("students", nargs="+")
    a.add_argument("--answer", action="append",
                   help="only this answer cell (grade_id); default: all withheld")
    a.add_argument("--course", type=Path, default=DEFAULT_COURSE,
                   help="course folder (default: homework/)")
    s = sub.add_parser("samples", help="write sample submissions (reference, unanswered, corrupt) to try grading")
    s.add_argument("assignments", nargs="*", help="default: every released assignment")
    s.add_argument("--course", type=Path, default=DEFAULT_COURSE, help="course folder (default: homework/)")
    s.add_argument("--out", type=Path, help="default: <course>/samples")
    c = sub.add_parser("check", help="check the exercise markup of chapter notebooks")
    c.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/NN_*.ipynb")
    t = sub.add_parser("table", help="print the exercise table (or --write it into book/instructors.md)")
    t.add_argument("--write", action="store_true")
    t.add_argument("--chapters-dir", type=Path, default=CHAPTERS_DIR)
    args = parser.parse_args(argv)
    try:
        if args.command == "release":
            release(args.chapters, args.course, args.chapters_dir, args.whole, args.validate, args.timeout)
        elif args.command == "grade":
            if args.workers is not None and args.workers < 1:
                raise HomeworkError(f"--workers must be at least 1, got {args.workers}")
            try:
                limits = sandbox.Limits(args.timeout, args.notebook_timeout,
                                        args.memory_mb, args.processes, args.file_mb)
            except ValueError as exc:
                raise HomeworkError(str(exc)) from None
            grade(args.submissions, args.course, args.assignment, args.autograde,
                  args.timeout, args.full, limits, args.workers, args.regrade)
        elif args.command == "accept":
            accept(args.course, args.assignment, args.students, args.answer)
        elif args.command == "samples":
            samples(args.course, args.out, args.assignments)
        elif args.command == "check":
            return check(args.notebooks or em.chapter_paths(CHAPTERS_DIR))
        elif args.command == "table":
            text = table(args.chapters_dir)
            if args.write:
                INSTRUCTORS_PAGE.write_text(replace_table(INSTRUCTORS_PAGE.read_text(), text))
                say(f"wrote the exercise table into {INSTRUCTORS_PAGE}")
            else:
                say(text, end="")
    except HomeworkError as exc:
        say(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
