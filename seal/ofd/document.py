"""A small declarative OFD builder: pages of text and images, sizes in millimetres.

    build_ofd([Page(items=[Text(20, 30, "营业执照", size=8, font="Noto Sans CJK SC"),
                           Image(150, 20, 30, 30, png_bytes)])], title="…")

Produces one DocBody with ``Doc_0/Document.xml`` (CommonData: MaxUnitID, PageArea,
PublicRes with one Font per family, DocumentRes with one MultiMedia per distinct image),
``Doc_0/Pages/Page_N/Content.xml`` (one Layer of TextObject / ImageObject / PathObject for
filled rectangles), the images under ``Doc_0/Res/`` and optional attachments under
``Doc_0/Attachs/`` (listed in Attachments.xml). Coordinates follow GB/T 33190: origin top-left, y downwards, mm.
No font file is embedded: the reader maps the family name to a system font.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import field

from lxml import etree

from gm import sm3
from gm.records import frozen_record
from seal.ofd import xmlns as X
from seal.ofd.errors import OFDUsageError
from seal.ofd.package import write_package

DEFAULT_FONT = "Noto Sans CJK SC"


@frozen_record
class Text:
    """One line of text; (x, y) is the top-left of its box, ``size`` the font size in mm."""

    x: float
    y: float
    text: str
    size: float = 4.0
    font: str = DEFAULT_FONT
    colour: tuple[int, int, int] = (0, 0, 0)
    bold: bool = False


@frozen_record
class Image:
    """A PNG or JPEG image drawn into the box (x, y, width, height), mm."""

    x: float
    y: float
    width: float
    height: float
    data: bytes


@frozen_record
class Rect:
    """A filled rectangle (x, y, width, height), mm — a PathObject."""

    x: float
    y: float
    width: float
    height: float
    fill: tuple[int, int, int] = (255, 255, 255)


@frozen_record
class Attachment:
    """A file attached to the document (GB/T 33190 §20), e.g. machine-readable metadata."""

    name: str
    data: bytes
    format: str = ""
    creation_date: dt.date | None = None
    visible: bool = False


@frozen_record
class Page:
    items: Sequence[Text | Image | Rect] = ()
    width: float = 210.0
    height: float = 297.0


@frozen_record
class DocInfo:
    title: str | None = None
    author: str | None = None
    doc_id: str | None = None
    creation_date: dt.date | None = None
    creator: str = "eseal"
    custom_data: Mapping[str, str] = field(default_factory=dict)


def _n(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _image_format(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG", "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG", "jpg"
    raise OFDUsageError("image data is neither PNG nor JPEG")


def _advance(char: str, size: float) -> float:
    """Nominal advance: full width for CJK / wide characters, half width otherwise."""
    return size if ord(char) >= 0x2E80 else size * 0.55


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    node = etree.SubElement(parent, X.q(tag), **attrs)
    if text is not None:
        node.text = text
    return node


def build_ofd(pages: Sequence[Page], info: DocInfo | None = None, *,
              attachments: Sequence[Attachment] = ()) -> bytes:
    """Build a complete OFD package from ``pages``; returns the zip bytes."""
    if not pages:
        raise OFDUsageError("an OFD document needs at least one page")
    names = [a.name for a in attachments]
    for name in names:
        if not name or "/" in name or "\\" in name or name in (".", ".."):
            raise OFDUsageError(f"attachment name {name!r} must be a plain file name")
    if len(set(names)) != len(names):
        raise OFDUsageError("attachment names must be unique")
    info = info or DocInfo()
    next_id = 0

    def new_id() -> str:
        nonlocal next_id
        next_id += 1
        return str(next_id)

    fonts: dict[tuple[str, bool], str] = {}
    images: dict[bytes, tuple[str, str, str]] = {}   # digest -> (id, entry, format)
    image_data: dict[str, bytes] = {}
    page_xml: list[bytes] = []
    page_ids: list[str] = []
    for page in pages:
        page_ids.append(new_id())
        root = etree.Element(X.q("Page"), nsmap=X.NSMAP)
        area = _el(root, "Area")
        _el(area, "PhysicalBox", f"0 0 {_n(page.width)} {_n(page.height)}")
        content = _el(root, "Content")
        layer = _el(content, "Layer", ID=new_id())
        for item in page.items:
            if isinstance(item, Text):
                if not item.text:
                    continue
                key = (item.font, item.bold)
                if key not in fonts:
                    fonts[key] = new_id()
                deltas = [_advance(c, item.size) for c in item.text]
                width = sum(deltas)
                obj = _el(layer, "TextObject", ID=new_id(),
                          Boundary=f"{_n(item.x)} {_n(item.y)} {_n(width)} {_n(item.size * 1.3)}",
                          Font=fonts[key], Size=_n(item.size))
                _el(obj, "FillColor", Value=" ".join(str(c) for c in item.colour))
                code = _el(obj, "TextCode", item.text, X="0", Y=_n(item.size))
                if len(deltas) > 1:
                    code.set("DeltaX", " ".join(_n(d) for d in deltas[:-1]))
            elif isinstance(item, Image):
                fmt, ext = _image_format(item.data)
                digest = sm3.sm3(item.data)
                if digest not in images:
                    res_id = new_id()
                    entry = f"image_{len(images)}.{ext}"
                    images[digest] = (res_id, entry, fmt)
                    image_data[f"Doc_0/Res/{entry}"] = item.data
                res_id = images[digest][0]
                _el(layer, "ImageObject", ID=new_id(), ResourceID=res_id,
                    Boundary=f"{_n(item.x)} {_n(item.y)} {_n(item.width)} {_n(item.height)}",
                    CTM=f"{_n(item.width)} 0 0 {_n(item.height)} 0 0")
            elif isinstance(item, Rect):
                obj = _el(layer, "PathObject", ID=new_id(),
                          Boundary=f"{_n(item.x)} {_n(item.y)} {_n(item.width)} {_n(item.height)}",
                          Fill="true", Stroke="false")
                _el(obj, "FillColor", Value=" ".join(str(c) for c in item.fill))
                _el(obj, "AbbreviatedData", f"M 0 0 L {_n(item.width)} 0 L {_n(item.width)} {_n(item.height)} "
                                            f"L 0 {_n(item.height)} C")
            else:
                raise OFDUsageError(f"unknown page item {type(item).__name__}; use Text, Image or Rect")
        page_xml.append(X.serialize(root))

    # PublicRes.xml: fonts.
    public = etree.Element(X.q("Res"), nsmap=X.NSMAP, BaseLoc="Res")
    if fonts:
        fonts_el = _el(public, "Fonts")
        for (family, bold), font_id in fonts.items():
            attrs = {"ID": font_id, "FontName": family, "FamilyName": family}
            if bold:
                attrs["Bold"] = "true"
            _el(fonts_el, "Font", **attrs)
    # DocumentRes.xml: images.
    doc_res = etree.Element(X.q("Res"), nsmap=X.NSMAP, BaseLoc="Res")
    if images:
        media = _el(doc_res, "MultiMedias")
        for res_id, entry, fmt in images.values():
            mm = _el(media, "MultiMedia", ID=res_id, Type="Image", Format=fmt)
            _el(mm, "MediaFile", entry)

    first = pages[0]
    document = etree.Element(X.q("Document"), nsmap=X.NSMAP)
    common = _el(document, "CommonData")
    _el(common, "MaxUnitID", str(next_id))
    area = _el(common, "PageArea")
    _el(area, "PhysicalBox", f"0 0 {_n(first.width)} {_n(first.height)}")
    _el(common, "PublicRes", "PublicRes.xml")
    _el(common, "DocumentRes", "DocumentRes.xml")
    pages_el = _el(document, "Pages")
    for i, page_id in enumerate(page_ids):
        _el(pages_el, "Page", ID=page_id, BaseLoc=f"Pages/Page_{i}/Content.xml")
    attach_files: list[tuple[str, bytes]] = []
    if attachments:
        _el(document, "Attachments", "Attachs/Attachments.xml")
        listing = etree.Element(X.q("Attachments"), nsmap=X.NSMAP)
        for att in attachments:
            entry = _el(listing, "Attachment", ID=new_id(), Name=att.name, Format=att.format,
                        CreationDate=(att.creation_date or info.creation_date or dt.date.today()).isoformat(),
                        Size=f"{len(att.data) / 1024:.3f}", Visible="true" if att.visible else "false")
            _el(entry, "FileLoc", att.name)
            attach_files.append((f"Doc_0/Attachs/{att.name}", att.data))
        attach_files.insert(0, ("Doc_0/Attachs/Attachments.xml", X.serialize(listing)))
        document.find(X.q("CommonData")).find(X.q("MaxUnitID")).text = str(next_id)

    ofd = etree.Element(X.q("OFD"), nsmap=X.NSMAP, Version="1.0", DocType="OFD")
    body = _el(ofd, "DocBody")
    doc_info = _el(body, "DocInfo")
    _el(doc_info, "DocID", info.doc_id or uuid.uuid4().hex)
    if info.title:
        _el(doc_info, "Title", info.title)
    if info.author:
        _el(doc_info, "Author", info.author)
    _el(doc_info, "CreationDate", (info.creation_date or dt.date.today()).isoformat())
    _el(doc_info, "Creator", info.creator)
    if info.custom_data:
        custom = _el(doc_info, "CustomDatas")
        for name, value in info.custom_data.items():
            _el(custom, "CustomData", str(value), Name=name)
    _el(body, "DocRoot", "Doc_0/Document.xml")

    files: list[tuple[str, bytes]] = [("OFD.xml", X.serialize(ofd)), ("Doc_0/Document.xml", X.serialize(document)),
                                      ("Doc_0/PublicRes.xml", X.serialize(public)),
                                      ("Doc_0/DocumentRes.xml", X.serialize(doc_res))]
    files += [(f"Doc_0/Pages/Page_{i}/Content.xml", xml) for i, xml in enumerate(page_xml)]
    files += list(image_data.items())
    files += attach_files
    return write_package(files, stored=image_data.keys())
