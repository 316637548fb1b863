"""Hostile OFD packages: each refused with its specific error before any harm is done.

The zips here are made with the standard library's zipfile (not our writer) and then
patched byte-wise where a producer would have to lie about sizes.
"""
from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib

import pytest

from seal.ofd.errors import OFDFormatError, OFDLimitError, OFDMissingPartError, OFDPathError, OFDXMLError, ZipBombError
from seal.ofd.model import parse_package
from seal.ofd.package import Limits, OFDPackage
from seal.ofd.paths import resolve
from tests.helpers.zip_records import patch_central

OFD_XML = (b'<?xml version="1.0" encoding="UTF-8"?><ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016" Version="1.0" '
           b'DocType="OFD"><ofd:DocBody><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>')
DOC_XML = (b'<?xml version="1.0" encoding="UTF-8"?><ofd:Document xmlns:ofd="http://www.ofdspec.org/2016"><ofd:CommonData>'
           b'<ofd:PageArea><ofd:PhysicalBox>0 0 210 297</ofd:PhysicalBox></ofd:PageArea></ofd:CommonData><ofd:Pages>'
           b'<ofd:Page ID="1" BaseLoc="Pages/Page_0/Content.xml"/></ofd:Pages></ofd:Document>')
PAGE_XML = b'<ofd:Page xmlns:ofd="http://www.ofdspec.org/2016"><ofd:Content/></ofd:Page>'


