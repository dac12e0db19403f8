"""Sphinx extension: what the HTML book needs beyond the theme, for readers.

Figure alt texts. coursekit's notebook display hook (``coursekit.plots.use_style``) writes each
figure's description (``coursekit.plots.describe``: title, axes, series, and the sentence the
chapter gives) into the PNG's ``Description`` text field. myst-nb renders a cell's PNG output as an
image with no alt text, so the HTML would fall back to the file name. When a page is read, this
extension makes the field the image's alt text (an alt text given in the cell's metadata is kept).

The widget manager's icon fonts. The offline widget manager (_vendor/html-manager, `make assets`)
loads its icon fonts from ``@jupyter-widgets/html-manager/dist/`` relative to the page, where the
book has none: a failed request per font on every page with a widget. After the build, the fonts
(woff2, which every current browser reads) are copied there, next to each such page.
"""
from __future__ import annotations

import shutil
from pathlib import Path

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
FONTS_AT = Path("@jupyter-widgets") / "html-manager" / "dist"


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


def _describe_images(app, doctree) -> None:
    from docutils import nodes

    for image in doctree.findall(nodes.image):
        uri = image.get("uri", "")
        if image.get("alt") or not uri.endswith(".png"):
            continue
        if uri.startswith("/"):                          # myst-nb: relative to the source folder
            path = Path(app.srcdir) / uri.lstrip("/")
        else:
            path = Path(app.env.relfn2path(uri, app.env.docname)[1])
        description = png_description(path)
        if description:
            image["alt"] = description


def _copy_widget_fonts(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    fonts = sorted((Path(app.srcdir) / "_vendor" / "html-manager").glob("*.woff2"))
    if not fonts:
        return
    outdir = Path(app.outdir)
    folders = {page.parent for page in outdir.rglob("*.html")
               if WIDGET_STATE in page.read_text(encoding="utf-8", errors="ignore")}
    for folder in folders:
        target = folder / FONTS_AT
        target.mkdir(parents=True, exist_ok=True)
        for font in fonts:
            shutil.copyfile(font, target / font.name)


def setup(app):
    app.connect("doctree-read", _describe_images)
    app.connect("build-finished", _copy_widget_fonts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
