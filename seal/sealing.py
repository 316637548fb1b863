"""Sealing a document with a registered seal: OFD, PDF or any data (CMS), in one call.

This is what `eseal sign` and the sealing endpoint run. Two steps, so a refused use costs
nothing (STYLE.md #2):

1. ``authorise(home, keystore, es_id, agency=, pin=, actor=)`` — the registry's checks
   (``seal.service.authorise_use``: agency authorised, seal valid now, signer certificate
   bound and valid, the holder's PIN for personal seals); each refusal is a specific
   ``seal.errors`` exception with its audit record, and no output is written.
2. ``seal_document(home, keystore, grant, data, ...)`` — by format:

   * OFD: a Seal-type signature (``seal.ofd.signing.seal_ofd``) whose SignedValue.dat is an
     SES_Signature over SM3(Signature.xml) (``seal.service.make_signature``), stamp at
     (x, y) mm on the page, size of the seal picture; or, with ``ofd_sign_type="Sign"``, a
     Sign-type signature (no Seal.esl, no seal picture; the StampAnnot keeps that place and
     size) whose SignedValue.dat is a GM/T 0010 SignedData by the signer certificate over
     SM3(Signature.xml) as attached content -- ofdrw's GBT35275DSContainer, GM/T 0099-2020
     7.2.2 (``seal.cms.sign_data``);
   * PDF: a CMS signature with the seal picture at (x, y) mm (``seal.pdf.seal_pdf``);
   * anything else, or ``cms=True``: a detached GM/T 0010 SignedData over the bytes
     (``seal.cms.sign_data``; ``flavour="pkcs7"`` for relying parties that expect PKCS#7 OIDs).

   Signatures are timestamped by the region's TSA unless ``timestamp=False``; every sealing
   writes one audit record and one transparency-log entry (``seal.service.record_sealing``).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from asn1crypto import pem, x509

from gm.records import frozen_record
from gm.sm3 import sm3
from seal import service
from seal.errors import SealBuildError, SignerCertificateInvalid

__all__ = ["authorise", "seal_document", "detect_format", "sign_type_refusal", "Sealed", "OFD_SIGN_TYPES"]

_OFD_MAGIC = b"PK\x03\x04"


@frozen_record
class Sealed:
    data: bytes
    format: str  # ofd | pdf | cms
    es_id: str


def detect_format(data: bytes) -> str:
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(_OFD_MAGIC):
        return "ofd"
    return "data"


def authorise(home: Any, keystore: Any, es_id: str, *, agency: str | None = None, pin: str | None = None,
              actor: str = "admin") -> service.UseGrant:
    """The registry's use grant for ``es_id`` with its first signer certificate of this region."""
    owner, serial = service.default_signer(home, es_id)
    if serial is None:
        raise service.refuse_use(home, es_id, SignerCertificateInvalid(
            f"seal {es_id} binds no signer certificate of this region: no key here can seal with it"),
            agency=agency or owner, actor=actor)
    return service.authorise_use(home, keystore, es_id, agency=agency or owner, signer_cert_serial=serial,
                                 pin=pin, actor=actor)


_CHAINS: dict[tuple[str, bytes], list[x509.Certificate]] = {}


def _chain(home: Any, signer_der: bytes) -> list[x509.Certificate]:
    """The CA certificates above the signer certificate, carried in the signature for relying
    parties. Kept per signer certificate: the CAs above a certificate never change, so the
    chain read for it stays right, and a sealing does not read the region's CA rows again."""
    from ca.service import ca_chain

    key = (str(home.path), bytes(signer_der))
    chain = _CHAINS.get(key)
    if chain is None:
        chain = [x509.Certificate.load(der) for _, _, der in pem.unarmor(ca_chain(home), multiple=True)]
        if chain and chain[0].subject == x509.Certificate.load(key[1]).issuer and len(_CHAINS) < 1024:
            _CHAINS[key] = chain  # the region's current chain is the signer's: remember it
    return chain


@lru_cache(maxsize=64)
def _picture_png(seal_der: bytes) -> tuple[bytes | None, float]:
    """The seal's PNG picture (None for other types) and its width in mm; a seal is parsed once."""
    from seal.structures import parse_seal

    picture = parse_seal(seal_der).picture
    size = float(picture.width_mm or 40)
    return (picture.data if picture.type.lower() == "png" else None), size


OFD_SIGN_TYPES = ("Seal", "Sign")


def seal_document(home: Any, keystore: Any, grant: service.UseGrant, data: bytes, *, page: int = 0,
                  x_mm: float = 20.0, y_mm: float = 20.0, cms: bool = False, flavour: str = "gmt0010",
                  timestamp: bool = True, ofd_sign_type: str = "Seal") -> Sealed:
    """Seal ``data`` (``page`` counts from 0 here; a page that does not exist is refused in the
    words of the CLI and the API, which count from 1). ``ofd_sign_type`` is the OFD signature's
    Type, "Seal" or "Sign"; "Sign" is refused (SealBuildError) for anything but an OFD sealed
    as an OFD (not with ``cms``)."""
    from seal.ofd.errors import OFDPageOutOfRange
    from seal.pdf_errors import PdfPageOutOfRange

    if ofd_sign_type not in OFD_SIGN_TYPES:
        raise SealBuildError(f"the OFD signature type must be Seal or Sign, not {ofd_sign_type!r}")
    try:
        return _seal_document(home, keystore, grant, data, page, x_mm, y_mm, cms, flavour, timestamp,
                              ofd_sign_type)
    except (OFDPageOutOfRange, PdfPageOutOfRange) as exc:
        raise SealBuildError(f"page {page + 1} does not exist: the document has {exc.pages} page(s), "
                             "counted from 1") from None


