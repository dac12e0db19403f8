"""The exercise markup of every chapter (CONTRIBUTING.md, "Exercises"), so no chapter silently breaks homework.

For each notebooks/NN_*.ipynb: every solution cell has a graded test after it, ids are unique (in the
chapter and in the book), graded cells have points, markers sit in the right cells and no solution
text is visible to students, test cells use coursekit.check with randomized hidden tests, solutions
render collapsed, the exercises-only homework does not need the chapter body, and the chapter has at
least 3 autograded exercises and 1 open question. Failures name the notebook and the cell.
The second half checks that the checker itself catches each kind of problem, on a fixture chapter.
"""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "chapters"
sys.path.insert(0, str(ROOT / "tools"))
import exercise_markup as em  # noqa: E402
import homework  # noqa: E402

CHAPTERS = em.chapter_paths(ROOT / "notebooks")
FIXTURE = FIXTURES / "98_thresholds_fixture.ipynb"


def _report(problems) -> str:
    return "\n".join(str(p) for p in problems) + "\n(see CONTRIBUTING.md, 'Exercises'; check locally with " \
        "`.venv/bin/python tools/homework.py check notebooks/NN_topic.ipynb`)"


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_chapter_exercise_markup(path):
    chapter = em.read_chapter(path)
    if chapter.problems:
        pytest.fail(_report(chapter.problems), pytrace=False)


def test_ids_unique_across_the_book():
    _, problems = em.check_book(CHAPTERS + em.chapter_paths(FIXTURES))
    across = [p for p in problems if "unique in the book" in p.message]
    if across:
        pytest.fail(_report(across), pytrace=False)


def test_instructors_table_is_up_to_date():
    page = homework.INSTRUCTORS_PAGE.read_text()
    assert homework.current_table(page) == homework.table(), (
        "the exercise table in book/instructors.md is out of date: run "
        "`.venv/bin/python tools/homework.py table --write`")


# ------------------------------------------------------------------------------ the checker itself
@pytest.mark.parametrize("path", em.chapter_paths(FIXTURES), ids=lambda p: p.name)
def test_fixture_chapters_follow_the_markup(path):
    chapter = em.read_chapter(path)
    assert not chapter.problems, _report(chapter.problems)
    assert len(chapter.graded) == 3 and len(chapter.open_questions) == 1


def _cells_by_id(nb):
    return {c["metadata"]["nbgrader"]["grade_id"]: c for c in nb["cells"] if "nbgrader" in c["metadata"]}


def _index(nb, grade_id):
    return next(i for i, c in enumerate(nb["cells"]) if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)


