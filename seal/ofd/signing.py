"""OFD sealing (GB/T 33190 §18, GB/T 38540 §7) and the per-signature facts a verifier needs.

Layout written by :func:`seal_ofd` (as ofdrw and the vectors in ../shared/vectors do)::

    OFD.xml                          DocBody gets <ofd:Signatures>/Doc_N/Signs/Signatures.xml</...>
    Doc_N/Signs/Signatures.xml       <MaxSignId>, one <Signature ID Type BaseLoc> per signature
    Doc_N/Signs/Sign_K/Signature.xml SignedInfo: Provider, SignatureMethod, SignatureDateTime,
                                     References (SM3, base64), StampAnnot (page, mm), Seal
    Doc_N/Signs/Sign_K/Seal.esl      the seal (Seal-type signatures)
    Doc_N/Signs/Sign_K/SignedValue.dat  SES_Signature (Seal) or GM/T 0010 SignedData (Sign)

**Which files a signature protects.** Every file of the package as it stands when the
signature is made — including OFD.xml after the Signatures entry is registered, the new
Seal.esl, and the files of earlier signatures — except (1) every Signatures.xml listed by a
DocBody, (2) the new signature's own Signature.xml and SignedValue.dat. This is ofdrw's
rule (``OFDSigner.toBeDigestFileList``: the container walk happens before Signature.xml and
SignedValue.dat are written; Signatures.xml is skipped when signing again), and it is what
makes countersigning safe: a later signature only rewrites Signatures.xml (excluded) and
adds new files, so no file an earlier signature references changes.
"""
from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Callable
from functools import lru_cache

from lxml import etree

from gm import sm3
from gm.oids import SM3
from seal.ofd import xmlns as X
from seal.ofd.errors import OFDPageOutOfRange, OFDUsageError
from seal.ofd.facts import PackageFacts, SignatureFacts, inspect_package, signed_parts, verify_package
from seal.ofd.model import OFD_ENTRY, parse_package, parse_signatures, read_id
from seal.ofd.package import DEFAULT_LIMITS, Limits, OFDPackage, write_package
from seal.ofd.paths import absolute, folder

SM2_WITH_SM3 = "1.2.156.10197.1.501"
_BEIJING = dt.timezone(dt.timedelta(hours=8), "CST")
_SIGN_DIR = re.compile(r"^Sign_(\d+)/")


@lru_cache(maxsize=32)
def _seal_sm3(seal_der: bytes) -> bytes:
    """SM3 of a seal file: the same seal (mostly its picture) is referenced by every sealing."""
    return sm3.sm3(seal_der)


def _fmt(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _next_sign_dir(names: list[str], signs_folder: str) -> str:
    prefix = signs_folder + "/"
    used = [int(m.group(1)) for n in names if n.startswith(prefix)
            for m in [_SIGN_DIR.match(n[len(prefix):])] if m]
    return f"{signs_folder}/Sign_{max(used) + 1 if used else 0}"


def _register_signatures(ofd_xml: bytes, doc_index: int, signatures_entry: str) -> bytes:
    root = X.parse_xml(ofd_xml, name=OFD_ENTRY)
    body = list(X.children(root, "DocBody"))[doc_index]
    node = X.child(body, "Signatures")
    if node is None:
        node = etree.SubElement(body, X.q("Signatures"))
        # GB/T 33190 DocBody order: DocInfo, DocRoot, Versions, Signatures.
        anchor = X.child(body, "Versions")
        if anchor is None:
            anchor = X.child(body, "DocRoot")
        if anchor is not None:
            anchor.addnext(node)
    node.text = absolute(signatures_entry)
    return X.serialize(root)


def _signatures_xml(existing: bytes | None, *, sig_id: int, max_id: int, sign_type: str, base_loc: str) -> bytes:
    if existing is None:
        root = etree.Element(X.q("Signatures"), nsmap=X.NSMAP)
    else:
        root = X.parse_xml(existing, name="Signatures.xml")
    max_el = X.child(root, "MaxSignId")
    if max_el is None:
        max_el = etree.Element(X.q("MaxSignId"))
        root.insert(0, max_el)
    max_el.text = str(max_id)
    new = etree.Element(X.q("Signature"), ID=str(sig_id), Type=sign_type, BaseLoc=base_loc)
    listed = list(X.children(root, "Signature"))
    if listed:
        listed[-1].addnext(new)  # keep producers' order (ofdrw writes MaxSignId last)
    else:
        root.append(new)
    return X.serialize(root)


# Signature.xml is written as text: it is made at every sealing, and building it as an lxml
# tree cost more than everything else the OFD side of a sealing does but the zip. The output
# is what lxml's serialisation of the same tree gives (tests/test_ofd_signing.py reads it back
# with the hardened parser); values are escaped as lxml escapes them.
_ATTR = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;",
                       "\t": "&#9;"})
