"""List the numbers a chapter's prose states that nothing in the chapter computes.

Every number the text of a chapter states must be printed by the cell that computes it
or appear in its code (an assert, a parameter). This tool reads an executed chapter
notebook, finds each number in its markdown cells, and reports those that appear in no
code cell and no output:

    .venv/bin/python tools/prose_numbers.py notebooks/05_optimizers.ipynb

A notebook stored without outputs is taken from the book's jupyter-cache when an
up-to-date executed copy is there (`make test` and `make book` store one), else executed
first (nbclient, in the notebook's folder). Exit status 1 when a number is unchecked.

Rules, in the order they apply:
- Not numbers: words ("ten"), digits inside names (L2, CIFAR-10, float64, 2-D, 1st),
  inline code, link targets, labels, citation and cross-reference roles, versions
  (2.13.0), numbers with a leading zero (chapter ids such as 05), years (1900-2099), and
  numbers after a reference word (chapter 5, section 2.3, Theorem 5, Proposition 2).
- Inside LaTeX math, equation constants are skipped: sub- and superscripts, integers in
  fractions, integer coefficients (2L), and integers below 10. Decimals, powers of ten,
  percents and integers of 10 or more that stand alone are checked.
- Same value, any notation: 0.05 = 5% = 5\\%, 1e-3 = 10⁻³ = 10^{-3} = 1 \\times 10^{-3},
  60,000 = 60 000 = 60{,}000; signs are ignored.
- A number of the code matches exactly; a printed number matches when it rounds to the
  prose's precision (prose 0.03 matches a printed 0.0312; prose 18 matches 18.4); a bare
  power of ten (10⁴) matches a printed value of that order of magnitude (2.3e+04, not
  5000 in the code).
- What remains may be listed, with a reason, in tools/prose_numbers_exceptions.toml (a
  number quoted from a paper, a constant of the text); an entry that matches nothing is
  an error.

Limits: the check is a net, not a proof. A number matches any code or output of the
chapter, not the one the sentence is about; a small integer is almost always found
somewhere; and numbers written as words are not read at all, so "about twenty" needs
an assert with a range, which this tool does not see.
"""

from __future__ import annotations

import argparse
import copy
import math
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXCEPTIONS = ROOT / "tools" / "prose_numbers_exceptions.toml"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bookcache import cache_path  # noqa: E402  (the cache of the library as it is now)

BOOK_CACHE = cache_path(ROOT, prune=False)
TIMEOUT_S = 300  # execute.timeout in _config.yml

SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
REFERENCE_WORDS = (
    "chapter",
    "chapters",
    "section",
    "sections",
    "§",
    "exercise",
    "exercises",
    "figure",
    "figures",
    "fig.",
    "table",
    "tables",
    "theorem",
    "theorems",
    "proposition",
    "lemma",
    "corollary",
    "algorithm",
    "equation",
    "equations",
    "eq.",
    "eqs.",
    "appendix",
    "lecture",
    "lectures",
    "slide",
    "slides",
    "page",
    "pages",
    "p.",
    "pp.",
    "part",
    "row",
    "rows",
    "item",
    "items",
    "cell",
    "cells",
    "line",
    "lines",
    "issue",
    "version",
    "definition",
    "remark",
    "example",
    "problem",
    "homework",
)
# A number in prose: 1.5, 60,000, 60 000 (thin spaces), 1e-3, 2×10⁻³, 10⁻³, 5%, 4x.
_DIGITS = r"\d+(?:(?:,|\u2009|\u202f|\u00a0|\\,|\{,\})\d{3})*(?:\.\d+)?"
_POW = r"10(?:\^\{?\s*(?P<texp>[-+−]?\d+)\s*\}?|(?P<uexp>[⁻⁺]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+))"
NUMBER = re.compile(
    rf"(?:(?P<mant>{_DIGITS})\s*(?:×|\\times|\\cdot|·|x)\s*)?(?P<pow>{_POW})"
    rf"|(?P<num>{_DIGITS})(?P<exp>[eE][-+−]?\d+)?(?P<pct>\s?\\?%)?"
)
_LETTER = re.compile(r"[^\W\d_]")


