"""The standard red round official seal (公章), drawn with Pillow when an agency brings no picture.

Layout of a Chinese official seal: a red ring; the agency name along the upper rim, each
character turned to face the centre; a five-pointed star in the middle; optionally a
title on a horizontal line under the star (e.g. 合同专用章) and the seal code (印章编码)
along the lower rim, reading left to right. Background transparent, size in millimetres
at a given DPI, PNG bytes out.

The CJK font comes from the deployment through fontconfig (seal/fonts.py, shared with the
license face); none -> `NoCJKFont`.
Drawing happens at 4x and is scaled down for smooth edges.

A picture brought by the agency is checked against its declared type by `check_picture`
(GB/T 38540 seal pictures are PNG, JPG, SVG or OFD) before a seal is made of it.
"""
from __future__ import annotations

import io
import math
import struct

from lxml import etree
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from seal.errors import NoCJKFont, SealBuildError
from seal.fonts import FONT_HINT, CJKFont, find_cjk_font

SEAL_RED = (230, 0, 18, 255)
MM_PER_INCH = 25.4
_OVERSAMPLE = 4
_MAGIC = {"PNG": b"\x89PNG\r\n\x1a\n", "JPG": b"\xff\xd8\xff", "OFD": b"PK\x03\x04"}
_PILLOW_FORMATS = {"PNG": "PNG", "JPG": "JPEG"}
_SVG_ROOT = "{http://www.w3.org/2000/svg}svg"


def check_picture(data: bytes, picture_type: str) -> None:
    """Refuse (SealBuildError naming the type and the fault) picture bytes that are not what
    ``picture_type`` (PNG, JPG, SVG or OFD, as written in the seal) says: PNG and JPG need
    their signature (PNG's 8 bytes, JPEG's SOI marker FF D8 FF) and must decode in Pillow;
    SVG must be well-formed XML (no network, no entities resolved, no huge tree) with root
    <svg> in the SVG namespace; OFD must open in seal.ofd's reader with at least one page."""
    kind = str(picture_type).upper()
    if kind not in ("PNG", "JPG", "SVG", "OFD"):
        raise SealBuildError(f"picture type {picture_type!r}: expected one of PNG, JPG, SVG, OFD")
    if not isinstance(data, (bytes, bytearray, memoryview)) or not data:
        raise SealBuildError(f"picture type {kind}: the picture is empty or not bytes")
    data = bytes(data)

    def refuse(fault: str) -> SealBuildError:
        looks = next((k for k, magic in _MAGIC.items() if k != kind and data.startswith(magic)), None)
        return SealBuildError(f"picture type {kind}: {fault}" + (f" (the data looks like {looks})" if looks else ""))

    if kind in _PILLOW_FORMATS:
        if not data.startswith(_MAGIC[kind]):
            what = "the PNG signature" if kind == "PNG" else "the JPEG SOI marker FF D8 FF"
            raise refuse(f"the data does not start with {what}")
        limit = Image.MAX_IMAGE_PIXELS or float("inf")  # Pillow's decompression-bomb bound
        try:
            with Image.open(io.BytesIO(data), formats=[_PILLOW_FORMATS[kind]]) as image:
                width, height = image.size
                if width * height <= limit:
                    image.load()  # decodes every pixel: a truncated or corrupt image fails here
        except UnidentifiedImageError:
            raise refuse(f"Pillow does not recognise it as a {_PILLOW_FORMATS[kind]} image") from None
        except (OSError, SyntaxError, ValueError, EOFError, struct.error, Image.DecompressionBombError) as exc:
            raise refuse(f"Pillow cannot decode the {_PILLOW_FORMATS[kind]} image ({exc})") from None
        if width * height > limit:
            raise refuse(f"{width}x{height} pixels is more than Pillow decodes safely")
    elif kind == "SVG":
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)
        try:
            root = etree.fromstring(data, parser)
        except (etree.XMLSyntaxError, ValueError) as exc:
            raise refuse(f"the data is not well-formed XML ({exc})") from None
        if root.tag != _SVG_ROOT:
            raise refuse(f"the root element is {root.tag!r}, not <svg> in the SVG namespace "
                         "(http://www.w3.org/2000/svg)")
    else:
        from seal.ofd.errors import OFDError
        from seal.ofd.model import parse_package
        from seal.ofd.package import OFDPackage

        try:
            pages = sum(len(doc.pages) for doc in parse_package(OFDPackage(data), deep=False))
        except OFDError as exc:
            raise refuse(f"the OFD reader refuses it: {exc}") from None
        if not pages:
            raise refuse("the OFD package has no page")


def mm_to_px(mm: float, dpi: int) -> int:
    return max(1, round(mm / MM_PER_INCH * dpi))


