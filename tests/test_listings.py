"""Every listing the book prints: each ``ck.show(...)`` call of every chapter, evaluated
as the chapter does.

A listing must be a whole function, class or method (or a marked region of one, in at
most a tenth of the calls), parse as Python, use no private torch API, be at most 30
lines, and be named by the prose right before it, so that a rename or a refactor in
coursekit cannot silently change what a chapter shows.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

import coursekit as ck

NOTEBOOKS = sorted(
    (Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb")
)
MAX_LINES = 30
MAX_PARTIAL_FRACTION = 0.10

# Listings of coursekit.optim (chapters 05 and 10) and coursekit.strategies (chapter 06)
# that are rewritten on the `optim` and `modules` branches.
# REMOVE THIS LIST WHEN THOSE BRANCHES ARE MERGED:
# from then on every listing must pass.
PENDING_OTHER_BRANCHES: set = set()


@dataclass
class Listing:
    chapter: str
    cell: int
    call: str  # the source of the ck.show(...) call
    target: str  # the source of its first argument
    keywords: set[str]
    prose: str  # the markdown cell right before, and the comments of the code cell
    namespace: dict

    @property
    def id(self) -> str:
        return f"{self.chapter}[{self.cell}] {self.call}"

    def render(self):
        return eval(
            compile(ast.parse(self.call, mode="eval"), self.id, "eval"), self.namespace
        )

    def obj(self):
        return eval(self.target, self.namespace)


def _is_show(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "show"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "ck"
    )


def _is_alias(node: ast.stmt, namespace: dict) -> bool:
    """``import coursekit``, ``from coursekit.x import y`` or ``name = known.attr``."""
    if isinstance(node, ast.Import):
        return all(a.name.split(".")[0] == "coursekit" for a in node.names)
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").split(".")[0] == "coursekit"
    if (
        isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
    ):
        root = node.value
        while isinstance(root, ast.Attribute):
            root = root.value
        return (
            isinstance(node.value, ast.Attribute)
            and isinstance(root, ast.Name)
            and root.id in namespace
        )
    return False


def _listings(path: Path) -> list[Listing]:
    cells = json.loads(path.read_text())["cells"]
    namespace: dict = {}
    found = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        tree = ast.parse(source)
        for node in tree.body:
            if _is_alias(node, namespace):
                exec(
                    compile(ast.Module([node], []), f"{path.name}[{index}]", "exec"),
                    namespace,
                )
        calls = [n for n in ast.walk(tree) if _is_show(n)]
        if not calls:
            continue
        before = next(
            (c for c in reversed(cells[:index]) if c["cell_type"] == "markdown"), None
        )
        comments = " ".join(
            line.split("#", 1)[1] for line in source.splitlines() if "#" in line
        )
        prose = ("".join(before["source"]) if before else "") + "\n" + comments
        for call in calls:
            found.append(
                Listing(
                    path.stem,
                    index,
                    ast.unparse(call),
                    ast.unparse(call.args[0]),
                    {k.arg for k in call.keywords},
                    prose,
                    namespace,
                )
            )
    return found


LISTINGS = [listing for path in NOTEBOOKS for listing in _listings(path)]


def _pending(listing: Listing) -> bool:
    return (listing.chapter, listing.target) in PENDING_OTHER_BRANCHES


# Words of a name that say how, not what (`ista_iterates` is named by "ISTA").
CODE_WORDS = {
    "step",
    "steps",
    "update",
    "forward",
    "backward",
    "value",
    "values",
    "iterates",
    "terms",
    "from",
    "with",
    "compute",
    "make",
    "get",
}


def _words(name: str) -> set[str]:
    """The words of a name: ``ista_iterates`` -> {ista}, ``LeNet`` -> {le, net}."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    words = {w.lower() for w in spaced.split("_") if len(w) >= 2}
    return words - CODE_WORDS


