"""Read and check the exercise markup of chapter notebooks (the markup CONTRIBUTING.md describes).

A chapter's exercises sit under ``## Exercises`` (before ``## References``). Each exercise is a
markdown statement with a sphinx-exercise ``exercise`` block labelled ``ex-NN-name``, followed by
- a solution code cell (nbgrader ``solution``, answer between ``### BEGIN/END SOLUTION``) and one or
  more graded test cells (nbgrader ``grade`` with ``points``, calling ``coursekit.check`` helpers,
  with randomized checks between ``### BEGIN/END HIDDEN TESTS``): an autograded exercise; or
- a markdown answer cell (nbgrader ``solution`` and ``grade`` with ``points``) whose model answer is
  wrapped in a collapsed ``{solution}`` block: an open question, graded by hand.

:func:`read_chapter` parses a notebook into a :class:`Chapter` (its exercises, set-up cells and the
problems found); :func:`check_book` adds the checks across chapters (unique labels). Every problem
names the notebook and the cell. The homework tool (tools/homework.py) and the test suite
(tests/test_exercise_markup.py) both use this module; it needs only the standard library.
"""
from __future__ import annotations

import ast
import builtins
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

MIN_GRADED_EXERCISES = 3
MIN_OPEN_QUESTIONS = 1
HOMEWORK_TAG = "homework"          # a chapter-body cell the exercises need: copied into the homework
HIDDEN_TAGS = {"hide-input", "hide-cell", "hide-output", "remove-input", "remove-cell"}
COLLAPSED_TAGS = {"hide-input", "hide-cell"}
CODE_STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]   # what nbgrader puts in place of a solution

BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"      # nbgrader matches these anywhere in a line
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
_HEADING = re.compile(r"^##\s+(.+?)\s*#*\s*$")
_TITLE = re.compile(r"^#\s+(.+?)\s*$")
_SECTION = re.compile(r"^#{2,6}\s+(.+?)\s*#*\s*$")
_DIRECTIVE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|:{3,})\{(?P<name>[\w-]+)\}\s*(?P<arg>.*?)\s*$")
_OPTION = re.compile(r"^\s*:(?P<key>[\w-]+):\s*(?P<value>.*?)\s*$")
_POINTS_IN_TEXT = re.compile(r"\((\d+(?:\.\d+)?)\s*points?\)", re.IGNORECASE)
_CHECK_CALL = re.compile(r"\b(?:(?:ck|coursekit)\.check\.|check\.)?(?:compare|assert_close|raises)\s*\(")
_RANDOM_CASES = re.compile(r"\brandom_cases\s*\(")
_NBGRADER_KEYS = {"grade", "grade_id", "locked", "schema_version", "solution"}
_IPYTHON_NAMES = {"display", "get_ipython", "In", "Out", "exit", "quit"}


@dataclass
class Problem:
    """One markup problem, located by notebook and cell (1-based, as counted from the top)."""
    notebook: str
    cell: int | None
    what: str
    message: str

    def __str__(self) -> str:
        where = f"cell {self.cell} ({self.what})" if self.cell is not None else self.what
        return f"{self.notebook}, {where}: {self.message}"


@dataclass
class Exercise:
    """One labelled exercise: its statement cell and the nbgrader cells after it (0-based indices)."""
    label: str
    title: str
    statement: int
    solutions: list[int] = field(default_factory=list)   # code solution cells
    tests: list[int] = field(default_factory=list)       # graded test cells
    answers: list[int] = field(default_factory=list)     # markdown answer cells (graded by hand)
    test_points: float = 0.0
    answer_points: float = 0.0
    stated_points: float | None = None

    @property
    def autograded(self) -> bool:
        return bool(self.tests)

    @property
    def open_question(self) -> bool:
        return bool(self.answers)

    @property
    def points(self) -> float:
        return self.test_points + self.answer_points


