"""Measure the built book as a reader sees it, page by page, in headless Chromium.

For every chapter page (or every page of _toc.yml with --all) at a laptop (1280x900) and a phone
(390x844) viewport, it reports
- display equations wider than the text column, with their LaTeX source;
- code blocks (cell inputs and printed outputs) that scroll sideways, with their widest line;
- images without a meaningful alt text (none, a file name, or a placeholder like "figure");
- requests that failed (missing files), and errors in the console.

    .venv/bin/python tools/measure_book.py                    # summary table, both widths
    .venv/bin/python tools/measure_book.py --markdown out.md  # also the full lists, as Markdown
    .venv/bin/python tools/measure_book.py --widths 1280x900 --pages notebooks/05_optimizers

tests/test_book.py runs the same measurements (`measure_page`) on every chapter at laptop width.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
LAPTOP, PHONE = (1280, 900), (390, 844)

# Runs in the page once MathJax has typeset it. Widths are in CSS pixels. A display
# equation is
# "wide" when its typeset formula is wider than the block that holds it (the text
# column); a code
# block "scrolls" when its text is wider than its box. Images are every <img> in the
# article.
MEASURE_JS = r"""() => {
  const px = x => Math.round(x);
  const article = document.querySelector('article.bd-article') || document.querySelector('main')
    || document.body;
  const column = article.clientWidth;
  const tex = new Map();
  if (window.MathJax && MathJax.startup && MathJax.startup.document) {
    for (const item of MathJax.startup.document.math) {
      if (item.display && item.typesetRoot) tex.set(item.typesetRoot, item.math);
    }
  }
  const equations = [];
  for (const box of article.querySelectorAll('mjx-container[display="true"]')) {
    const math = box.querySelector('mjx-math') || box;
    const holder = box.closest('div.math, div.amsmath, .math-wrapper') || box.parentElement;
    const room = Math.min(holder.clientWidth || column, column);
    const width = math.getBoundingClientRect().width;
    equations.push({width: px(width), room: px(room), tex: (tex.get(box) || '').trim(),
                    wide: width > room + 1});
  }
  const code = [];
  for (const pre of article.querySelectorAll('pre')) {
    if (pre.closest('mjx-container')) continue;
    const kind = pre.closest('.cell_output, .output') ? 'output' : 'input';
    const lines = pre.textContent.split('\n');
    const widest = lines.reduce((a, b) => (b.length > a.length ? b : a), '');
    code.push({kind, width: px(pre.scrollWidth), room: px(pre.clientWidth),
               scrolls: pre.scrollWidth > pre.clientWidth + 1, chars: widest.length,
               widest: widest.slice(0, 160)});
  }
  const images = [];
  for (const img of article.querySelectorAll('img')) {
    if (img.closest('.bd-header-article, .dropdown-menu, nav')) continue;   // the theme's buttons
    images.push({alt: img.getAttribute('alt'), src: (img.getAttribute('src') || '').slice(0, 80),
                 inWidget: !!img.closest('.jupyter-widgets, .widget-html-content'),
                 shown: img.offsetParent !== null});
  }
  return {column: px(column), equations, code, images};
}"""

PLACEHOLDER_ALT = re.compile(
    r"^(figure|image|img|plot|picture|png|output|graph)?\s*\d*$", re.I
)
FILE_NAME_ALT = re.compile(r"\.(png|jpe?g|svg|gif|webp)$|^[\w./-]+_\d+_\d+\b", re.I)


def meaningful_alt(alt: str | None) -> bool:
    """An alt text that describes something: not missing, not a file name, not a placeholder,
    and at least a few words long."""
    if alt is None:
        return False
    text = alt.strip()
    if not text or PLACEHOLDER_ALT.match(text) or FILE_NAME_ALT.search(text):
        return False
    return len(text) >= 20 and len(text.split()) >= 4


@dataclass
class PageReport:
    page: str
    width: int
    column: int = 0
    equations: list = field(default_factory=list)
    code: list = field(default_factory=list)
    images: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    console: list = field(default_factory=list)

    @property
    def wide_equations(self):
        return [e for e in self.equations if e["wide"]]

    @property
    def scrolling_code(self):
        return [c for c in self.code if c["scrolls"]]

    @property
    def bad_alt(self):
        return [i for i in self.images if not meaningful_alt(i["alt"])]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("no Chromium found: `make browser` installs Debian's chromium")


def launch(playwright):
    return playwright.chromium.launch(
        executable_path=chromium(),
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    )


def watch(page) -> tuple[list[str], list[str]]:
    """Collect the page's failed requests and its console errors from now on."""
    failed: list[str] = []
    console: list[str] = []
    page.on("requestfailed", lambda r: failed.append(f"{r.url[-100:]} ({r.failure})"))
    page.on(
        "response",
        lambda r: (
            failed.append(f"{r.url[-100:]} (HTTP {r.status})")
            if r.status >= 400
            else None
        ),
    )
    page.on(
        "console", lambda m: console.append(m.text[:160]) if m.type == "error" else None
    )
    return failed, console


def wait_typeset(page) -> None:
    """Wait until the page has loaded and MathJax has typeset it."""
    page.wait_for_load_state("load")
    if page.locator('script[src*="mathjax"]').count():
        page.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise",
            timeout=20000,
        )
        page.evaluate("() => MathJax.startup.promise")
    page.wait_for_timeout(300)