@dataclass(frozen=True)
class Number:
    """A number stated in the prose: text, value, and the tolerance of its wording."""

    raw: str
    value: float
    tolerance: float  # half a unit of the last stated digit
    percent: bool = False
    power_of_ten: bool = False
    sentence: str = ""
    cell: int = -1


@dataclass
class Evidence:
    """The numbers a chapter computes or uses: exact in code, rounded in outputs."""

    code: set[float] = field(default_factory=set)
    output: list[float] = field(default_factory=list)


# --------------------------------------------------------------------- parsing numbers
def _value(text: str) -> float:
    text = text.replace("−", "-").translate(SUPERSCRIPTS)
    for sep in (",", "\u2009", "\u202f", "\u00a0", "\\,", "{,}"):
        text = text.replace(sep, "")
    return abs(float(text))


def _decimals(digits: str) -> int:
    return len(digits.split(".")[1]) if "." in digits else 0


def _number(match: re.Match, in_math: bool = False) -> Number | None:
    """The Number a regex match states, or None if the rules say not to check it."""
    raw = match.group(0).strip()
    if match.group("pow"):
        exponent = int(
            (match.group("texp") or match.group("uexp"))
            .replace("−", "-")
            .translate(SUPERSCRIPTS)
        )
        mant = match.group("mant")
        if mant is None:
            return Number(raw, 10.0**exponent, 0.0, power_of_ten=True)
        scale = 10.0**exponent
        return Number(raw, _value(mant) * scale, 0.5 * 10.0 ** -_decimals(mant) * scale)
    digits = match.group("num")
    if match.group("exp"):
        exponent = int(match.group("exp")[1:].replace("−", "-"))
        scale = 10.0**exponent
        return Number(
            raw, _value(digits) * scale, 0.5 * 10.0 ** -_decimals(digits) * scale
        )
    plain = _value(digits)
    decimals = _decimals(digits)
    if match.group("pct"):
        return Number(raw, plain, 0.5 * 10.0**-decimals, percent=True)
    bare = re.fullmatch(r"\d+", digits) is not None
    if bare and len(digits) > 1 and digits.startswith("0"):
        return None  # 05: a chapter id, not a quantity
    if bare and len(digits) == 4 and 1900 <= plain <= 2099:
        return None  # a year
    if in_math and bare and plain < 10:
        return None  # an equation constant: 1/2, x^2, 4t
    return Number(raw, plain, 0.5 * 10.0**-decimals)


def _is_name_part(text: str, start: int, end: int) -> bool:
    """Digits glued to a name: L2, ℓ1, float64, CIFAR-10, 2-D, 3D, 1st, v2.13.0, x_1."""
    before = text[start - 1] if start > 0 else " "
    before2 = text[start - 2] if start > 1 else " "
    after = text[end] if end < len(text) else " "
    after2 = text[end + 1] if end + 1 < len(text) else " "
    if _LETTER.match(before) or before in "_./\\":
        return True
    if before in "-–" and _LETTER.match(before2):
        return True  # CIFAR-10, ex-05, LeNet-5
    if after == "." and after2.isdigit():
        return True  # a version 2.13.0
    if (
        after in "-–"
        and after2 in "Dd"
        and not _LETTER.match(text[end + 2 : end + 3] or " ")
    ):
        return True  # 1-D, 2-d
    if _LETTER.match(after) and after not in "x×":
        return True  # 3D, 1st, 64bit; but 4x is a factor
    return False


_REFERENCE = re.compile(
    r"(?<![\w.])(?:" + "|".join(re.escape(w) for w in REFERENCE_WORDS) + r")\s*~?"
    r"(?:\d+(?:[.\-–]\d+)*[a-z]?(?:\s*(?:,|and|or|to|–|-|&)\s*)?)+",
    re.IGNORECASE,
)