@dataclass
class Chapter:
    """A chapter notebook read for the homework: where its parts are, its exercises, its problems."""
    path: Path
    name: str                    # file stem, e.g. "05_optimizers": the assignment's name
    number: str | None           # "05"
    title: str                   # "05. Optimizers"
    nb: dict | None              # the notebook as JSON (None when unreadable)
    setup: list[int] = field(default_factory=list)         # code cells before the first section
    homework_cells: list[int] = field(default_factory=list)  # body cells tagged `homework`
    exercises_heading: int | None = None
    exercises_end: int | None = None                       # the References heading, or the end
    exercises: list[Exercise] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def cells(self) -> list[dict]:
        return self.nb["cells"] if self.nb else []

    @property
    def exercise_cells(self) -> list[int]:
        """Indices of the cells of the Exercises section (heading included, References excluded)."""
        if self.exercises_heading is None:
            return []
        return list(range(self.exercises_heading, self.exercises_end))

    @property
    def homework_selection(self) -> list[int]:
        """The cells of the exercises-only homework: set-up code, `homework`-tagged cells, the Exercises section."""
        return self.setup + self.homework_cells + self.exercise_cells

    @property
    def graded(self) -> list[Exercise]:
        return [ex for ex in self.exercises if ex.autograded]

    @property
    def open_questions(self) -> list[Exercise]:
        return [ex for ex in self.exercises if ex.open_question]

    @property
    def points(self) -> float:
        return sum(ex.points for ex in self.exercises)

    def problem(self, cell: int | None, message: str) -> None:
        self.problems.append(Problem(self.path.name, None if cell is None else cell + 1,
                                     describe_cell(self.cells[cell]) if cell is not None else "notebook", message))


# ----------------------------------------------------------------------------------------- helpers
def source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def nbgrader(cell: dict) -> dict | None:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else None


def tags(cell: dict) -> set[str]:
    value = cell.get("metadata", {}).get("tags", [])
    return set(value) if isinstance(value, list) else set()


def describe_cell(cell: dict) -> str:
    meta = nbgrader(cell)
    if meta and isinstance(meta.get("grade_id"), str):
        return f"grade_id {meta['grade_id']}"
    first = next((line.strip() for line in source(cell).splitlines() if line.strip()), "")
    first = first if len(first) <= 40 else first[:37] + "..."
    return f"{cell.get('cell_type', '?')}: {first!r}" if first else f"empty {cell.get('cell_type', '?')} cell"


def cell_kind(cell: dict) -> str | None:
    """'solution' (code answer), 'test' (graded test), 'answer' (markdown, graded by hand), 'other' or None."""
    meta = nbgrader(cell)
    if meta is None:
        return None
    solution, grade = meta.get("solution") is True, meta.get("grade") is True
    if cell.get("cell_type") == "code" and solution and not grade:
        return "solution"
    if cell.get("cell_type") == "code" and grade and not solution:
        return "test"
    if cell.get("cell_type") == "markdown" and grade and solution:
        return "answer"
    if not solution and not grade and not meta.get("task"):
        return None   # a plain locked/read-only cell: nbgrader only keeps it unchanged
    return "other"


def directives(text: str) -> list[dict]:
    """The top-level MyST directives of a markdown text: name, argument, options, body, line span."""
    lines = text.splitlines()
    found, i = [], 0
    while i < len(lines):
        m = _DIRECTIVE.match(lines[i])
        if not m:
            i += 1
            continue
        fence = m["fence"]
        j, options = i + 1, {}
        while j < len(lines) and _OPTION.match(lines[j]):
            opt = _OPTION.match(lines[j])
            options[opt["key"]] = opt["value"]
            j += 1
        close = re.compile(r"^\s*" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}\s*$")
        k = j
        while k < len(lines) and not close.match(lines[k]):
            k += 1
        found.append({"name": m["name"], "arg": m["arg"], "options": options,
                      "body": "\n".join(lines[j:k]).strip("\n"), "start": i, "end": min(k, len(lines) - 1),
                      "closed": k < len(lines)})
        i = k + 1
    return found


