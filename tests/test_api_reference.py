"""The book's API reference (book/api/): one page per public coursekit module, listed in the table of
contents and the index, and the docstring filter that keeps plain-text math plain."""
import re
import sys
from pathlib import Path

import pytest

import coursekit as ck

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "book" / "api"
sys.path.insert(0, str(API / "_ext"))
from plain_docstrings import render_plain_text  # noqa: E402


def test_every_public_module_has_a_page_in_the_toc_and_the_index():
    toc = (ROOT / "_toc.yml").read_text()
    index = (API / "index.md").read_text()
    pages = {p.stem for p in API.glob("*.md")} - {"index"}
    assert pages == set(ck.SUBMODULES), "book/api/ must hold one page per module of ck.SUBMODULES"
    assert "file: book/api/index" in toc
    for name in ck.SUBMODULES:
        page = (API / f"{name}.md").read_text()
        assert f".. automodule:: coursekit.{name}" in page, name
        assert f"file: book/api/{name}\n" in toc, f"book/api/{name} is not in _toc.yml"
        assert re.search(rf"^\s+coursekit\.{name}$", index, re.M), f"coursekit.{name} is not in the index"


def test_pages_are_up_to_date_with_the_modules_and_the_chapters():
    """After adding a module or using a function in a new chapter: python tools/api_pages.py"""
    sys.path.insert(0, str(ROOT / "tools"))
    import api_pages

    assert api_pages.main(["--check"]) == 0, "run: python tools/api_pages.py"


def test_chapter_links_point_to_chapters():
    for page in API.glob("*.md"):
        for target in re.findall(r"<\.\./\.\./(notebooks/\w+)>", page.read_text()):
            assert (ROOT / f"{target}.ipynb").exists(), (page.name, target)


def test_plain_text_math_is_escaped_and_markup_is_kept():
    lines = [":param tensor: the weight, shape (n_out, n_in, *kernel).",
             ":param \\*\\*kwargs: E = 1/2 ||x||^2 with :math:`|x|` and ``a|b``, **in place**, *not* 2 * 3",
             "* a bullet with |x|"]
    out = render_plain_text(list(lines))
    assert out[0] == r":param tensor: the weight, shape (n_out, n_in, \*kernel)."
    assert out[1] == (":param \\*\\*kwargs: E = 1/2 \\|\\|x\\|\\|^2 with :math:`|x|` and ``a|b``, "
                      "**in place**, *not* 2 \\* 3")
    assert out[2] == r"* a bullet with \|x\|"


def test_a_math_role_over_two_lines_is_kept_whole():
    doc = [r"so :math:`\hat y = \frac{x}{\kappa} \prod_i |w_i|", r"= x \kappa` and |x| * 2"]
    assert render_plain_text(list(doc)) == [doc[0], r"= x \kappa` and \|x\| \* 2"]


def test_indented_displays_become_literal_blocks_and_literal_blocks_stay_verbatim():
    doc = ["One step:", "", "    z <- h(W x + S z)   # |z| shrinks", "", "After it::", "",
           "    x' <- x' - lr g * 2", "", ".. math::", "", "   |x|", "", "The end, |y|."]
    out = render_plain_text(list(doc))
    assert out[:6] == ["One step:", "", "::", "", "    z <- h(W x + S z)   # |z| shrinks", ""]
    assert "    x' <- x' - lr g * 2" in out and "   |x|" in out
    assert out[-1] == r"The end, \|y\|."


@pytest.mark.parametrize("name", ["setup", "show", "device", "seed_everything", "full_mode"])
def test_top_level_functions_are_documented_in_their_modules(name):
    module = getattr(ck, name).__module__
    assert module in ("coursekit.runtime", "coursekit.source")
    assert getattr(ck, name).__doc__