def _numbers_in_text(text: str, in_math: bool) -> list[tuple[int, Number]]:
    """(position, Number) for each number the rules keep in a piece of prose or math."""
    masked = _REFERENCE.sub(lambda m: " " * len(m.group(0)), text)
    found = []
    for match in NUMBER.finditer(masked):
        start, end = match.span()
        while end > start and masked[end - 1] == " ":
            end -= 1
        if _is_name_part(masked, start, end):
            continue
        if in_math:
            before = masked[:start].rstrip()
            if (
                not match.group("pow")
                and "." not in match.group(0)
                and "%" not in match.group(0)
            ):
                following = masked[end : end + 8]
                if re.match(
                    r"\s*(?:[A-Za-z]|\\(?!times|cdot|,|%|;|quad|qquad|\s))", following
                ):
                    continue  # a coefficient: 2L, 12\alpha
                if before.endswith(("{", "}")) and re.search(
                    r"\\[dt]?frac\s*(?:\{[^{}]*\})?\s*\{?$", before
                ):
                    continue  # a fraction's integer
        number = _number(match, in_math)
        if number is not None:
            found.append((start, number))
    return found


_MATH = re.compile(
    r"\$\$(.+?)\$\$|\\begin\{(\w+\*?)\}(.+?)\\end\{\2\}|\$([^$\n]+?)\$", re.DOTALL
)
_POWER_OF_TEN = re.compile(r"10\^(?:\{\s*[-+−]?\d+\s*\}|[-+]?\d)")
_SUBSUP = re.compile(r"[_^](?:\{[^{}]*\}|\\?\w)")


def _clean_math(tex: str) -> str:
    """Math with its constants blanked: sub/superscripts (not 10^k), \\frac12."""
    tex = re.sub(r"\\[dt]?frac\s*\d\s*\d", " ", tex)
    protected = _POWER_OF_TEN.sub(lambda m: m.group(0).replace("^", "\0"), tex)
    for _ in range(3):  # nested: x_{t_{1}}
        protected = _SUBSUP.sub(lambda m: " " * len(m.group(0)), protected)
    return protected.replace("\0", "^")


def _strip_markup(source: str) -> str:
    """Markdown without what is not prose: code, roles, links, labels, options, HTML."""
    lines, in_code = [], False
    for line in source.splitlines():
        fence = re.match(r"\s*(```+|:::+)\s*(\{?)", line)
        if fence:
            if in_code:
                in_code = False
            elif fence.group(2) != "{" and fence.group(1).startswith("`"):
                in_code = True  # ```python: code, not prose
            lines.append("")
            continue
        if (
            in_code
            or re.match(r"\s*:[\w-]+:", line)
            or re.match(r"\s*\([\w-]+\)=\s*$", line)
        ):
            lines.append("")
            continue
        lines.append(line)
    text = "\n".join(lines)
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.DOTALL)
    text = re.sub(r"\{math\}`([^`]*)`", r"$\1$", text)
    text = re.sub(r"\{[\w:-]+\}`[^`]*`", " ", text)  # {footcite:p}`key`, {ref}`label`
    text = re.sub(r"`[^`]*`", " ", text)  # inline code
    text = re.sub(r"\]\([^)]*\)", "]", text)  # link targets
    text = re.sub(r"<[^>\n]+>", " ", text)  # HTML tags
    return text


def _sentence(text: str, position: int) -> str:
    starts = [0] + [
        m.end() for m in re.finditer(r"(?<=[.!?:])\s+(?=[A-Z($*])|\n\s*\n", text)
    ]
    start = max(s for s in starts if s <= position)
    following = [s for s in starts if s > position]
    end = following[0] if following else len(text)
    return " ".join(text[start:end].split())


