"""The book's execution cache is keyed by coursekit and the requirements too (tools/bookcache.py).

A chapter's outputs depend on the library it imports, not only on its own code: after a change to
coursekit, `make book` must show the new outputs, not the cached ones.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import bookcache  # noqa: E402


def _library(root: Path, answer: str = "v1") -> None:
    (root / "coursekit").mkdir(parents=True, exist_ok=True)
    (root / "coursekit" / "__init__.py").write_text(
        f"def answer():\n    return {answer!r}\n"
    )
    (root / "requirements.txt").write_text("numpy>=1.26,<3\n")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "coursekit"\ndependencies = ["numpy"]\n'
        "[tool.black]\nline-length = 80\n"
    )


def test_the_fingerprint_follows_the_library_and_the_requirements_only(tmp_path):
    _library(tmp_path)
    first = bookcache.fingerprint(tmp_path)
    assert len(first) == 16 and first == bookcache.fingerprint(tmp_path)
    _library(tmp_path, "v2")
    changed = bookcache.fingerprint(tmp_path)
    assert changed != first
    (tmp_path / "coursekit" / "optim").mkdir()
    (tmp_path / "coursekit" / "optim" / "sgd.py").write_text(
        "LR = 0.1\n"
    )  # a new module counts
    assert bookcache.fingerprint(tmp_path) != changed
    changed = bookcache.fingerprint(tmp_path)
    (tmp_path / "requirements.txt").write_text("numpy>=2,<3\n")
    assert bookcache.fingerprint(tmp_path) != changed
    changed = bookcache.fingerprint(tmp_path)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace("line-length = 80", "line-length = 88")
    )
    assert (
        bookcache.fingerprint(tmp_path) == changed
    )  # tool settings do not change outputs
    pyproject.write_text(
        pyproject.read_text().replace('["numpy"]', '["numpy", "scipy"]')
    )
    assert bookcache.fingerprint(tmp_path) != changed  # dependencies do


def test_the_cache_folder_is_named_by_the_fingerprint_and_stale_folders_go(tmp_path):
    _library(tmp_path)
    base = tmp_path / "_build" / ".jupyter_cache"
    stale, other = base / "0123456789abcdef", base / "keep-me"
    stale.mkdir(parents=True)
    other.mkdir()
    (base / "executed").mkdir()  # the earlier layout: one cache for all
    (base / "global.db").write_text("")
    path = bookcache.cache_path(tmp_path)
    assert path == base / bookcache.fingerprint(tmp_path)
    assert not stale.exists() and other.exists()
    assert not (base / "executed").exists() and not (base / "global.db").exists()
    assert bookcache.cache_path(tmp_path, prune=False) == path


def _book(root: Path) -> None:
    """A one-chapter book whose chapter prints what the library returns."""
    (root / "_config.yml").write_text(textwrap.dedent(f"""\
        title: cache test
        only_build_toc_files: true
        execute:
          execute_notebooks: cache
          cache: _build/.jupyter_cache
        sphinx:
          local_extensions:
            bookcache: {ROOT / "tools"}
        """))
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nchapters:\n  - file: chapter\n"
    )
    (root / "intro.md").write_text("# Intro\n")
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# Chapter"),
            nbformat.v4.new_code_cell(
                f"import sys\nsys.path.insert(0, {str(root)!r})\nimport coursekit\n"
                "print('the library says', coursekit.answer())"
            ),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, root / "chapter.ipynb")


def _build_and_read(root: Path) -> str:
    jb = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run(
        [str(jb), "build", str(root), "--quiet"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return (root / "_build" / "html" / "chapter.html").read_text()


def test_a_library_change_re_executes_the_chapter_in_the_next_build(tmp_path):
    _library(tmp_path, "v1")
    _book(tmp_path)
    assert "the library says v1" in _build_and_read(tmp_path)
    first = bookcache.cache_path(tmp_path, prune=False)
    assert first.is_dir()
    _library(tmp_path, "v2")  # the chapter's code is unchanged
    html = _build_and_read(tmp_path)
    assert "the library says v2" in html and "the library says v1" not in html
    folders = [
        p.name for p in (tmp_path / "_build" / ".jupyter_cache").iterdir() if p.is_dir()
    ]
    assert folders == [bookcache.fingerprint(tmp_path)]  # the stale executions are gone