def draw_official_seal(
    name: str,
    *,
    code: str | None = None,
    title: str | None = None,
    diameter_mm: float = 42.0,
    dpi: int = 300,
    color: tuple[int, int, int, int] = SEAL_RED,
    font: CJKFont | None = None,
) -> bytes:
    """PNG bytes of a round official seal for ``name`` (agency name along the upper rim)."""
    if not isinstance(name, str) or not name.strip():
        raise SealBuildError("the seal picture needs the agency name")
    name = name.strip()
    if len(name) > 40:
        raise SealBuildError(f"agency name of {len(name)} characters does not fit on a seal rim (at most 40)")
    if not 20 <= diameter_mm <= 100:
        raise SealBuildError(f"seal diameter {diameter_mm} mm is outside 20-100 mm")
    if not 72 <= dpi <= 1200:
        raise SealBuildError(f"dpi {dpi} is outside 72-1200")
    font = font or find_cjk_font()

    size = mm_to_px(diameter_mm, dpi)
    big = size * _OVERSAMPLE
    px_per_mm = big / diameter_mm
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    centre = big / 2

    # ring: outer edge 0.5 mm inside the picture, 1.2 mm wide (proportional to 42 mm)
    scale = diameter_mm / 42.0
    ring_width = 1.2 * scale * px_per_mm
    outer = centre - 0.5 * scale * px_per_mm
    draw.ellipse([centre - outer, centre - outer, centre + outer, centre + outer],
                 outline=color, width=max(1, round(ring_width)))

    # star: circumscribed radius 7 mm for a 42 mm seal
    _star(draw, centre, centre, 7.0 * scale * px_per_mm, color)

    name_size = (6.5 if len(name) <= 14 else 5.0 if len(name) <= 22 else 4.0) * scale * px_per_mm
    name_font = _font(font, name_size)
    text_radius = outer - ring_width - 0.8 * scale * px_per_mm - name_size / 2
    # degrees of the upper arc the name covers; less when the code needs the lower rim
    span = min(205.0 if code else 240.0, max(90.0, len(name) * 24.0))
    _arc_text(image, name, name_font, centre, text_radius, span, color, upper=True)

    if title:
        title_font = _font(font, 4.2 * scale * px_per_mm)
        _centred_text(draw, title, title_font, centre, centre + 11.0 * scale * px_per_mm, color)
    if code:
        if not code.isascii() or not code.isalnum() or len(code) > 20:
            raise SealBuildError(f"seal code {code!r} must be 1-20 letters or digits")
        code_size = 2.6 * scale * px_per_mm
        code_font = _font(font, code_size)
        code_radius = outer - ring_width - 0.6 * scale * px_per_mm - code_size / 2
        _arc_text(image, code, code_font, centre, code_radius, min(110.0, len(code) * 7.5), color, upper=False)

    return _one_colour_png(image.resize((size, size), Image.LANCZOS), color, dpi)


def personal_seal_text(name: str) -> str:
    """The characters of a square personal seal: 张三 -> 张三之印, 王小明 -> 王小明印, 欧阳小明 as is."""
    name = name.strip()
    if len(name) == 2:
        return name + "之印"
    if len(name) == 3:
        return name + "印"
    return name


def draw_personal_seal(
    name: str,
    *,
    size_mm: float = 20.0,
    dpi: int = 300,
    color: tuple[int, int, int, int] = SEAL_RED,
    font: CJKFont | None = None,
) -> bytes:
    """PNG bytes of a square personal seal (个人名章): red frame, characters in columns read
    right to left, top to bottom (张三之印: 张三 in the right column, 之印 in the left)."""
    if not isinstance(name, str) or not name.strip():
        raise SealBuildError("the personal seal picture needs the holder's name")
    text = personal_seal_text(name)
    if len(text) > 9:
        raise SealBuildError(f"a personal seal holds at most 9 characters, not {len(text)}")
    if not 8 <= size_mm <= 60:
        raise SealBuildError(f"personal seal size {size_mm} mm is outside 8-60 mm")
    if not 72 <= dpi <= 1200:
        raise SealBuildError(f"dpi {dpi} is outside 72-1200")
    font = font or find_cjk_font()
    size = mm_to_px(size_mm, dpi)
    big = size * _OVERSAMPLE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    border = max(2, round(big * 0.07))
    draw.rectangle([0, 0, big - 1, big - 1], outline=color, width=border)
    columns = 1 if len(text) == 1 else 2 if len(text) <= 4 else 3
    rows = math.ceil(len(text) / columns)
    inner = big - 2 * border
    pad = round(big * 0.03)
    cell_w = (inner - 2 * pad) / columns
    cell_h = (inner - 2 * pad) / rows
    glyph_font = _font(font, cell_h * 0.92)
    for i, char in enumerate(text):
        column = columns - 1 - i // rows  # the first column is the rightmost
        row = i % rows
        left, top, right, bottom = glyph_font.getbbox(char)
        tile = Image.new("RGBA", (max(1, right - left), max(1, bottom - top)), (0, 0, 0, 0))
        ImageDraw.Draw(tile).text((-left, -top), char, font=glyph_font, fill=color)
        tile = tile.resize((max(1, round(cell_w * 0.9)), max(1, round(cell_h * 0.9))), Image.LANCZOS)
        x = border + pad + column * cell_w + (cell_w - tile.width) / 2
        y = border + pad + row * cell_h + (cell_h - tile.height) / 2
        image.alpha_composite(tile, (round(x), round(y)))
    return _one_colour_png(image.resize((size, size), Image.LANCZOS), color, dpi)