def marker_regions(text: str, begin: str, end: str) -> tuple[list[tuple[int, int]], str | None]:
    """Line spans (begin, end) of marker regions in the way nbgrader finds them, or an error message."""
    regions, start = [], None
    for n, line in enumerate(text.split("\n")):
        if begin in line:
            if start is not None:
                return regions, f"a second '### {begin}' at line {n + 1} before '### {end}'"
            start = n
        elif end in line:
            if start is None:
                return regions, f"'### {end}' at line {n + 1} without a '### {begin}' before it"
            regions.append((start, n))
            start = None
    if start is not None:
        return regions, f"'### {begin}' at line {start + 1} has no '### {end}'"
    return regions, None


def student_version(text: str, cell_type: str = "code") -> str:
    """The cell as nbgrader gives it to students: solution regions replaced by the stub."""
    regions, error = marker_regions(text, BEGIN_SOLUTION, END_SOLUTION)
    if error:
        raise ValueError(error)
    if not regions:
        return "\n".join(CODE_STUB) if cell_type == "code" else "YOUR ANSWER HERE"
    lines, out, inside = text.split("\n"), [], False
    for line in lines:
        if BEGIN_SOLUTION in line:
            inside = True
            indent = re.match(r"\s*", line).group(0)
            out += [indent + stub for stub in (CODE_STUB if cell_type == "code" else ["YOUR ANSWER HERE"])]
        elif END_SOLUTION in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def strip_regions(text: str, begin: str, end: str) -> str:
    out, inside = [], False
    for line in text.split("\n"):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def region_lines(text: str, begin: str, end: str) -> list[str]:
    out, inside = [], False
    for line in text.split("\n"):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            out.append(line)
    return out


def python_source(text: str) -> str:
    """Cell source with IPython-only lines (magics, shell escapes) blanked, so `ast` can parse it."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in text.split("\n"))


def parse(text: str) -> ast.Module | None:
    try:
        return ast.parse(python_source(text))
    except SyntaxError:
        return None


def bound_and_used(tree: ast.AST) -> tuple[set[str], set[str]]:
    """Names a cell binds anywhere (over-approximate: any scope) and names it reads."""
    bound, used = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (used if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound.update(node.names)
        elif isinstance(node, ast.MatchAs) and node.name:
            bound.add(node.name)
    return bound, used


def headings(cell: dict, pattern: re.Pattern = _HEADING) -> list[tuple[int, str]]:
    """(line number, text) of the headings of a markdown cell (outside code fences)."""
    if cell.get("cell_type") != "markdown":
        return []
    found, fence = [], None
    for n, line in enumerate(source(cell).split("\n")):
        m = re.match(r"^\s*(`{3,}|~{3,}|:{3,})", line)
        if m and fence is None:
            fence = m.group(1)[0] * len(m.group(1))
        elif m and fence and m.group(1).startswith(fence) and not line.strip()[len(m.group(1)):].strip():
            fence = None
        elif fence is None:
            h = pattern.match(line.strip())
            if h:
                found.append((n, h.group(1)))
    return found


def heading(cell: dict, pattern: re.Pattern = _HEADING) -> str | None:
    """The first heading of a markdown cell, or None."""
    found = headings(cell, pattern)
    return found[0][1] if found else None


def exercises_line(cell: dict) -> int | None:
    """The line of the cell's '## Exercises' heading, or None."""
    return next((n for n, h in headings(cell) if h.lower().rstrip(".") == "exercises"), None)


