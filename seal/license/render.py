"""Render a license face into an OFD: background, static texts, field values, QR code, metadata.

Inputs are validated values (validation.py) and the service's own values (license id,
agency, dates, verification URL); output is the OFD bytes plus where the seal goes, so
the sealer (seal/ofd via service.py) can stamp it without knowing the template.

* The page is built by seal/ofd's declarative builder (``build_ofd``); text uses the CJK font
  fontconfig lists for lang=zh (fonts.py), named by family in the OFD. Centring and line
  wrapping use the builder's advances (full width for CJK, 0.55 em otherwise), the same
  ones it writes as DeltaX, so what is centred here is centred in every reader.
* The QR code (segno, error correction M, a fixed mask) encodes the verification URL and is embedded as
  a PNG with exactly ``QR_SCALE`` pixels per module and a 4-module quiet zone, so it scans
  from the image at any zoom and the module matrix can be read back exactly.
* Metadata: DocInfo CustomDatas (LicenseID, LicenseType, HolderName, HolderID, ValidTo,
  VerifyURL) for quick lookup, and the full record as the attachment ``license.json``
  (canonical JSON, sorted keys) for systems that import the license's data.
"""
from __future__ import annotations

import datetime as _dt
import io
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import segno

from gm.records import frozen_record
from seal.license.fonts import find_cjk_font
from seal.license.types import SYSTEM_FIELDS, Box, LicenseType
from seal.ofd import document as od

__all__ = ["RenderedLicense", "render_license", "display_value", "verification_url", "QR_SCALE", "QR_BORDER",
           "QR_ERROR", "QR_MASK", "qr_symbol", "METADATA_ATTACHMENT", "metadata_json",
           "VERIFY_PATH"]

PT_TO_MM = 25.4 / 72
QR_SCALE = 4
QR_BORDER = 4
QR_ERROR = "m"
# A fixed data mask (ISO/IEC 18004 pattern 2, vertical stripes every third column). Choosing
# the mask by penalty score costs segno 8 trial encodings, ~80% of the render time; any of
# the 8 masks is a conforming symbol that every decoder reads (the mask is in the format
# information), and a URL of fixed shape scores about the same under all of them.
QR_MASK = 2
METADATA_ATTACHMENT = "license.json"
VERIFY_PATH = "/verify/license/"


@frozen_record
class RenderedLicense:
    ofd: bytes
    seal_box: Box | None  # page 1, mm from the top-left corner
    verify_url: str


def verification_url(base_url: str, license_id: str) -> str:
    """The region's public verification address of one license (what the QR code holds)."""
    return base_url.rstrip("/") + VERIFY_PATH + license_id


def _cn_date(iso: str) -> str:
    d = _dt.date.fromisoformat(iso)
    return f"{d.year}年{d.month}月{d.day}日"


def display_value(license_type: LicenseType, name: str, value: str | None) -> str:
    """How a value is printed on the face (dates in Chinese form, empty end date = 长期)."""
    if name in ("issue_date", "valid_to") or (
            name in license_type.field_names and license_type.field(name).type == "date"):
        return _cn_date(value) if value else "长期"
    return value or ""


