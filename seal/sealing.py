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
     (x, y) mm on the page, size of the seal picture;
   * PDF: a CMS signature with the seal picture at (x, y) mm (``seal.pdf.seal_pdf``);
   * anything else, or ``cms=True``: a detached GM/T 0010 SignedData over the bytes
     (``seal.cms.sign_data``; ``flavour="pkcs7"`` for relying parties that expect PKCS#7 OIDs).

   Signatures are timestamped by the region's TSA unless ``timestamp=False``; every sealing
   writes one audit record and one transparency-log entry (``seal.service.record_sealing``).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from asn1crypto import pem, x509

from gm.sm3 import sm3
from seal import service
from seal.errors import SealBuildError

__all__ = ["authorise", "seal_document", "detect_format", "Sealed"]

_OFD_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
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
        raise SealBuildError(f"seal {es_id} binds no signer certificate of this region: no key here can seal with it")
    return service.authorise_use(home, keystore, es_id, agency=agency or owner, signer_cert_serial=serial,
                                 pin=pin, actor=actor)


def _chain(home: Any) -> list[x509.Certificate]:
    from ca.service import ca_chain

    return [x509.Certificate.load(der) for _, _, der in pem.unarmor(ca_chain(home), multiple=True)]


@lru_cache(maxsize=64)
def _picture_png(seal_der: bytes) -> tuple[bytes | None, float]:
    """The seal's PNG picture (None for other types) and its width in mm; a seal is parsed once."""
    from seal.structures import parse_seal

    picture = parse_seal(seal_der).picture
    size = float(picture.width_mm or 40)
    return (picture.data if picture.type.lower() == "png" else None), size


def seal_document(home: Any, keystore: Any, grant: service.UseGrant, data: bytes, *, page: int = 0,
                  x_mm: float = 20.0, y_mm: float = 20.0, cms: bool = False, flavour: str = "gmt0010",
                  timestamp: bool = True) -> Sealed:
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise SealBuildError("nothing to seal: the document is empty")
    data = bytes(data)
    stamp = None
    if timestamp:
        from seal.tsa import tsa_callable

        stamp = tsa_callable(home, keystore, actor=grant.actor)
    kind = "data" if cms else detect_format(data)
    if kind == "ofd":
        return Sealed(_seal_ofd(home, keystore, grant, data, page, x_mm, y_mm, stamp), "ofd", grant.es_id)
    signer_cert = x509.Certificate.load(grant.signer_cert)
    captured: list[bytes] = []

    def sign(tbs: bytes) -> bytes:
        value = keystore.sign(grant.key_ref, bytes(tbs), actor=grant.actor, role=service.SEAL_ROLE, pin=grant.pin)
        captured.append(value)
        return value

    if kind == "pdf":
        from seal.pdf import seal_pdf

        picture, size = _picture_png(grant.seal_der)
        out = seal_pdf(data, sign=sign, certificate=signer_cert, chain=_chain(home), page=page,
                       box_mm=(x_mm, y_mm, size, size) if picture else None, picture_png=picture,
                       timestamp=stamp, reason=f"电子印章 {grant.es_id}")
        fmt = "pdf"
    else:
        from seal.cms import sign_data

        out = sign_data(data, signer_cert, sign, flavour=flavour, detached=True, chain=_chain(home),
                        timestamper=stamp)
        fmt = "cms"
    # the logged artefact of a PDF or CMS sealing is the SignerInfo's signature value
    service.record_sealing(home, grant, captured[-1], format=fmt, timestamped=stamp is not None,
                           data_sm3=sm3(data).hex())
    return Sealed(out, fmt, grant.es_id)


def _seal_ofd(home: Any, keystore: Any, grant: service.UseGrant, data: bytes, page: int, x_mm: float, y_mm: float,
              stamp: Any) -> bytes:
    from seal.ofd.signing import seal_ofd, signature_location

    _, size = _picture_png(grant.seal_der)

    def signed_value(signature_xml: bytes) -> bytes:
        return service.make_signature(home, keystore, grant, sm3(signature_xml), signature_location(signature_xml),
                                      timestamp=stamp)

    return seal_ofd(data, page_index=page, boundary_mm=(x_mm, y_mm, size, size), seal_der=grant.seal_der,
                    make_signed_value=signed_value)
