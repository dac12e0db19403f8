"""Sphinx extension: plain-text docstrings rendered safely in the API reference.

coursekit's docstrings are read in a terminal (``help(ck.optim.Adam)``) as much as
in the book, so many write math as plain text: ``||x - W_d z||^2``,
``(n_out, n_in, *kernel)``, and indented displays of an update rule or an algorithm.
In reStructuredText those characters mean something else (``|x|`` is a substitution,
``*x`` starts emphasis, an indented block is a quotation), and the book is built with
warnings as errors. After napoleon has turned the "Args:"/"Returns:" sections into
fields, this hook

- escapes ``|`` and ``*`` outside roles (``:math:`...```), inline literals, emphasis
  (``*word*``) and list bullets;
- turns an indented display that follows a blank line into a literal block (shown as
  written), unless the paragraph before already opens one (``::``) or is a directive.

Docstrings in reStructuredText (``:math:`` roles, ``.. math::``) render as they are.
"""
from __future__ import annotations

import re

# Roles (:math:`...`), inline literals (``...``), interpreted text (`...`), and the
# emphasis a docstring means (*word*, **words**): left as they are.
_PROTECTED = re.compile(r"(:[\w:.-]+:`[^`]*`|``.+?``|`[^`]*`_?"
                        r"|(?<![\w*])\*\*?[^\s*][^*]*?(?<![\s\\])\*\*?(?![\w*]))")
_FIELD = re.compile(r"^(\s*:[^:`]+:)(\s|$)")   # napoleon's field marker, ":param x:"
_BULLET = re.compile(r"^(\s*[*+-] )")          # a list item's bullet


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


_OPEN_ROLE = re.compile(r":[\w:.-]+:`[^`]*$")     # a role that goes on on the next line


def _escape(line: str, inside_role: bool = False) -> tuple[str, bool]:
    """Escape ``line`` outside markup; return it and whether a role is still open at its end."""
    if inside_role:                            # the rest of a role begun on an earlier line
        end = line.find("`")
        if end < 0:
            return line, True
        rest, open_after = _escape(line[end + 1:])
        return line[:end + 1] + rest, open_after
    for marker in (_FIELD, _BULLET):
        found = marker.match(line)
        if found:
            rest, open_after = _escape(line[found.end(1):])
            return found.group(1) + rest, open_after
    parts = _PROTECTED.split(line)
    tail = _OPEN_ROLE.search(parts[-1])
    opened = ""
    if tail:                                   # keep an unfinished role as it is
        parts[-1], opened = parts[-1][:tail.start()], parts[-1][tail.start():]
    for i in range(0, len(parts), 2):          # even parts: outside roles and literals
        parts[i] = (parts[i].replace("\\", "\\\\").replace("|", r"\|")
                    .replace("*", r"\*"))
    return "".join(parts) + opened, bool(tail)


def render_plain_text(lines: list[str]) -> list[str]:
    """Rewrite a processed docstring (a list of lines) in place."""
    out: list[str] = []
    literal_indent = None       # indent of the paragraph that opened a literal block
    previous = ""               # the last non-blank line
    previous_indent = 0
    blank_before = True
    inside_role = False         # a :math:`...` role runs on from the line before
    for line in lines:
        if not line.strip():
            out.append(line)
            blank_before = True
            continue
        indent = _indent(line)
        if literal_indent is not None and indent > literal_indent:
            out.append(line)    # inside a literal block: shown verbatim
            continue
        literal_indent = None
        deeper = blank_before and indent > previous_indent and previous
        if deeper and previous.rstrip().endswith("::"):
            literal_indent = previous_indent
            out.append(line)
            blank_before = False
            continue
        if deeper and not previous.lstrip().startswith((".. ", ":")):
            # a display: make it a literal block ("::" alone, at the paragraph's indent)
            while out and not out[-1].strip():
                out.pop()
            out += ["", " " * previous_indent + "::", ""]
            literal_indent = previous_indent
            out.append(line)
            blank_before = False
            continue
        if line.lstrip().startswith(".. "):
            out.append(line)    # a directive (.. math::) is reStructuredText already
            literal_indent = indent
        else:
            line, inside_role = _escape(line, inside_role)
            out.append(line)
        previous, previous_indent, blank_before = line, indent, False
    lines[:] = out
    return lines


def _process(app, what, name, obj, options, lines):
    render_plain_text(lines)


def setup(app):
    # after sphinx.ext.napoleon (priority 500) has converted the Google-style sections
    app.connect("autodoc-process-docstring", _process, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
