"""The homework tools end to end, offline: release two chapters, grade a class, read grades and feedback.

Uses the two fixture chapters in tests/fixtures/chapters (they follow CONTRIBUTING.md's markup and do
not change with the book). One course folder is built per run in a temporary directory:
- release: student versions (stubs, no hidden tests, no solutions), checked by running them;
- grade, from an LMS-style zip and an nbgrader submitted/ folder together: a reference submission
  (full autograded marks), a wrong one (partial, with feedback naming the failing checks, including a
  hard-coded answer caught by the randomized hidden tests), a tampered one (test cells edited and
  deleted: restored and reported), a corrupt notebook and a PDF (reported, the class still graded);
  the submissions are unchanged afterwards and no hidden test reaches the feedback.
The autograder runs each submission in a fresh kernel, so this file takes some seconds per notebook.
"""
from __future__ import annotations

import csv
import hashlib
import html
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "chapters"
sys.path.insert(0, str(ROOT / "tools"))
import exercise_markup as em  # noqa: E402
import homework as hw  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Object of type .* not in session")   # nbgrader's SQLAlchemy use
A, B = "98_thresholds_fixture", "99_quadratic_fixture"
HIDDEN_SNIPPETS = ["BEGIN HIDDEN TESTS", "random_cases", "500 * torch.rand", "torch.func.grad"]


def _read(path: Path) -> dict:
    return json.loads(path.read_text())


