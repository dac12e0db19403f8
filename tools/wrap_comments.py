"""Wrap comments that stand on lines of their own to the book's code width (part of `make format`).

Black splits long code and strings but leaves comments alone. On a line wider than the limit:
- a comment on a line of its own (``# ...``, at any indentation) is re-wrapped into several comment
  lines at the same indentation (a ruler like ``# -----`` is shortened);
- a comment after code moves onto its own line(s) just above that line, at its indentation.
Code is never changed.

    python tools/wrap_comments.py coursekit notebooks      # files or folders (.py, .ipynb)
    python tools/wrap_comments.py --width 80 --check ...    # exit 1 if something would change
"""

from __future__ import annotations

import argparse
import json
import io
import re
import sys
import textwrap
import tokenize
from pathlib import Path

COMMENT = re.compile(r"^(?P<indent>[ \t]*)# (?P<text>.*\S)\s*$")
KEEP = re.compile(r"^(?:noqa|type:|pragma|fmt:|%%|!|-\*-)")
RULER = re.compile(r"^([-=#*~_])\1{3,}$")


def _wrapped(indent: str, text: str, width: int) -> list[str]:
    prefix = indent + "# "
    if RULER.match(text):
        return [(prefix + text)[:width]]
    return textwrap.wrap(
        text,
        width=width,
        initial_indent=prefix,
        subsequent_indent=prefix,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _trailing_comments(source: str) -> dict[int, int]:
    """{line index: column} of the comments that follow code (none if the source does not parse
    as Python, e.g. a cell with IPython magics)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return {}
    lines = source.splitlines()
    return {
        row - 1: col
        for kind, _, (row, col), _, _ in tokens
        if kind == tokenize.COMMENT and lines[row - 1][:col].strip()
    }


def wrap_lines(
    lines: list[str], width: int, trailing: dict[int, int] | None = None
) -> list[str]:
    """The lines with every comment on a line wider than ``width`` wrapped (no line endings);
    ``trailing``: where comments follow code (see :func:`_trailing_comments`)."""
    out = []
    for index, line in enumerate(lines):
        match = COMMENT.match(line)
        column = (trailing or {}).get(index)
        if len(line) <= width:
            out.append(line)
        elif match and not KEEP.match(match["text"]):
            out += _wrapped(match["indent"], match["text"], width)
        elif column is not None:
            code, text = line[:column].rstrip(), line[column:].lstrip("#").strip()
            if not text or KEEP.match(text):
                out.append(line)
                continue
            indent = code[: len(code) - len(code.lstrip())]
            out += _wrapped(indent, text, width) + [code]
        else:
            out.append(line)
    return out


def wrap_source(source: str, width: int) -> str:
    ending = "\n" if source.endswith("\n") else ""
    lines = source.splitlines()
    return "\n".join(wrap_lines(lines, width, _trailing_comments(source))) + ending


def wrap_file(path: Path, width: int) -> bool:
    """Wrap one .py or .ipynb file in place; whether it changed."""
    text = path.read_text()
    if path.suffix == ".ipynb":
        nb = json.loads(text)
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                source = (
                    "".join(cell["source"])
                    if isinstance(cell["source"], list)
                    else cell["source"]
                )
                cell["source"] = wrap_source(source, width).splitlines(keepends=True)
        new = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        changed = json.loads(new) != json.loads(text)
    else:
        new = wrap_source(text, width)
        changed = new != text
    if changed:
        path.write_text(new)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--width", type=int, default=80)
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if it would"
    )
    args = parser.parse_args(argv)
    if args.width < 20:
        parser.error(f"--width must be at least 20, got {args.width}")
    files = []
    for path in args.paths:
        files += (
            sorted(path.rglob("*.py")) + sorted(path.rglob("*.ipynb"))
            if path.is_dir()
            else [path]
        )
    files = [f for f in files if ".ipynb_checkpoints" not in f.parts]
    changed = []
    for path in files:
        if args.check:
            before = path.read_text()
            if wrap_file(path, args.width):
                changed.append(path)
                path.write_text(before)
        elif wrap_file(path, args.width):
            changed.append(path)
    verb = "would wrap" if args.check else "wrapped"
    print(f"{verb} comments in {len(changed)} of {len(files)} files")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
