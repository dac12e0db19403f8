#!/usr/bin/env python3
"""Write the book's API reference pages: book/api/<module>.md for every public coursekit module.

Usage:
    python tools/api_pages.py            write the pages, the index's module table, and the line
                                         under each chapter's references that links its modules
    python tools/api_pages.py --check    exit 1 if a page, the index or _toc.yml is out of date

Each page holds the module's docstrings (Sphinx ``automodule``) and, above them, the chapters that
use the module with the objects they use, so a reader goes from a chapter to the reference and back.
A module's uses are found in the chapters' code cells: ``ck.<module>.<name>``, the chapters'
aliases (``ko = ck.optim``, ``from coursekit import sparse_coding as sc``), and
``from coursekit.<module> import <name>``.
"""
from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "book" / "api"
sys.path.insert(0, str(ROOT))
import coursekit as ck  # noqa: E402

TOP_LEVEL = {"setup": "runtime", "device": "runtime", "seed_everything": "runtime",
             "full_mode": "runtime", "show": "source"}
# Sub-modules documented on their package's page (their objects are not re-exported).
EXTRA_SECTIONS = {"optim": ("functional", "theory")}


def _public(module) -> set[str]:
    names = getattr(module, "__all__", None)
    if names is None:       # a package without __all__: what it exports
        names = [n for n, obj in vars(module).items() if not n.startswith("_")
                 and getattr(obj, "__module__", "").startswith(module.__name__)]
    return set(names)


def _aliases(code: str) -> dict[str, str]:
    """Chapter aliases of modules: ``ko = ck.optim``, ``from coursekit import gan as g``."""
    found = {m: m for m in re.findall(r"^from coursekit import (\w+)$", code, re.M)}
    found.update({a: m for m, a in re.findall(r"from coursekit import (\w+) as (\w+)", code)})
    found.update({a: m for a, m in re.findall(r"^(\w+) = ck\.(\w+)\b", code, re.M)})
    return found


def chapter_uses() -> tuple[dict[str, str], dict[str, dict[str, list[str]]]]:
    """Chapter titles, and for every module the names each chapter uses."""
    titles, uses = {}, {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        titles[path.stem] = "".join(cells[0]["source"]).splitlines()[0].lstrip("# ").strip()
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        pairs = re.findall(r"\bck\.(\w+)\.(\w+)", code)
        pairs += [(TOP_LEVEL[n], n) for n in re.findall(r"\bck\.(\w+)\(", code) if n in TOP_LEVEL]
        for alias, module in _aliases(code).items():
            pairs += [(module, n) for n in re.findall(rf"(?<![\w.]){alias}\.(\w+)", code)]
        for module, names in re.findall(r"from coursekit\.(\w+) import ([\w, ]+)", code):
            pairs += [(module, n.strip()) for n in names.split(",")]
        for module, name in pairs:
            if module in ck.SUBMODULES and name in _public(importlib.import_module(f"coursekit.{module}")):
                names = uses.setdefault(module, {}).setdefault(path.stem, [])
                if name not in names:
                    names.append(name)
    return titles, uses


def page(module: str, titles: dict, uses: dict) -> str:
    lines = [f"# `coursekit.{module}`", ""]
    chapters = uses.get(module, {})
    if chapters:
        first = min(chapters)
        lines += [f"Introduced in {{doc}}`{titles[first]} <../../notebooks/{first}>`.", "",
                  "Where the chapters use it:", ""]
        for stem in sorted(chapters):
            names = ", ".join(f"{{py:obj}}`~coursekit.{module}.{n}`" for n in sorted(chapters[stem]))
            lines.append(f"- {{doc}}`{titles[stem]} <../../notebooks/{stem}>`: {names}")
    else:
        lines.append("Not called by the chapters directly: the other modules use it.")
    lines += ["", "```{eval-rst}", f".. automodule:: coursekit.{module}", "   :members:"]
    if module == "optim":
        lines.append("   :imported-members:")
    lines += ["```", ""]
    for sub in EXTRA_SECTIONS.get(module, ()):
        lines += [f"## `coursekit.{module}.{sub}`", "", "```{eval-rst}",
                  f".. automodule:: coursekit.{module}.{sub}", "   :members:", "```", ""]
    return "\n".join(lines)


def index_text(current: str) -> str:
    table = "\n".join(f"   coursekit.{m}" for m in ck.SUBMODULES)
    return re.sub(r"(\.\. autosummary::\n\n)(   coursekit\.\w+\n)+", rf"\g<1>{table}\n", current)


LINKS_START = "**In the API reference.**"


def chapter_links(uses: dict) -> dict[Path, str]:
    """For every chapter, its References cell ending with links to the modules it runs."""
    wanted = {}
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        modules = sorted(m for m, chapters in uses.items() if path.stem in chapters)
        nb = json.loads(path.read_text())
        cell = next(c for c in nb["cells"] if "".join(c["source"]).startswith("## References"))
        text = "".join(cell["source"]).split("\n\n" + LINKS_START)[0]
        if modules:
            links = ", ".join(f"{{doc}}`coursekit.{m} <../book/api/{m}>`" for m in modules)
            text += f"\n\n{LINKS_START} The library code this chapter runs: {links}."
        if text != "".join(cell["source"]):
            cell["source"] = text.splitlines(keepends=True)
            wanted[path] = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    return wanted


def main(argv: list[str]) -> int:
    check = "--check" in argv
    titles, uses = chapter_uses()
    wanted = {API / f"{m}.md": page(m, titles, uses) for m in ck.SUBMODULES}
    index = API / "index.md"
    wanted[index] = index_text(index.read_text())
    stale = [p for p, text in wanted.items() if not p.exists() or p.read_text() != text]
    extra = [p for p in API.glob("*.md") if p not in wanted]
    links = chapter_links(uses)       # chapters whose link line is missing or out of date
    wanted.update(links)
    stale += list(links)
    toc = (ROOT / "_toc.yml").read_text()
    missing = [m for m in ck.SUBMODULES if f"file: book/api/{m}\n" not in toc]
    if check:
        for p in stale + extra:
            print(f"out of date: {p.relative_to(ROOT)}")
        for m in missing:
            print(f"_toc.yml lacks book/api/{m} (a section of book/api/index)")
        return 1 if stale or extra or missing else 0
    for p in stale:
        p.write_text(wanted[p])
        print(f"wrote {p.relative_to(ROOT)}")
    for p in extra:
        p.unlink()
        print(f"removed {p.relative_to(ROOT)}")
    for m in missing:
        print(f"add to _toc.yml, under book/api/index:  - file: book/api/{m}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
