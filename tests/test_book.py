"""The built book, as a reader sees it: every chapter page in headless Chromium, with no network and no kernel.

Builds the book the way `make book` does (Jupyter Book, notebooks executed with a cache, warnings
are errors), then opens every page listed in _toc.yml and checks that
- the page loads and its math is typeset by the local MathJax (no raw `$$`, `\\[`, `$x$` text left);
- its figures are there and loaded;
- every embedded widget rendered (none left blank), with no kernel;
- on every chapter with a slider figure, moving the first slider changes the picture shown;
- and what tools/measure_book.py measures, on every chapter at laptop width (1280 px): no display
  equation wider than the text column, at most 5% of code blocks (inputs and printed outputs)
  scrolling sideways, every image with a meaningful alt text, no failed request.
Screenshots land in _build/screenshots/ for a person to look at: every page in full at laptop
width, and for every chapter its top at phone width (390 px) and a figure in dark mode.

Set COURSEKIT_SKIP_BROWSER=1 to skip this file on a machine without Chromium (CI never sets it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from measure_book import LAPTOP, PHONE, launch, measure_page, watch  # noqa: E402

HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
SCROLLING_CODE_LIMIT = (
    0.05  # at most this share of a chapter's code blocks may scroll sideways
)
RAW_MATH = re.compile(
    r"\$\$|\\\[|\\\(|\\begin\{|(?<![\w$])\$[^$\s][^$\n]{0,80}\$(?!\w)"
)

if os.environ.get("COURSEKIT_SKIP_BROWSER") == "1":
    pytest.skip("COURSEKIT_SKIP_BROWSER=1", allow_module_level=True)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(
        "no Chromium found: `make test` installs Debian's chromium; elsewhere install"
        " one, or set COURSEKIT_SKIP_BROWSER=1 to skip the browser check"
    )


def _toc_pages() -> list[str]:
    entries = re.findall(
        r"^\s*-?\s*(?:file|root):\s*([^\s#]+)", (ROOT / "_toc.yml").read_text(), re.M
    )
    return entries


@pytest.fixture(scope="module")
def book():
    if not (ROOT / "_vendor" / ".stamp").exists():
        pytest.fail(
            "the offline JavaScript assets are missing: run `make assets` (make"
            " book/test do it)"
        )
    jb = Path(sys.executable).parent / "jupyter-book"
    start = time.perf_counter()
    result = subprocess.run(
        [str(jb), "build", str(ROOT), "--warningiserror", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    seconds = time.perf_counter() - start
    print(f"book build: {seconds:.1f} s")
    assert (
        result.returncode == 0
    ), f"the book build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return HTML


# pages are checked by two browsers side by side (each in its own thread), one per core
BROWSERS = 2


def _launch(playwright):
    _chromium()  # a clear failure, naming the fix, when there is no Chromium
    return launch(playwright)


def _start(browser, path: Path):
    """Open a page and start loading it (the next page loads while the current one is checked)."""
    page = browser.new_page(viewport={"width": LAPTOP[0], "height": 1400})
    outside = []
    page.on(
        "request",
        lambda r: (
            outside.append(r.url) if r.url.startswith(("http:", "https:")) else None
        ),
    )
    watched = watch(page)
    response = page.goto(path.as_uri(), wait_until="commit")
    assert response is None or response.ok, f"{path.name} did not load"
    return page, outside, watched


def _ready(page):
    """Wait until the page has loaded and MathJax has typeset it."""
    page.wait_for_load_state("load")
    if page.locator(
        'script[src*="mathjax"]'
    ).count():  # Sphinx loads MathJax only on pages with math
        page.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise",
            timeout=20000,
        )
        page.evaluate("() => MathJax.startup.promise")
    page.wait_for_timeout(300)


PROSE_TEXT = """() => {
  const main = document.querySelector('main') || document.body;
  const copy = main.cloneNode(true);
  copy.querySelectorAll('pre, code, script, style, mjx-container, .cell_input, .cell_output, .highlight')
      .forEach(e => e.remove());
  return copy.innerText;
}"""

WIDGETS = """() => Array.from(document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]'))
  .map(s => { const w = s.parentElement.querySelector('.jupyter-widgets');
              return w ? w.getBoundingClientRect().height : 0; })"""

VISIBLE_PICTURE = """(box) => { const imgs = Array.from(box.querySelectorAll('img')).filter(i => i.offsetParent !== null);
  return imgs.map(i => i.src.length + ':' + i.src.slice(-64)).join('|'); }"""


def _measured_problems(page, entry: str, watched) -> list[str]:
    """What a reader of a chapter at laptop width would trip over (tools/measure_book.py)."""
    report = measure_page(page, entry, LAPTOP[0], watched)
    problems = []
    for equation in report.wide_equations:
        problems.append(
            f"{entry}: a display equation is {equation['width']} px wide in a "
            f"{equation['room']} px column: {equation['tex'][:120]!r}"
        )
    scrolling = report.scrolling_code
    if len(scrolling) > SCROLLING_CODE_LIMIT * max(len(report.code), 1):
        widest = max(scrolling, key=lambda c: c["chars"])
        problems.append(
            f"{entry}: {len(scrolling)} of {len(report.code)} code blocks scroll"
            f" sideways (at most {SCROLLING_CODE_LIMIT:.0%}); the widest line has"
            f" {widest['chars']} characters: {widest['widest'][:90]!r}"
        )
    for image in report.bad_alt:
        problems.append(
            f"{entry}: an image without a meaningful alt text: {image['alt']!r:.90}"
        )
    if report.failed:
        problems.append(
            f"{entry}: {len(report.failed)} failed requests: {report.failed[:3]}"
        )
    return problems


def _screenshots(page, entry: str) -> None:
    """The top of a chapter at phone width, and its first figure in dark mode."""
    name = entry.replace("/", "_")
    page.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})
    page.evaluate("() => window.scrollTo(0, 0)")
    page.wait_for_timeout(200)
    page.screenshot(path=str(SHOTS / f"{name}.phone.jpg"), type="jpeg", quality=70)
    page.set_viewport_size({"width": LAPTOP[0], "height": LAPTOP[1]})
    page.evaluate(
        "() => { document.documentElement.dataset.theme = 'dark';"
        " document.documentElement.dataset.mode = 'dark'; }"
    )
    figure = page.locator(".cell_output img").first
    if figure.count():
        figure.scroll_into_view_if_needed()
    page.wait_for_timeout(200)
    page.screenshot(path=str(SHOTS / f"{name}.dark.jpg"), type="jpeg", quality=70)


def _check_page(
    page, entry: str, outside: list[str], chapter: bool, watched=None
) -> tuple[list[str], bool]:
    """The checks of one loaded page: its problems, and whether its first slider moved the picture."""
    problems, moved = [], False
    if page.locator("mjx-container").count() == 0 and chapter:
        problems.append(f"{entry}: no typeset math at all")
    raw = RAW_MATH.search(page.evaluate(PROSE_TEXT))
    if raw:
        problems.append(f"{entry}: raw LaTeX left in the text: {raw.group(0)!r}")
    if page.locator("mjx-merror, .MathJax_Error").count():
        problems.append(f"{entry}: MathJax reported an error in a formula")
    if outside:
        problems.append(f"{entry}: the page requested the network: {outside[:3]}")
    if not chapter:
        return problems, moved
    if watched is not None:
        problems += _measured_problems(page, entry, watched)
    pdf_link = page.locator(".dropdown-download-buttons a.coursekit-book-pdf")
    if pdf_link.count() != 1 or not pdf_link.get_attribute("href").endswith(
        "optimization-for-deep-learning.pdf"
    ):
        problems.append(
            f"{entry}: the download menu does not offer the whole book as a PDF"
        )
    images = page.evaluate(
        "() => Array.from(document.querySelectorAll('.cell_output img'))"
        ".map(i => i.complete && i.naturalWidth > 0)"
    )
    if not images:
        problems.append(f"{entry}: no figure")
    elif not all(images):
        problems.append(f"{entry}: {images.count(False)} figure(s) failed to load")
    heights = page.evaluate(WIDGETS)
    if not heights:
        problems.append(f"{entry}: no interactive figure")
    if any(h < 10 for h in heights):
        problems.append(
            f"{entry}: {sum(h < 10 for h in heights)} of {len(heights)} widgets left"
            " blank"
        )
    slider = page.locator(".widget-slider .noUi-handle").first
    if heights and slider.count():
        box = page.locator(".widget-vbox", has=page.locator(".widget-slider")).first
        box.scroll_into_view_if_needed()
        before = box.evaluate(VISIBLE_PICTURE)
        slider.focus()
        page.keyboard.press("End")
        page.wait_for_timeout(300)
        moved = bool(before) and before != box.evaluate(VISIBLE_PICTURE)
        if not moved:
            problems.append(
                f"{entry}: moving the first slider did not change the picture"
            )
    return problems, moved


def _check_pages(
    book: Path, pages: list[str], chapters: list[str]
) -> tuple[list[str], list[str]]:
    """Check pages in a browser of its own (Playwright objects belong to the thread that made them),
    loading the next page while the current one is checked; save a screenshot of each.

    Returns the problems found and the chapters whose first slider moved the picture.
    """
    from playwright.sync_api import sync_playwright

    problems, moved = [], []
    with sync_playwright() as playwright:
        browser = _launch(playwright)
        try:
            upcoming = _start(browser, book / f"{pages[0]}.html")
            for index, entry in enumerate(pages):
                page, outside, watched = upcoming
                if index + 1 < len(pages):
                    upcoming = _start(browser, book / f"{pages[index + 1]}.html")
                try:
                    _ready(page)
                    chapter = entry in chapters
                    found, slider_moved = _check_page(
                        page, entry, outside, chapter, watched
                    )
                    problems += found
                    moved += [entry] if slider_moved else []
                    page.screenshot(
                        path=str(SHOTS / f"{entry.replace('/', '_')}.jpg"),
                        full_page=True,
                        type="jpeg",
                        quality=80,
                    )
                    if chapter:
                        _screenshots(page, entry)
                finally:
                    page.close()
        finally:
            browser.close()
    return problems, moved


def test_every_page_renders_math_figures_and_widgets_offline(book):
    from concurrent.futures import ThreadPoolExecutor

    SHOTS.mkdir(parents=True, exist_ok=True)
    pages = _toc_pages()
    chapters = [p for p in pages if p.startswith("notebooks/")]
    assert chapters, "no chapter in _toc.yml"
    for entry in pages:
        assert (book / f"{entry}.html").exists(), f"{entry}.html was not built"
    with ThreadPoolExecutor(BROWSERS) as pool:
        results = list(
            pool.map(
                lambda share: _check_pages(book, share, chapters),
                [pages[i::BROWSERS] for i in range(BROWSERS)],
            )
        )
    problems = [problem for found, _ in results for problem in found]
    moved = sorted(entry for _, ok in results for entry in ok)
    assert not problems, "\n".join(problems)
    assert moved, "no chapter has a slider figure that moves without a kernel"
    print(
        f"checked {len(pages)} pages; sliders moved on: {', '.join(moved)}; screenshots"
        f" in {SHOTS}"
    )