def measure_page(page, entry: str, width: int, watched) -> PageReport:
    """The measurements of a loaded, typeset page (``watched``: what :func:`watch` returned)."""
    data = page.evaluate(MEASURE_JS)
    failed, console = watched
    return PageReport(
        entry,
        width,
        data["column"],
        data["equations"],
        data["code"],
        data["images"],
        list(failed),
        list(console),
    )


def measure(
    pages: list[str], widths: list[tuple[int, int]], html: Path = HTML
) -> list[PageReport]:
    from playwright.sync_api import sync_playwright

    reports = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            for width, height in widths:
                for entry in pages:
                    page = browser.new_page(viewport={"width": width, "height": height})
                    watched = watch(page)
                    page.goto((html / f"{entry}.html").as_uri())
                    wait_typeset(page)
                    reports.append(measure_page(page, entry, width, watched))
                    page.close()
        finally:
            browser.close()
    return reports


def toc_pages(chapters_only: bool = True) -> list[str]:
    text = (ROOT / "_toc.yml").read_text()
    pages = re.findall(r"^\s*-?\s*(?:file|root):\s*([^\s#]+)", text, re.M)
    return [p for p in pages if p.startswith("notebooks/")] if chapters_only else pages


def summary(reports: list[PageReport]) -> str:
    rows = [
        (
            "| width | page | equations wide / all | code scrolling / all (inputs,"
            " outputs) | images without alt / all | failed requests |"
        ),
        "|---|---|---|---|---|---|",
    ]
    for width in sorted({r.width for r in reports}, reverse=True):
        mine = [r for r in reports if r.width == width]
        for r in mine + [None]:
            if r is None:
                name = "**all**"
                eq = sum(len(x.wide_equations) for x in mine), sum(
                    len(x.equations) for x in mine
                )
                sc = [c for x in mine for c in x.scrolling_code]
                code_all = sum(len(x.code) for x in mine)
                alt = sum(len(x.bad_alt) for x in mine), sum(
                    len(x.images) for x in mine
                )
                failed = sum(len(x.failed) for x in mine)
            else:
                name = r.page.split("/")[-1]
                eq = len(r.wide_equations), len(r.equations)
                sc, code_all = r.scrolling_code, len(r.code)
                alt = len(r.bad_alt), len(r.images)
                failed = len(r.failed)
            ins = sum(c["kind"] == "input" for c in sc)
            rows.append(
                f"| {width} | {name} | {eq[0]} / {eq[1]} | {len(sc)} / {code_all} "
                f"({ins}, {len(sc) - ins}) | {alt[0]} / {alt[1]} | {failed} |"
            )
    return "\n".join(rows)


def details(reports: list[PageReport]) -> str:
    out = []
    for r in reports:
        out.append(f"\n### {r.page} at {r.width} px (text column {r.column} px)\n")
        if r.wide_equations:
            out.append(
                f"Display equations wider than the column ({len(r.wide_equations)}):\n"
            )
            for e in r.wide_equations:
                out.append(
                    f"- {e['width']} px in {e['room']} px:\n\n  ```latex\n  "
                    + e["tex"].replace("\n", "\n  ")
                    + "\n  ```"
                )
        widest = sorted(r.scrolling_code, key=lambda c: -c["chars"])[:3]
        if widest:
            out.append(
                f"\nCode blocks scrolling sideways: {len(r.scrolling_code)} of"
                f" {len(r.code)}; the widest lines:\n"
            )
            for c in widest:
                out.append(
                    f"- {c['kind']}, {c['chars']} chars, {c['width']} px in {c['room']}"
                    f" px: `{c['widest'].strip()[:100]}`"
                )
        if r.bad_alt:
            alts = sorted({str(i["alt"]) for i in r.bad_alt})[:5]
            out.append(
                f"\nImages without a meaningful alt text: {len(r.bad_alt)} of"
                f" {len(r.images)} (alt texts: {', '.join(repr(a) for a in alts)})"
            )
        if r.failed:
            out.append(
                f"\nFailed requests: {len(r.failed)}: "
                + "; ".join(sorted(set(r.failed))[:4])
            )
        if r.console:
            out.append(f"\nConsole errors: " + "; ".join(sorted(set(r.console))[:4]))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--pages", nargs="*", help="pages as in _toc.yml (default: every chapter)"
    )
    parser.add_argument(
        "--all", action="store_true", help="every page of _toc.yml, not only chapters"
    )
    parser.add_argument(
        "--widths",
        nargs="*",
        default=["1280x900", "390x844"],
        help="viewports WIDTHxHEIGHT",
    )
    parser.add_argument(
        "--markdown", type=Path, help="write the summary and full lists here"
    )
    parser.add_argument("--json", type=Path, help="write the raw measurements here")
    parser.add_argument("--html", type=Path, default=HTML, help="the built book")
    parser.add_argument(
        "--from-json", type=Path, help="report earlier measurements (--json)"
    )
    args = parser.parse_args(argv)
    pages = args.pages or toc_pages(chapters_only=not args.all)
    widths = [tuple(int(v) for v in w.lower().split("x")) for w in args.widths]
    missing = [p for p in pages if not (args.html / f"{p}.html").exists()]
    if missing:
        print(f"not built: {missing}; run `make book` first")
        return 1
    if args.from_json:
        reports = [PageReport(**r) for r in json.loads(args.from_json.read_text())]
    else:
        reports = measure(pages, widths, args.html)
    table = summary(reports)
    print(table)
    if args.markdown:
        args.markdown.write_text(
            "# The built book, measured\n\n" + table + "\n" + details(reports) + "\n"
        )
        print(f"written: {args.markdown}")
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in reports], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