# ---------------------------------------------------------------------------------------- reading
def read_chapter(path: str | Path) -> Chapter:
    """Parse a chapter notebook and check its exercise markup; problems are in ``chapter.problems``."""
    path = Path(path)
    m = re.match(r"^(\d+)_", path.name)
    chapter = Chapter(path=path, name=path.stem, number=m.group(1) if m else None, title=path.stem, nb=None)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
            raise ValueError("no list of cells")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        chapter.problems.append(Problem(path.name, None, "notebook", f"cannot be read as a notebook: {exc}"))
        return chapter
    chapter.nb = nb
    cells = chapter.cells
    for i, cell in enumerate(cells):
        if "metadata" not in cell or not isinstance(cell["metadata"], dict):
            cell["metadata"] = {}
        title = heading(cell, _TITLE)
        if title:
            chapter.title = title
            break

    # the parts: set-up (before the first `##` section), the Exercises section, References
    first_section = next((i for i, c in enumerate(cells) if heading(c, _SECTION)), len(cells))
    chapter.setup = [i for i in range(first_section) if cells[i].get("cell_type") == "code"]
    for i, cell in enumerate(cells):
        if chapter.exercises_heading is None and exercises_line(cell) is not None:
            chapter.exercises_heading = i      # the heading may close a cell that starts with the Summary
        elif chapter.exercises_heading is not None and chapter.exercises_end is None and \
                any(h.lower().startswith("references") for _, h in headings(cell)):
            chapter.exercises_end = i
    if chapter.exercises_heading is not None and chapter.exercises_end is None:
        chapter.exercises_end = len(cells)
    section = set(chapter.exercise_cells)
    chapter.homework_cells = [i for i, c in enumerate(cells) if HOMEWORK_TAG in tags(c)
                              and i not in section and i not in chapter.setup]

    _read_exercises(chapter)
    _check_cells(chapter)
    _check_exercises(chapter)
    _check_leaks(chapter)
    _check_self_contained(chapter)
    return chapter


def _read_exercises(ch: Chapter) -> None:
    cells, section = ch.cells, set(ch.exercise_cells)
    current: Exercise | None = None
    for i, cell in enumerate(cells):
        kind = cell_kind(cell)
        statements = [d for d in directives(source(cell)) if d["name"] == "exercise"] \
            if cell.get("cell_type") == "markdown" else []
        if statements:
            if i not in section:
                ch.problem(i, "an exercise statement outside the '## Exercises' section (exercises go at the "
                              "end of the chapter, before '## References')")
            if len(statements) > 1:
                ch.problem(i, "more than one {exercise} block in one cell: give each exercise its own statement cell")
            d = statements[0]
            if not d["closed"]:
                ch.problem(i, "the {exercise} block is not closed (its fence never ends)")
            current = Exercise(label=d["options"].get("label", ""), title=d["arg"] or d["options"].get("label", ""),
                               statement=i)
            stated = _POINTS_IN_TEXT.findall(d["body"])
            current.stated_points = float(stated[-1]) if stated else None
            ch.exercises.append(current)
            continue
        if kind is None:
            continue
        if i not in section:
            ch.problem(i, "an nbgrader cell outside the '## Exercises' section" if ch.exercises_heading is not None
                       else "an nbgrader cell, but the chapter has no '## Exercises' section")
            continue
        if current is None:
            ch.problem(i, "an nbgrader cell before the first exercise statement: put it after the "
                          "```{exercise} block it belongs to")
            continue
        meta = nbgrader(cell)
        points = meta.get("points", 0)
        points = float(points) if isinstance(points, (int, float)) and not isinstance(points, bool) else 0.0
        if kind == "solution":
            current.solutions.append(i)
        elif kind == "test":
            if not current.solutions:
                ch.problem(i, f"a test cell in exercise {current.label or '?'} with no solution cell before it")
            current.tests.append(i)
            current.test_points += points
        elif kind == "answer":
            current.answers.append(i)
            current.answer_points += points
        else:
            ch.problem(i, "unsupported nbgrader cell: use a solution code cell (solution: true, grade: false), a "
                          "graded test cell (grade: true, solution: false) or a markdown answer cell "
                          "(grade: true, solution: true)")


