"""The number check (tools/prose_numbers.py): each number of the prose is computed.

The first half tests the rules on small synthetic notebooks: which digits are numbers to
check, how notations are matched, how exceptions work. The second half runs the check on
the real chapters, reading the executed copies that the notebook run of the suite
(nbval) stores in the book's jupyter-cache; a chapter without an up-to-date executed
copy there is skipped, with the command that produces one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import prose_numbers as pn  # noqa: E402

CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def stated(markdown: str) -> list[str]:
    return [n.raw for n in pn.prose_numbers(markdown)]


def notebook(markdown: str, code: str = "", printed: str = ""):
    cell = new_code_cell(code)
    if printed:
        cell.outputs = [new_output("stream", name="stdout", text=printed)]
    return new_notebook(cells=[new_markdown_cell(markdown), cell])


def unchecked(
    markdown: str, code: str = "", printed: str = "", exceptions=None
) -> list[str]:
    found, _ = pn.unchecked_numbers(
        notebook(markdown, code, printed), "99_test", exceptions
    )
    return [n.raw for n in found]


# -------------------------------------------------------------------- what is a number
def test_plain_numbers_and_notations_are_found():
    assert stated("about 18 iterations, 0.05 of the data, 5% of 60,000 patches") == [
        "18",
        "0.05",
        "5%",
        "60,000",
    ]
    assert [
        n.value for n in pn.prose_numbers("1e-3 and 2×10⁻⁴ and 10⁻³ and $10^{-3}$")
    ] == pytest.approx([1e-3, 2e-4, 1e-3, 1e-3])


def test_words_names_references_years_and_code_are_not_numbers():
    text = (
        "ten steps in chapter 05, Theorem 5 and chapters 2, 3 and 5 (2015); L2, "
        "CIFAR-10, "
        "float64, a 2-D plot, the 1st run, torch 2.13.0, `fista(X, 100)`, "
        "{footcite:p}`gregor2010learning`, [ch05](05_optimizers.ipynb)"
    )
    assert stated(text) == []


def test_a_value_after_an_ordinary_word_is_a_number():
    assert stated("with step 0.1, at step 200 and row 3") == ["0.1", "200"]


def test_equation_constants_are_skipped_but_stated_values_in_math_are_kept():
    math = (
        r"$$E = \tfrac12 \|x - W z\|_2^2 + \alpha\|z\|_1, "
        r"\quad \frac{2L}{(k+1)^2}, \quad 12\alpha$$"
    )
    assert stated(math) == []
    assert stated(r"with $m = 256$ atoms, $\eta = 0.05$ and $28 \times 28$ images") == [
        "256",
        "0.05",
        "28",
        "28",
    ]


def test_code_blocks_and_directive_options_are_skipped_but_directive_prose_is_kept():
    text = (
        "```python\nx = 123\n```\n```{exercise}\n:label: ex-09-x\nRun 300 steps.\n```"
    )
    assert stated(text) == ["300"]


def test_the_sentence_of_a_number_is_reported():
    (number,) = pn.prose_numbers("First sentence. The gap is 0.42 here. Last one.")
    assert number.sentence == "The gap is 0.42 here."


# ---------------------------------------------------------------------- what checks it
def test_a_number_of_the_code_checks_the_prose_exactly():
    assert unchecked("we train for 300 steps", code="num_steps = 300") == []
    assert unchecked("we train for 300 steps", code="num_steps = 301") == ["300"]
    assert unchecked("a rate of 10⁻³", code="lr = 1e-3") == []


def test_a_printed_number_checks_the_prose_to_its_precision():
    assert unchecked("the gap is 0.03", printed="gap 0.0312") == []
    assert unchecked("the gap is 0.03", printed="gap 0.0362") == ["0.03"]
    assert unchecked("about 18 iterations", printed="18.4 iterations") == []
    assert unchecked("about 20 iterations", printed="23 iterations") == ["20"]


def test_percent_fraction_and_thousands_are_the_same_value():
    assert unchecked("12% of the entries", printed="fraction 0.123") == []
    assert unchecked("within 1% of it", code="k = 1") == ["1%"]  # 1% is 0.01, not 1
    assert unchecked("a fraction 0.12", printed="12.3%") == []
    assert unchecked("60,000 examples", printed="n = 60000") == []
    assert unchecked("60 000 examples".replace(" ", "\u202f"), code="n = 60_000") == []


def test_a_bare_power_of_ten_is_an_order_of_magnitude():
    assert unchecked("about 10⁴ times smaller", printed="ratio 2.3e+04") == []
    assert unchecked("about 10⁴ times smaller", printed="ratio 6.3e+04") == ["10⁴"]
    assert unchecked("about 10⁴ times smaller", code="n = 5000") == [
        "10⁴"
    ]  # code: exact values only
    assert unchecked("about 10⁴ times smaller", code="n = 10_000") == []


def test_numbers_in_markdown_are_not_their_own_evidence():
    nb = new_notebook(
        cells=[new_markdown_cell("it takes 37 steps"), new_markdown_cell("so 37 steps")]
    )
    found, _ = pn.unchecked_numbers(nb, "99_test")
    assert [n.raw for n in found] == ["37", "37"]


# -------------------------------------------------------------------------- exceptions
def test_an_exception_excuses_one_number_in_one_sentence(tmp_path):
    path = tmp_path / "exceptions.toml"
    path.write_text(
        '[[exception]]\nchapter = "99_test"\nnumber = "18"\n'
        'context = "as accurate as 18 iterations"\nreason = "the paper\'s result"\n'
    )
    exceptions = pn.load_exceptions(path)
    text = "One layer is as accurate as 18 iterations. Ours took 18 steps."
    assert unchecked(text, exceptions=exceptions) == [
        "18"
    ]  # the second sentence is not excused
    _, unused = pn.unchecked_numbers(notebook("nothing here"), "99_test", exceptions)
    assert unused == exceptions  # a stale entry is reported


def test_an_exception_needs_a_reason(tmp_path):
    path = tmp_path / "exceptions.toml"
    path.write_text(
        '[[exception]]\nchapter = "99_test"\nnumber = "18"\ncontext = "18 iterations"\n'
    )
    with pytest.raises(ValueError, match="reason"):
        pn.load_exceptions(path)


def test_the_reviewed_exceptions_are_well_formed():
    for entry in pn.load_exceptions():
        assert (ROOT / "notebooks" / f"{entry.chapter}.ipynb").exists(), entry
        assert pn.prose_numbers(entry.number), entry


# ------------------------------------------------------------------------ the chapters
@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_number_of_the_prose_is_computed_in_the_chapter(path):
    nb = nbformat.read(str(path), as_version=4)
    executed = pn.from_book_cache(nb)
    if executed is None:
        # `make test` runs this file again after the notebooks, with the variable set: then a
        # missing executed copy is a failure, not a skip
        skip = pytest.fail if os.environ.get("COURSEKIT_REQUIRE_EXECUTED") == "1" else pytest.skip
        skip(
            f"no executed copy of {path.name} in {pn.BOOK_CACHE.relative_to(ROOT)} "
            "(run the chapter under nbval first: "
            f".venv/bin/python -m pytest notebooks/{path.name} -n0 -q)"
        )
    found, unused = pn.unchecked_numbers(executed, path.stem, pn.load_exceptions())
    lines = [f"cell {n.cell}: {n.raw!r} in: {n.sentence[:160]}" for n in found]
    lines += [f"unused exception {e.number!r} ({e.context!r})" for e in unused]
    if lines:
        pytest.fail(
            f"{path.name}: numbers of the prose that no code or output of the chapter "
            "states "
            "(print or assert them, or list them with a reason in "
            "tools/prose_numbers_exceptions.toml):\n" + "\n".join(lines),
            pytrace=False,
        )
