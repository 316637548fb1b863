"""OFD sealing: layout, references checked by an independent unzip + OpenSSL SM3, the
SES_Signature's dataHash over Signature.xml, countersigning that keeps earlier signatures'
references intact (ours and ofdrw's), and the tampering facts the verifier relies on.

Packages are tampered with the standard library's zipfile, not with our writer.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from PIL import Image as PILImage

from gm.asn1 import ses
from gm.sm2 import PrivateKey
from seal.ofd.document import DocInfo, Image, Page, Text, build_ofd
from seal.ofd.errors import OFDUsageError
from seal.ofd.references import RefStatus
from seal.ofd.signing import seal_ofd, signature_location, signed_parts, verify_package

NS = {"ofd": "http://www.ofdspec.org/2016"}
NOW = dt.datetime(2026, 11, 23, 8, 30, tzinfo=dt.timezone.utc)
KEY = PrivateKey.generate()


def sm3(data: bytes) -> bytes:
    return hashlib.new("sm3", data).digest()  # OpenSSL's SM3, not gm.sm3


def png(colour=(200, 0, 0)) -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", (24, 24), colour).save(buf, "PNG")
    return buf.getvalue()


def entries(package: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(package)) as z:
        return {i.filename: z.read(i) for i in z.infolist() if not i.is_dir()}


def rezip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def unzip_read(package: bytes, entry: str, tmp_path: Path) -> bytes:
    path = tmp_path / "doc.ofd"
    path.write_bytes(package)
    if shutil.which("unzip"):
        return subprocess.run(["unzip", "-p", str(path), entry], check=True, capture_output=True).stdout
    return entries(package)[entry]


@pytest.fixture(scope="module")
def seal_der(shared_vectors: Path) -> bytes:
    return (shared_vectors / "seals" / "UserV4.esl").read_bytes()


def ses_signer(seal: bytes):
    """make_signed_value building a GB/T 38540 v4 SES_Signature with gm/asn1/ses.py and an SM2 key."""
    def make(signature_xml: bytes) -> bytes:
        tbs = ses.TBS_Sign({"version": 4, "eseal": ses.SESeal.load(seal), "timeInfo": NOW,
                            "dataHash": sm3(signature_xml), "propertyInfo": signature_location(signature_xml)})
        signature = KEY.sign(tbs.dump())
        return ses.SES_Signature({"toSign": tbs, "cert": b"\x30\x00", "signatureAlgID": "1.2.156.10197.1.501",
                                  "signature": signature}).dump()
    return make


@pytest.fixture(scope="module")
def plain() -> bytes:
    return build_ofd([Page([Text(20, 20, "第一页", size=6), Image(100, 100, 20, 20, png())]),
                      Page([Text(20, 20, "第二页 盖章", size=6)])],
                     DocInfo(doc_id="d1", creation_date=dt.date(2026, 11, 23)))


@pytest.fixture(scope="module")
def sealed(plain: bytes, seal_der: bytes) -> bytes:
    return seal_ofd(plain, page_index=1, boundary_mm=(120, 200, 40, 40), seal_der=seal_der,
                    make_signed_value=ses_signer(seal_der), now=NOW)


def test_layout_of_a_sealed_package(sealed: bytes, plain: bytes, seal_der: bytes) -> None:
    files = entries(sealed)
    new = set(files) - set(entries(plain))
    assert new == {"Doc_0/Signs/Signatures.xml", "Doc_0/Signs/Sign_0/Signature.xml",
                   "Doc_0/Signs/Sign_0/Seal.esl", "Doc_0/Signs/Sign_0/SignedValue.dat"}
    assert files["Doc_0/Signs/Sign_0/Seal.esl"] == seal_der
    ofd = ET.fromstring(files["OFD.xml"])
    assert ofd.find("ofd:DocBody/ofd:Signatures", NS).text == "/Doc_0/Signs/Signatures.xml"
    listing = ET.fromstring(files["Doc_0/Signs/Signatures.xml"])
    (entry,) = listing.findall("ofd:Signature", NS)
    assert (entry.get("ID"), entry.get("Type"), entry.get("BaseLoc")) == ("1", "Seal", "/Doc_0/Signs/Sign_0/Signature.xml")
    assert listing.find("ofd:MaxSignId", NS).text == "2"
    sig = ET.fromstring(files["Doc_0/Signs/Sign_0/Signature.xml"])
    info = sig.find("ofd:SignedInfo", NS)
    assert info.find("ofd:Provider", NS).get("ProviderName") == "eseal"
    assert info.find("ofd:SignatureMethod", NS).text == "1.2.156.10197.1.501"
    assert info.find("ofd:SignatureDateTime", NS).text == "2026-11-23 16:30:00"  # 08:30 UTC in Beijing time
    assert info.find("ofd:Seal/ofd:BaseLoc", NS).text == "/Doc_0/Signs/Sign_0/Seal.esl"
    assert sig.find("ofd:SignedValue", NS).text == "/Doc_0/Signs/Sign_0/SignedValue.dat"
    stamp = info.find("ofd:StampAnnot", NS)
    pages = ET.fromstring(files["Doc_0/Document.xml"]).findall("ofd:Pages/ofd:Page", NS)
    assert stamp.get("PageRef") == pages[1].get("ID")
    assert stamp.get("Boundary") == "120 200 40 40"


def test_references_cover_every_file_but_the_signature_files_and_match_an_independent_unzip(
        sealed: bytes, tmp_path: Path) -> None:
    sig = ET.fromstring(entries(sealed)["Doc_0/Signs/Sign_0/Signature.xml"])
    refs = sig.find("ofd:SignedInfo/ofd:References", NS)
    assert refs.get("CheckMethod") == "1.2.156.10197.1.401"
    covered = {}
    for ref in refs.findall("ofd:Reference", NS):
        covered[ref.get("FileRef")] = base64.b64decode(ref.find("ofd:CheckValue", NS).text)
    expected = {"/" + n for n in entries(sealed)} - {"/Doc_0/Signs/Signatures.xml", "/Doc_0/Signs/Sign_0/Signature.xml",
                                                      "/Doc_0/Signs/Sign_0/SignedValue.dat"}
    assert set(covered) == expected
    assert "/Doc_0/Signs/Sign_0/Seal.esl" in covered and "/OFD.xml" in covered
    for loc, digest in covered.items():
        assert sm3(unzip_read(sealed, loc[1:], tmp_path)) == digest, loc


def test_signed_value_is_an_ses_signature_over_signature_xml(sealed: bytes, seal_der: bytes, tmp_path: Path) -> None:
    signature_xml = unzip_read(sealed, "Doc_0/Signs/Sign_0/Signature.xml", tmp_path)
    value = ses.SES_Signature.load(unzip_read(sealed, "Doc_0/Signs/Sign_0/SignedValue.dat", tmp_path))
    tbs = value["toSign"]
    assert tbs["dataHash"].native == sm3(signature_xml)
    assert tbs["propertyInfo"].native == "/Doc_0/Signs/Sign_0/Signature.xml"
    assert tbs["eseal"].dump() == seal_der
    assert KEY.public_key.verify(value["signature"].native, tbs.dump())
    ((path, xml, signed_value),) = signed_parts(sealed)
    assert (path, xml) == ("Doc_0/Signs/Sign_0/Signature.xml", signature_xml)
    assert signed_value == value.dump()


def test_sealed_package_opens_in_independent_readers(sealed: bytes) -> None:
    import ofdkit
    from easyofd.ofd import OFD

    with ofdkit.open(sealed) as doc:
        assert len(doc.pages) == 2
        assert doc.text() == "第一页\n\n第二页 盖章"
    reader = OFD()
    reader.read(sealed, fmt="binary")
    pages = reader.data[0]["page_info"]
    assert [[t["text"] for t in p["text_list"]] for p in pages.values()] == [["第一页"], ["第二页 盖章"]]
    # easyofd follows OFD.xml -> Signatures.xml -> Signature.xml to place the stamp
    (stamp,) = reader.data[0]["signatures_page_id"][1]
    assert stamp["Boundary"] == "120 200 40 40"
    assert base64.b64decode(stamp["SignedValue"]) == entries(sealed)["Doc_0/Signs/Sign_0/SignedValue.dat"]


def test_facts_of_a_fresh_seal(sealed: bytes) -> None:
    (fact,) = verify_package(sealed)
    assert fact.references_ok and fact.signature.type == "Seal"
    assert fact.seal is not None and fact.signed_value is not None
    assert fact.unreferenced == () and fact.unreferenced_shown == ()
    ((annot, page_index),) = fact.stamp_pages
    assert page_index == 1 and annot.boundary == (120, 200, 40, 40)


def test_countersigning_keeps_the_first_signature(sealed: bytes, seal_der: bytes, tmp_path: Path) -> None:
    twice = seal_ofd(sealed, page_index=0, boundary_mm=(10, 10, 30, 30), seal_der=seal_der,
                     make_signed_value=ses_signer(seal_der), now=NOW)
    before, after = entries(sealed), entries(twice)
    changed = {n for n in before if before[n] != after[n]}
    assert changed == {"Doc_0/Signs/Signatures.xml"}
    listing = ET.fromstring(after["Doc_0/Signs/Signatures.xml"])
    assert [(s.get("ID"), s.get("BaseLoc")) for s in listing.findall("ofd:Signature", NS)] == [
        ("1", "/Doc_0/Signs/Sign_0/Signature.xml"), ("3", "/Doc_0/Signs/Sign_1/Signature.xml")]
    assert listing.find("ofd:MaxSignId", NS).text == "4"
    first, second = verify_package(twice)
    assert first.references_ok and second.references_ok
    assert first.unreferenced == () and second.unreferenced == ()
    # the second signature protects the first one's files
    assert {"Doc_0/Signs/Sign_0/Signature.xml", "Doc_0/Signs/Sign_0/SignedValue.dat"} <= {r.path for r in second.references}
    # first signature's SignedValue still binds its unchanged Signature.xml
    value = ses.SES_Signature.load(unzip_read(twice, "Doc_0/Signs/Sign_0/SignedValue.dat", tmp_path))
    assert value["toSign"]["dataHash"].native == sm3(unzip_read(twice, "Doc_0/Signs/Sign_0/Signature.xml", tmp_path))


def test_countersigning_an_ofdrw_sealed_document(shared_vectors: Path, seal_der: bytes) -> None:
    original = (shared_vectors / "ofd" / "SESV4SignDoc.ofd").read_bytes()
    twice = seal_ofd(original, page_index=0, boundary_mm=(100, 100, 40, 40), seal_der=seal_der,
                     make_signed_value=ses_signer(seal_der), now=NOW)
    ofdrw, ours = verify_package(twice)
    assert ofdrw.signature.provider.name == "ofdrw-sign" and ofdrw.references_ok
    assert ours.references_ok and ours.signature.path == "Doc_0/Signs/Sign_1/Signature.xml"
    listing = ET.fromstring(entries(twice)["Doc_0/Signs/Signatures.xml"])
    assert [s.get("ID") for s in listing.findall("ofd:Signature", NS)] == ["1", "3"]  # ofdrw's MaxSignId was 2


@pytest.mark.parametrize("listed_id", ["²", "1" * 5000, "٣", "9" * 19],
                         ids=["superscript", "5000-digits", "arabic-indic-3", "19-digits"])
def test_a_listed_signature_id_not_of_ascii_digits_is_ignored(sealed: bytes, seal_der: bytes, listed_id: str) -> None:
    """str.isdigit() takes "²", int() refuses it and any ID of more than 4300 digits: sealing
    such an OFD raised ValueError, which no layer maps to a problem. An ID (ST_ID) is ASCII
    digits: "٣" (ARABIC-INDIC DIGIT THREE), which int() reads as 3, is no more an ID than "²";
    nor is a number past a Java long (ofdrw's ST_ID). The ID is skipped, as a MaxSignId int()
    cannot read already was; the next ID follows MaxSignId (2)."""
    files = entries(sealed)
    files["Doc_0/Signs/Signatures.xml"] = files["Doc_0/Signs/Signatures.xml"].replace(
        b'ID="1"', f'ID="{listed_id}"'.encode())
    twice = seal_ofd(rezip(files), page_index=0, boundary_mm=(10, 10, 30, 30), seal_der=seal_der,
                     make_signed_value=ses_signer(seal_der), now=NOW)
    listing = ET.fromstring(entries(twice)["Doc_0/Signs/Signatures.xml"])
    assert [s.get("ID") for s in listing.findall("ofd:Signature", NS)] == [listed_id, "3"]
    assert listing.find("ofd:MaxSignId", NS).text == "4"


@pytest.mark.parametrize("max_sign_id", ["-7", "-1", "+1", "٣"])
def test_a_max_sign_id_that_is_not_an_id_counts_as_0(sealed: bytes, seal_der: bytes, max_sign_id: str) -> None:
    """int() read MaxSignId "-7" as -7: over a list without signatures, sealing wrote the ID
    "-6" (and "0" for "-1"), which no ST_ID is (GB/T 33190: an unsigned integer, 0 invalid).
    MaxSignId is read as the listed IDs are; one that is no ID counts as 0, so the next is 1."""
    files = entries(sealed)
    listing = files["Doc_0/Signs/Signatures.xml"].decode()
    listing = re.sub(r"<ofd:Signature [^>]*/>", "", listing)
    files["Doc_0/Signs/Signatures.xml"] = re.sub(r"<ofd:MaxSignId>\d+<", f"<ofd:MaxSignId>{max_sign_id}<",
                                                 listing).encode()
    again = seal_ofd(rezip(files), page_index=0, boundary_mm=(10, 10, 30, 30), seal_der=seal_der,
                     make_signed_value=ses_signer(seal_der), now=NOW)
    listing = ET.fromstring(entries(again)["Doc_0/Signs/Signatures.xml"])
    assert [s.get("ID") for s in listing.findall("ofd:Signature", NS)] == ["1"]
    assert listing.find("ofd:MaxSignId", NS).text == "2"


def test_one_byte_changed_in_page_content_is_a_mismatch(sealed: bytes) -> None:
    files = entries(sealed)
    page = "Doc_0/Pages/Page_1/Content.xml"
    files[page] = files[page].replace("盖章".encode(), "盖印".encode())
    (fact,) = verify_package(rezip(files))
    bad = [r for r in fact.references if r.status is not RefStatus.OK]
    assert [(r.path, r.status) for r in bad] == [(page, RefStatus.MISMATCH)]
    assert bad[0].actual == sm3(files[page])
    assert not fact.references_ok


def test_removed_reference_file_is_missing(sealed: bytes) -> None:
    files = entries(sealed)
    del files["Doc_0/Res/image_0.png"]
    (fact,) = verify_package(rezip(files))
    bad = [(r.path, r.status) for r in fact.references if r.status is not RefStatus.OK]
    assert bad == [("Doc_0/Res/image_0.png", RefStatus.MISSING)]
    assert fact.missing_shown == ("Doc_0/Res/image_0.png",)


def test_missing_signed_value(sealed: bytes) -> None:
    files = entries(sealed)
    del files["Doc_0/Signs/Sign_0/SignedValue.dat"]
    (fact,) = verify_package(rezip(files))
    assert fact.signed_value is None and fact.references_ok


def test_added_unreferenced_file_that_a_page_draws_is_reported(seal_der: bytes) -> None:
    # The document names an image that is not there when it is sealed; adding it later changes
    # what page 1 shows without touching any referenced file.
    doc = entries(build_ofd([Page([Text(10, 10, "正文", size=5), Image(50, 50, 20, 20, png())])]))
    doc["Doc_0/DocumentRes.xml"] = doc["Doc_0/DocumentRes.xml"].replace(
        b"</ofd:MultiMedias>", b'<ofd:MultiMedia ID="90" Type="Image" Format="PNG"><ofd:MediaFile>late.png'
                               b"</ofd:MediaFile></ofd:MultiMedia></ofd:MultiMedias>")
    sealed = seal_ofd(rezip(doc), page_index=0, boundary_mm=(0, 0, 40, 40), seal_der=seal_der,
                      make_signed_value=lambda xml: b"value", now=NOW)
    (fact,) = verify_package(sealed)
    assert fact.references_ok and fact.unreferenced_shown == () and fact.missing_shown == ("Doc_0/Res/late.png",)
    files = entries(sealed)
    files["Doc_0/Res/late.png"] = png((0, 200, 0))
    files["Doc_0/Res/notes.txt"] = b"not drawn by any page"
    (fact,) = verify_package(rezip(files))
    assert fact.references_ok
    assert set(fact.unreferenced) == {"Doc_0/Res/late.png", "Doc_0/Res/notes.txt"}
    assert fact.unreferenced_shown == ("Doc_0/Res/late.png",)


def test_sign_type_signature_has_no_seal_file(plain: bytes) -> None:
    cms = b"\x30\x03\x02\x01\x01"
    signed = seal_ofd(plain, page_index=0, boundary_mm=(10, 10, 20, 20), sign_type="Sign",
                      make_signed_value=lambda xml: cms, now=NOW)
    files = entries(signed)
    assert "Doc_0/Signs/Sign_0/Seal.esl" not in files
    assert files["Doc_0/Signs/Sign_0/SignedValue.dat"] == cms
    listing = ET.fromstring(files["Doc_0/Signs/Signatures.xml"])
    assert listing.find("ofd:Signature", NS).get("Type") == "Sign"
    assert ET.fromstring(files["Doc_0/Signs/Sign_0/Signature.xml"]).find(".//ofd:Seal", NS) is None
    (fact,) = verify_package(signed)
    assert fact.signature.type == "Sign" and fact.references_ok and fact.seal is None


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"page_index": 5}, "page_index 5 out of range: the document has 2 page"),
    ({"doc_index": 1}, "doc_index 1 out of range: the package has 1 document"),
    ({"boundary_mm": (0, 0, 0, 10)}, "positive size"),
    ({"sign_type": "Stamp"}, "sign_type must be 'Seal' or 'Sign'"),
    ({"seal_der": None}, "Seal-type signature needs the seal"),
])
def test_bad_sealing_requests(plain: bytes, kwargs: dict, message: str) -> None:
    args = {"page_index": 0, "boundary_mm": (0, 0, 10, 10), "seal_der": b"seal",
            "make_signed_value": lambda xml: b"v", **kwargs}
    with pytest.raises(OFDUsageError, match=message):
        seal_ofd(plain, **args)


def test_empty_signed_value_refused(plain: bytes) -> None:
    with pytest.raises(OFDUsageError, match="non-empty SignedValue.dat"):
        seal_ofd(plain, page_index=0, boundary_mm=(0, 0, 10, 10), seal_der=b"s", make_signed_value=lambda xml: b"")


def test_broken_signature_xml_is_reported_not_raised(sealed: bytes, seal_der: bytes) -> None:
    twice = seal_ofd(sealed, page_index=0, boundary_mm=(10, 10, 30, 30), seal_der=seal_der,
                     make_signed_value=ses_signer(seal_der), now=NOW)
    files = entries(twice)
    files["Doc_0/Signs/Sign_0/Signature.xml"] = files["Doc_0/Signs/Sign_0/Signature.xml"].replace(
        b"</ofd:SignedInfo>", b"</ofd:SignedInf>")
    first, second = verify_package(rezip(files))
    assert first.signature.error is not None and "malformed XML" in first.signature.error
    assert first.references == () and not first.references_ok
    # the countersignature protected Sign_0/Signature.xml: it sees the change
    bad = [(r.path, r.status) for r in second.references if r.status is not RefStatus.OK]
    assert bad == [("Doc_0/Signs/Sign_0/Signature.xml", RefStatus.MISMATCH)]


def test_signature_xml_edited_but_well_formed_no_longer_matches_the_data_hash(sealed: bytes) -> None:
    files = entries(sealed)
    files["Doc_0/Signs/Sign_0/Signature.xml"] = files["Doc_0/Signs/Sign_0/Signature.xml"].replace(
        b'Boundary="120 200 40 40"', b'Boundary="120 200 40 41"')
    (fact,) = verify_package(rezip(files))
    assert fact.references_ok  # Signature.xml never references itself ...
    data_hash = ses.SES_Signature.load(fact.signed_value)["toSign"]["dataHash"].native
    assert sm3(fact.signature_xml) != data_hash  # ... the verifier's dataHash check catches it
    assert fact.stamp_pages[0][0].boundary == (120, 200, 40, 41)


def test_signature_dropped_from_the_listing_is_reported(sealed: bytes) -> None:
    from seal.ofd.signing import inspect_package

    files = entries(sealed)
    listing = files["Doc_0/Signs/Signatures.xml"]
    start = listing.index(b"<ofd:Signature ")
    files["Doc_0/Signs/Signatures.xml"] = listing[:start] + listing[listing.index(b"/>", start) + 2:]
    facts = inspect_package(rezip(files))
    assert facts.signatures == ()
    assert facts.unlisted_signature_files == ("Doc_0/Signs/Sign_0/Signature.xml",)
    assert facts.page_counts == (2,)


def test_check_method_sm3_with_z_a(sealed: bytes) -> None:
    """CheckMethod 1.2.156.10197.1.401.2: CheckValue = SM3(Z_A || file), recomputed here with hashlib."""
    z = KEY.public_key.z()
    files = entries(sealed)
    root = ET.fromstring(files["Doc_0/Signs/Sign_0/Signature.xml"])
    refs = root.find("ofd:SignedInfo/ofd:References", NS)
    refs.set("CheckMethod", "1.2.156.10197.1.401.2")
    for ref in refs.findall("ofd:Reference", NS):
        ref.find("ofd:CheckValue", NS).text = base64.b64encode(sm3(z + files[ref.get("FileRef")[1:]])).decode()
    ET.register_namespace("ofd", NS["ofd"])
    files["Doc_0/Signs/Sign_0/Signature.xml"] = ET.tostring(root, encoding="utf-8")
    package = rezip(files)
    (with_key,) = verify_package(package, z_a=lambda sig, value: z if value == files["Doc_0/Signs/Sign_0/SignedValue.dat"] else None)
    assert with_key.references_ok
    assert "References CheckMethod '1.2.156.10197.1.401.2'" in with_key.quirks
    (without,) = verify_package(package)
    assert {r.status for r in without.references} == {RefStatus.UNSUPPORTED}
    assert "needs the signer's Z_A" in without.references[0].note
    (wrong,) = verify_package(package, z_a=lambda sig, value: bytes(32))
    assert {r.status for r in wrong.references} == {RefStatus.MISMATCH}


def test_signvalue_dat_quirk(sealed: bytes) -> None:
    files = entries(sealed)
    files["Doc_0/Signs/Sign_0/SignValue.dat"] = files.pop("Doc_0/Signs/Sign_0/SignedValue.dat")
    (fact,) = verify_package(rezip(files))
    assert fact.signed_value == files["Doc_0/Signs/Sign_0/SignValue.dat"]
    assert fact.quirks == ("signed value file named SignValue.dat",)
    assert fact.unreferenced == ()


def test_unknown_check_method_is_unsupported(sealed: bytes) -> None:
    files = entries(sealed)
    files["Doc_0/Signs/Sign_0/Signature.xml"] = files["Doc_0/Signs/Sign_0/Signature.xml"].replace(
        b'CheckMethod="1.2.156.10197.1.401"', b'CheckMethod="1.2.3.4"')
    (fact,) = verify_package(rezip(files))
    assert {r.status for r in fact.references} == {RefStatus.UNSUPPORTED}
    assert fact.references[0].note == "unknown CheckMethod '1.2.3.4'"


@pytest.mark.parametrize(("method", "algorithm", "status"), [
    ("MD5", "md5", RefStatus.WEAK_DIGEST), ("1.3.14.3.2.26", "sha1", RefStatus.WEAK_DIGEST),
    ("2.16.840.1.101.3.4.2.1", "sha256", RefStatus.OK)])
def test_foreign_check_methods(sealed: bytes, method: str, algorithm: str, status: RefStatus) -> None:
    files = entries(sealed)
    root = ET.fromstring(files["Doc_0/Signs/Sign_0/Signature.xml"])
    refs = root.find("ofd:SignedInfo/ofd:References", NS)
    refs.set("CheckMethod", method)
    for ref in refs.findall("ofd:Reference", NS):
        ref.find("ofd:CheckValue", NS).text = base64.b64encode(
            hashlib.new(algorithm, files[ref.get("FileRef")[1:]]).digest()).decode()
    ET.register_namespace("ofd", NS["ofd"])
    files["Doc_0/Signs/Sign_0/Signature.xml"] = ET.tostring(root, encoding="utf-8")
    (fact,) = verify_package(rezip(files))
    assert {r.status for r in fact.references} == {status}
    assert fact.references_ok is (status is RefStatus.OK)
    files["Doc_0/Pages/Page_0/Content.xml"] += b" "
    (tampered,) = verify_package(rezip(files))
    assert [r.path for r in tampered.references if r.status is RefStatus.MISMATCH] == ["Doc_0/Pages/Page_0/Content.xml"]


def test_sign_type_with_gmt0010_signed_data(plain: bytes, tmp_path: Path) -> None:
    """A "Sign" signature as ofdrw's GBT35275DSContainer makes it (GM/T 0099-2020 7.2.2): GM/T 0010
    SignedData whose content is SM3(Signature.xml), made and checked with seal/cms.py."""
    from ca.testing import make_hierarchy
    from seal import cms

    hierarchy = make_hierarchy()

    def make(signature_xml: bytes) -> bytes:
        return cms.sign_data(sm3(signature_xml), hierarchy.issuing, hierarchy.issuing_signer.sign,
                             flavour="gmt0010", detached=False)

    signed = seal_ofd(plain, page_index=0, boundary_mm=(10, 10, 20, 20), sign_type="Sign",
                      make_signed_value=make, now=NOW)
    (fact,) = verify_package(signed)
    assert fact.signature.type == "Sign" and fact.references_ok
    check = cms.verify_cms(fact.signed_value)
    assert check.ok and check.flavour == "gmt0010" and not check.detached
    signature_xml = unzip_read(signed, "Doc_0/Signs/Sign_0/Signature.xml", tmp_path)
    assert check.content == sm3(signature_xml)
    assert check.signers[0].message_digest == sm3(sm3(signature_xml))


def test_written_zip_passes_unzip_test_and_keeps_entries_as_they_were(plain: bytes, seal_der: bytes,
                                                                         tmp_path: Path) -> None:
    from seal.ofd.document import Attachment

    doc = build_ofd([Page([Text(10, 10, "附件", size=5), Image(20, 20, 10, 10, png())])],
                    DocInfo(doc_id="z"), attachments=[Attachment("许可证.json", b'{"a": 1}', "json")])
    sealed = seal_ofd(doc, page_index=0, boundary_mm=(0, 0, 10, 10), seal_der=seal_der,
                      make_signed_value=lambda xml: b"v", now=NOW)
    path = tmp_path / "sealed.ofd"
    path.write_bytes(sealed)
    if shutil.which("unzip"):
        result = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True)
        assert result.returncode == 0 and "No errors detected" in result.stdout
    with zipfile.ZipFile(path) as after, zipfile.ZipFile(io.BytesIO(doc)) as before:
        assert after.testzip() is None
        assert after.read("Doc_0/Attachs/许可证.json") == b'{"a": 1}'  # UTF-8 name flag set
        for info in before.infolist():
            if info.filename == "OFD.xml":
                continue  # gains <ofd:Signatures>
            copied = after.getinfo(info.filename)
            assert (copied.compress_type, copied.CRC, copied.compress_size) == (
                info.compress_type, info.CRC, info.compress_size), info.filename
        assert after.getinfo("Doc_0/Res/image_0.png").compress_type == zipfile.ZIP_STORED


@pytest.mark.parametrize("name", ["SESV4SignDoc.ofd", "v4signed.ofd"])
def test_countersigning_real_documents_leaves_their_files_alone(shared_vectors: Path, seal_der: bytes, name: str) -> None:
    original = (shared_vectors / "ofd" / name).read_bytes()
    twice = seal_ofd(original, page_index=0, boundary_mm=(100, 100, 40, 40), seal_der=seal_der,
                     make_signed_value=ses_signer(seal_der), now=NOW)
    before, after = entries(original), entries(twice)
    assert {n for n in before if before[n] != after[n]} == {"Doc_0/Signs/Signatures.xml"}
    assert set(after) - set(before) == {f"Doc_0/Signs/Sign_1/{f}" for f in ("Signature.xml", "Seal.esl", "SignedValue.dat")}
    theirs, ours = verify_package(twice)
    assert theirs.references_ok and ours.references_ok
    assert theirs.signature_xml == before["Doc_0/Signs/Sign_0/Signature.xml"]


def test_sealing_the_second_document_of_a_package(seal_der: bytes) -> None:
    one = entries(build_ofd([Page([Text(10, 10, "文档一", size=5)])], DocInfo(doc_id="a")))
    two = entries(build_ofd([Page([Text(10, 10, "文档二", size=5)]), Page([Text(10, 10, "第二页", size=5)])],
                            DocInfo(doc_id="b")))
    files = dict(one)
    files.update({n.replace("Doc_0/", "Doc_1/", 1): d for n, d in two.items() if n.startswith("Doc_0/")})
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"</ofd:OFD>", b"<ofd:DocBody><ofd:DocInfo><ofd:DocID>b</ofd:DocID></ofd:DocInfo>"
                       b"<ofd:DocRoot>Doc_1/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>")
    package = seal_ofd(rezip(files), doc_index=1, page_index=1, boundary_mm=(5, 5, 30, 30), seal_der=seal_der,
                       make_signed_value=lambda xml: b"value", now=NOW)
    after = entries(package)
    bodies = ET.fromstring(after["OFD.xml"]).findall("ofd:DocBody", NS)
    assert bodies[0].find("ofd:Signatures", NS) is None
    assert bodies[1].find("ofd:Signatures", NS).text == "/Doc_1/Signs/Signatures.xml"
    assert "Doc_1/Signs/Sign_0/Signature.xml" in after
    (fact,) = verify_package(package)
    assert fact.doc_index == 1 and fact.references_ok
    assert fact.stamp_pages[0][1] == 1
    # the signature protects both documents' files
    assert {"Doc_0/Document.xml", "Doc_1/Pages/Page_1/Content.xml"} <= {r.path for r in fact.references}


def test_unsigned_document_has_no_signature_facts(plain: bytes) -> None:
    from seal.ofd.signing import inspect_package

    facts = inspect_package(plain)
    assert facts.signatures == () and facts.unlisted_signature_files == () and facts.page_counts == (2,)


def test_countersigning_refused_when_it_would_break_an_earlier_signature(sealed: bytes, seal_der: bytes) -> None:
    """An earlier signature covering Signatures.xml (ofdrw's WholeProtected mode) is final."""
    files = entries(sealed)
    listing = files["Doc_0/Signs/Signatures.xml"]
    value = base64.b64encode(sm3(listing)).decode()
    files["Doc_0/Signs/Sign_0/Signature.xml"] = files["Doc_0/Signs/Sign_0/Signature.xml"].replace(
        b"</ofd:References>", f'<ofd:Reference FileRef="/Doc_0/Signs/Signatures.xml"><ofd:CheckValue>{value}'
                              f"</ofd:CheckValue></ofd:Reference></ofd:References>".encode())
    final = rezip(files)
    (fact,) = verify_package(final)
    assert fact.references_ok  # as the earlier signer left it
    with pytest.raises(OFDUsageError, match="Sign_0/Signature.xml protects Doc_0/Signs/Signatures.xml.*would break it"):
        seal_ofd(final, page_index=0, boundary_mm=(10, 10, 30, 30), seal_der=seal_der,
                 make_signed_value=lambda xml: b"v", now=NOW)


def test_sealing_an_ofd_written_by_easyofd(seal_der: bytes, tmp_path: Path, monkeypatch) -> None:
    """Packages from another producer: easyofd converts a two-page PDF (made with PyMuPDF) to OFD."""
    monkeypatch.chdir(tmp_path)  # easyofd writes its working files under ./test
    import ofdkit
    import pymupdf
    from easyofd.ofd import OFD

    pdf = pymupdf.open()
    for text in ("page one", "page two"):
        pdf.new_page().insert_text((72, 72), text)
    theirs = OFD().pdf2ofd(pdf.tobytes())
    sealed = seal_ofd(theirs, page_index=1, boundary_mm=(10, 10, 30, 30), seal_der=seal_der,
                      make_signed_value=ses_signer(seal_der), now=NOW)
    (fact,) = verify_package(sealed)
    assert fact.references_ok and fact.unreferenced == () and fact.stamp_pages[0][1] == 1
    assert {"Doc_0/Res/Image_0.jpg", "Doc_0/Res/Image_1.jpg"} <= {r.path for r in fact.references}
    for ref in fact.references:
        assert sm3(unzip_read(sealed, ref.path, tmp_path)) == ref.expected
    with ofdkit.open(sealed) as doc:
        assert len(doc.pages) == 2


def test_a_forged_later_signature_cannot_hide_a_drawn_file(seal_der: bytes) -> None:
    doc = entries(build_ofd([Page([Text(10, 10, "正文", size=5), Image(50, 50, 20, 20, png())])]))
    doc["Doc_0/DocumentRes.xml"] = doc["Doc_0/DocumentRes.xml"].replace(
        b"</ofd:MultiMedias>", b'<ofd:MultiMedia ID="90" Type="Image" Format="PNG"><ofd:MediaFile>late.png'
                               b"</ofd:MediaFile></ofd:MultiMedia></ofd:MultiMedias>")
    files = entries(seal_ofd(rezip(doc), page_index=0, boundary_mm=(0, 0, 40, 40), seal_der=seal_der,
                             make_signed_value=lambda xml: b"value", now=NOW))
    files["Doc_0/Res/late.png"] = png((0, 200, 0))
    # a listing entry whose "Signature.xml" is the added image
    files["Doc_0/Signs/Signatures.xml"] = files["Doc_0/Signs/Signatures.xml"].replace(
        b"</ofd:Signatures>", b'<ofd:Signature ID="9" BaseLoc="/Doc_0/Res/late.png"/></ofd:Signatures>')
    first, forged = verify_package(rezip(files))
    assert first.references_ok
    assert first.unreferenced_shown == ("Doc_0/Res/late.png",)
    assert forged.signature.error is not None


@pytest.mark.parametrize("part", ["Doc_0/Document.xml", "Doc_0/Pages/Page_1/Content.xml", "Doc_0/DocumentRes.xml"])
def test_part_edited_into_malformed_xml_is_a_mismatch_not_an_unreadable_package(sealed: bytes, part: str) -> None:
    from seal.ofd.signing import inspect_package

    files = entries(sealed)
    files[part] = files[part].replace(b"</ofd:", b"</ofd-", 1)
    facts = inspect_package(rezip(files))
    (fact,) = facts.signatures
    bad = [(r.path, r.status) for r in fact.references if r.status is not RefStatus.OK]
    assert bad == [(part, RefStatus.MISMATCH)]
    if part == "Doc_0/Document.xml":
        assert facts.page_counts == (0,)
        assert "Doc_0/Document.xml: malformed XML" in facts.document_errors[0]
        assert fact.stamp_pages[0][1] is None  # no page is known any more
    else:
        assert facts.document_errors == () and facts.page_counts == (2,)


def test_malformed_signatures_listing_is_reported(sealed: bytes) -> None:
    from seal.ofd.signing import inspect_package

    files = entries(sealed)
    files["Doc_0/Signs/Signatures.xml"] = b"<ofd:Signatures xmlns:ofd='http://www.ofdspec.org/2016'>"
    facts = inspect_package(rezip(files))
    assert facts.signatures == ()
    assert facts.unlisted_signature_files == ("Doc_0/Signs/Sign_0/Signature.xml",)
    assert "Doc_0/Signs/Signatures.xml: malformed XML" in facts.document_errors[0]
