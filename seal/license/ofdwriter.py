"""A single-page OFD (GB/T 33190) package writer for license faces — a stand-in.

The project's declarative OFD builder lives in seal/ofd/; this module only does what a
license face needs (one page: filled rectangles, text, images; DocInfo CustomDatas; an
attachment) so the license pipeline works and is tested before that builder exists, and
render.py calls nothing but :func:`write_ofd` — swapping the builder changes one call.

Package layout written::

    OFD.xml                         DocBody: DocInfo (DocID, Title, Author, CreationDate,
                                    CustomDatas) and DocRoot
    Doc_0/Document.xml              CommonData (PageArea, PublicRes, DocumentRes), Pages,
                                    Attachments
    Doc_0/PublicRes.xml             Fonts
    Doc_0/DocumentRes.xml           MultiMedias (images under Doc_0/Res/)
    Doc_0/Pages/Page_0/Content.xml  one Layer with the page objects
    Doc_0/Attachs/Attachments.xml   attachment list (files beside it)

Coordinates are millimetres from the top-left corner (the OFD default). Text objects carry
DeltaX from the font's own advance widths, so every reader places glyphs identically.
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

__all__ = ["Rect", "Text", "Image", "Attachment", "OFDPage", "write_ofd", "OFD_NS"]

OFD_NS = "http://www.ofdspec.org/2016"
_DATE = (2000, 1, 1, 0, 0, 0)  # fixed zip entry times: same input, same bytes


def _n(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _rgb(colour: str) -> str:
    return " ".join(str(int(colour[i:i + 2], 16)) for i in (1, 3, 5))


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    fill: str  # "#RRGGBB"


@dataclass(frozen=True)
class Text:
    text: str
    x: float  # left of the first glyph
    y: float  # baseline
    size: float  # mm
    advances: tuple[float, ...]  # per character, mm
    colour: str = "#000000"


@dataclass(frozen=True)
class Image:
    name: str  # file name under Doc_0/Res/
    data: bytes
    fmt: str  # PNG | JPEG
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Attachment:
    name: str
    data: bytes
    fmt: str


@dataclass
class OFDPage:
    width: float
    height: float
    font_family: str
    objects: list[Rect | Text | Image] = field(default_factory=list)


def _xml(body: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode("utf-8")


def write_ofd(page: OFDPage, *, doc_id: str, title: str, author: str, creation_date: str,
              custom_data: dict[str, str], attachments: list[Attachment] = ()) -> bytes:  # type: ignore[assignment]
    """The OFD package bytes of one page with its metadata and attachments."""
    next_id = iter(range(1, 1_000_000))
    font_id = next(next_id)
    layer_id = next(next_id)
    media: list[tuple[int, Image]] = []
    body: list[str] = []
    for obj in page.objects:
        oid = next(next_id)
        if isinstance(obj, Rect):
            body.append(
                f'<ofd:PathObject ID="{oid}" Boundary="{_n(obj.x)} {_n(obj.y)} {_n(obj.width)} {_n(obj.height)}" '
                f'Fill="true" Stroke="false"><ofd:FillColor Value="{_rgb(obj.fill)}"/>'
                f'<ofd:AbbreviatedData>M 0 0 L {_n(obj.width)} 0 L {_n(obj.width)} {_n(obj.height)} '
                f'L 0 {_n(obj.height)} C</ofd:AbbreviatedData></ofd:PathObject>')
        elif isinstance(obj, Text):
            width = sum(obj.advances) + obj.size * 0.2
            top = obj.y - obj.size
            delta = " ".join(_n(a) for a in obj.advances[:-1])
            delta_attr = f" DeltaX={quoteattr(delta)}" if delta else ""
            body.append(
                f'<ofd:TextObject ID="{oid}" Boundary="{_n(obj.x)} {_n(top)} {_n(width)} {_n(obj.size * 1.3)}" '
                f'Font="{font_id}" Size="{_n(obj.size)}"><ofd:FillColor Value="{_rgb(obj.colour)}"/>'
                f'<ofd:TextCode X="0" Y="{_n(obj.size)}"{delta_attr}>{escape(obj.text)}</ofd:TextCode>'
                f'</ofd:TextObject>')
        else:
            res_id = next(next_id)
            media.append((res_id, obj))
            body.append(
                f'<ofd:ImageObject ID="{oid}" Boundary="{_n(obj.x)} {_n(obj.y)} {_n(obj.width)} {_n(obj.height)}" '
                f'CTM="{_n(obj.width)} 0 0 {_n(obj.height)} 0 0" ResourceID="{res_id}"/>')
    max_id = next(next_id) - 1
    ns = f'xmlns:ofd="{OFD_NS}"'
    files: dict[str, bytes] = {}
    custom = "".join(f"<ofd:CustomData Name={quoteattr(k)}>{escape(v)}</ofd:CustomData>"
                     for k, v in custom_data.items())
    files["OFD.xml"] = _xml(
        f'<ofd:OFD {ns} Version="1.0" DocType="OFD"><ofd:DocBody><ofd:DocInfo>'
        f"<ofd:DocID>{escape(doc_id)}</ofd:DocID><ofd:Title>{escape(title)}</ofd:Title>"
        f"<ofd:Author>{escape(author)}</ofd:Author><ofd:CreationDate>{escape(creation_date)}</ofd:CreationDate>"
        f"<ofd:Creator>eseal</ofd:Creator>"
        f"{'<ofd:CustomDatas>' + custom + '</ofd:CustomDatas>' if custom else ''}"
        f"</ofd:DocInfo><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>")
    attach_ref = "<ofd:Attachments>Attachs/Attachments.xml</ofd:Attachments>" if attachments else ""
    files["Doc_0/Document.xml"] = _xml(
        f"<ofd:Document {ns}><ofd:CommonData><ofd:MaxUnitID>{max_id}</ofd:MaxUnitID>"
        f"<ofd:PageArea><ofd:PhysicalBox>0 0 {_n(page.width)} {_n(page.height)}</ofd:PhysicalBox></ofd:PageArea>"
        f"<ofd:PublicRes>PublicRes.xml</ofd:PublicRes>"
        f"{'<ofd:DocumentRes>DocumentRes.xml</ofd:DocumentRes>' if media else ''}"
        f'</ofd:CommonData><ofd:Pages><ofd:Page ID="{next(next_id)}" BaseLoc="Pages/Page_0/Content.xml"/>'
        f"</ofd:Pages>{attach_ref}</ofd:Document>")
    family = quoteattr(page.font_family)
    files["Doc_0/PublicRes.xml"] = _xml(
        f'<ofd:Res {ns} BaseLoc="Res"><ofd:Fonts><ofd:Font ID="{font_id}" FontName={family} '
        f"FamilyName={family}/></ofd:Fonts></ofd:Res>")
    if media:
        items = "".join(
            f'<ofd:MultiMedia ID="{rid}" Type="Image" Format="{img.fmt}"><ofd:MediaFile>{escape(img.name)}'
            f"</ofd:MediaFile></ofd:MultiMedia>" for rid, img in media)
        files["Doc_0/DocumentRes.xml"] = _xml(
            f'<ofd:Res {ns} BaseLoc="Res"><ofd:MultiMedias>{items}</ofd:MultiMedias></ofd:Res>')
        for _, img in media:
            files[f"Doc_0/Res/{img.name}"] = img.data
    files["Doc_0/Pages/Page_0/Content.xml"] = _xml(
        f'<ofd:Page {ns}><ofd:Content><ofd:Layer ID="{layer_id}">{"".join(body)}</ofd:Layer>'
        f"</ofd:Content></ofd:Page>")
    if attachments:
        entries = "".join(
            f'<ofd:Attachment ID="att{i}" Name={quoteattr(a.name)} Format={quoteattr(a.fmt)} '
            f'CreationDate={quoteattr(creation_date)} Size="{_n(len(a.data) / 1024)}" Visible="false">'
            f"<ofd:FileLoc>{escape(a.name)}</ofd:FileLoc></ofd:Attachment>"
            for i, a in enumerate(attachments, 1))
        files["Doc_0/Attachs/Attachments.xml"] = _xml(f"<ofd:Attachments {ns}>{entries}</ofd:Attachments>")
        for a in attachments:
            files[f"Doc_0/Attachs/{a.name}"] = a.data
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, _DATE)
            info.compress_type = zipfile.ZIP_STORED if name.endswith((".png", ".jpg")) else zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()
