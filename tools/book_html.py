"""Sphinx extension: what the HTML book needs beyond the theme, for readers.

Figure alt texts. coursekit's notebook display hook (``coursekit.plots.use_style``) writes each
figure's description (``coursekit.plots.describe``: title, axes, series, and the sentence the
chapter gives) into the PNG's ``Description`` text field. myst-nb renders a cell's PNG output as an
image with no alt text, so the HTML would fall back to the file name. When a page is read, this
extension makes the field the image's alt text (an alt text given in the cell's metadata is kept).

The widget manager's icon fonts. The offline widget manager (_vendor/html-manager, `make assets`)
loads its icon fonts from ``@jupyter-widgets/html-manager/dist/`` relative to the page, where the
book has none: a failed request per font on every page with a widget. After the build, the fonts
are copied there (and to ``@jupyter-widgets/``, the other base it uses), next to each such page.

The single-page build (`make pdf`) writes the same nodes as the HTML build.
"""

from __future__ import annotations

import shutil
from pathlib import Path

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
# The manager resolves its font URLs against either folder, depending on which bundle injects the
# stylesheet: the fonts are copied to both.
FONTS_AT = (Path("@jupyter-widgets") / "html-manager" / "dist", Path("@jupyter-widgets"))


def png_description(path: Path) -> str | None:
    """The ``Description`` text field of a PNG file, or None."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            text = getattr(image, "text", {}) or {}
    except OSError:
        return None
    description = text.get("Description", "").strip()
    return description or None


def _image_file(app, image, docname: str) -> Path | None:
    """The file of an image node: its uri relative to the source folder (myst-nb's "/..." form)
    or to the page, or one of its candidates (relative to the source folder)."""
    uri = image.get("uri", "")
    srcdir = Path(app.srcdir)
    paths = [srcdir / uri.lstrip("/")]
    if app.env is not None:
        paths.append(Path(app.env.relfn2path(uri, docname)[1]))
    paths += [srcdir / candidate for candidate in image.get("candidates", {}).values()]
    return next((path for path in paths if path.is_file()), None)


def _describe_images(app, doctree, docname: str) -> None:
    from docutils import nodes

    for image in doctree.findall(nodes.image):
        if image.get("alt") or not image.get("uri", "").endswith(".png"):
            continue
        path = _image_file(app, image, docname)
        description = png_description(path) if path else None
        if description:
            image["alt"] = description


def _copy_widget_fonts(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    manager = Path(app.srcdir) / "_vendor" / "html-manager"
    fonts = sorted([*manager.glob("*.woff2"), *manager.glob("*.woff")])
    if not fonts:
        return
    outdir = Path(app.outdir)
    folders = {
        page.parent
        for page in outdir.rglob("*.html")
        if WIDGET_STATE in page.read_text(encoding="utf-8", errors="ignore")
    }
    for folder in folders:
        for where in FONTS_AT:
            target = folder / where
            target.mkdir(parents=True, exist_ok=True)
            for font in fonts:
                shutil.copyfile(font, target / font.name)


def _html_nodes_for_singlehtml(app) -> None:
    """Let the single-page builder (used for the PDF) write the nodes extensions taught the HTML
    builder only (myst-nb's hidden-code cells, for one)."""
    handlers = app.registry.translation_handlers
    single = handlers.setdefault("singlehtml", {})
    for node, visitors in handlers.get("html", {}).items():
        single.setdefault(node, visitors)


def setup(app):
    app.connect("builder-inited", _html_nodes_for_singlehtml)
    # myst-nb turns a cell's outputs into image nodes in a post-transform, when a page
    # is written
    app.connect("doctree-resolved", _describe_images)
    app.connect("build-finished", _copy_widget_fonts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