def sign_type_refusal(data: bytes, *, cms: bool, ofd_sign_type: str) -> str | None:
    """Why ``ofd_sign_type`` cannot seal ``data`` (None when it can): a Sign-type signature is
    made in an OFD document only. The CLI and the API ask before the seal use is authorised,
    so such a request costs no grant and leaves no record."""
    if ofd_sign_type != "Sign":
        return None
    kind = "data" if cms else detect_format(data)
    if kind == "ofd":
        return None
    return "a Sign-type signature is made in an OFD document only: " + (
        "not with a detached CMS" if cms else f"the input is {_A_FORMAT[kind]}")


def _seal_document(home: Any, keystore: Any, grant: service.UseGrant, data: Any, page: int, x_mm: float,
                   y_mm: float, cms: bool, flavour: str, timestamp: bool, ofd_sign_type: str) -> Sealed:
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise SealBuildError("nothing to seal: the document is empty")
    data = bytes(data)
    refusal = sign_type_refusal(data, cms=cms, ofd_sign_type=ofd_sign_type)
    if refusal is not None:
        raise SealBuildError(refusal)
    kind = "data" if cms else detect_format(data)
    stamp = None
    if timestamp:
        from seal.tsa import tsa_callable

        stamp = tsa_callable(home, keystore, actor=grant.actor)
    if kind == "ofd" and ofd_sign_type == "Sign":
        return Sealed(_sign_ofd(home, keystore, grant, data, page, x_mm, y_mm, stamp), "ofd", grant.es_id)
    if kind == "ofd":
        return Sealed(_seal_ofd(home, keystore, grant, data, page, x_mm, y_mm, stamp), "ofd", grant.es_id)
    signer_cert = x509.Certificate.load(grant.signer_cert)
    chain = _chain(home, grant.signer_cert)
    fmt = "pdf" if kind == "pdf" else "cms"

    def make(use: service.KeyUse) -> service.Made:
        sign, captured = _capturing_signer(use)
        if fmt == "pdf":
            from seal.pdf import seal_pdf

            picture, size = _picture_png(grant.seal_der)
            out = seal_pdf(data, sign=sign, certificate=signer_cert, chain=chain, page=page,
                           box_mm=(x_mm, y_mm, size, size) if picture else None, picture_png=picture,
                           timestamp=use.stamp, reason=f"电子印章 {grant.es_id}")
        else:
            from seal.cms import sign_data

            out = sign_data(data, signer_cert, sign, flavour=flavour, detached=True, chain=chain,
                            timestamper=use.stamp)
        # the logged artefact of a PDF or CMS sealing is the SignerInfo's signature value
        return service.Made(out, captured[-1], fmt, use.stamp is not None, {"data_sm3": sm3(data).hex()})

    return Sealed(service.seal_with(home, keystore, grant, stamp, make), fmt, grant.es_id)


def _seal_ofd(home: Any, keystore: Any, grant: service.UseGrant, data: bytes, page: int, x_mm: float, y_mm: float,
              stamp: Any) -> bytes:
    from seal.ofd.signing import seal_ofd, signature_location

    _, size = _picture_png(grant.seal_der)

    def signed_value(signature_xml: bytes) -> bytes:
        return service.make_signature(home, keystore, grant, sm3(signature_xml), signature_location(signature_xml),
                                      timestamp=stamp)

    return seal_ofd(data, page_index=page, boundary_mm=(x_mm, y_mm, size, size), seal_der=grant.seal_der,
                    make_signed_value=signed_value)


_A_FORMAT = {"pdf": "a PDF", "data": "not an OFD package"}


def _capturing_signer(use: service.KeyUse) -> tuple[Any, list[bytes]]:
    """The key store's signing call for a CMS or PDF builder, and the signature values it made
    (the last one is the SignerInfo's: what the sealing's log entry is keyed by)."""
    captured: list[bytes] = []

    def sign(tbs: bytes) -> bytes:
        captured.append(use.sign(bytes(tbs)))
        return captured[-1]
    return sign, captured


def _sign_ofd(home: Any, keystore: Any, grant: service.UseGrant, data: bytes, page: int, x_mm: float, y_mm: float,
              stamp: Any) -> bytes:
    """A Sign-type OFD signature: SignedValue.dat is a GM/T 0010 SignedData over SM3(Signature.xml),
    attached, signed in the one-commit path (``service.seal_with``) like a PDF or CMS sealing; its
    audit record says format "ofd-sign" (a Seal-type one says "ses")."""
    from seal.cms import sign_data
    from seal.ofd.signing import seal_ofd, signature_location

    _, size = _picture_png(grant.seal_der)
    signer_cert = x509.Certificate.load(grant.signer_cert)
    chain = _chain(home, grant.signer_cert)

    def make(use: service.KeyUse) -> service.Made:
        sign, captured = _capturing_signer(use)
        signed: list[bytes] = []

        def signed_value(signature_xml: bytes) -> bytes:
            signed.append(signature_xml)
            return sign_data(sm3(signature_xml), signer_cert, sign, flavour="gmt0010", detached=False, chain=chain,
                             timestamper=use.stamp)

        out = seal_ofd(data, page_index=page, boundary_mm=(x_mm, y_mm, size, size), sign_type="Sign",
                       make_signed_value=signed_value)
        # as for PDF and CMS, the log entry is keyed by the SignerInfo's signature value
        return service.Made(out, captured[-1], "ofd-sign", use.stamp is not None,
                            {"data_hash": sm3(signed[-1]).hex(), "property_info": signature_location(signed[-1])})

    return service.seal_with(home, keystore, grant, stamp, make)
