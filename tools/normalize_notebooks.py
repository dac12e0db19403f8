#!/usr/bin/env python3
"""Normalize chapter notebooks before committing: no outputs, no execution counts, one kernelspec.

Usage:
    python tools/normalize_notebooks.py [NOTEBOOK ...]    (default: notebooks/*.ipynb)
    python tools/normalize_notebooks.py --check            exit 1 if any notebook would change

Notebooks are stored without outputs (the book build and the tests execute them), so diffs stay
reviewable. Editor-specific metadata is dropped; cell tags and nbgrader metadata are kept.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python", "pygments_lexer": "ipython3"}
KEEP_CELL_METADATA = {"tags", "nbgrader", "editable", "deletable"}


def normalize(nb: dict) -> dict:
    nb["metadata"] = {"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO}
    nb["nbformat"], nb["nbformat_minor"] = 4, 5
    for i, cell in enumerate(nb["cells"]):
        cell["metadata"] = {k: v for k, v in cell.get("metadata", {}).items() if k in KEEP_CELL_METADATA}
        cell.setdefault("id", f"cell-{i}")
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        else:
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
    return nb


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [Path(a) for a in argv if a != "--check"] or sorted(Path("notebooks").glob("*.ipynb"))
    changed = []
    for path in paths:
        before = path.read_text()
        after = json.dumps(normalize(json.loads(before)), indent=1, ensure_ascii=False) + "\n"
        if after != before:
            changed.append(path)
            if not check:
                path.write_text(after)
    for path in changed:
        print(("would normalize " if check else "normalized ") + str(path))
    return 1 if (check and changed) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