def prose_numbers(markdown: str, cell: int = -1) -> list[Number]:
    """Every number to check in one markdown cell, with the sentence that states it."""
    text = _strip_markup(markdown)
    found: list[tuple[int, Number]] = []
    last = 0
    for match in _MATH.finditer(text):
        found += [
            (last + p, n)
            for p, n in _numbers_in_text(text[last : match.start()], in_math=False)
        ]
        tex = next(
            g for g in (match.group(1), match.group(3), match.group(4)) if g is not None
        )
        offset = match.start()
        found += [
            (offset + p, n) for p, n in _numbers_in_text(_clean_math(tex), in_math=True)
        ]
        last = match.end()
    found += [(last + p, n) for p, n in _numbers_in_text(text[last:], in_math=False)]
    return [
        Number(**{**n.__dict__, "sentence": _sentence(text, p), "cell": cell})
        for p, n in found
    ]


# ---------------------------------------------------------------------------- evidence
_ANY_NUMBER = re.compile(
    r"(?<![\w.])(\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE]([-+]?\d+))?(%)?"
    r"|10\s*\*\*\s*\(?\s*(-?\d+)\s*\)?"
)


def evidence_numbers(text: str) -> list[float]:
    """All numbers in code or output text, read generously (60,000: 60 and 60000)."""
    values = []
    for match in _ANY_NUMBER.finditer(text.translate(SUPERSCRIPTS).replace("−", "-")):
        if match.group(4) is not None:
            values.append(10.0 ** int(match.group(4)))
            continue
        digits = match.group(1).replace("_", "")
        try:
            value = float(digits) * (
                10.0 ** int(match.group(2)) if match.group(2) else 1.0
            )
        except (ValueError, OverflowError):
            continue
        values.append(value)
        if match.group(3):
            values.append(value / 100)
    for match in re.finditer(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", text):
        values.append(float(match.group(0).replace(",", "")))
    for match in re.finditer(r"(\d+(?:\.\d+)?)\s*[x×]\s*10\^?\{?(-?\d+)", text):
        values.append(float(match.group(1)) * 10.0 ** int(match.group(2)))
    return [abs(v) for v in values if math.isfinite(v)]


def _output_text(output) -> str:
    if output.get("output_type") == "stream":
        return "".join(output.get("text", ""))
    data = output.get("data", {})
    parts = []
    for kind in ("text/plain", "text/markdown", "text/latex", "text/html"):
        if kind in data:
            value = data[kind]
            parts.append("".join(value) if isinstance(value, list) else str(value))
    return re.sub(r"<[^>]+>", " ", "\n".join(parts))


def chapter_evidence(nb) -> Evidence:
    evidence = Evidence()
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        evidence.code.update(evidence_numbers(_source(cell)))
        points = cell.get("metadata", {}).get("nbgrader", {}).get("points")
        if points is not None:  # an exercise's "(3 points)"
            evidence.code.add(float(points))
        for output in cell.get("outputs", []):
            evidence.output += evidence_numbers(_output_text(output))
    return evidence


def _source(cell) -> str:
    source = cell["source"]
    return "".join(source) if isinstance(source, list) else source


def is_checked(number: Number, evidence: Evidence) -> bool:
    """Whether the chapter's code or outputs state this number (module docstring)."""
    if number.percent:  # 5% is 0.05 (a printed 5.0% reads as 0.05 too)
        candidates = [(number.value / 100, number.tolerance / 100)]
    else:
        candidates = [(number.value, number.tolerance)]
    for value, _ in candidates:
        if any(
            math.isclose(value, e, rel_tol=1e-9, abs_tol=1e-15) for e in evidence.code
        ):
            return True
    for value, tolerance in candidates:
        for e in evidence.output:
            if number.power_of_ten:
                if e > 0 and round(math.log10(e)) == round(math.log10(value)):
                    return True
            elif abs(e - value) <= tolerance * (1 + 1e-9) + 1e-15:
                return True
    return False


# -------------------------------------------------------------------------- exceptions
@dataclass(frozen=True)
class Exception_:
    """A reviewed number the prose may state unchecked, with its context and reason."""

    chapter: str
    number: str
    context: str
    reason: str

    def matches(self, chapter: str, number: Number) -> bool:
        if (
            chapter != self.chapter
            or " ".join(self.context.split()) not in number.sentence
        ):
            return False
        stated = [n for n in prose_numbers(self.number) if n.raw]
        return bool(stated) and math.isclose(
            stated[0].value, number.value, rel_tol=1e-12
        )


def load_exceptions(path: Path = EXCEPTIONS) -> list[Exception_]:
    """The reviewed exceptions; each needs chapter, number, context and a reason."""
    if not Path(path).exists():
        return []
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    entries = []
    for i, entry in enumerate(data.get("exception", [])):
        missing = [
            k
            for k in ("chapter", "number", "context", "reason")
            if not str(entry.get(k, "")).strip()
        ]
        if missing:
            raise ValueError(f"{path}: exception {i + 1} lacks {', '.join(missing)}")
        entries.append(
            Exception_(
                entry["chapter"],
                str(entry["number"]),
                entry["context"],
                entry["reason"],
            )
        )
    return entries


# --------------------------------------------------------------------------- a chapter
def unchecked_numbers(nb, chapter: str, exceptions: list[Exception_] | None = None):
    """(unchecked numbers, unused exceptions of the chapter) for an executed nb."""
    evidence = chapter_evidence(nb)
    exceptions = [e for e in (exceptions or []) if e.chapter == chapter]
    used: set[Exception_] = set()
    unchecked = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        for number in prose_numbers(_source(cell), cell=index):
            if is_checked(number, evidence):
                continue
            excused = [e for e in exceptions if e.matches(chapter, number)]
            if excused:
                used.update(excused)
            else:
                unchecked.append(number)
    return unchecked, [e for e in exceptions if e not in used]


def has_outputs(nb) -> bool:
    return any(
        cell.get("outputs") for cell in nb["cells"] if cell["cell_type"] == "code"
    )


def from_book_cache(nb, cache_dir: Path = BOOK_CACHE):
    """The executed copy of nb in the book's jupyter-cache (None if not up to date)."""
    if not Path(cache_dir).exists():
        return None
    from jupyter_cache import get_cache

    try:
        _, merged = get_cache(str(cache_dir)).merge_match_into_notebook(
            copy.deepcopy(nb)
        )
    except KeyError:
        return None
    return merged


def execute(nb, path: Path):
    """Run the notebook with nbclient in its own folder, as the book build does."""
    import os

    from nbclient import NotebookClient

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    executed = copy.deepcopy(nb)
    NotebookClient(
        executed,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(Path(path).resolve().parent)}},
    ).execute()
    return executed


