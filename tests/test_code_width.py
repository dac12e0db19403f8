"""The code a reader sees fits the book's page: at most 80 characters a line.

The book's text column shows about 80 characters of code on a laptop screen (tools/measure_book.py
measures it). Two kinds of code are shown: the chapters' code cells, and coursekit's functions
printed with ``ck.show`` (without their docstrings). ``make format`` (black, line-length 80 in
pyproject.toml) formats both; the lines it cannot split (long strings and comments) are split by
hand. coursekit's docstrings are not printed in the book and are not checked here; every line
of a chapter's code cells is.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 80


def _docstring_lines(tree: ast.AST) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(
                node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
            )
            and body
        ):
            first = body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def too_wide_in_module(source: str, width: int = WIDTH) -> list[tuple[int, int]]:
    """(line number, length) of the lines outside docstrings that are wider than ``width``."""
    skip = _docstring_lines(ast.parse(source))
    return [
        (number, len(line))
        for number, line in enumerate(source.splitlines(), start=1)
        if number not in skip and len(line) > width
    ]


def too_wide_in_notebook(nb: dict, width: int = WIDTH) -> list[tuple[int, int]]:
    """(cell number, length) of the code-cell lines wider than ``width``."""
    wide = []
    for number, cell in enumerate(nb["cells"], start=1):
        if cell["cell_type"] != "code":
            continue
        source = (
            "".join(cell["source"])
            if isinstance(cell["source"], list)
            else cell["source"]
        )
        wide += [
            (number, len(line)) for line in source.splitlines() if len(line) > width
        ]
    return wide


def test_the_width_checks_find_long_lines_and_skip_docstrings():
    module = 'def f():\n    """' + "d" * 90 + '"""\n    return ' + "x" * 80 + "\n"
    assert too_wide_in_module(module) == [(3, 91)]
    assert too_wide_in_module("y = 1\n") == []
    nb = {
        "cells": [
            {"cell_type": "markdown", "source": "m" * 99},
            {"cell_type": "code", "source": ["a = 1\n", "b = '" + "b" * 80 + "'\n"]},
        ]
    }
    assert too_wide_in_notebook(nb) == [(2, 86)]


MODULES = sorted((ROOT / "coursekit").rglob("*.py"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_coursekit_code_fits_the_page(path):
    wide = too_wide_in_module(path.read_text())
    assert not wide, (
        f"{path.relative_to(ROOT)}: {len(wide)} lines wider than {WIDTH} characters "
        f"(line, length): {wide[:8]}; run `make format`, then split the rest by hand"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_code_fits_the_page(path):
    wide = too_wide_in_notebook(json.loads(path.read_text()))
    assert not wide, (
        f"{path.name}: {len(wide)} code lines wider than {WIDTH} characters "
        f"(cell, length): {wide[:8]}; run `make format`, then split the rest by hand"
    )