def _check_cells(ch: Chapter) -> None:
    prefix = f"ex-{ch.number}-" if ch.number else "ex-"
    id_pattern = re.compile("^" + re.escape(prefix) + r"[a-z0-9]+(?:-[a-z0-9]+)*$")
    ids: Counter = Counter()
    for i, cell in enumerate(ch.cells):
        text = source(cell)
        meta, kind = nbgrader(cell), cell_kind(cell)
        # markers only where nbgrader accepts them (elsewhere generate_assignment fails)
        for begin, end, allowed, what in ((BEGIN_SOLUTION, END_SOLUTION, kind in ("solution", "answer"),
                                           "solution cells"),
                                          (BEGIN_HIDDEN, END_HIDDEN, kind == "test", "graded test cells")):
            has = begin in text or end in text
            if has and not allowed:
                ch.problem(i, f"'### {begin}' markers are only allowed in {what} (nbgrader metadata missing or "
                              f"wrong), so generating the homework would fail")
            if has:
                _, error = marker_regions(text, begin, end)
                if error:
                    ch.problem(i, error)
                for n, line in enumerate(text.split("\n")):
                    if (begin in line or end in line) and line.strip() not in (f"### {begin}", f"### {end}"):
                        ch.problem(i, f"line {n + 1}: write the marker alone on its line as '### {begin}' / "
                                      f"'### {end}' (found {line.strip()!r})")
        if meta is None:
            continue
        missing = sorted(k for k in _NBGRADER_KEYS if k not in meta)
        if missing:
            ch.problem(i, f"nbgrader metadata lacks {', '.join(missing)}")
        for key in ("grade", "solution", "locked"):
            if key in meta and not isinstance(meta[key], bool):
                ch.problem(i, f"nbgrader '{key}' must be true or false, got {meta[key]!r}")
        if meta.get("schema_version", 3) != 3:
            ch.problem(i, f"nbgrader schema_version must be 3, got {meta.get('schema_version')!r}")
        grade_id = meta.get("grade_id")
        if not isinstance(grade_id, str) or not grade_id:
            ch.problem(i, "nbgrader grade_id is missing or empty")
        else:
            ids[grade_id] += 1
            if not id_pattern.match(grade_id):
                ch.problem(i, f"grade_id {grade_id!r} should look like '{prefix}short-name' "
                              "(lower case, digits and hyphens, the chapter's number)")
        if meta.get("grade") is True:
            points = meta.get("points")
            if isinstance(points, bool) or not isinstance(points, (int, float)) or points <= 0:
                ch.problem(i, f"a graded cell needs positive 'points' in its nbgrader metadata, got {points!r}")
        if kind == "test":
            if meta.get("locked") is not True:
                ch.problem(i, "a graded test cell must be locked (nbgrader 'locked': true)")
            _check_test_cell(ch, i, text)
        elif kind == "solution":
            regions, error = marker_regions(text, BEGIN_SOLUTION, END_SOLUTION)
            if not regions and not error:
                ch.problem(i, "a solution cell without '### BEGIN SOLUTION' / '### END SOLUTION': students would "
                              "get an empty cell; put the answer between the markers")
            elif not error:
                lines = text.split("\n")
                for begin, _ in regions:
                    body = next((ln for ln in lines[begin + 1:] if ln.strip()), "")
                    indent = len(lines[begin]) - len(lines[begin].lstrip())
                    if body and END_SOLUTION not in body and len(body) - len(body.lstrip()) != indent:
                        ch.problem(i, f"line {begin + 1}: '### BEGIN SOLUTION' is indented differently from the code "
                                      "after it; the student's stub takes the marker's indentation, so the student "
                                      "version of this cell would not work")
                for version, name in ((text, "instructor"), (student_version(text), "student")):
                    try:
                        ast.parse(python_source(version))
                    except SyntaxError as exc:
                        ch.problem(i, f"the {name} version of this cell is not valid Python (line {exc.lineno}: "
                                      f"{exc.msg}); check the indentation of the solution markers")
                        break
            if not (COLLAPSED_TAGS & tags(cell)) and not _between_solution_blocks(ch, i):
                ch.problem(i, "a solution cell must render collapsed in the book: tag it 'hide-input' (or wrap it "
                              "in solution-start/solution-end blocks)")
        elif kind == "answer":
            blocks = [d for d in directives(text) if d["name"] == "solution"]
            if not blocks:
                ch.problem(i, "an open question's model answer must be wrapped in a ```{solution} <label> block "
                              "with ':class: dropdown', so the book shows it collapsed")
            elif "dropdown" not in blocks[0]["options"].get("class", ""):
                ch.problem(i, "the {solution} block needs ':class: dropdown' so the book shows it collapsed")
    for grade_id, n in ids.items():
        if n > 1:
            cells = [k + 1 for k, c in enumerate(ch.cells) if (nbgrader(c) or {}).get("grade_id") == grade_id]
            ch.problems.append(Problem(ch.path.name, cells[1], f"grade_id {grade_id}",
                                       f"grade_id {grade_id!r} is used by {n} cells ({', '.join(map(str, cells))}); "
                                       "every nbgrader cell needs its own"))


