"""The declarative OFD builder: its output opens in two independent OFD readers from PyPI
(ofdkit parses, easyofd parses and converts to PDF, checked with PyMuPDF) with the right
page count, text and images, and in our own reader."""
from __future__ import annotations

import datetime as dt
import io
import xml.etree.ElementTree as ET
import zipfile

import pytest
from PIL import Image as PILImage

from seal.ofd.document import DocInfo, Image, Page, Text, build_ofd
from seal.ofd.errors import OFDUsageError
from seal.ofd.model import parse_package
from seal.ofd.package import OFDPackage

NS = {"ofd": "http://www.ofdspec.org/2016"}
FAMILY = "Noto Sans CJK SC"


def png(colour=(200, 0, 0)) -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", (32, 32), colour).save(buf, "PNG")
    return buf.getvalue()


def jpeg() -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", (32, 32), (0, 0, 200)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def three_pages() -> bytes:
    return build_ofd([
        Page([Text(20, 20, "营业执照", size=10, font=FAMILY), Text(20, 40, "名称：深圳某某科技有限公司", size=5),
              Image(150, 20, 30, 30, png())]),
        Page([Text(20, 20, "第二页 page two", size=6), Image(20, 40, 40, 40, jpeg())], width=297, height=210),
        Page([Text(20, 20, "第三页", size=6), Image(20, 40, 40, 40, png())]),
    ], DocInfo(title="测试文档", author="深圳市市场监督管理局", doc_id="abc123",
               creation_date=dt.date(2026, 11, 23), custom_data={"LicenseID": "L-1"}))


def test_ofdkit_reads_pages_text_and_metadata(three_pages: bytes) -> None:
    import ofdkit

    with ofdkit.open(three_pages) as doc:
        assert len(doc.pages) == 3
        assert doc.pages[0].text() == "营业执照\n名称：深圳某某科技有限公司"
        assert doc.pages[1].text() == "第二页 page two"
        assert (doc.pages[1].width, doc.pages[1].height) == (297, 210)
        assert doc.info.title == "测试文档" and doc.info.doc_id == "abc123"
        assert doc.info.custom_data == {"LicenseID": "L-1"}


def test_easyofd_reads_text_fonts_and_images(three_pages: bytes) -> None:
    from easyofd.ofd import OFD

    doc = OFD()
    doc.read(three_pages, fmt="binary")
    pages = doc.data[0]["page_info"]
    assert len(pages) == 3
    texts = [[t["text"] for t in page["text_list"]] for page in pages.values()]
    assert texts == [["营业执照", "名称：深圳某某科技有限公司"], ["第二页 page two"], ["第三页"]]
    assert [len(page["img_list"]) for page in pages.values()] == [1, 1, 1]
    assert {f["FamilyNameORI"] for f in doc.data[0]["fonts"].values()} == {FAMILY}
    import pymupdf

    pdf = pymupdf.open(stream=doc.to_pdf(), filetype="pdf")
    assert pdf.page_count == 3


def test_package_layout_and_resources(three_pages: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(three_pages)) as z:
        assert z.testzip() is None
        names = z.namelist()
        res = ET.fromstring(z.read("Doc_0/DocumentRes.xml"))
        public = ET.fromstring(z.read("Doc_0/PublicRes.xml"))
        page0 = ET.fromstring(z.read("Doc_0/Pages/Page_0/Content.xml"))
    assert names[:4] == ["OFD.xml", "Doc_0/Document.xml", "Doc_0/PublicRes.xml", "Doc_0/DocumentRes.xml"]
    media = res.findall(".//ofd:MultiMedia", NS)
    # the same PNG on pages 1 and 3 is stored once
    assert [(m.get("Format"), m.find("ofd:MediaFile", NS).text) for m in media] == [
        ("PNG", "image_0.png"), ("JPEG", "image_1.jpg")]
    assert {"Doc_0/Res/image_0.png", "Doc_0/Res/image_1.jpg"} <= set(names)
    fonts = public.findall(".//ofd:Font", NS)
    assert [f.get("FamilyName") for f in fonts] == [FAMILY]
    text = page0.find(".//ofd:TextObject", NS)
    assert text.get("Font") == fonts[0].get("ID") and text.get("Size") == "10"
    assert text.get("Boundary") == "20 20 40 13"
    image = page0.find(".//ofd:ImageObject", NS)
    assert image.get("ResourceID") == media[0].get("ID") and image.get("Boundary") == "150 20 30 30"


def test_our_reader_sees_pages_and_shown_files(three_pages: bytes) -> None:
    (doc,) = parse_package(OFDPackage(three_pages))
    assert [p.path for p in doc.pages] == [f"Doc_0/Pages/Page_{i}/Content.xml" for i in range(3)]
    assert len({p.id for p in doc.pages}) == 3
    assert {"Doc_0/Res/image_0.png", "Doc_0/Res/image_1.jpg", "Doc_0/DocumentRes.xml", "OFD.xml"} <= doc.shown


def test_same_input_same_bytes() -> None:
    pages = [Page([Text(10, 10, "一致", size=5)])]
    info = DocInfo(doc_id="x", creation_date=dt.date(2026, 1, 1))
    assert build_ofd(pages, info) == build_ofd(pages, info)


def test_bad_image_refused() -> None:
    with pytest.raises(OFDUsageError, match="neither PNG nor JPEG"):
        build_ofd([Page([Image(0, 0, 10, 10, b"GIF89a...")])])


def test_empty_document_refused() -> None:
    with pytest.raises(OFDUsageError, match="at least one page"):
        build_ofd([])


def test_rectangles_and_attachments() -> None:
    from seal.ofd.document import Attachment, Rect

    data = build_ofd([Page([Rect(0, 0, 210, 297, fill=(250, 240, 230)), Text(20, 20, "附件说明", size=5)])],
                     DocInfo(doc_id="att", creation_date=dt.date(2026, 11, 23)),
                     attachments=[Attachment("license.json", b'{"id": "L-1"}', "json")])
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        document = ET.fromstring(z.read("Doc_0/Document.xml"))
        listing = ET.fromstring(z.read("Doc_0/Attachs/Attachments.xml"))
        attached = z.read("Doc_0/Attachs/license.json")
        page = ET.fromstring(z.read("Doc_0/Pages/Page_0/Content.xml"))
    assert document.find("ofd:Attachments", NS).text == "Attachs/Attachments.xml"
    (att,) = listing.findall("ofd:Attachment", NS)
    assert (att.get("Name"), att.get("Format"), att.get("CreationDate"), att.find("ofd:FileLoc", NS).text) == (
        "license.json", "json", "2026-11-23", "license.json")
    assert attached == b'{"id": "L-1"}'
    path = page.find(".//ofd:PathObject", NS)
    assert path.get("Boundary") == "0 0 210 297" and path.find("ofd:FillColor", NS).get("Value") == "250 240 230"
    ids = [int(e.get("ID")) for e in document.iter() if e.get("ID")] + [int(att.get("ID"))]
    assert int(document.find("ofd:CommonData/ofd:MaxUnitID", NS).text) == max(ids)
    import ofdkit

    with ofdkit.open(data) as doc:
        assert doc.text() == "附件说明"


def test_unsafe_attachment_name_refused() -> None:
    from seal.ofd.document import Attachment

    with pytest.raises(OFDUsageError, match="must be a plain file name"):
        build_ofd([Page([])], attachments=[Attachment("../x.json", b"{}")])
