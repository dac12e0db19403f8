"""The whole book as one PDF, made offline: `make pdf`.

1. A single-page build of the book (Jupyter Book's `singlehtml` builder), _build/singlehtml/book.html.
   It reuses the executions of `make book` (the same jupyter-cache), so no chapter runs again, and
   the widgets' state of the HTML build's chapter pages.
2. Debian's chromium (headless, through Playwright, no network) opens that page, waits for MathJax
   and the widgets, puts a table of contents at the front (links to every chapter and section),
   and prints it with the book's print styles (book/static/coursekit.css): no navigation, code
   wrapped, every slider figure as a small grid of all its frames, each captioned with its values.
   The PDF keeps the links (cross-references, the table of contents) and an outline (bookmarks).

    .venv/bin/python tools/book_pdf.py                  # -> _build/html/optimization-for-deep-learning.pdf
    .venv/bin/python tools/book_pdf.py --skip-build     # reprint the existing single-page build

The download menu of every page of the HTML book links to the PDF (book/static/coursekit.js).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from measure_book import launch, wait_typeset  # noqa: E402

SINGLE = ROOT / "_build" / "singlehtml"
PDF = ROOT / "_build" / "html" / "optimization-for-deep-learning.pdf"

# Widgets render asynchronously after the page has loaded: wait until every embedded
# view has
# been replaced by its widget (or 30 s).
WIDGETS_DONE = """() => {
  const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]');
  const done = Array.from(views).filter(s => s.parentElement.querySelector('.jupyter-widgets'));
  return done.length === views.length;
}"""

# A table of contents at the front: every chapter (in the single page, an h2) and
# section (h3),
# with a link to it; and every chapter starts on a new page.
TABLE_OF_CONTENTS = """(title) => {
  const article = document.querySelector('article.bd-article') || document.body;
  for (const start of article.querySelectorAll('span[id^="document-"]')) {
    const next = start.nextElementSibling;
    if (next) next.style.breakBefore = 'page';
  }
  const nav = document.createElement('nav');
  nav.className = 'coursekit-print-toc';
  nav.innerHTML = '<h1></h1><h2>Contents</h2>';
  nav.firstChild.textContent = title;
  const list = document.createElement('ol');
  let chapter = null;
  for (const heading of article.querySelectorAll('h2, h3')) {
    const section = heading.closest('section[id]');
    if (!section) continue;
    const item = document.createElement('li');
    item.innerHTML = '<a></a>';
    item.firstChild.href = '#' + section.id;
    item.firstChild.textContent = heading.textContent.replace(/[#¶]\\s*$/, '').trim();
    if (heading.tagName === 'H2' || !chapter) {
      list.appendChild(item);
      chapter = document.createElement('ol');
      item.appendChild(chapter);
    } else {
      chapter.appendChild(item);
    }
  }
  nav.appendChild(list);
  article.prepend(nav);
  return list.children.length;
}"""

# Where a slider figure has its grid of frames, the interactive figure (slider and one
# frame) goes.
SHOW_FRAMES_ONLY = """() => document.querySelectorAll('.coursekit-print-frames').forEach(grid => {
  for (const other of grid.parentElement.children) {
    if (other !== grid && other.tagName !== 'SCRIPT') other.style.display = 'none';
  }
})"""

PRINT_CSS = """
.coursekit-print-frames { display: grid; grid-template-columns: repeat(2, 1fr); gap: 6px 12px;
  break-inside: auto; }
.coursekit-print-frame { break-inside: avoid; }
.coursekit-print-frame img { max-width: 100% !important; height: auto; }

.coursekit-print-toc { break-after: page; }
.coursekit-print-toc ol { list-style: none; padding-left: 1.2em; }
.coursekit-print-toc > ol > li { margin-top: 0.4em; font-weight: 600; }
.coursekit-print-toc > ol > li > ol { font-weight: 400; font-size: 0.9em; }
"""


WIDGET_STATE = re.compile(
    r'<script type="application/vnd\.jupyter\.widget-state\+json">.*?</script>', re.S
)
WIDGET_SCRIPTS = (
    '<script src="_static/require.min.js"></script>\n<script'
    ' data-jupyter-widgets-cdn="" src="_static/html-manager/embed-amd.js"></script>\n'
)


WIDGET_VIEW = re.compile(
    r"(<script"
    r' type="application/vnd\.jupyter\.widget-view\+json">\s*(\{.*?\})\s*</script>)',
    re.S,
)


def slider_frames(states: list[dict], model_id: str) -> list[str]:
    """The HTML of every frame of a slider figure (coursekit.widgets.slider_figure: a VBox of
    sliders and a tree of Stacks of HTML frames), in slider order; [] for any other widget.
    """
    models = {
        key: value for state in states for key, value in state.get("state", {}).items()
    }

    def leaves(key: str) -> list[str]:
        model = models.get(key, {})
        name, value = model.get("model_name"), model.get("state", {})
        if name == "HTMLModel":
            return [value.get("value", "")]
        if name == "StackModel":
            return [
                html
                for child in value.get("children", [])
                for html in leaves(child[10:])
            ]
        return []

    box = models.get(model_id, {})
    if box.get("model_name") != "VBoxModel":
        return []
    children = [
        child[10:] for child in box.get("state", {}).get("children", [])
    ]  # "IPY_MODEL_..."
    if not children or models.get(children[-1], {}).get("model_name") != "StackModel":
        return []
    return leaves(children[-1])


def _with_printed_frames(html: str, states: list[dict]) -> tuple[str, int]:
    """After each slider figure's view, a grid of all its frames (shown only when printing)."""
    count = 0

    def grid(match):
        nonlocal count
        frames = slider_frames(states, json.loads(match.group(2)).get("model_id", ""))
        if not frames:
            return match.group(1)
        count += 1
        cells = "".join(
            f'<div class="coursekit-print-frame">{frame}</div>' for frame in frames
        )
        return match.group(1) + f'<div class="coursekit-print-frames">{cells}</div>'

    return WIDGET_VIEW.sub(grid, html), count


def build_single_page() -> Path:
    """The single-page build, made printable: returns the page to print.

    Sphinx writes the page under the name of the root document (book/intro.html) with links
    relative to the build's root, and myst-nb embeds the widgets' state only in the chapters' own
    pages. So the page is written again at the root, with every chapter's widget state (from the
    HTML build) and the widget manager's scripts.
    """
    jb = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run(
        [str(jb), "build", str(ROOT), "--builder", "singlehtml", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if result.returncode != 0:
        raise SystemExit(
            "the single-page build"
            f" failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    root_doc = re.search(
        r"^root:\s*(\S+)", (ROOT / "_toc.yml").read_text(), re.M
    ).group(1)
    html = (SINGLE / f"{root_doc}.html").read_text(encoding="utf-8")
    states = []
    for chapter in sorted((ROOT / "_build" / "html").rglob("*.html")):
        states += WIDGET_STATE.findall(
            chapter.read_text(encoding="utf-8", errors="ignore")
        )
    parsed = [
        json.loads(re.sub(r"^<script[^>]*>|</script>$", "", state)) for state in states
    ]
    html, figures = _with_printed_frames(html, parsed)
    print(f"{figures} slider figures printed as grids of their frames")
    html = html.replace(
        "</head>", "\n".join(states) + "\n" + WIDGET_SCRIPTS + "</head>", 1
    )
    page = SINGLE / "book.html"
    page.write_text(html, encoding="utf-8")
    fonts = (
        SINGLE / "@jupyter-widgets" / "html-manager" / "dist"
    )  # see tools/book_html.py
    fonts.mkdir(parents=True, exist_ok=True)
    for font in (ROOT / "_vendor" / "html-manager").glob("*.woff2"):
        shutil.copyfile(font, fonts / font.name)
    return page


def count_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))


def print_pdf(single: Path, target: Path, title: str) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1400})
            outside = []
            page.route(
                "**/*",
                lambda route: (
                    (outside.append(route.request.url), route.abort())
                    if route.request.url.startswith(("http:", "https:"))
                    else route.continue_()
                ),
            )
            page.goto(single.as_uri())
            wait_typeset(page)
            if page.locator(
                'script[type="application/vnd.jupyter.widget-view+json"]'
            ).count():
                page.wait_for_function(WIDGETS_DONE, timeout=30000)
            entries = page.evaluate(TABLE_OF_CONTENTS, title)
            page.evaluate(SHOW_FRAMES_ONLY)
            page.add_style_tag(content=PRINT_CSS)
            page.emulate_media(media="print")
            page.wait_for_timeout(500)
            figures = page.evaluate(
                "() => Array.from(document.querySelectorAll('img'))"
                ".filter(i => i.complete && i.naturalWidth > 0"
                " && i.getBoundingClientRect().height > 0).length"
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            page.pdf(
                path=str(target),
                format="A4",
                print_background=True,
                outline=True,
                tagged=True,
                margin={
                    "top": "16mm",
                    "bottom": "16mm",
                    "left": "14mm",
                    "right": "14mm",
                },
                display_header_footer=True,
                header_template="<span></span>",
                footer_template=(
                    '<div style="font-size:8px;width:100%;text-align:center">'
                    '<span class="pageNumber"></span></div>'
                ),
            )
        finally:
            browser.close()
    return {"chapters": entries, "figures": figures, "blocked": outside}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--skip-build", action="store_true", help="reuse the single-page build"
    )
    parser.add_argument("--output", type=Path, default=PDF)
    args = parser.parse_args(argv)
    if not (ROOT / "_build" / "html" / "index.html").exists():
        print("build the book first: `make book`")
        return 1
    start = time.perf_counter()
    page = SINGLE / "book.html" if args.skip_build else build_single_page()
    built = time.perf_counter()
    title = re.search(
        r'^title:\s*"?([^"\n]+)', (ROOT / "_config.yml").read_text(), re.M
    ).group(1)
    found = print_pdf(page, args.output, title)
    data = args.output.read_bytes()
    end = time.perf_counter()
    print(
        f"{args.output.relative_to(ROOT)}: {len(data) / 1e6:.1f} MB,"
        f" {count_pages(data)} pages, {found['chapters']} entries in the table of"
        f" contents, {found['figures']} images; single-page build {built - start:.0f}"
        f" s, printing {end - built:.0f} s"
    )
    if found["blocked"]:
        print(f"blocked requests to the network: {found['blocked'][:3]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