def _check_test_cell(ch: Chapter, i: int, text: str) -> None:
    regions, _ = marker_regions(text, BEGIN_HIDDEN, END_HIDDEN)
    hidden = "\n".join(region_lines(text, BEGIN_HIDDEN, END_HIDDEN))
    if not regions:
        ch.problem(i, "a test cell without hidden tests: add randomized checks between '### BEGIN HIDDEN TESTS' "
                      "and '### END HIDDEN TESTS' (ck.check.random_cases), so a hard-coded answer cannot pass")
    elif not _RANDOM_CASES.search(hidden):
        ch.problem(i, "the hidden tests should use ck.check.random_cases(...) so a hard-coded answer cannot pass")
    if not _CHECK_CALL.search(text):
        ch.problem(i, "a test cell must call coursekit.check helpers (compare, assert_close, raises)")
    tree = parse(text)
    if tree is None:
        ch.problem(i, "the test cell is not valid Python")
    elif any(isinstance(node, ast.Assert) for node in ast.walk(tree)):
        ch.problem(i, "a bare assert in a test cell gives students no message: use ck.check.assert_close(...) or "
                      "ck.check.compare(...), which say what differs")


def _between_solution_blocks(ch: Chapter, i: int) -> bool:
    """Whether code cell ``i`` sits between sphinx-exercise solution-start and solution-end blocks."""
    for j in range(i - 1, -1, -1):
        names = [d["name"] for d in directives(source(ch.cells[j]))] if ch.cells[j].get("cell_type") == "markdown" \
            else []
        if "solution-end" in names:
            return False
        if "solution-start" in names:
            return any("solution-end" in [d["name"] for d in directives(source(c))]
                       for c in ch.cells[i + 1:] if c.get("cell_type") == "markdown")
    return False


def _check_exercises(ch: Chapter) -> None:
    if ch.nb is None:
        return
    if ch.exercises_heading is None:
        ch.problem(None, "no '## Exercises' section (every chapter ends with exercises, then '## References')")
        return
    labels: Counter = Counter(ex.label for ex in ch.exercises)
    prefix = f"ex-{ch.number}-" if ch.number else "ex-"
    for ex in ch.exercises:
        s = ex.statement
        if not ex.label:
            ch.problem(s, "the {exercise} block needs a ':label: " + prefix + "short-name' option")
        elif not re.match("^" + re.escape(prefix) + r"[a-z0-9]+(?:-[a-z0-9]+)*$", ex.label):
            ch.problem(s, f"label {ex.label!r} should look like '{prefix}short-name'")
        elif labels[ex.label] > 1:
            ch.problem(s, f"label {ex.label!r} is used by {labels[ex.label]} exercises")
        name = ex.label or "this exercise"
        if not (ex.solutions or ex.tests or ex.answers):
            ch.problem(s, f"{name} has no solution/test cells and no answer cell: it cannot be graded")
        for sol in ex.solutions:
            if not any(t > sol for t in ex.tests):
                ch.problem(sol, f"the solution cell of {name} has no graded test cell after it")
        visible = "\n".join(strip_regions(source(ch.cells[t]), BEGIN_HIDDEN, END_HIDDEN) for t in ex.tests)
        if ex.tests and not _CHECK_CALL.search(visible):
            ch.problem(ex.tests[0], f"{name} has no visible test: give students at least one check on fixed cases "
                                    "outside the hidden tests")
        for a in ex.answers:
            for d in directives(source(ch.cells[a])):
                if d["name"] == "solution" and ex.label and d["arg"] != ex.label:
                    ch.problem(a, f"the {{solution}} block refers to {d['arg']!r}, but the exercise is {ex.label!r}")
        if ex.stated_points is not None and ex.points and abs(ex.stated_points - ex.points) > 1e-9:
            ch.problem(s, f"the statement says {ex.stated_points:g} points but the graded cells of {name} add up "
                          f"to {ex.points:g}")
    if len(ch.graded) < MIN_GRADED_EXERCISES:
        ch.problem(ch.exercises_heading, f"{len(ch.graded)} autograded exercise(s); every chapter needs at least "
                                         f"{MIN_GRADED_EXERCISES} (statement, solution cell, graded test cells)")
    if len(ch.open_questions) < MIN_OPEN_QUESTIONS:
        ch.problem(ch.exercises_heading, f"{len(ch.open_questions)} open question(s); every chapter needs at least "
                                         f"{MIN_OPEN_QUESTIONS} (statement and a markdown answer cell)")