ALPHA_LEVELS = 16


def _one_colour_png(picture: Image.Image, color: tuple[int, ...], dpi: int) -> bytes:
    """A seal is one ink over transparency: a 4-bit palette PNG of ``color`` at 16 coverage
    levels (the anti-aliased edges kept) is about a tenth of the RGBA file. Every sealing
    hashes and copies the picture, so its size is paid per document."""
    top = ALPHA_LEVELS - 1
    levels = picture.getchannel("A").point(lambda a: (a * top + 127) // 255)
    indexed = Image.frombytes("P", picture.size, levels.tobytes())
    indexed.putpalette(list(color[:3]) * ALPHA_LEVELS)
    alphas = bytes(round(i * 255 / top) for i in range(ALPHA_LEVELS))
    out = io.BytesIO()
    indexed.save(out, format="PNG", dpi=(dpi, dpi), transparency=alphas, bits=4, optimize=True)
    return out.getvalue()


def _font(font: CJKFont, size_px: float) -> ImageFont.FreeTypeFont:
    try:
        return ImageFont.truetype(font.path, max(1, round(size_px)), index=font.index)
    except OSError as exc:
        raise NoCJKFont(f"cannot load the CJK font {font.path} ({exc}); {FONT_HINT}") from None


def _star(draw: ImageDraw.ImageDraw, cx: float, cy: float, radius: float, color: tuple) -> None:
    inner = radius * math.sin(math.radians(18)) / math.sin(math.radians(126))  # regular pentagram
    points = []
    for i in range(10):
        r = radius if i % 2 == 0 else inner
        angle = math.radians(-90 + i * 36)
        points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    draw.polygon(points, fill=color)


def _glyph(char: str, font: ImageFont.FreeTypeFont, color: tuple, max_width: float) -> Image.Image:
    """One character on a transparent tile; narrowed (as seal engravers do) when the arc is tight."""
    left, top, right, bottom = font.getbbox(char)
    size = font.size
    w = max(size, right - left)
    tile = Image.new("RGBA", (w, size), (0, 0, 0, 0))
    # centre the ink box horizontally, the em box vertically
    ImageDraw.Draw(tile).text(((w - (right - left)) / 2 - left, 0), char, font=font, fill=color,
                              anchor="la")
    if w > max_width >= 1:
        tile = tile.resize((max(1, round(max_width)), size), Image.LANCZOS)
    return tile


def _arc_text(image: Image.Image, text: str, font: ImageFont.FreeTypeFont, centre: float, radius: float,
              span_deg: float, color: tuple, *, upper: bool) -> None:
    """Place each character on a circle, upright towards the centre (upper) or the outside (lower)."""
    count = len(text)
    step = span_deg / max(count - 1, 1) if count > 1 else 0.0
    start = -span_deg / 2 if count > 1 else 0.0
    max_width = 0.92 * radius * math.radians(step) if count > 1 else float(font.size)
    for i, char in enumerate(text):
        if char.isspace():
            continue
        offset = start + i * step  # degrees from the top (upper) / bottom (lower), clockwise reading order
        if upper:
            angle = math.radians(-90 + offset)
            rotate = -offset  # PIL rotates counter-clockwise
        else:
            angle = math.radians(90 - offset)
            rotate = offset
        tile = _glyph(char, font, color, max_width).rotate(rotate, resample=Image.BICUBIC, expand=True)
        x = centre + radius * math.cos(angle) - tile.width / 2
        y = centre + radius * math.sin(angle) - tile.height / 2
        image.alpha_composite(tile, (round(x), round(y)))


def _centred_text(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, cx: float, cy: float,
                  color: tuple) -> None:
    draw.text((cx, cy), text, font=font, fill=color, anchor="mm")