_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
# What XML 1.0 cannot carry at all (lxml refuses these, too).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _attr(value: str) -> str:
    if _NOT_XML.search(value):
        raise OFDUsageError(f"{value!r} has characters XML cannot carry")
    return value.translate(_ATTR)


def _text(value: str) -> str:
    if _NOT_XML.search(value):
        raise OFDUsageError(f"{value!r} has characters XML cannot carry")
    return value.translate(_TEXT)


def _signature_xml(*, provider_name: str, provider_company: str | None, provider_version: str | None,
                   signature_method: str, when: str, references: list[tuple[str, bytes]],
                   stamp_id: int, page_id: str, boundary: tuple[float, float, float, float],
                   seal_loc: str | None, signed_value_loc: str) -> bytes:
    provider = f'ProviderName="{_attr(provider_name)}"'
    if provider_company:
        provider += f' Company="{_attr(provider_company)}"'
    if provider_version:
        provider += f' Version="{_attr(provider_version)}"'
    refs = "".join(f'<ofd:Reference FileRef="{_attr(loc)}"><ofd:CheckValue>'
                   f'{base64.b64encode(digest).decode("ascii")}</ofd:CheckValue></ofd:Reference>'
                   for loc, digest in references)
    seal = f"<ofd:Seal><ofd:BaseLoc>{_text(seal_loc)}</ofd:BaseLoc></ofd:Seal>" if seal_loc is not None else ""
    boundary_text = " ".join(_fmt(v) for v in boundary)
    return (f"<?xml version='1.0' encoding='UTF-8'?>\n"
            f'<ofd:Signature xmlns:ofd="{X.OFD_NS}"><ofd:SignedInfo><ofd:Provider {provider}/>'
            f"<ofd:SignatureMethod>{_text(signature_method)}</ofd:SignatureMethod>"
            f"<ofd:SignatureDateTime>{_text(when)}</ofd:SignatureDateTime>"
            f'<ofd:References CheckMethod="{SM3}"' + (f">{refs}</ofd:References>" if refs else "/>") +
            f'<ofd:StampAnnot ID="{stamp_id}" PageRef="{_attr(page_id)}" Boundary="{boundary_text}"/>'
            f"{seal}</ofd:SignedInfo><ofd:SignedValue>{_text(signed_value_loc)}</ofd:SignedValue>"
            f"</ofd:Signature>").encode("utf-8")


def _refuse_breaking_earlier_signatures(pkg: OFDPackage, signatures_entry: str, rewritten: set[str]) -> None:
    """Sealing rewrites only Signatures.xml (and OFD.xml the first time). An earlier signature
    that references one of those — ofdrw's "WholeProtected" mode covers Signatures.xml, meaning
    "no further signatures" — would be broken by a countersignature: refuse instead."""
    if signatures_entry not in pkg:
        return
    for sig in parse_signatures(pkg, signatures_entry)[2]:
        hit = sorted(rewritten & {r.path for r in sig.references if r.path})
        if hit:
            raise OFDUsageError(f"the earlier signature {sig.path} protects {', '.join(hit)}, which a further "
                                "signature must rewrite: countersigning would break it (the document was "
                                "sealed as final)")


