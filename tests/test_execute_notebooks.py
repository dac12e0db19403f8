"""tools/execute_notebooks.py: chapters missing from the book's cache are executed in parallel and cached."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import execute_notebooks  # noqa: E402


def _notebook(path: Path, *sources: str) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)


def test_missing_chapters_are_executed_cached_and_failures_reported(tmp_path, capsys):
    from jupyter_cache import get_cache

    chapters, cache = tmp_path / "notebooks", tmp_path / "cache"
    chapters.mkdir()
    _notebook(chapters / "01_good.ipynb", "x = 6 * 7", "print(x)")
    _notebook(chapters / "02_bad.ipynb", "raise ValueError('boom')")
    assert (
        execute_notebooks.main(["--notebooks", str(chapters), "--cache", str(cache)])
        == 0
    )
    out = capsys.readouterr().out
    assert "executing 2 of 2 chapters" in out and "FAILED: 02_bad.ipynb" in out
    records = get_cache(str(cache)).list_cache_records()
    assert [Path(r.uri).name for r in records] == ["01_good.ipynb"]
    outputs = get_cache(str(cache)).get_cache_bundle(records[0].pk).nb.cells[1].outputs
    assert outputs[0]["text"] == "42\n"
    # a second run executes only what is still missing: the failing chapter
    execute_notebooks.main(["--notebooks", str(chapters), "--cache", str(cache)])
    assert "executing 1 of 2 chapters" in capsys.readouterr().out
    assert (
        execute_notebooks.main(
            ["--notebooks", str(tmp_path / "nowhere"), "--cache", str(cache)]
        )
        == 1
    )