def _src(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _set(cell, text):
    cell["source"] = text


def _code(text, **meta):
    return {"cell_type": "code", "metadata": meta, "source": text, "outputs": [], "execution_count": None,
            "id": "added"}


def _drop(nb, *ids):
    nb["cells"] = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") not in ids]


def _drop_exercise(nb, label):
    cells = nb["cells"]
    start = next(i for i, c in enumerate(cells) if f":label: {label}" in _src(c))
    end = next((i for i in range(start + 1, len(cells)) if "{exercise}" in _src(cells[i])
                or _src(cells[i]).startswith("## References")), len(cells))
    del cells[start:end]


def m_no_test(nb):
    _drop(nb, "ex-98-logsumexp-test")


def m_duplicate_id(nb):
    _cells_by_id(nb)["ex-98-clip-test-errors"]["metadata"]["nbgrader"]["grade_id"] = "ex-98-clip-test"


def m_no_points(nb):
    del _cells_by_id(nb)["ex-98-logsumexp-test"]["metadata"]["nbgrader"]["points"]


def m_leak(nb):
    nb["cells"].insert(_index(nb, "ex-98-clip-test"), _code("# a helper\nreturn torch.sign(v) * torch.clamp(v.abs() - theta, min=0)"))


def m_no_markers(nb):
    _set(_cells_by_id(nb)["ex-98-logsumexp-solution"], "def logsumexp(x):\n    return torch.logsumexp(x, -1)")


def m_markers_without_metadata(nb):
    cell = _cells_by_id(nb)["ex-98-logsumexp-solution"]
    del cell["metadata"]["nbgrader"]


def m_no_hidden(nb):
    cell = _cells_by_id(nb)["ex-98-soft-threshold-test"]
    _set(cell, _src(cell).split("### BEGIN HIDDEN TESTS")[0])


def m_hidden_not_random(nb):
    cell = _cells_by_id(nb)["ex-98-soft-threshold-test"]
    _set(cell, _src(cell).replace("ck.check.random_cases(lambda g: (torch.randn(4, 7, generator=g), "
                                  "float(torch.rand(1, generator=g))), n=5)", "[(torch.ones(3), 0.5)]"))


def m_bare_assert(nb):
    cell = _cells_by_id(nb)["ex-98-clip-test"]
    _set(cell, "assert clip_by_norm(torch.ones(2), 1.0).norm() <= 1\n" + _src(cell))


def m_two_exercises(nb):
    _drop_exercise(nb, "ex-98-logsumexp")
    _drop_exercise(nb, "ex-98-clip")


def m_no_open_question(nb):
    _drop_exercise(nb, "ex-98-why-max")


def m_not_collapsed(nb):
    del _cells_by_id(nb)["ex-98-clip-solution"]["metadata"]["tags"]


def m_answer_in_plain_markdown(nb):
    cell = _cells_by_id(nb)["ex-98-why-max"]
    del cell["metadata"]["nbgrader"]


def m_uses_chapter_body(nb):
    cell = _cells_by_id(nb)["ex-98-soft-threshold-test"]
    _set(cell, _src(cell).replace("[(torch.tensor([-2.0, 0.5, 3.0]), 1.0)", "[(shrunk, 1.0)"))


def m_bad_id(nb):
    _cells_by_id(nb)["ex-98-clip-test"]["metadata"]["nbgrader"]["grade_id"] = "clip_test"


def m_unbalanced(nb):
    cell = _cells_by_id(nb)["ex-98-clip-solution"]
    _set(cell, _src(cell).replace("    ### END SOLUTION", ""))


def m_bad_indentation(nb):
    cell = _cells_by_id(nb)["ex-98-logsumexp-solution"]
    _set(cell, _src(cell).replace("    ### BEGIN SOLUTION", "### BEGIN SOLUTION"))


def m_no_exercises_heading(nb):
    for cell in nb["cells"]:
        if _src(cell).startswith("## Exercises"):
            _set(cell, "## Practice")


def m_points_mismatch(nb):
    _cells_by_id(nb)["ex-98-logsumexp-test"]["metadata"]["nbgrader"]["points"] = 5


def m_hidden_solution_cell(nb):
    nb["cells"].insert(_index(nb, "ex-98-clip-test"), _code("helper = 1", tags=["hide-input"]))


MUTATIONS = [
    (m_no_test, "ex-98-logsumexp-solution", "has no graded test cell after it"),
    (m_duplicate_id, "ex-98-clip-test", "is used by 2 cells"),
    (m_no_points, "ex-98-logsumexp-test", "needs positive 'points'"),
    (m_leak, "code: '# a helper'", "students would see a line of the solution in cell 10"),
    (m_no_markers, "ex-98-logsumexp-solution", "without '### BEGIN SOLUTION'"),
    (m_markers_without_metadata, "code", "only allowed in solution cells"),
    (m_no_hidden, "ex-98-soft-threshold-test", "without hidden tests"),
    (m_hidden_not_random, "ex-98-soft-threshold-test", "random_cases"),
    (m_bare_assert, "ex-98-clip-test", "bare assert"),
    (m_two_exercises, "markdown: '## Exercises'", "every chapter needs at least 3"),
    (m_no_open_question, "markdown: '## Exercises'", "open question(s)"),
    (m_not_collapsed, "ex-98-clip-solution", "render collapsed"),
    (m_answer_in_plain_markdown, "markdown", "students would see it"),
    (m_uses_chapter_body, "ex-98-soft-threshold-test", "'shrunk', which only the chapter body defines"),
    (m_bad_id, "clip_test", "should look like 'ex-98-short-name'"),
    (m_unbalanced, "ex-98-clip-solution", "has no '### END SOLUTION'"),
    (m_bad_indentation, "ex-98-logsumexp-solution", "indented differently from the code after it"),
    (m_no_exercises_heading, "notebook", "no '## Exercises' section"),
    (m_points_mismatch, "markdown", "the statement says 2 points but the graded cells"),
    (m_hidden_solution_cell, "code", "students would see all of it"),
]


@pytest.mark.parametrize("mutate, where, message", MUTATIONS, ids=[m[0].__name__[2:] for m in MUTATIONS])
def test_checker_names_notebook_cell_and_problem(tmp_path, mutate, where, message):
    nb = json.loads(FIXTURE.read_text())
    mutate(nb)
    path = tmp_path / FIXTURE.name
    path.write_text(json.dumps(nb))
    problems = em.read_chapter(path).problems
    text = [str(p) for p in problems]
    hits = [t for t in text if message in t]
    assert hits, f"expected a problem saying {message!r}; got:\n" + "\n".join(text)
    assert any(t.startswith(f"{FIXTURE.name}, ") and where in t for t in hits), hits
    if where != "notebook":
        assert any(p.cell is not None for p in problems if message in str(p)), hits


def test_exercises_heading_may_end_the_summary_cell(tmp_path):
    nb = json.loads(FIXTURE.read_text())
    cells = nb["cells"]
    at = next(i for i, c in enumerate(cells) if _src(c).startswith("## Exercises"))
    cells[at - 1]["source"] = _src(cells[at - 1]) + "\n\n## Exercises\n\nTry these."
    del cells[at]
    path = tmp_path / FIXTURE.name
    path.write_text(json.dumps(nb))
    chapter = em.read_chapter(path)
    assert not chapter.problems, _report(chapter.problems)
    assert chapter.exercises_heading == at - 1 and len(chapter.graded) == 3
    text = "\n".join(_src(c) for c in homework.source_assignment(chapter).cells)
    assert "## Exercises\n\nTry these." in text and "## Summary" not in text


def test_checker_reports_unreadable_notebook(tmp_path):
    path = tmp_path / "07_broken.ipynb"
    path.write_text('{"cells": [')
    problems = em.read_chapter(path).problems
    assert len(problems) == 1 and "07_broken.ipynb, notebook: cannot be read as a notebook" in str(problems[0])


def test_ids_must_be_unique_across_chapters(tmp_path):
    nb = json.loads(FIXTURE.read_text())
    (tmp_path / FIXTURE.name).write_text(json.dumps(nb))
    (tmp_path / "98_copy.ipynb").write_text(json.dumps(copy.deepcopy(nb)))
    _, problems = em.check_book(em.chapter_paths(tmp_path))
    assert any("98_thresholds_fixture.ipynb" in str(p) and "unique in the book" in str(p) for p in problems), problems


def test_demyst_gives_plain_markdown():
    text = ("```{exercise} Soft thresholding\n:label: ex-09-x\n\nImplement $h$, see {footcite:t}`gregor2010`"
            " and {doc}`the notation <../book/notation>`.\n```")
    out = em.demyst(text)
    assert out.startswith("### Exercise: Soft thresholding")
    assert "{" not in out and ":label:" not in out
    assert "[gregor2010]" in out and "the notation" in out and "$h$" in out
    assert em.demyst("```{note}\nCareful.\n```") == "> **Note.**\n>\n> Careful."


def test_exercise_table_lists_points():
    chapters = [em.read_chapter(p) for p in em.chapter_paths(FIXTURES)]
    table = em.exercise_table(chapters)
    assert "| 98. Thresholds and stable sums (fixture) | `98_thresholds_fixture` | 3 | 1 | 8 | 2 |" in table
    assert "| 99 | The condition number | `ex-99-condition` | autograder (1 test cell) | 1 |" in table
