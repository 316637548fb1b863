"""The OFD reader's cache of entries across packages (seal/ofd/package.py _PARTS): a part is
served from it only when its stored bytes, method, CRC-32 and size are those of a part read
before; anything else is read, inflated and checked as if nothing were cached.

Packages are made and tampered with the standard library's zipfile and byte patches.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import struct
import threading
import zipfile
import zlib

import pytest

from seal.ofd import package as P
from seal.ofd.document import DocInfo, Page, Text, build_ofd
from seal.ofd.errors import OFDFormatError, OFDXMLError
from seal.ofd.facts import verify_package
from seal.ofd.model import parse_signature
from seal.ofd.package import Limits, OFDPackage
from seal.ofd.references import RefStatus, check_references
from seal.ofd.signing import seal_ofd
from tests.helpers.zip_records import entries, patch_central, rezip

SEAL = b"\x30\x03\x02\x01\x04" + bytes(range(256)) * 4      # opaque bytes: the facts never parse the seal
DOC = "Doc_0/Document.xml"
PAGE = "Doc_0/Pages/Page_0/Content.xml"
SEAL_ENTRY = "Doc_0/Signs/Sign_0/Seal.esl"


def sm3(data: bytes) -> bytes:
    return hashlib.new("sm3", data).digest()  # OpenSSL's SM3, not gm.sm3


def base64_of(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sealed(doc_id: str, text: str = "正文") -> bytes:
    plain = build_ofd([Page([Text(20, 20, text, size=6)])], DocInfo(doc_id=doc_id, creation_date=dt.date(2026, 11, 23)))
    return seal_ofd(plain, page_index=0, boundary_mm=(120, 200, 40, 40), seal_der=SEAL,
                    make_signed_value=lambda xml: b"\x30\x00" + sm3(xml),
                    now=dt.datetime(2026, 11, 23, 8, 30, tzinfo=dt.timezone.utc))


def local_span(data: bytes, name: str) -> tuple[int, int, int]:
    """(local header offset, data start, data end) of an entry, from its local header."""
    for info in zipfile.ZipFile(io.BytesIO(data)).infolist():
        if info.filename == name:
            off = info.header_offset
            name_len, extra_len = struct.unpack_from("<HH", data, off + 26)
            start = off + 30 + name_len + extra_len
            return off, start, start + info.compress_size
    raise AssertionError(name)


def set_crc(data: bytes, name: str, crc: int) -> bytes:
    """Write ``crc`` for ``name`` into its local header and its central-directory record."""
    buf = bytearray(data)
    off, _, _ = local_span(data, name)
    struct.pack_into("<I", buf, off + 14, crc)
    return patch_central(bytes(buf), name, crc=crc)


@pytest.fixture(autouse=True)
def small_cache(monkeypatch):
    """A cache of its own per test (entries and budget small enough to overflow)."""
    monkeypatch.setattr(P, "_PARTS", P._Parts(64, 256 * 1024))
    return P._PARTS


def test_two_packages_sharing_parts_both_verify_and_the_second_reads_them_from_the_cache() -> None:
    first, second = sealed("d1"), sealed("d2")
    assert entries(first)["OFD.xml"] != entries(second)["OFD.xml"]
    (a,) = verify_package(first)
    pkg = OFDPackage(second)
    (b,) = verify_package(pkg)
    assert a.references_ok and b.references_ok
    assert [r.status for r in b.references] == [RefStatus.OK] * len(b.references)
    # Shared parts came from the cache (one object for both packages), OFD.xml did not.
    again = OFDPackage(first)
    for name in (DOC, SEAL_ENTRY, PAGE):
        assert again.read(name) is pkg.read(name)
    assert again.read("OFD.xml") is not pkg.read("OFD.xml")
    assert again.read("OFD.xml") != pkg.read("OFD.xml")
    assert b.seal == SEAL and pkg.sm3(SEAL_ENTRY) == sm3(SEAL)


def test_same_name_other_bytes_is_read_from_the_package_not_the_cache() -> None:
    good = sealed("d1")
    verify_package(good)                                   # caches every part of the good package
    files = entries(good)
    files[PAGE] = files[PAGE].replace("正文".encode(), "伪文".encode())
    (fact,) = verify_package(rezip(files))
    bad = [(r.path, r.status) for r in fact.references if r.status is not RefStatus.OK]
    assert bad == [(PAGE, RefStatus.MISMATCH)]
    assert next(r.actual for r in fact.references if r.path == PAGE) == sm3(files[PAGE])


def test_wrong_crc_in_the_directory_still_fails_when_the_content_was_cached() -> None:
    good = sealed("d1")
    assert OFDPackage(good).read(DOC) == entries(good)[DOC]     # cached from the good package
    broken = OFDPackage(set_crc(good, DOC, zlib.crc32(entries(good)[DOC]) ^ 1))
    with pytest.raises(OFDFormatError, match="CRC-32 mismatch"):
        broken.read(DOC)


def test_same_crc_and_sizes_but_other_stored_bytes_is_not_a_hit() -> None:
    """The lookup key (CRC, sizes, method) matches; the stored bytes differ by one byte, and
    the directory's CRC then no longer matches the content: refused as it always was."""
    files = entries(sealed("d1"))
    good = rezip(files, stored={SEAL_ENTRY})
    assert OFDPackage(good).read(SEAL_ENTRY) == SEAL
    _, start, end = local_span(good, SEAL_ENTRY)
    buf = bytearray(good)
    buf[start + 100] ^= 0x01
    pkg = OFDPackage(bytes(buf))
    with pytest.raises(OFDFormatError, match="CRC-32 mismatch"):
        pkg.read(SEAL_ENTRY)
    # Deflated bytes changed the same way: not served either (corrupt or CRC mismatch).
    good = rezip(files)
    assert OFDPackage(good).read(DOC) == files[DOC]
    _, start, end = local_span(good, DOC)
    buf = bytearray(good)
    buf[start + (end - start) // 2] ^= 0x10
    with pytest.raises(OFDFormatError):
        OFDPackage(bytes(buf)).read(DOC)


def test_stored_and_deflated_copies_of_one_content_are_read_alike() -> None:
    files = entries(sealed("d1"))
    deflated, stored = rezip(files), rezip(files, stored=set(files))
    for _ in range(2):
        for package in (deflated, stored, deflated):
            (fact,) = verify_package(package)
            assert fact.references_ok
            assert OFDPackage(package).read(DOC) == files[DOC]


def test_stricter_limits_are_not_bypassed_by_the_cache() -> None:
    """A package whose limits could refuse an entry (its ratio floor below the entry's size)
    reads it the long way, never from the cache: its limits apply exactly as before."""
    big = b"<ofd:Res xmlns:ofd='http://www.ofdspec.org/2016'>" + b" " * 20_000 + b"</ofd:Res>"
    data = rezip({"OFD.xml": b"<a/>", "Doc_0/Big.xml": big})
    assert OFDPackage(data).read("Doc_0/Big.xml") == big               # cached under the defaults
    with pytest.raises(OFDFormatError, match="ratio"):
        OFDPackage(data, limits=Limits(ratio_floor=1024, max_ratio=2.0))
    low_floor = OFDPackage(data, limits=Limits(ratio_floor=100, max_ratio=1000.0))
    assert low_floor.read("Doc_0/Big.xml") == big and "Doc_0/Big.xml" not in low_floor._parts
    again = OFDPackage(data)
    assert again.read("Doc_0/Big.xml") == big and "Doc_0/Big.xml" in again._parts     # the defaults: a hit


def test_the_cache_stays_within_its_bounds(small_cache) -> None:
    for i in range(300):
        OFDPackage(rezip({"OFD.xml": b"<a/>", f"Doc_0/Res/{i}.xml": bytes([i % 251]) * (500 + i * 37)})).read_all()
        assert len(small_cache.map) <= small_cache.entries and small_cache.held <= small_cache.budget
    # Outsized entries are never kept.
    huge = bytes(range(256)) * 300        # 76,800 bytes: above the per-entry size kept
    pkg = OFDPackage(rezip({"Doc_0/huge.bin": huge}))
    assert pkg.read("Doc_0/huge.bin") == huge and "Doc_0/huge.bin" not in pkg._parts
    small_cache.clear()
    assert not small_cache.map and small_cache.held == 0


def test_threads_reading_shared_parts_agree() -> None:
    packages = [sealed(f"d{i}") for i in range(4)]
    expected = [entries(p) for p in packages]
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(40):
                k = (n + i) % len(packages)
                pkg = OFDPackage(packages[k])
                assert pkg.read_all() == expected[k]
                assert all(pkg.sm3(name) == sm3(data) for name, data in expected[k].items())
                (fact,) = verify_package(pkg)
                assert fact.references_ok
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


SIG_NS = "http://www.ofdspec.org/2016"


def test_signature_xml_walk_keeps_its_leniency() -> None:
    """Comments, processing instructions, other prefixes, no namespace and repeated single
    elements read as before: the first of each, every Reference and StampAnnot in order."""
    sig = (f'<?xml version="1.0"?><s:Signature xmlns:s="{SIG_NS}"><!-- c --><?pi x?>'
           f'<s:SignedInfo><!-- c --><Provider ProviderName="p" Company="c"/><s:Provider ProviderName="second"/>'
           '<SignatureMethod> 1.2.156.10197.1.501 </SignatureMethod>'
           '<s:StampAnnot ID="a" PageRef="1" Boundary="1 2 3 4"/>'
           '<s:References CheckMethod="1.2.156.10197.1.401"><!-- c -->'
           '<s:Reference FileRef="/Doc_0/Document.xml"><?pi?><s:CheckValue> AAAA </s:CheckValue>'
           '<s:CheckValue>BBBB</s:CheckValue></s:Reference>'
           '<Reference FileRef="../../../../evil"><CheckValue>not base64!</CheckValue></Reference>'
           '<s:Reference FileRef="Pages/p.xml"/></s:References>'
           '<s:References CheckMethod="ignored"/>'
           '<s:StampAnnot ID="b" Boundary="1 2 x 4" Clip="0 0 1 1"/>'
           '<s:Seal><s:BaseLoc>Seal.esl</s:BaseLoc></s:Seal></s:SignedInfo>'
           '<s:SignedInfo/><SignedValue> SignedValue.dat </SignedValue></s:Signature>').encode()
    pkg = OFDPackage(rezip({"OFD.xml": b"<a/>", "Doc_0/Signs/Sign_0/Signature.xml": sig,
                            "Doc_0/Signs/Sign_0/SignValue.dat": b"v"}))
    info = parse_signature(pkg, "Doc_0/Signs/Sign_0/Signature.xml", sig_id="1", sig_type="Seal")
    assert info.provider is not None and (info.provider.name, info.provider.company) == ("p", "c")
    assert info.signature_method == "1.2.156.10197.1.501" and info.check_method == "1.2.156.10197.1.401"
    assert [(r.file_ref, r.path, r.check_value, r.check_value_text) for r in info.references] == [
        ("/Doc_0/Document.xml", "Doc_0/Document.xml", b"\x00\x00\x00", "AAAA"),
        ("../../../../evil", None, None, "not base64!"),
        ("Pages/p.xml", "Doc_0/Signs/Sign_0/Pages/p.xml", b"", ""),
    ]
    assert [(a.id, a.page_ref, a.boundary, a.clip) for a in info.stamp_annots] == [
        ("a", "1", (1.0, 2.0, 3.0, 4.0), None), ("b", None, None, (0.0, 0.0, 1.0, 1.0))]
    assert info.seal_path == "Doc_0/Signs/Sign_0/Seal.esl"
    assert info.signed_value_path == "Doc_0/Signs/Sign_0/SignValue.dat"
    assert info.quirks == ("signed value file named SignValue.dat",)


def test_signature_xml_without_signed_info_or_with_another_root_is_refused() -> None:
    for body, message in [(f'<Signature xmlns="{SIG_NS}"><!-- --><SignedValue>v</SignedValue></Signature>',
                           "no SignedInfo"),
                          (f'<Signatures xmlns="{SIG_NS}"/>', "not <ofd:Signature>")]:
        pkg = OFDPackage(rezip({"Sign_0/Signature.xml": body.encode()}))
        with pytest.raises(OFDFormatError, match=message):
            parse_signature(pkg, "Sign_0/Signature.xml", sig_id=None, sig_type="Seal")
    pkg = OFDPackage(rezip({"Sign_0/Signature.xml": b"<Signature><unclosed></Signature>"}))
    with pytest.raises(OFDXMLError):
        parse_signature(pkg, "Sign_0/Signature.xml", sig_id=None, sig_type="Seal")


def signature_xml(refs: list[tuple[str, str]]) -> bytes:
    body = "".join(f'<ofd:Reference FileRef="{f}"><ofd:CheckValue>{v}</ofd:CheckValue></ofd:Reference>'
                   for f, v in refs)
    return (f'<ofd:Signature xmlns:ofd="{SIG_NS}"><ofd:SignedInfo><ofd:References CheckMethod="1.2.156.10197.1.401">'
            f'{body}</ofd:References></ofd:SignedInfo><ofd:SignedValue>SignedValue.dat</ofd:SignedValue>'
            '</ofd:Signature>').encode()


def test_references_are_resolved_against_their_own_signature_file() -> None:
    """One FileRef and CheckValue text in two Signature.xml files: each resolves from its own
    location, and another CheckValue text gives another value."""
    one, two = base64_of(b"\x01" * 32), base64_of(b"\x02" * 32)
    files = {"Doc_0/Signs/Sign_0/Signature.xml": signature_xml([("Pages/p.xml", one)]),
             "Doc_1/Signs/Sign_0/Signature.xml": signature_xml([("Pages/p.xml", one), ("Pages/p.xml", two)])}
    pkg = OFDPackage(rezip(files))
    first = parse_signature(pkg, "Doc_0/Signs/Sign_0/Signature.xml", sig_id=None, sig_type="Seal")
    second = parse_signature(pkg, "Doc_1/Signs/Sign_0/Signature.xml", sig_id=None, sig_type="Seal")
    assert [r.path for r in first.references] == ["Doc_0/Signs/Sign_0/Pages/p.xml"]
    assert [(r.path, r.check_value) for r in second.references] == [
        ("Doc_1/Signs/Sign_0/Pages/p.xml", b"\x01" * 32), ("Doc_1/Signs/Sign_0/Pages/p.xml", b"\x02" * 32)]


def test_matched_results_keep_their_notes_and_mismatches() -> None:
    """A reference that matched before (same FileRef, entry and digest) reads the same; one
    matched only ignoring letter case keeps its note; changed content is a mismatch."""
    page = b"<ofd:Page xmlns:ofd='http://www.ofdspec.org/2016'/>"
    value = base64_of(sm3(page))
    exact = rezip({"Doc_0/Page.xml": page, "S/Signature.xml": signature_xml([("/Doc_0/Page.xml", value)])})
    folded = rezip({"Doc_0/Page.xml": page, "S/Signature.xml": signature_xml([("/doc_0/page.xml", value)])})
    changed = rezip({"Doc_0/Page.xml": page + b" ", "S/Signature.xml": signature_xml([("/Doc_0/Page.xml", value)])})
    for _ in range(2):
        results = []
        for package in (exact, folded, changed):
            pkg = OFDPackage(package)
            sig = parse_signature(pkg, "S/Signature.xml", sig_id=None, sig_type="Seal")
            (result,) = check_references(pkg, sig)
            results.append((result.path, result.status, result.note, result.actual))
        assert results == [
            ("Doc_0/Page.xml", RefStatus.OK, None, sm3(page)),
            ("Doc_0/Page.xml", RefStatus.OK, "matched 'Doc_0/Page.xml' ignoring letter case", sm3(page)),
            ("Doc_0/Page.xml", RefStatus.MISMATCH, None, sm3(page + b" ")),
        ]


def test_reference_caches_stay_bounded(monkeypatch) -> None:
    from seal.ofd import model, references
    monkeypatch.setattr(model, "_REFERENCE_LIMIT", 16)
    monkeypatch.setattr(references, "_MATCHED_LIMIT", 16)
    for i in range(60):
        page = f"<p n='{i}'/>".encode()
        pkg = OFDPackage(rezip({f"Doc_0/P{i}.xml": page,
                                "S/Signature.xml": signature_xml([(f"/Doc_0/P{i}.xml", base64_of(sm3(page)))])}))
        (result,) = check_references(pkg, parse_signature(pkg, "S/Signature.xml", sig_id=None, sig_type="Seal"))
        assert result.status is RefStatus.OK
        assert len(model._REFERENCES) <= 16 and len(references._MATCHED) <= 16


def test_clear_read_caches_forgets_everything_kept_across_packages(small_cache) -> None:
    from seal.ofd import model, references
    from seal.ofd.facts import clear_read_caches
    (fact,) = verify_package(sealed("d1"))
    assert fact.references_ok and small_cache.map and model._REFERENCES and references._MATCHED
    clear_read_caches()
    assert not small_cache.map and not model._OUTLINES and not model._REFERENCES and not references._MATCHED
    (again,) = verify_package(sealed("d1"))
    assert again.references == fact.references


def test_a_name_with_new_content_in_every_package_stops_filling_the_cache(small_cache) -> None:
    """A license's own parts (its data, its signature) are new in every package: after the
    first few, only every _ADMIT_EVERY-th is kept, while a part repeated under another name
    stays cached throughout."""
    own = "Doc_0/Attachs/license.json"
    packages = [rezip({"OFD.xml": b"<a/>", own: f'{{"license_id": "{i:06d}"}}'.encode() * 3}) for i in range(64)]
    shared = None
    for i, package in enumerate(packages):
        pkg = OFDPackage(package)
        assert pkg.read(own) == entries(package)[own]
        if i:
            assert pkg.read("OFD.xml") is shared                   # the repeated part: a hit each time
        shared = pkg.read("OFD.xml")
    kept = sum(1 for part in small_cache.map.values() if part.data.startswith(b'{"license_id"'))
    assert kept == P._ADMIT_FIRST + (len(packages) - 1) // P._ADMIT_EVERY
    assert small_cache.map and len(small_cache.map) == kept + 1


def test_a_name_whose_parts_start_to_repeat_is_cached_again(small_cache) -> None:
    own = "Doc_0/Pages/Page_0/Content.xml"
    for i in range(40):
        OFDPackage(rezip({own: f"<p n='{i}'/>".encode() * 20})).read(own)
    repeated = rezip({own: b"<p n='same'/>" * 20})
    reads = [OFDPackage(repeated).read(own) for _ in range(P._ADMIT_EVERY + 2)]
    assert all(r == entries(repeated)[own] for r in reads)
    assert reads[-1] is reads[-2]                # kept within _ADMIT_EVERY packages, then met
    # Met again, the name's parts are kept at once once more.
    fresh = rezip({own: b"<p n='fresh'/>" * 20})
    first = OFDPackage(fresh).read(own)
    assert OFDPackage(fresh).read(own) is first


def test_names_judged_once_still_get_every_other_check() -> None:
    """A list of entry names met before skips only the name checks: an encrypted entry, an
    unknown method or an outsized one under those names is refused as it always was."""
    from seal.ofd.errors import OFDLimitError

    files = entries(sealed("d1"))
    good = rezip(files)
    assert tuple(OFDPackage(good).names) == tuple(files)
    P._LAYOUTS.clear()
    OFDPackage(good)
    assert tuple(files) in P._LAYOUTS                       # judged good, kept
    with pytest.raises(OFDFormatError, match=f"entry '{DOC}' is encrypted"):
        OFDPackage(patch_central(good, DOC, flags=1))
    with pytest.raises(OFDFormatError, match="compression method 12"):
        OFDPackage(patch_central(good, DOC, method=12))
    with pytest.raises(OFDLimitError, match="per-entry limit"):
        OFDPackage(good, limits=Limits(max_entry_size=100))
    pkg = OFDPackage(good)
    assert pkg.find(DOC.lower()) == DOC and pkg.find("nothing") is None


def test_names_that_fail_are_never_remembered() -> None:
    from seal.ofd.errors import OFDPathError

    P._LAYOUTS.clear()
    same_but_case = rezip({"OFD.xml": b"<a/>", "Doc_0/A.xml": b"1", "Doc_0/a.xml": b"2"})
    traversal = rezip({"OFD.xml": b"<a/>", "Doc_0/../evil.xml": b"1"})
    for _ in range(2):
        with pytest.raises(OFDPathError, match="differ only by case"):
            OFDPackage(same_but_case)
        with pytest.raises(OFDPathError, match="path traversal"):
            OFDPackage(traversal)
    assert not P._LAYOUTS
    # A directory entry is left out the same way whether its list was judged before or not.
    with_dir = rezip({"OFD.xml": b"<a/>", "Doc_0/": b"", "Doc_0/A.xml": b"1"})
    assert OFDPackage(with_dir).names == OFDPackage(with_dir).names == ["OFD.xml", "Doc_0/A.xml"]
