"""Where a visible PDF seal goes and what it shows: millimetre boxes measured like OFD,
and the seal picture as the signature widget's appearance stream.

Placement: ``box_mm = (x, y, width, height)`` from the top-left corner of the page *as
displayed* (CropBox, defaulting to MediaBox, after the page's /Rotate), y growing
downwards — the OFD convention (GB/T 33190 Boundary), so one ``--x --y`` means the same on
both formats. The widget rectangle is stored in the page's unrotated user space, so the
displayed box is mapped back through the rotation.

Appearance: the PNG becomes an image XObject (alpha, or a palette's transparent colour, as
a soft mask so the text under the red seal stays visible), fitted into the box with its
aspect ratio kept. On a rotated page the picture is counter-rotated inside the appearance
stream, so it stands upright for the reader (viewers draw widget appearances in user space
and then rotate the whole page).
"""
from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, UnidentifiedImageError
from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.stamp import StaticStampStyle
from pyhanko.stamp.static import StaticContentStamp

from gm.records import frozen_record
from seal.pdf_errors import READ_ERRORS, MalformedPdf, PdfSealArgumentError, describe

__all__ = ["MM", "Placement", "place", "field_rotation", "seal_style"]

MM = 72 / 25.4  # PDF points per millimetre
# user space -> upright picture: the cm that counter-rotates the picture for a page /Rotate,
# as (a, b, c, d, e-factor-of-W, f-factor-of-H) with W, H the box size in user space.
_TURN = {0: (1, 0, 0, 1, 0, 0), 90: (0, 1, -1, 0, 1, 0), 180: (-1, 0, 0, -1, 1, 1), 270: (0, -1, 1, 0, 0, 1)}


@frozen_record
class Placement:
    rect: tuple[float, float, float, float]  # (llx, lly, urx, ury) in the page's user space
    rotate: int  # the page's /Rotate, normalised to 0, 90, 180 or 270


def _inherited(page: generic.DictionaryObject, key: str):
    node: generic.DictionaryObject | None = page
    for _ in range(64):  # page trees are shallow; a cycle must not loop for ever
        if node is None:
            return None
        if key in node:
            return node[key]
        parent = node.get("/Parent")
        node = parent.get_object() if parent is not None else None
    raise MalformedPdf("the page tree is too deep or has a cycle")


def place(writer: IncrementalPdfFileWriter, page: int, box_mm: Sequence[float]) -> Placement:
    """(x, y, w, h) mm from the top-left of the displayed page -> user-space rectangle."""
    try:
        x, y, w, h = (float(v) * MM for v in box_mm)
    except (TypeError, ValueError):
        raise PdfSealArgumentError("box_mm must be four numbers (x, y, width, height) in mm") from None
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise PdfSealArgumentError(f"box_mm {tuple(box_mm)}: width and height must be > 0, x and y >= 0")
    try:
        page_ref, _ = writer.find_page_for_modification(page)
        page_dict = page_ref.get_object()
        visible = _inherited(page_dict, "/CropBox") or _inherited(page_dict, "/MediaBox")
        ax, ay, bx, by = (float(v) for v in visible)
        rotate = int(_inherited(page_dict, "/Rotate") or 0)
    except READ_ERRORS as exc:
        raise MalformedPdf(f"page {page} has no usable MediaBox: {describe(exc)}") from None
    if rotate % 90:
        raise MalformedPdf(f"page {page} has /Rotate {rotate}, not a multiple of 90")
    rotate %= 360
    x0, y0, x1, y1 = min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)
    disp_w, disp_h = (y1 - y0, x1 - x0) if rotate in (90, 270) else (x1 - x0, y1 - y0)
    if x + w > disp_w + 0.01 or y + h > disp_h + 0.01:
        raise PdfSealArgumentError(f"box_mm {tuple(box_mm)} does not fit on page {page} "
                                   f"({disp_w / MM:.1f} x {disp_h / MM:.1f} mm as displayed)")

    def to_user(dx: float, dy: float) -> tuple[float, float]:  # displayed (top-left origin) -> user
        if rotate == 0:
            return x0 + dx, y1 - dy
        if rotate == 90:
            return x0 + dy, y0 + dx
        if rotate == 180:
            return x1 - dx, y0 + dy
        return x1 - dy, y1 - dx

    (ux0, uy0), (ux1, uy1) = to_user(x, y), to_user(x + w, y + h)
    return Placement((min(ux0, ux1), min(uy0, uy1), max(ux0, ux1), max(uy0, uy1)), rotate)


def field_rotation(field: generic.PdfObject) -> int:
    """/Rotate of the page a prepared signature field's widget sits on (its /P entry), so
    the picture is counter-rotated there too; 0 when the widget does not name its page."""
    try:
        widget = field.get_object()
        kids = widget.get("/Kids")
        if kids:
            widget = kids[0].get_object()
        page = widget.get("/P")
        if page is None:
            return 0
        rotate = int(_inherited(page.get_object(), "/Rotate") or 0)
    except READ_ERRORS:
        return 0
    return rotate % 360 if rotate % 90 == 0 else 0


def _picture(picture_png: bytes) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(bytes(picture_png)))
        img.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise PdfSealArgumentError(f"picture_png is not a readable image: {exc}") from None
    if img.format != "PNG":
        raise PdfSealArgumentError(f"picture_png must be a PNG image, not {img.format}")
    # pyHanko embeds RGB(A), L(A) and RGB palettes; everything else (and palettes with a
    # transparent colour, which would lose it) becomes RGBA.
    if img.mode == "P" and "transparency" not in img.info and img.palette is not None and img.palette.mode == "RGB":
        return img
    if img.mode not in ("RGB", "RGBA", "L", "LA"):
        img = img.convert("RGBA")
    return img


@frozen_record
class _SealPictureStyle(StaticStampStyle):
    """The picture, fitted to the box as displayed and counter-rotated by ``rotate``."""

    rotate: int = 0

    def create_stamp(self, writer, box, text_params):  # type: ignore[override]
        return _SealPictureStamp(writer=writer, style=self, box=box)


class _SealPictureStamp(StaticContentStamp):
    def _render_background(self) -> bytes:
        style: _SealPictureStyle = self.style
        width, height = self.box.width, self.box.height  # user space
        upright = (height, width) if style.rotate in (90, 270) else (width, height)
        bg = style.background
        bg.set_writer(self.writer)
        drawn = bg.render()
        fit = style.background_layout.fit(layout.BoxConstraints(*upright), bg.box.width, bg.box.height)
        a, b, c, d, e, f = _TURN[style.rotate]
        turn = b"%g %g %g %g %g %g cm" % (a, b, c, d, e * width, f * height)
        self.import_resources(bg.resources)
        return b"q %s %s %s Q" % (turn, fit.as_cm(), drawn)


def seal_style(picture_png: bytes | None, rotate: int = 0) -> StaticStampStyle:
    """The appearance: the picture, or (no picture) a thin red frame marking the seal."""
    if picture_png is None:
        return StaticStampStyle(background=None, border_width=1, border_color=(0.8, 0.0, 0.0))
    rule = layout.SimpleBoxLayoutRule(x_align=layout.AxisAlignment.ALIGN_MID,
                                      y_align=layout.AxisAlignment.ALIGN_MID,
                                      inner_content_scaling=layout.InnerScaling.STRETCH_TO_FIT)
    return _SealPictureStyle(background=PdfImage(_picture(picture_png)), background_layout=rule,
                             background_opacity=1.0, border_width=0, rotate=rotate)

