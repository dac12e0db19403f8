"""Print coursekit's own source in a notebook, so the book shows the code it runs next to the math.

``show(obj)`` prints a whole function, class or method. To print one part of a longer
object, mark that part in the source with comment lines and select it by name::

    # region: update
    ...
    # endregion

    show(obj, region="update")

The marker lines are never printed. There is no free-text selection: a listing that
names the object it prints cannot drift when the code around it changes.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap

_REGION_START = re.compile(r"^\s*# region: (?P<name>[\w.-]+)\s*$")
_REGION_END = re.compile(r"^\s*# endregion\b.*$")


class SourceCode:
    """The source of a Python object, displayed as a highlighted code block in Jupyter and the book."""

    def __init__(self, text: str, title: str):
        self.text = text
        self.title = title

    def _repr_markdown_(self) -> str:
        return f"*{self.title}*\n\n```python\n{self.text}\n```"

    def __repr__(self) -> str:
        return f"# {self.title}\n{self.text}"


def _without_docstring(text: str) -> str:
    """Drop the docstring of the (first) function or class in ``text``; the book's prose explains it."""
    tree = ast.parse(textwrap.dedent(text))
    node = tree.body[0] if tree.body else None
    if (
        not isinstance(
            node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        )
        or not node.body
    ):
        return text
    first = node.body[0]
    if not (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return text
    lines = text.splitlines()
    del lines[first.lineno - 1 : first.end_lineno]
    return "\n".join(lines)


def regions(text: str) -> dict[str, tuple[int, int]]:
    """The marked regions of a source text: ``{name: (first line, end line)}``.

    Lines are counted from 0 and the end is excluded: a region is the lines strictly
    between ``# region: name`` and the next ``# endregion``.

    Raises:
        ValueError: if a region is opened twice, nested, or not closed.
    """
    found: dict[str, tuple[int, int]] = {}
    name, first = None, 0
    for i, line in enumerate(text.splitlines()):
        opened = _REGION_START.match(line)
        if opened:
            if name is not None:
                raise ValueError(
                    f"region {opened['name']!r} starts inside region {name!r}"
                )
            if opened["name"] in found:
                raise ValueError(f"region {opened['name']!r} is marked twice")
            name, first = opened["name"], i + 1
        elif _REGION_END.match(line):
            if name is None:
                raise ValueError(
                    f"'# endregion' on line {i + 1} closes no region"
                )
            found[name], name = (first, i), None
    if name is not None:
        raise ValueError(f"region {name!r} is not closed by '# endregion'")
    return found


def _without_markers(lines: list[str]) -> list[str]:
    return [
        line
        for line in lines
        if not (_REGION_START.match(line) or _REGION_END.match(line))
    ]


def show(
    obj, *, region: str | None = None, docstring: bool = False
) -> SourceCode:
    """Return the source of a coursekit function, class or method for display.

    Args:
        obj: the object whose source to show (a whole function, class or method).
        region: if given, show only the lines marked ``# region: <region>`` ...
            ``# endregion`` in the source of ``obj``.
        docstring: keep the docstring (by default it is left out: the surrounding text
            explains the code).

    Returns:
        a :class:`SourceCode` that renders as a Python code block (its ``repr`` is plain
        text).

    Raises:
        TypeError: if ``obj`` has no source file, or ``region`` is not a string.
        ValueError: if ``region`` is not marked in the source of ``obj``.
    """
    try:
        text = inspect.getsource(obj)
    except (TypeError, OSError) as exc:
        raise TypeError(
            "obj must be a function, class or method defined in a source file, "
            f"got {obj!r}"
        ) from exc
    if region is not None and not isinstance(region, str):
        raise TypeError(f"region must be a string, got {type(region).__name__}")
    module = inspect.getmodule(obj)
    name = getattr(obj, "__qualname__", getattr(obj, "__name__", repr(obj)))
    title = f"{module.__name__}.{name}" if module else name
    if not docstring:
        text = _without_docstring(text)
    lines = text.splitlines()
    if region is not None:
        marked = regions(text)
        if region not in marked:
            known = ", ".join(repr(r) for r in marked) or "none"
            raise ValueError(
                f"region={region!r} is not marked in the source of {title} "
                f"(its regions: {known})"
            )
        first, end = marked[region]
        lines = lines[first:end]
        title += f" (region `{region}`)"
    return SourceCode(
        textwrap.dedent("\n".join(_without_markers(lines))).rstrip(), title
    )
