"""Signed OFD files made by other implementations (ofdrw; a tax-invoice platform) read by our
package reader: structure, and every Reference CheckValue matching — cross-checked with the
system ``unzip`` and OpenSSL's SM3 through hashlib, neither of which is our code."""
from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from seal.ofd.model import parse_package
from seal.ofd.package import OFDPackage
from seal.ofd.references import RefStatus
from seal.ofd.signing import verify_package

NS = {"ofd": "http://www.ofdspec.org/2016"}


def independent_read(path: Path, entry: str) -> bytes:
    if shutil.which("unzip"):
        return subprocess.run(["unzip", "-p", str(path), entry], check=True, capture_output=True).stdout
    with zipfile.ZipFile(path) as z:
        return z.read(entry)


def independent_sm3(data: bytes) -> bytes:
    return hashlib.new("sm3", data).digest()


@pytest.fixture(params=["SESV4SignDoc.ofd", "v4signed.ofd"])
def vector(request, shared_vectors) -> Path:
    return shared_vectors / "ofd" / request.param


def test_every_reference_matches(vector: Path) -> None:
    facts = verify_package(vector.read_bytes())
    assert len(facts) == 1
    fact = facts[0]
    expected_count = {"SESV4SignDoc.ofd": 5, "v4signed.ofd": 13}[vector.name]
    assert len(fact.references) == expected_count
    assert [r.status for r in fact.references] == [RefStatus.OK] * expected_count
    assert fact.references_ok
    assert fact.signed_value_path == "Doc_0/Signs/Sign_0/SignedValue.dat"
    assert fact.signed_value == independent_read(vector, "Doc_0/Signs/Sign_0/SignedValue.dat")
    assert fact.signature_xml == independent_read(vector, "Doc_0/Signs/Sign_0/Signature.xml")
    assert fact.unreferenced == () and fact.unreferenced_shown == () and fact.missing_shown == ()


def test_references_agree_with_an_independent_unzip_and_sm3(vector: Path) -> None:
    signature = ET.fromstring(independent_read(vector, "Doc_0/Signs/Sign_0/Signature.xml"))
    refs = signature.findall(".//ofd:Reference", NS)
    assert refs
    for ref in refs:
        entry = ref.get("FileRef").lstrip("/")
        claimed = base64.b64decode(ref.find("ofd:CheckValue", NS).text)
        assert independent_sm3(independent_read(vector, entry)) == claimed, entry
    ours = {r.path: r.actual for r in verify_package(vector.read_bytes())[0].references}
    for ref in refs[:3]:
        entry = ref.get("FileRef").lstrip("/")
        assert ours[entry] == independent_sm3(independent_read(vector, entry))


def test_structure_of_the_ofdrw_sealed_document(shared_vectors: Path) -> None:
    pkg = OFDPackage((shared_vectors / "ofd" / "SESV4SignDoc.ofd").read_bytes())
    (doc,) = parse_package(pkg)
    assert doc.doc_root == "Doc_0/Document.xml"
    assert doc.signatures_path == "Doc_0/Signs/Signatures.xml"  # declared absolute: /Doc_0/Signs/...
    assert doc.max_sign_id == 2
    (sig,) = doc.signatures
    assert (sig.id, sig.type) == ("1", "Seal")
    assert sig.provider.name == "ofdrw-sign" and sig.provider.company == "ofdrw"
    assert sig.signature_method == "1.2.156.10197.1.501"
    assert sig.check_method == "SM3"
    assert sig.seal_path == "Doc_0/Signs/Sign_0/Seal.esl"
    (annot,) = sig.stamp_annots
    assert (annot.id, annot.page_ref, annot.boundary) == ("2", "1", (50.0, 50.0, 40.0, 40.0))


def test_structure_of_the_invoice(shared_vectors: Path) -> None:
    path = shared_vectors / "ofd" / "v4signed.ofd"
    (doc,) = parse_package(OFDPackage(path.read_bytes()))
    # OFD.xml names Signatures.xml relatively ("Doc_0/Signs/Signatures.xml"), resolved the same way.
    assert doc.signatures_path == "Doc_0/Signs/Signatures.xml"
    (sig,) = doc.signatures
    assert sig.type == "Seal"  # no Type attribute: GB/T 33190 default
    assert sig.check_method == "1.2.156.10197.1.401"
    assert sig.seal_path is None  # the seal travels inside SES_Signature
    assert sig.signature_datetime == "20201010151120"
    # Document.xml names "TPLS/Tpl_0/Content.xml"; the entry is "Doc_0/Tpls/..." — found ignoring case.
    assert "Doc_0/Tpls/Tpl_0/Content.xml" in doc.shown
    assert "Doc_0/Res/qr.png" in doc.shown
    assert {"Doc_0/Annots/Page_0/Annotation.xml", "Doc_0/PublicRes.xml"} <= doc.shown
    assert "Doc_0/Attachs/original_invoice.xml" not in doc.shown
    assert verify_package(path.read_bytes())[0].stamp_pages[0][1] == 0