def make_zip(entries: list[tuple[str, bytes]], *, stored: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            z.writestr(name, data)
    return buf.getvalue()


def minimal(extra: list[tuple[str, bytes]] = (), ofd_xml: bytes = OFD_XML) -> bytes:
    return make_zip([("OFD.xml", ofd_xml), ("Doc_0/Document.xml", DOC_XML),
                     ("Doc_0/Pages/Page_0/Content.xml", PAGE_XML), *extra])


def test_minimal_package_parses() -> None:
    docs = parse_package(OFDPackage(minimal()))
    assert [p.path for p in docs[0].pages] == ["Doc_0/Pages/Page_0/Content.xml"]


def test_not_a_zip() -> None:
    with pytest.raises(OFDFormatError, match="bad zip"):
        OFDPackage(b"%PDF-1.7 this is not an OFD")


def test_missing_ofd_xml() -> None:
    with pytest.raises(OFDMissingPartError, match="OFD.xml is missing"):
        parse_package(OFDPackage(make_zip([("Doc_0/Document.xml", DOC_XML)])))


def test_zip_bomb_refused_by_declared_ratio() -> None:
    bomb = make_zip([("OFD.xml", OFD_XML), ("Doc_0/Res/bomb.xml", bytes(30 * 1024 * 1024))])
    assert len(bomb) < 100_000
    with pytest.raises(ZipBombError, match="bomb.xml.*declares .* ratio above the limit of 200"):
        OFDPackage(bomb)


def test_zip_bomb_lying_about_its_size_stops_at_the_declared_size() -> None:
    bomb = make_zip([("OFD.xml", OFD_XML), ("Doc_0/Res/bomb.xml", bytes(30 * 1024 * 1024))])
    liar = patch_central(bomb, b"Doc_0/Res/bomb.xml", file_size=4096)
    pkg = OFDPackage(liar)  # the directory now looks harmless
    with pytest.raises(ZipBombError, match="inflates beyond its declared size of 4096 bytes"):
        pkg.read("Doc_0/Res/bomb.xml")


def test_zip_bomb_lying_about_its_compressed_size_is_refused() -> None:
    padding = os.urandom(400_000)
    bomb = make_zip([("Doc_0/Res/bomb.xml", bytes(30 * 1024 * 1024)), ("Doc_0/Res/pad.bin", padding),
                     ("OFD.xml", OFD_XML)])
    # Claim the deflate stream is 300 kB (declared ratio ~100, under the limit); it is ~30 kB,
    # so its span now runs over the next entry.
    liar = patch_central(bomb, b"Doc_0/Res/bomb.xml", compress_size=300_000)
    with pytest.raises(ZipBombError, match="'Doc_0/Res/bomb.xml' and 'Doc_0/Res/pad.bin' overlap"):
        OFDPackage(liar)


def test_zip_bomb_padded_to_a_harmless_ratio_is_caught_while_streaming() -> None:
    """A 30 KB deflate stream of 30 MB, followed by 270 KB of junk inside the same entry: the
    declared ratio (~100) passes; the ratio of what is actually consumed does not."""
    from seal.ofd.package import _ZipWriter

    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    stream = packer.compress(bytes(30 * 1024 * 1024)) + packer.flush()
    raw = stream + os.urandom(300_000 - len(stream))
    writer = _ZipWriter()
    writer.add("OFD.xml", OFD_XML)
    writer._entry("Doc_0/Res/bomb.xml", zipfile.ZIP_DEFLATED, zlib.crc32(bytes(30 * 1024 * 1024)), raw,
                  30 * 1024 * 1024)
    pkg = OFDPackage(writer.finish())
    # refused after 2 MiB of output (one step past the 1 MiB floor), not 30 MiB
    with pytest.raises(ZipBombError, match="bomb.xml. inflates to 2097152 bytes from .* ratio above the limit"):
        pkg.read("Doc_0/Res/bomb.xml")


def test_too_many_entries() -> None:
    data = minimal([(f"Doc_0/Res/f{i}.txt", b"x") for i in range(20)])
    with pytest.raises(OFDLimitError, match="23 entries; the limit is 10"):
        OFDPackage(data, limits=Limits(max_entries=10))


def test_total_size_limit() -> None:
    data = minimal([("Doc_0/Res/a.bin", os.urandom(3000)), ("Doc_0/Res/b.bin", os.urandom(3000))])
    with pytest.raises(OFDLimitError, match="more than 5000 uncompressed bytes"):
        OFDPackage(data, limits=Limits(max_total_size=5000))


@pytest.mark.parametrize(("name", "message"), [
    ("../evil.xml", "traversal"),
    ("Doc_0/../../evil.xml", "traversal"),
    ("/etc/passwd", "absolute"),
    ("C:/Windows/evil.xml", "absolute"),
    ("Doc_0\\Pages\\evil.xml", "backslash"),
])
def test_unsafe_entry_names(name: str, message: str) -> None:
    with pytest.raises(OFDPathError, match=message):
        OFDPackage(minimal([(name, b"x")]))


def test_duplicate_entry_names() -> None:
    with pytest.warns(UserWarning):  # zipfile itself warns when writing the duplicate
        data = minimal([("Doc_0/Document.xml", b"<other/>")])
    with pytest.raises(OFDPathError, match="'Doc_0/Document.xml' appears twice"):
        OFDPackage(data)


def test_names_differing_only_by_case() -> None:
    with pytest.raises(OFDPathError, match="differ only by case"):
        OFDPackage(minimal([("doc_0/document.xml", DOC_XML)]))


@pytest.mark.parametrize(("loc", "base"), [("../../x.xml", "Doc_0/Document.xml"), ("/../x.xml", "OFD.xml")])
def test_location_traversal_refused(loc: str, base: str) -> None:
    with pytest.raises(OFDPathError, match="outside the package"):
        resolve(loc, base=base)


def test_locations_absolute_and_relative_resolve_alike() -> None:
    assert resolve("/Doc_0/Pages/Page_0/Content.xml", base="Doc_0/Document.xml") == "Doc_0/Pages/Page_0/Content.xml"
    assert resolve("Pages/Page_0/Content.xml", base="Doc_0/Document.xml") == "Doc_0/Pages/Page_0/Content.xml"
    assert resolve("./Pages/../Res/a.png", base="Doc_0/Document.xml") == "Doc_0/Res/a.png"
    assert resolve("Doc_0/Document.xml", base="OFD.xml") == "Doc_0/Document.xml"


def test_xxe_refused() -> None:
    xxe = (b'<?xml version="1.0"?><!DOCTYPE ofd:OFD [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           b'<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016"><ofd:DocBody><ofd:DocRoot>&x;</ofd:DocRoot>'
           b'</ofd:DocBody></ofd:OFD>')
    with pytest.raises(OFDXMLError, match="OFD.xml: DTD / entity declarations are not allowed"):
        parse_package(OFDPackage(minimal(ofd_xml=xxe)))


def test_entity_expansion_refused() -> None:
    lol = b"".join(b'<!ENTITY l%d "&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;">' % ((i,) + (i - 1,) * 10)
                   for i in range(1, 10))
    laughs = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY l0 "lol">' + lol + b']><r>&l9;</r>'
    with pytest.raises(OFDXMLError, match="DTD / entity declarations are not allowed"):
        parse_package(OFDPackage(minimal(ofd_xml=laughs)))


def test_doctype_hidden_in_utf16_refused() -> None:
    text = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE OFD [<!ENTITY x "y">]>'
            '<OFD><DocBody><DocRoot>Doc_0/Document.xml</DocRoot></DocBody></OFD>')
    with pytest.raises(OFDXMLError, match="DTD / entity declarations are not allowed"):
        parse_package(OFDPackage(minimal(ofd_xml=text.encode("utf-16"))))


