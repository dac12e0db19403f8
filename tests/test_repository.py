"""Structural checks of the repository: notebooks stored clean, toc complete, CI runs the README's command."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = ROOT.parent / "shared" / "tools" / "book_lint.py"


def test_notebooks_are_stored_without_outputs_and_with_one_kernelspec():
    result = subprocess.run([sys.executable, "tools/normalize_notebooks.py", "--check"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, "run `python tools/normalize_notebooks.py`:\n" + result.stdout


def test_every_notebook_is_in_the_toc_and_every_toc_entry_exists():
    toc = (ROOT / "_toc.yml").read_text()
    entries = set(re.findall(r"^\s*-?\s*(?:file|root):\s*([^\s#]+)", toc, re.M))
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        assert f"notebooks/{nb.stem}" in entries, f"{nb.name} is not listed in _toc.yml"
    for entry in entries:
        assert any((ROOT / f"{entry}{ext}").exists() for ext in (".md", ".ipynb")), f"_toc.yml: {entry} has no file"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make book" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M), ".ci/run must call exactly `make test`"


@pytest.mark.skipif(not LINT.exists(), reason="the shared book_lint tool is not next to this checkout")
def test_book_lint_reports_no_error():
    result = subprocess.run([sys.executable, str(LINT), str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