def seal_ofd(package_bytes: bytes, *, page_index: int, boundary_mm: tuple[float, float, float, float],
             make_signed_value: Callable[[bytes], bytes], seal_der: bytes | None = None, doc_index: int = 0,
             sign_type: str = "Seal", provider_name: str = "eseal", provider_company: str | None = None,
             provider_version: str | None = None, signature_method: str = SM2_WITH_SM3,
             now: dt.datetime | None = None, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """Add one signature to document ``doc_index`` of an OFD package; returns the new package.

    ``make_signed_value(signature_xml)`` returns SignedValue.dat: for ``sign_type="Seal"`` an
    SES_Signature whose dataHash is SM3(signature_xml) and whose propertyInfo is
    :func:`signature_location` (GB/T 38540); for ``"Sign"`` a GB/T 35275 / GM/T 0010 SignedData
    — ofdrw's GBT35275DSContainer (GM/T 0099-2020 7.2.2) signs SM3(signature_xml) as attached
    content. ``boundary_mm`` is (x, y, width, height) of the StampAnnot on the page, in mm.
    Earlier signatures stay valid (see the module docstring for the reference rule); when one
    protects a file sealing must rewrite (Signatures.xml, OFD.xml), OFDUsageError is raised
    instead. ``seal_der`` is ignored for ``"Sign"`` (no Seal.esl is written). The signing time
    ``now`` (default: the clock) is written in Beijing time.
    """
    if sign_type not in ("Seal", "Sign"):
        raise OFDUsageError(f"sign_type must be 'Seal' or 'Sign', not {sign_type!r}")
    if sign_type == "Seal" and not seal_der:
        raise OFDUsageError("a Seal-type signature needs the seal (seal_der)")
    if len(boundary_mm) != 4 or boundary_mm[2] <= 0 or boundary_mm[3] <= 0:
        raise OFDUsageError(f"boundary_mm must be (x, y, width, height) with a positive size, not {boundary_mm!r}")
    pkg = OFDPackage(package_bytes, limits=limits)
    docs = parse_package(pkg, deep=False)
    if not 0 <= doc_index < len(docs):
        raise OFDUsageError(f"doc_index {doc_index} out of range: the package has {len(docs)} document(s)")
    doc = docs[doc_index]
    if not 0 <= page_index < len(doc.pages):
        raise OFDPageOutOfRange(page_index, len(doc.pages))
    page_id = doc.pages[page_index].id

    files: dict[str, bytes] = {name: pkg.read(name) for name in pkg.names}
    signatures_entry = doc.signatures_path or f"{folder(doc.doc_root)}/Signs/Signatures.xml".lstrip("/")
    rewritten = {signatures_entry}
    if doc.signatures_path is None or doc.signatures_path not in pkg:
        files[OFD_ENTRY] = _register_signatures(files[OFD_ENTRY], doc_index, signatures_entry)
        rewritten.add(OFD_ENTRY)
    _refuse_breaking_earlier_signatures(pkg, signatures_entry, rewritten)
    sign_dir = _next_sign_dir(pkg.names, folder(signatures_entry))
    signature_entry = f"{sign_dir}/Signature.xml"
    value_entry = f"{sign_dir}/SignedValue.dat"
    seal_entry = f"{sign_dir}/Seal.esl" if sign_type == "Seal" else None
    if seal_entry is not None:
        files[seal_entry] = bytes(seal_der)  # type: ignore[arg-type]

    # MaxSignId counts signature and stamp IDs alike (ofdrw); listed IDs guard against a stale one.
    # an ID that is none ("٣", "-1") counts for nothing, as a MaxSignId that is none counts as 0
    sig_id = max([doc.max_sign_id, *(n for n in map(read_id, doc.listed_ids) if n is not None)]) + 1
    stamp_id = sig_id + 1
    excluded = {sigs for d in docs if (sigs := d.signatures_path)} | {signatures_entry, signature_entry, value_entry}
    references = [(absolute(name), _seal_sm3(data) if name == seal_entry else sm3.sm3(data))
                  for name, data in files.items() if name not in excluded]
    # SignatureDateTime carries no zone; readers in China show it as is, so write Beijing time
    # (as ofdrw writes its local time) in ofdrw's "yyyy-MM-dd HH:mm:ss" form.
    moment = now or dt.datetime.now(dt.timezone.utc)
    if moment.tzinfo is not None:
        moment = moment.astimezone(_BEIJING)
    when = moment.strftime("%Y-%m-%d %H:%M:%S")
    signature_xml = _signature_xml(
        provider_name=provider_name, provider_company=provider_company, provider_version=provider_version,
        signature_method=signature_method, when=when, references=references, stamp_id=stamp_id,
        page_id=page_id, boundary=boundary_mm, seal_loc=absolute(seal_entry) if seal_entry else None,
        signed_value_loc=absolute(value_entry))
    signed_value = make_signed_value(signature_xml)
    if not isinstance(signed_value, (bytes, bytearray)) or not signed_value:
        raise OFDUsageError("make_signed_value must return the non-empty SignedValue.dat bytes")

    existing = files.get(signatures_entry)
    files[signatures_entry] = _signatures_xml(existing, sig_id=sig_id, max_id=stamp_id, sign_type=sign_type,
                                              base_loc=absolute(signature_entry))
    files[signature_entry] = signature_xml
    files[value_entry] = bytes(signed_value)
    # Seal.esl and SignedValue.dat are mostly the seal's picture, already compressed (PNG,
    # JPEG): deflating them again saved about 0.1 % and was most of a sealing's CPU time.
    return write_package(files, source=pkg, stored=[value_entry] + ([seal_entry] if seal_entry else []))


def signature_location(signature_xml: bytes) -> str:
    """The absolute location of the Signature.xml that ``signature_xml`` will be stored at
    (``/Doc_0/Signs/Sign_K/Signature.xml``) — the propertyInfo of a v4 TBS_Sign, as ofdrw
    writes it. Derived from the SignedValue location, which sits in the same folder."""
    root = X.parse_xml(signature_xml, name="Signature.xml")
    value = X.text(root, "SignedValue")
    if not value or "/" not in value:
        raise OFDUsageError("Signature.xml has no SignedValue location to derive its own location from")
    return value.rsplit("/", 1)[0] + "/Signature.xml"


# verify_package and friends live in facts.py; re-exported for callers of seal.ofd.signing.
__all__ = ["seal_ofd", "signature_location", "SM2_WITH_SM3", "verify_package", "inspect_package", "signed_parts",
           "PackageFacts", "SignatureFacts"]