def _src(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _gid(cell):
    return cell["metadata"].get("nbgrader", {}).get("grade_id")


def _answered(course: Path, assignment: str, **replace) -> dict:
    """The student version with the reference answers filled in, then some cells replaced (None: deleted)."""
    solutions = {_gid(c): c for c in _read(course / "source" / assignment / f"{assignment}.ipynb")["cells"] if _gid(c)}
    nb = _read(course / "release" / assignment / f"{assignment}.ipynb")
    cells = []
    for cell in nb["cells"]:
        gid = _gid(cell)
        if gid and cell["metadata"]["nbgrader"].get("solution"):
            cell["source"] = solutions[gid]["source"] if cell["cell_type"] == "code" else "Because ..."
        if gid in replace:
            if replace[gid] is None:
                continue
            cell["source"] = replace[gid]
        cells.append(cell)
    nb["cells"] = cells
    return nb


def _digest(path: Path) -> dict:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _text(html_file: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", html_file.read_text()))


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("homework") / "course"
    released = hw.release(["98", "99"], root, FIXTURES, validate=True)
    assert released == [root / "release" / A / f"{A}.ipynb", root / "release" / B / f"{B}.ipynb"]
    return root


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory):
    """Grade a class: an LMS zip (Canvas-style names) for chapter 98, nbgrader's layout for chapter 99."""
    work = tmp_path_factory.mktemp("submissions")
    flat = work / "download"
    flat.mkdir()
    files = {
        f"alice_1001_2001_{A}.ipynb": _answered(course, A),
        f"bob_1002_2002_{A}.ipynb": _answered(course, A, **{
            "ex-98-soft-threshold-solution": "def soft_threshold(v, theta):\n    return torch.nn.functional.softshrink(v, theta)",
            # passes the visible test (small numbers), fails the hidden random ones (overflow)
            "ex-98-logsumexp-solution": "def logsumexp(x):\n    return torch.log(torch.exp(x).sum(dim=-1))",
            "ex-98-clip-solution": "def clip_by_norm(g, max_norm):\n    # YOUR CODE HERE\n    raise NotImplementedError()",
        }),
        f"dave_1004_2004_{A}.ipynb": _answered(course, A, **{
            "ex-98-soft-threshold-solution": "def soft_threshold(v, theta):\n    return v",
            "ex-98-soft-threshold-test": "pass  # no more tests",
            "ex-98-logsumexp-solution": "def logsumexp(x):\n    return torch.logsumexp(x, -1)\n\n"
                                        "ck.check.compare = lambda *args, **kwargs: None",
            "ex-98-clip-test-errors": None,
        }),
    }
    for name, nb in files.items():
        (flat / name).write_text(json.dumps(nb))
    (flat / f"eve_1005_2005_{A}.ipynb").write_text(json.dumps(files[f"alice_1001_2001_{A}.ipynb"])[:700])
    (flat / "frank_1006_2006_report.pdf").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3 not a notebook")
    download = work / "submissions.zip"
    with zipfile.ZipFile(download, "w") as zf:
        for path in sorted(flat.iterdir()):
            zf.write(path, path.name)
    layout = work / "submitted"
    (layout / "carol" / B).mkdir(parents=True)
    (layout / "carol" / B / f"{B}.ipynb").write_text(json.dumps(_answered(course, B)))
    before = {**_digest(download), **_digest(layout)}
    summary = hw.grade([download, layout], course)
    after = {**_digest(download), **_digest(layout)}
    rows = {(r["student_id"], r["assignment"]): r for r in csv.DictReader(open(course / "grades.csv"))}
    return {"summary": summary, "rows": rows, "before": before, "after": after, "download": download}


# ------------------------------------------------------------------------------------------ release
def test_release_makes_course_folder(course):
    assert (course / "nbgrader_config.py").exists() and (course / "gradebook.db").exists()
    for a in (A, B):
        assert (course / "source" / a / f"{a}.ipynb").exists()


@pytest.mark.parametrize("assignment", [A, B])
def test_student_version_has_stubs_and_no_solutions(course, assignment):
    chapter = em.read_chapter(FIXTURES / f"{assignment}.ipynb")
    student = _read(course / "release" / assignment / f"{assignment}.ipynb")
    text = "\n".join(_src(c) for c in student["cells"])
    secrets = [" ".join(line.split()) for i in chapter.exercise_cells for line in
               em.region_lines(em.source(chapter.cells[i]), em.BEGIN_SOLUTION, em.END_SOLUTION)
               if len(line.strip()) > 12]
    secrets += [" ".join(line.split()) for ex in chapter.exercises for i in ex.answers
                for line in em.source(chapter.cells[i]).splitlines() if len(line.strip()) > 30]
    visible = {" ".join(line.split()) for line in text.splitlines()}
    assert secrets and not [s for s in secrets if s in visible]
    for snippet in ["BEGIN SOLUTION", "END SOLUTION"] + HIDDEN_SNIPPETS:
        assert snippet not in text, snippet
    stubs = [c for c in student["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]
    assert len(stubs) == len(chapter.exercises)
    for cell in stubs:
        assert "raise NotImplementedError()" in _src(cell) if cell["cell_type"] == "code" \
            else _src(cell) == "YOUR ANSWER HERE"
    # the cells students see read as plain markdown: no MyST directives, a header with the points
    assert "{exercise}" not in text and "{solution}" not in text and ":label:" not in text
    assert _src(student["cells"][0]).startswith("# Homework: ")
    assert f"{chapter.points:g} in all" in _src(student["cells"][0])
    # exercises only: the chapter body is not there, the set-up and the `homework`-tagged cells are
    assert "## Summary" not in text and "import coursekit as ck" in text
    assert ("def quadratic(p, eps)" in text) == (assignment == B)


def test_release_refuses_broken_markup(tmp_path):
    nb = _read(FIXTURES / f"{A}.ipynb")
    nb["cells"] = [c for c in nb["cells"] if _gid(c) != "ex-98-logsumexp-test"]
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / f"{A}.ipynb").write_text(json.dumps(nb))
    with pytest.raises(hw.HomeworkError, match=r"98_thresholds_fixture.ipynb, cell \d+ \(grade_id "
                                                r"ex-98-logsumexp-solution\): the solution cell .* no graded test"):
        hw.release(["98"], tmp_path / "course", tmp_path / "chapters", validate=False)
    assert not (tmp_path / "course").exists()


def test_whole_chapter_assignment_keeps_the_body():
    chapter = em.read_chapter(FIXTURES / f"{A}.ipynb")
    whole = "\n".join(_src(c) for c in hw.source_assignment(chapter, whole=True).cells)
    only = "\n".join(_src(c) for c in hw.source_assignment(chapter).cells)
    for text in (whole, only):
        assert text.startswith("# Homework: 98.") and "### Exercise: Soft thresholding" in text
        assert "## References" not in text and "# 98. Thresholds" not in text
    assert "## Soft thresholding" in whole and "## Summary" in whole and "[goodfellow2016deep]" in whole
    assert "**Learning objectives.**" in whole and "**Learning objectives.**" not in only
    assert "## Soft thresholding" not in only and "num_points = 2001 if FULL else 201" in only


def test_sample_submissions(course, tmp_path):
    written = hw.samples(course, tmp_path / "samples", [A])
    assert sorted(p.name for p in written) == sorted(f"{who}_{A}.ipynb" for who in ("reference", "unanswered", "corrupt"))
    assert [hw.student_of((p.name,), [A, B]) for p in sorted(written)] == ["corrupt", "reference", "unanswered"]
    reference = (tmp_path / "samples" / f"reference_{A}.ipynb").read_text()
    assert "torch.clamp(v.abs() - theta, min=0)" in reference and "BEGIN HIDDEN" not in reference
    with pytest.raises(hw.HomeworkError, match="not a readable notebook"):
        hw.read_json_notebook(tmp_path / "samples" / f"corrupt_{A}.ipynb")


def test_release_check_finds_broken_tests(course):
    import nbformat
    source = nbformat.read(str(course / "source" / A / f"{A}.ipynb"), as_version=4)
    student = nbformat.read(str(course / "release" / A / f"{A}.ipynb"), as_version=4)
    for cell in source.cells:
        if _gid(cell) == "ex-98-logsumexp-test":
            cell.outputs = [nbformat.v4.new_output("error", ename="CheckError", evalue="logsumexp on case 1 ...",
                                                   traceback=[])]
    for cell in student.cells:
        if cell.cell_type == "code" and _gid(cell) not in ("ex-98-clip-test", None) and not \
                cell.metadata["nbgrader"].get("solution"):
            cell.outputs = [nbformat.v4.new_output("error", ename="CheckError", evalue="not implemented", traceback=[])]
        if _src(cell).startswith("num_points"):
            cell.outputs = [nbformat.v4.new_output("error", ename="NameError", evalue="name 'x' is not defined",
                                                   traceback=[])]
    assert hw.run_problems(A, "source", source) == [
        f"{A}: with the reference solutions, test ex-98-logsumexp-test fails: CheckError: logsumexp on case 1 ..."]
    assert hw.run_problems(A, "release", student) == [
        f"{A}: set-up cell 4 fails in the student version: NameError: name 'x' is not defined",
        f"{A}: test ex-98-clip-test passes on the student version (the stub), so it does not check the answer"]


def test_release_names_unknown_chapter():
    with pytest.raises(hw.HomeworkError, match="no chapter '42'.*98_thresholds_fixture"):
        hw.resolve_chapters(["42"], FIXTURES)


# -------------------------------------------------------------------------------------------- grade
def test_reference_submission_gets_full_marks(graded):
    for student, assignment in (("alice", A), ("carol", B)):
        row = graded["rows"][(student, assignment)]
        assert row["status"] == "graded"
        assert float(row["autograded_score"]) == float(row["autograded_max"]) > 0, row
        assert row["needs_manual_grading"], row          # the open question waits for a person
        assert not row["notes"], row


def test_wrong_submission_gets_partial_marks_and_clear_feedback(graded, course):
    row = graded["rows"][("bob", A)]
    # the soft-thresholding answer calls the reference the test compares with: its 3
    # points wait for a review
    assert row["status"] == "needs review" and float(row["autograded_score"]) == 0
    assert float(row["ex-98-soft-threshold-test"]) == 0
    assert float(row["ex-98-logsumexp-test"]) == 0
    assert ("points withheld until reviewed: ex-98-soft-threshold-solution (calls "
            "functional.softshrink())") in row["notes"]
    feedback = _text(course / "feedback" / "bob" / A / f"{A}.html")
    # the hard-coded (naive) answer passes the visible test but the hidden random cases say what is wrong
    assert re.search(r"CheckError: logsumexp on case \d of 4 .*contains NaN/inf", feedback), feedback[-3000:]
    assert "NotImplementedError: not done yet" in feedback
    assert "review by hand: the answer in ex-98-soft-threshold-solution calls functional.softshrink()" in row["notes"]
    assert (course / "feedback_by_assignment" / A / "bob.html").exists()


def test_tampered_test_cells_are_restored_and_reported(graded, course):
    row = graded["rows"][("dave", A)]
    assert "test cell ex-98-soft-threshold-test was modified; the original was restored" in row["notes"]
    assert "test cell ex-98-clip-test-errors was deleted" in row["notes"]
    assert float(row["ex-98-soft-threshold-test"]) == 0      # the restored test caught the wrong answer
    autograded = _read(course / "autograded" / "dave" / A / f"{A}.ipynb")
    ran = {_gid(c): c for c in autograded["cells"] if _gid(c)}
    assert not ran["ex-98-clip-test-errors"]["outputs"]  # the restored test passed
    # but dave's logsumexp answer replaces ck.check.compare, so every exercise's points
    # wait for a review
    assert float(row["ex-98-clip-test-errors"]) == 0 and row["status"] == "needs review"
    assert ("points withheld until reviewed: ex-98-clip-solution "
            "(ex-98-logsumexp-solution uses 'ck.check'") in row["notes"]
    assert "review by hand: the answer in ex-98-logsumexp-solution uses 'ck.check'" in row["notes"]


def test_corrupt_and_non_notebook_files_are_reported(graded):
    eve = graded["rows"][("eve", A)]
    assert eve["status"] == "not graded" and float(eve["score"]) == 0
    assert "submissions.zip:eve_1005_2005_98_thresholds_fixture.ipynb: not a readable notebook: invalid JSON" \
        in eve["notes"]
    frank = next(r for (s, _), r in graded["rows"].items() if s == "frank")
    assert "frank_1006_2006_report.pdf: not a notebook (.ipynb expected)" in frank["notes"]


def test_no_hidden_test_reaches_feedback(graded, course):
    pages = sorted((course / "feedback").rglob("*.html"))
    assert len(pages) == 4
    for page in pages:
        text = page.read_text()
        leaks = [s for s in HIDDEN_SNIPPETS if s in text or html.escape(s) in text]
        assert not leaks, (page, leaks)


def test_submissions_are_left_unchanged(graded, course):
    assert graded["before"] == graded["after"]
    kept = course / "submitted" / "dave" / A / f"{A}.ipynb"
    assert "pass  # no more tests" in kept.read_text()             # the student's file as submitted


def test_grading_report_and_refresh(graded, course):
    report = (course / "grading_report.txt").read_text()
    assert "alice / 98_thresholds_fixture: 8 of 10 (graded, autograded 8 of 8; to grade by hand: ex-98-why-max)" \
        in report
    # after grading open questions by hand (formgrader), feedback and grades are refreshed without re-running
    summary = hw.grade([], course, autograde=False)
    rows = {(r["student_id"], r["assignment"]): r for r in csv.DictReader(open(course / "grades.csv"))}
    assert rows[("alice", A)]["autograded_score"] == graded["rows"][("alice", A)]["autograded_score"]
    assert len(summary["graded"]) == 4
    # bob's withheld answer, accepted after a review: its points count, row graded
    assert rows[("bob", A)]["status"] == "needs review"
    hw.accept(course, A, ["bob"], ["ex-98-soft-threshold-solution"])
    bob = next(r for r in csv.DictReader(open(course / "grades.csv"))
               if r["student_id"] == "bob")
    assert bob["status"] == "graded" and float(bob["ex-98-soft-threshold-test"]) == 3
    assert 0 < float(bob["autograded_score"]) < float(bob["autograded_max"])
    with pytest.raises(hw.HomeworkError, match="nothing is withheld for bob"):
        hw.accept(course, A, ["bob"])


# ----------------------------------------------------------------------------------- collect (no kernels)
@pytest.mark.parametrize("parts, student", [
    (("smithjane_12345_678901_98_thresholds_fixture.ipynb",), "smithjane"),
    (("smithjane_late_12345_678901_98_thresholds_fixture-1.ipynb",), "smithjane"),
    (("HW5_jdoe_attempt_2024-03-01-10-22-33_98_thresholds_fixture.ipynb",), "jdoe"),
    (("Jane Smith_123456_assignsubmission_file_", "98_thresholds_fixture.ipynb"), "jane_smith"),
    (("jane", "98_thresholds_fixture.ipynb"), "jane"),
    (("jane.ipynb",), "jane"),
    (("jane_98_thresholds_fixture.ipynb",), "jane"),
    (("98_thresholds_fixture - Jane Smith (1).ipynb",), "jane_smith"),
    (("José Pérez.ipynb",), "jose_perez"),
    (("98_thresholds_fixture.ipynb",), None),
])
def test_student_names_from_usual_layouts(parts, student):
    assert hw.student_of(parts, [A, B]) == student


def test_collect_keeps_the_newest_notebook_per_student(course, tmp_path):
    old, new = tmp_path / "in" / "jane", tmp_path / "in" / "jane" / "resubmitted"
    new.mkdir(parents=True)
    nb = json.dumps(_answered(course, A))
    (old / "first try.ipynb").write_text(nb)
    (new / f"{A}.ipynb").write_text(nb)
    (old / "notes.txt").write_text("hello")
    import os
    os.utime(old / "first try.ipynb", (1_000_000, 1_000_000))
    subs = hw.collect([tmp_path / "in"], hw.Course(course), None, tmp_path)
    assert len(subs) == 1 and subs[0].student == "jane" and subs[0].assignment == A
    assert subs[0].path.name == f"{A}.ipynb"
    assert any("first try.ipynb (not graded" in n for n in subs[0].notes)
    assert any("notes.txt: not a notebook" in n for n in subs[0].notes)


def test_make_targets_pass_arguments():
    out = subprocess.run(["make", "-n", "homework", "grade", "CHAPTERS=05 09", "SUBMISSIONS=class.zip",
                          "COURSE=/tmp/somewhere"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "tools/homework.py release 05 09 --course /tmp/somewhere" in out.stdout
    assert "tools/homework.py grade class.zip --course /tmp/somewhere" in out.stdout
