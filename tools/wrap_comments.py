"""Wrap comments that stand on lines of their own to the book's code width (part of `make format`).

Black splits long code and strings but leaves comments alone. A comment on a line of its own
(``# ...``, at any indentation) wider than the limit is re-wrapped into several comment lines at
the same indentation; trailing comments and code are left as they are.

    python tools/wrap_comments.py coursekit notebooks      # files or folders (.py, .ipynb)
    python tools/wrap_comments.py --width 80 --check ...    # exit 1 if something would change
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from pathlib import Path

COMMENT = re.compile(r"^(?P<indent>[ \t]*)# (?P<text>.*\S)\s*$")
KEEP = re.compile(r"^(?:noqa|type:|pragma|fmt:|%%|!|-\*-)")


def wrap_lines(lines: list[str], width: int) -> list[str]:
    """The lines with every own-line comment wider than ``width`` wrapped (no line endings)."""
    out = []
    for line in lines:
        match = COMMENT.match(line)
        if len(line) <= width or not match or KEEP.match(match["text"]):
            out.append(line)
            continue
        prefix = match["indent"] + "# "
        out += textwrap.wrap(match["text"], width=width, initial_indent=prefix,
                             subsequent_indent=prefix, break_long_words=False,
                             break_on_hyphens=False)
    return out


def wrap_source(source: str, width: int) -> str:
    ending = "\n" if source.endswith("\n") else ""
    return "\n".join(wrap_lines(source.splitlines(), width)) + ending


def wrap_file(path: Path, width: int) -> bool:
    """Wrap one .py or .ipynb file in place; whether it changed."""
    text = path.read_text()
    if path.suffix == ".ipynb":
        nb = json.loads(text)
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
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
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if it would")
    args = parser.parse_args(argv)
    if args.width < 20:
        parser.error(f"--width must be at least 20, got {args.width}")
    files = []
    for path in args.paths:
        files += sorted(path.rglob("*.py")) + sorted(path.rglob("*.ipynb")) if path.is_dir() else [path]
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