def executed_notebook(path: Path, use_cache: bool = True):
    """(executed notebook, where it came from) for a chapter file."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    if has_outputs(nb):
        return nb, "the notebook's own outputs"
    if use_cache:
        cached = from_book_cache(nb)
        if cached is not None:
            return cached, f"the book's cache ({BOOK_CACHE.relative_to(ROOT)})"
    return execute(nb, path), "a fresh execution"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", type=Path, nargs="+", help="chapter notebooks")
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="execute even when the book's cache has a copy",
    )
    parser.add_argument(
        "--exceptions",
        type=Path,
        default=EXCEPTIONS,
        help="the reviewed exceptions (TOML)",
    )
    args = parser.parse_args(argv)
    exceptions = load_exceptions(args.exceptions)
    status = 0
    for path in args.notebooks:
        nb, origin = executed_notebook(path, use_cache=not args.no_cache)
        unchecked, stale = unchecked_numbers(nb, path.stem, exceptions)
        print(
            f"{path.name} (outputs from {origin}): {len(unchecked)} unchecked numbers, "
            f"{len(stale)} unused exceptions"
        )
        for number in unchecked:
            print(
                f"  cell {number.cell:3d}  {number.raw!r:14}  {number.sentence[:200]}"
            )
        for entry in stale:
            print(f"  unused exception: {entry.number!r} in {entry.context!r}")
        status |= bool(unchecked or stale)
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