def _check_leaks(ch: Chapter) -> None:
    """Solutions must not be visible in the student version: not outside the markers, not in other cells."""
    if ch.nb is None:
        return
    cells, selection = ch.cells, ch.homework_selection
    secret: dict[str, int] = {}
    for i in selection:
        kind = cell_kind(cells[i])
        text = source(cells[i])
        if kind == "solution":
            lines = region_lines(text, BEGIN_SOLUTION, END_SOLUTION)
        elif kind == "answer":
            lines = [ln for ln in text.splitlines() if len(ln.strip()) >= 30]
        else:
            continue
        for line in lines:
            norm = " ".join(line.split())
            if len(norm) >= 12 and not norm.startswith("#"):
                secret.setdefault(norm, i)
    for i in selection:
        cell, kind = cells[i], cell_kind(cells[i])
        text = source(cell)
        if kind == "answer":
            continue
        visible = strip_regions(text, BEGIN_SOLUTION, END_SOLUTION) if kind == "solution" else text
        visible = strip_regions(visible, BEGIN_HIDDEN, END_HIDDEN) if kind == "test" else visible
        for line in visible.splitlines():
            norm = " ".join(line.split())
            if norm in secret and secret[norm] != i:
                ch.problem(i, f"students would see a line of the solution in cell {secret[norm] + 1}: {norm[:60]!r}")
        if cell.get("cell_type") == "markdown" and kind is None:
            for d in directives(text):
                if d["name"] == "solution" or (d["name"] == "solution-start" and d["body"].strip()):
                    ch.problem(i, "a {solution} block with its answer in a plain markdown cell: students would see "
                                  "it; put the model answer in an nbgrader answer cell")
        if cell.get("cell_type") == "code" and kind is None and i in ch.exercise_cells and HIDDEN_TAGS & tags(cell):
            ch.problem(i, f"a code cell tagged {sorted(HIDDEN_TAGS & tags(cell))[0]!r} in the Exercises section that "
                          "is not an nbgrader solution cell: students would see all of it in the homework (if it is a "
                          "solution, make it a solution cell with '### BEGIN/END SOLUTION')")


def _check_self_contained(ch: Chapter) -> None:
    """The exercises-only homework (set-up + `homework` cells + Exercises) must not need the chapter body."""
    if ch.nb is None or ch.exercises_heading is None:
        return
    selected = set(ch.homework_selection)
    bound_in: dict[str, int] = {}
    for i, cell in enumerate(ch.cells):
        if cell.get("cell_type") == "code" and i not in selected:
            tree = parse(source(cell))
            if tree:
                for name in bound_and_used(tree)[0]:
                    bound_in.setdefault(name, i)
    bound, uses = set(dir(builtins)) | _IPYTHON_NAMES, []
    for i in sorted(selected):
        if ch.cells[i].get("cell_type") != "code":
            continue
        tree = parse(source(ch.cells[i]))
        if tree:
            b, u = bound_and_used(tree)
            bound |= b
            uses += [(name, i) for name in sorted(u)]
    reported = set()
    for name, i in uses:
        if name not in bound and name in bound_in and name not in reported:
            reported.add(name)
            ch.problem(i, f"uses {name!r}, which only the chapter body defines (cell {bound_in[name] + 1}); the "
                          f"homework holds the set-up cells and the Exercises section only: define it there, or tag "
                          f"that cell '{HOMEWORK_TAG}'")


