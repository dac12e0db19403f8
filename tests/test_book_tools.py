"""The small book tools: comment wrapping (`make format`) and the PDF's slider-frame grids."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import book_pdf  # noqa: E402
import wrap_comments  # noqa: E402


def test_long_own_line_comments_are_wrapped_at_their_indentation():
    source = (
        "def f():\n    # "
        + " ".join(["word"] * 30)
        + "\n    return 1  # "
        + "t" * 90
        + "\n# noqa: "
        + "n" * 90
        + "\n"
    )
    lines = wrap_comments.wrap_source(source, 40).splitlines()
    wrapped = [line for line in lines if line.startswith("    # word")]
    assert len(wrapped) > 1 and all(len(line) <= 40 for line in wrapped)
    assert " ".join(line[6:] for line in wrapped) == " ".join(["word"] * 30)
    assert lines[-1].startswith("# noqa:")  # directives stay as they are
    assert lines[-3:-1] == [
        "    # " + "t" * 90,
        "    return 1",
    ]  # a trailing comment moves up
    assert wrap_comments.wrap_source("x = 1\n", 40) == "x = 1\n"
    assert (
        wrap_comments.wrap_source("# " + "-" * 90 + "\n", 40) == "# " + "-" * 38 + "\n"
    )
    hashed = "s = '#" + "x" * 50 + "'\n"  # a '#' in a string is no comment
    assert wrap_comments.wrap_source(hashed, 40) == hashed


def test_wrap_comments_on_a_notebook_and_check_mode(tmp_path, capsys):
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "source": ["# " + "a " * 60 + "\n", "x = 1"],
                "metadata": {},
                "outputs": [],
                "execution_count": None,
            }
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "chapter.ipynb"
    path.write_text(json.dumps(nb))
    assert wrap_comments.main([str(path), "--check"]) == 1
    assert json.loads(path.read_text()) == nb  # --check changes nothing
    assert wrap_comments.main([str(tmp_path)]) == 0
    source = "".join(json.loads(path.read_text())["cells"][0]["source"])
    assert max(map(len, source.splitlines())) <= 80 and source.endswith("x = 1")
    assert wrap_comments.main([str(path), "--check"]) == 0
    with pytest.raises(SystemExit):
        wrap_comments.main([str(path), "--width", "5"])


def _model(name, **state):
    return {"model_name": name, "state": state}


def test_a_slider_figure_prints_all_its_frames_in_slider_order():
    state = {
        "state": {
            "box": _model(
                "VBoxModel", children=["IPY_MODEL_s1", "IPY_MODEL_s2", "IPY_MODEL_top"]
            ),
            "s1": _model("SelectionSliderModel"),
            "s2": _model("SelectionSliderModel"),
            "top": _model("StackModel", children=["IPY_MODEL_a", "IPY_MODEL_b"]),
            "a": _model("StackModel", children=["IPY_MODEL_a1", "IPY_MODEL_a2"]),
            "b": _model("StackModel", children=["IPY_MODEL_b1", "IPY_MODEL_b2"]),
            **{
                k: _model("HTMLModel", value=f"<img alt='{k}'>")
                for k in ("a1", "a2", "b1", "b2")
            },
            "other": _model("VBoxModel", children=["IPY_MODEL_s1"]),
        }
    }
    assert book_pdf.slider_frames([state], "box") == [
        f"<img alt='{k}'>" for k in ("a1", "a2", "b1", "b2")
    ]
    assert book_pdf.slider_frames([state], "other") == []
    assert book_pdf.slider_frames([state], "missing") == []
    view = (
        '<script type="application/vnd.jupyter.widget-view+json">'
        '{"version_major": 2, "version_minor": 0, "model_id": "box"}</script>'
    )
    html, count = book_pdf._with_printed_frames(f"<p>{view}</p>", [state])
    assert count == 1 and html.count('class="coursekit-print-frame"') == 4


def test_pages_are_counted_in_a_pdf():
    pdf = (
        b"%PDF-1.4 1 0 obj << /Type /Pages /Kids [2 0 R 3 0 R] >> 2 0 obj << /Type"
        b" /Page >> 3 0 obj << /Type/Page >>"
    )
    assert book_pdf.count_pages(pdf) == 2
