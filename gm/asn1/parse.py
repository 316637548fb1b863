"""One way to parse untrusted DER: strictly, completely, and with one error type.

asn1crypto parses lazily and, on damaged input, can raise ValueError, TypeError, KeyError
(an unknown algorithm OID in a key) or IndexError from deep inside a field. Everything that
reads DER from outside (certificates in documents, seals, CMS, CRLs from the network) goes
through ``load_strict``, which forces the whole parse and turns any of those into
``ASN1FormatError`` naming what was being read.
"""
from __future__ import annotations

from typing import TypeVar

from asn1crypto import core, pem

from gm.errors import ASN1FormatError

__all__ = ["load_strict", "der_or_pem"]

T = TypeVar("T", bound=core.Asn1Value)
_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, RecursionError)


def der_or_pem(data: bytes, what: str) -> bytes:
    """DER bytes from DER or from one PEM block."""
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise ASN1FormatError(f"{what} is empty or not bytes")
    data = bytes(data)
    if pem.detect(data):
        try:
            return pem.unarmor(data)[2]
        except _PARSE_ERRORS as exc:
            raise ASN1FormatError(f"{what} PEM cannot be read: {exc}") from None
    return data


def load_strict(spec: type[T], data: bytes, what: str) -> T:
    """Parse ``data`` (DER or PEM) as ``spec`` completely; ASN1FormatError names ``what``."""
    der = der_or_pem(data, what)
    try:
        value = spec.load(der, strict=True)
        value.native  # noqa: B018  walk every field now, not lazily later
        _touch_public_keys(value)
    except ASN1FormatError:
        raise
    except _PARSE_ERRORS as exc:
        raise ASN1FormatError(f"{what} is malformed: {exc}") from None
    return value


def _touch_public_keys(value: core.Asn1Value) -> None:
    """Public keys are parsed by algorithm only when asked for: ask, so it fails here."""
    spki = None
    if hasattr(value, "public_key") and not callable(value.public_key):
        spki = value.public_key
    elif isinstance(value, core.Sequence) and "tbs_certificate" in getattr(value, "_field_map", {}):
        spki = value["tbs_certificate"]["subject_public_key_info"]
    if spki is not None:
        spki["public_key"].native  # noqa: B018  (looks the algorithm up: KeyError when unknown)
        spki.algorithm  # noqa: B018
