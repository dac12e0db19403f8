"""Print coursekit's own source in a notebook, so the book shows the code it runs next to the math."""
from __future__ import annotations

import inspect
import textwrap


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
    import ast

    tree = ast.parse(textwrap.dedent(text))
    node = tree.body[0] if tree.body else None
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or not node.body:
        return text
    first = node.body[0]
    if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)):
        return text
    lines = text.splitlines()
    del lines[first.lineno - 1 : first.end_lineno]
    return "\n".join(lines)


def show(obj, *, start: str | None = None, stop: str | None = None, docstring: bool = False) -> SourceCode:
    """Return the source of a coursekit function, class or method for display.

    Args:
        obj: the object whose source to show.
        start: if given, show from the first line containing this text
            (for instance ``"def step"`` to show only one method of a class).
        stop: if given, stop before the first later line containing this text.
        docstring: keep the docstring (by default it is left out: the surrounding text explains the code).

    Returns:
        a :class:`SourceCode` that renders as a Python code block (its ``repr`` is plain text).
    """
    try:
        text = inspect.getsource(obj)
    except (TypeError, OSError) as exc:
        raise TypeError(f"obj must be a function, class or method defined in a source file, got {obj!r}") from exc
    if not docstring:
        text = _without_docstring(text)
    module = inspect.getmodule(obj)
    name = getattr(obj, "__qualname__", getattr(obj, "__name__", repr(obj)))
    title = f"{module.__name__}.{name}" if module else name
    lines = text.splitlines()
    if start is not None:
        hits = [i for i, line in enumerate(lines) if start in line]
        if not hits:
            raise ValueError(f"start={start!r} does not occur in the source of {title}")
        lines = lines[hits[0]:]
        title += f" (from `{start.strip()}`)"
    if stop is not None:
        hits = [i for i, line in enumerate(lines) if i > 0 and stop in line]
        if not hits:
            raise ValueError(f"stop={stop!r} does not occur in the source of {title}")
        lines = lines[: hits[0]]
    return SourceCode(textwrap.dedent("\n".join(lines)).rstrip(), title)