def _named_by(prose: str, names: set[str]) -> bool:
    """Does the prose name the object, or its idea (a word of its name)?"""
    if any(re.search(rf"\b{re.escape(n)}\b", prose) for n in names):
        return True
    words = set().union(*(_words(n) for n in names))
    return any(re.search(rf"\b{re.escape(w)}", prose, re.IGNORECASE) for w in words)


def _names(obj) -> set[str]:
    """The names prose may use for ``obj``: its name and, for a method, its class."""
    obj = inspect.unwrap(getattr(obj, "__func__", obj))
    names = {obj.__name__}
    qualname = getattr(obj, "__qualname__", obj.__name__).split(".")
    if len(qualname) > 1:
        names.add(qualname[-2])
    return {n for n in names if not n.startswith("__")}


def test_every_chapter_has_listings():
    chapters = {listing.chapter for listing in LISTINGS}
    assert len(LISTINGS) >= 80, len(LISTINGS)
    assert {p.stem for p in NOTEBOOKS} - chapters <= {
        "06_batchnorm"
    } - chapters, chapters


@pytest.mark.parametrize(
    "listing",
    [
        pytest.param(
            x,
            id=x.id,
            marks=(
                [pytest.mark.xfail(reason="rewritten on another branch", strict=False)]
                if _pending(x)
                else []
            ),
        )
        for x in LISTINGS
    ],
)
def test_listing(listing: Listing):
    problems = []
    if listing.keywords & {"start", "stop"}:
        problems.append(
            "selects lines by a free-text anchor (start=/stop=): "
            "show a whole function or a marked region"
        )
    known = {"region", "docstring", "start", "stop"}
    if not listing.keywords <= known:
        problems.append(f"unknown keywords {sorted(listing.keywords - known)}")
    text = listing.render().text
    try:
        ast.parse(text)
    except SyntaxError as exc:
        problems.append(f"does not parse as Python ({exc.msg}, line {exc.lineno})")
    if re.search(r"\btorch\._", text):
        problems.append("prints a private torch API (torch._...)")
    lines = text.count("\n") + 1
    if lines > MAX_LINES:
        problems.append(f"is {lines} lines long (at most {MAX_LINES})")
    names = _names(listing.obj())
    if not _named_by(listing.prose, names):
        problems.append(f"is named by none of {sorted(names)} in the prose before it")
    assert not problems, f"{listing.id}:\n- " + "\n- ".join(problems) + f"\n{text}"


def test_few_listings_select_part_of_an_object():
    partial = [x.id for x in LISTINGS if "region" in x.keywords]
    assert len(partial) <= MAX_PARTIAL_FRACTION * len(LISTINGS), partial


def test_show_region_selects_marked_lines_only(tmp_path, monkeypatch):
    module = tmp_path / "listing_example.py"
    module.write_text(
        "def f(x):\n"
        '    """Doc."""\n'
        "    y = x + 1\n"
        "    # region: core\n"
        "    z = y * 2\n"
        "    # endregion\n"
        "    return z\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import listing_example

    assert ck.show(listing_example.f, region="core").text == "z = y * 2"
    whole = ck.show(listing_example.f).text
    assert "region" not in whole and "Doc." not in whole and "return z" in whole
    ast.parse(whole)
    with pytest.raises(ValueError, match=r"region='nope' is not marked .* 'core'"):
        ck.show(listing_example.f, region="nope")
    with pytest.raises(TypeError, match="region must be a string"):
        ck.show(listing_example.f, region=1)


def test_region_markers_must_be_well_formed():
    from coursekit.source import regions

    assert regions("a\n# region: r\nb\n# endregion\n") == {"r": (2, 3)}
    with pytest.raises(ValueError, match="not closed"):
        regions("# region: r\nb\n")
    with pytest.raises(ValueError, match="closes no region"):
        regions("b\n# endregion\n")
    with pytest.raises(ValueError, match="inside region"):
        regions("# region: r\n# region: s\n# endregion\n")