def test_huge_xml_refused_before_parsing() -> None:
    big = OFD_XML.replace(b"</ofd:OFD>", b"<!--" + b"x" * 5000 + b"--></ofd:OFD>")
    with pytest.raises(OFDXMLError, match="OFD.xml: XML part of 5\\d{3} bytes exceeds the 4096-byte limit"):
        parse_package(OFDPackage(minimal(ofd_xml=big), limits=Limits(max_xml_size=4096)))


def test_excessively_deep_xml_refused() -> None:
    deep = b'<ofd:Page xmlns:ofd="http://www.ofdspec.org/2016">' + b"<a>" * 5000 + b"</a>" * 5000 + b"</ofd:Page>"
    pkg = OFDPackage(minimal([("Doc_0/Tpl.xml", deep)]))
    from seal.ofd.model import load_xml
    with pytest.raises(OFDXMLError, match="Doc_0/Tpl.xml: malformed XML"):
        load_xml(pkg, "Doc_0/Tpl.xml")


def test_corrupt_entry_crc() -> None:
    data = bytearray(make_zip([("OFD.xml", OFD_XML)], stored=True))
    pos = data.find(b"DocRoot")
    data[pos] ^= 0x20
    pkg = OFDPackage(bytes(data))
    with pytest.raises(OFDFormatError, match="CRC-32 mismatch"):
        pkg.read("OFD.xml")


def test_overlapping_entries_refused() -> None:
    """Fifield's non-recursive bomb: many directory entries share one deflate stream."""
    data = minimal([("Doc_0/Res/a.xml", b"<a/>" * 100), ("Doc_0/Res/b.xml", b"<a/>" * 100)])
    buf = bytearray(data)
    offsets = {}
    pos = buf.find(b"PK\x01\x02")
    while pos != -1:
        name_len = struct.unpack_from("<H", buf, pos + 28)[0]
        offsets[bytes(buf[pos + 46:pos + 46 + name_len])] = pos
        pos = buf.find(b"PK\x01\x02", pos + 4)
    a_offset = struct.unpack_from("<I", buf, offsets[b"Doc_0/Res/a.xml"] + 42)[0]
    struct.pack_into("<I", buf, offsets[b"Doc_0/Res/b.xml"] + 42, a_offset)
    with pytest.raises(ZipBombError, match="'Doc_0/Res/a.xml' and 'Doc_0/Res/b.xml' overlap"):
        OFDPackage(bytes(buf))


def test_many_small_highly_compressed_entries_refused() -> None:
    entries = [(f"Doc_0/Res/part{i}.xml", bytes(900_000)) for i in range(40)]
    data = minimal(entries)
    with pytest.raises(ZipBombError, match="package declares 36\\d+ uncompressed bytes .* ratio above the limit"):
        OFDPackage(data)


@pytest.mark.parametrize("encoding", ["gbk", "utf-8"])
def test_chinese_entry_names_without_the_utf8_flag(encoding: str) -> None:
    real = "印章".encode(encoding)
    placeholder = b"X" * len(real)
    data = minimal([("Doc_0/Res/" + placeholder.decode() + ".png", b"png bytes")])
    assert not zipfile.ZipFile(io.BytesIO(data)).infolist()[-1].flag_bits & 0x800
    pkg = OFDPackage(data.replace(placeholder, real))
    assert "Doc_0/Res/印章.png" in pkg.names
    assert pkg.read("Doc_0/Res/印章.png") == b"png bytes"


@pytest.mark.parametrize("variant", ["comment", "prefix"])
def test_unusual_but_valid_zips_read_like_plain_ones(variant: str) -> None:
    """Zips the plain directory reader leaves to zipfile (an archive comment, data before the
    archive as in self-extracting files) give the same entries."""
    plain = minimal([("Doc_0/Res/a.bin", os.urandom(100))])
    if variant == "comment":
        buf = io.BytesIO(plain)
        with zipfile.ZipFile(buf, "a") as z:
            z.comment = b"made by a producer that comments"
        odd = buf.getvalue()
    else:
        odd = b"MZ self-extractor stub " * 10 + plain
    expected = OFDPackage(plain)
    got = OFDPackage(odd)
    assert got.names == expected.names
    assert got.read_all() == expected.read_all()


def test_every_ofd_error_has_a_problem_type() -> None:
    import inspect

    from seal.ofd import errors

    classes = {c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.OFDError)}
    table = {row[0] for row in errors.PROBLEMS}
    assert classes == table
    slugs = [row[2] for row in errors.PROBLEMS]
    assert len(slugs) == len(set(slugs))
    assert dict((c, s) for c, s, *_ in errors.PROBLEMS)[errors.ZipBombError] == 413