# ------------------------------------------------------------------------------------------ the book
def chapter_paths(folder: str | Path) -> list[Path]:
    """The chapter notebooks of a folder: NN_topic.ipynb, in order."""
    return sorted(p for p in Path(folder).glob("*.ipynb") if re.match(r"^\d+_", p.name))


def check_book(paths) -> tuple[list[Chapter], list[Problem]]:
    """Read every chapter; return them with all problems, including labels used in more than one chapter."""
    chapters = [read_chapter(p) for p in paths]
    problems = [p for ch in chapters for p in ch.problems]
    seen: dict[str, str] = {}
    for ch in chapters:
        names = [ex.label for ex in ch.exercises if ex.label] + \
            [(nbgrader(c) or {}).get("grade_id") for c in ch.cells if isinstance((nbgrader(c) or {}).get("grade_id"), str)]
        for name in dict.fromkeys(names):
            if name in seen and seen[name] != ch.path.name:
                problems.append(Problem(ch.path.name, None, "notebook",
                                        f"label/grade_id {name!r} is also used in {seen[name]}; ids are unique in the book"))
            seen.setdefault(name, ch.path.name)
    return chapters, problems


def _points(x: float) -> str:
    return f"{x:g}"


def exercise_table(chapters: list[Chapter]) -> str:
    """Markdown tables of the exercises per chapter with their points (for book/instructors.md)."""
    if not chapters:
        return "*No chapter notebooks yet.*\n"
    out = ["| Chapter | Assignment | Autograded exercises | Open questions | Autograded points | Points graded by hand |",
           "|---|---|---|---|---|---|"]
    for ch in chapters:
        auto = sum(ex.test_points for ex in ch.exercises)
        manual = sum(ex.answer_points for ex in ch.exercises)
        out.append(f"| {ch.title} | `{ch.name}` | {len(ch.graded)} | {len(ch.open_questions)} | {_points(auto)} | "
                   f"{_points(manual)} |")
    out += ["", "| Chapter | Exercise | Label | Graded by | Points |", "|---|---|---|---|---|"]
    for ch in chapters:
        for ex in ch.exercises:
            how = []
            if ex.tests:
                how.append(f"autograder ({len(ex.tests)} test cell{'s' if len(ex.tests) > 1 else ''})")
            if ex.answers:
                how.append("hand")
            title = ex.title.replace("|", "\\|")
            out.append(f"| {ch.number or ch.name} | {title} | `{ex.label}` | {', '.join(how) or '-'} | "
                       f"{_points(ex.points)} |")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------- MyST to plain Jupyter markdown
_ROLE = re.compile(r"\{(?P<role>[\w:-]+)\}`(?P<body>[^`]*)`")


def _role_text(m: re.Match) -> str:
    role, body = m["role"], m["body"]
    if role == "math":
        return f"${body}$"
    if role.startswith(("cite", "footcite")):
        return "[" + ", ".join(k.strip() for k in body.split(",")) + "]"
    text = re.match(r"^(.*?)\s*<[^>]*>$", body)
    return text.group(1) if text else body


def demyst(text: str) -> str:
    """MyST markdown (directives, roles) turned into plain markdown that reads well in JupyterLab."""
    lines = text.split("\n")
    out, last = [], 0
    for d in directives(text):
        out += lines[last:d["start"]]
        body = demyst(d["body"])
        name, arg = d["name"], d["arg"]
        if name == "exercise":
            out += [f"### Exercise: {arg}" if arg else "### Exercise", "", body]
        elif name in ("solution", "solution-start", "solution-end"):
            out += (["**Model answer.**", "", body] if body.strip() else [])
        elif name == "math":
            out += ["$$", body, "$$"]
        elif name in ("footbibliography", "bibliography", "toctree"):
            pass
        elif name in ("code-cell", "code-block", "code"):
            out += [f"```{arg}", d["body"], "```"]
        else:   # admonitions and the rest: a quoted block with its title
            title = arg or name.capitalize()
            out += [f"> **{title}.**", ">"] + [f"> {ln}" if ln else ">" for ln in body.split("\n")]
        last = d["end"] + 1
    out += lines[last:]
    return _ROLE.sub(_role_text, "\n".join(out)).strip("\n")