def metadata_json(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _advance(char: str) -> float:
    """Advance in em, as seal.ofd.document writes DeltaX (full width for CJK, else 0.55)."""
    return 1.0 if ord(char) >= 0x2E80 else 0.55


def _width(text: str, size: float) -> float:
    return sum(_advance(c) for c in text) * size


def _wrap(text: str, size: float, max_width: float) -> list[str]:
    """Greedy line breaking by character (Chinese has no spaces to break at)."""
    lines, line, used = [], "", 0.0
    for char in text:
        w = _advance(char) * size
        if line and used + w > max_width:
            lines.append(line)
            line, used = "", 0.0
        line += char
        used += w
    if line:
        lines.append(line)
    return lines or [""]


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


@lru_cache(maxsize=16)
def _file_bytes(path: str) -> bytes:
    """A template's background image, read once per process (templates are loaded at start)."""
    return Path(path).read_bytes()


def _text(family: str, text: str, x: float, top: float, size_pt: float, colour: str = "#000000",
          centre: bool = False) -> od.Text:
    size = size_pt * PT_TO_MM
    if centre:
        x -= _width(text, size) / 2
    return od.Text(x, top, text, size=size, font=family, colour=_rgb(colour))


def qr_symbol(url: str) -> segno.QRCode:
    """The QR code of a verification URL as rendered on the face."""
    return segno.make(url, error=QR_ERROR, micro=False, mask=QR_MASK, boost_error=False)


def _qr_png(url: str) -> bytes:
    """1-bit PNG, QR_SCALE pixels per module, QR_BORDER modules of quiet zone (black = dark)."""
    from PIL import Image

    matrix = qr_symbol(url).matrix
    n = len(matrix) + 2 * QR_BORDER
    image = Image.new("1", (n, n), 1)
    image.putdata([0 if (QR_BORDER <= r < n - QR_BORDER and QR_BORDER <= c < n - QR_BORDER
                         and matrix[r - QR_BORDER][c - QR_BORDER]) else 1
                   for r in range(n) for c in range(n)])
    image = image.resize((n * QR_SCALE, n * QR_SCALE), Image.NEAREST)
    buf = io.BytesIO()
    image.save(buf, "PNG", optimize=False)
    return buf.getvalue()


@lru_cache(maxsize=64)
def _colour_png(colour: str) -> bytes:
    """A 1x1 PNG of the background colour, stretched over the page. An image rather than a
    filled path: some readers (easyofd) paint paths after text, which would hide the text."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (1, 1), _rgb(colour)).save(buf, "PNG")
    return buf.getvalue()


def render_license(license_type: LicenseType, *, license_id: str, values: dict[str, str], agency: str,
                   issued_on: _dt.date, valid_to: _dt.date | None, verify_url: str,
                   record: dict[str, Any]) -> RenderedLicense:
    """The face of one license as OFD bytes. Raises NoCJKFont when no Chinese font exists."""
    family = find_cjk_font().family
    face = license_type.face
    items: list[od.Text | od.Image] = []
    if face.background_image:
        items.append(od.Image(0, 0, face.width, face.height, _file_bytes(face.background_image)))
    else:
        items.append(od.Image(0, 0, face.width, face.height, _colour_png(face.background)))
    for t in face.texts:
        items.append(_text(family, t.text, t.x, t.y, t.size, t.colour, t.centre))
    system = {"license_id": license_id, "agency": agency, "issue_date": issued_on.isoformat(),
              "valid_to": valid_to.isoformat() if valid_to else None}
    for p in face.fields:
        if p.field in SYSTEM_FIELDS:
            label = SYSTEM_FIELDS[p.field][0]
            value = display_value(license_type, p.field, system[p.field])
        else:
            if p.field not in values and p.field != license_type.validity.field:
                continue  # an optional field left empty is not printed at all
            label = license_type.field(p.field).label_zh
            value = display_value(license_type, p.field, values.get(p.field))
        line = f"{label}：{value}" if p.label else value
        size_mm = p.size * PT_TO_MM
        lines = _wrap(line, size_mm, p.width) if p.width else [line]
        for i, text in enumerate(lines):
            items.append(_text(family, text, p.x, p.y + i * size_mm * 1.5, p.size))
    if face.qr is not None:
        q = face.qr
        items.append(od.Image(q.x, q.y, q.size, q.size, _qr_png(verify_url)))
    custom = {"LicenseID": license_id, "LicenseType": license_type.code,
              "HolderName": str(record.get("holder_name") or ""), "HolderID": str(record.get("holder_id") or ""),
              "IssueDate": issued_on.isoformat(), "ValidTo": valid_to.isoformat() if valid_to else "",
              "VerifyURL": verify_url}
    info = od.DocInfo(title=f"{license_type.name_zh} {license_id}", author=agency, doc_id=license_id,
                      creation_date=issued_on, custom_data=custom)
    ofd = od.build_ofd([od.Page(items=items, width=face.width, height=face.height)], info,
                       attachments=[od.Attachment(METADATA_ATTACHMENT, metadata_json(record), "json", issued_on)])
    return RenderedLicense(ofd, face.seal, verify_url)
