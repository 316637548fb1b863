"""GM/T 0010-2012 / GB/T 35275-2017 SignedData on top of asn1crypto.cms.

GM/T 0010 keeps the PKCS#7 / CMS structures unchanged and gives them ShangMi object
identifiers: content types under 1.2.156.10197.6.1.4.2, SM3 as digestAlgorithm and SM2
signing (1.2.156.10197.1.301.1) as the SignerInfo signatureAlgorithm. gm/asn1/registry.py
already names those OIDs inside asn1crypto (``sm2_data``, ``sm2_signed_data``, ``sm2``),
so ``cms.ContentInfo.load`` parses GM/T 0010 SignedData as a ``cms.SignedData``. This
module adds no classes; it states, as data, the two OID "flavours" a signer chooses from
and which identifiers a reader accepts:

* ``GMT0010`` — contentType 1.2.156.10197.6.1.4.2.2, data …2.1, SM3 digest, SM2 signing
  1.2.156.10197.1.301.1 with NULL parameters (as CFCA SADK writes it; seen in
  shared/vectors/cms).
* ``PKCS7`` — contentType 1.2.840.113549.1.7.2, data 1.2.840.113549.1.7.1, SM3 digest with
  NULL parameters, SM2-with-SM3 1.2.156.10197.1.501 without parameters: what OpenSSL 3's CMS
  code writes for an SM2 key and SM3 — ``X509_ALGOR_set_md`` gives NULL parameters to every
  digest without the ALGID_ABSENT flag, and the SM3 provider sets no flags; the signature
  algorithm is ``OBJ_find_sigid_by_algs(sm3, sm2)`` with V_ASN1_UNDEF parameters (OpenSSL
  3.0 itself then fails to write the signature value, see tests/test_cms_sign.py). It is
  also what RFC 3161 relying parties expect in a timestamp token, and what PDF readers parse.

Readers accept either flavour's content types, both SM2 signature OIDs and, leniently,
the bare SM2 key OID 1.2.156.10197.1.301 that some producers put there.
"""
from __future__ import annotations

from asn1crypto import cms as _cms
from asn1crypto import tsp as _tsp

from gm import oids
from gm.records import frozen_record


@frozen_record
class Flavour:
    """The identifiers one flavour of SM2 SignedData writes (asn1crypto names)."""

    name: str
    signed_data: str  # ContentInfo contentType
    data: str  # eContentType of plain data
    digest_algorithm: str
    digest_null_params: bool  # CFCA SADK and OpenSSL both write NULL after SM3
    signature_algorithm: str
    signature_null_params: bool


GMT0010 = Flavour("gmt0010", signed_data="sm2_signed_data", data="sm2_data", digest_algorithm="sm3",
                  digest_null_params=True, signature_algorithm="sm2", signature_null_params=True)
PKCS7 = Flavour("pkcs7", signed_data="signed_data", data="data", digest_algorithm="sm3",
                digest_null_params=True, signature_algorithm="sm2_sm3", signature_null_params=False)
FLAVOURS = {f.name: f for f in (GMT0010, PKCS7)}

# What a reader accepts.
SIGNED_DATA_TYPES = frozenset({"signed_data", "sm2_signed_data"})
DATA_TYPES = frozenset({"data", "sm2_data"})
# SignerInfo.signatureAlgorithm values meaning "SM2 over SM3(Z_A || M)": the asn1crypto
# names from the registry, and the bare key OID as dotted text (unnamed in asn1crypto).
SM2_SIGNATURE_ALGORITHMS = frozenset({"sm2", "sm2_sm3", oids.SM2, "1.2.156.10197.1.301"})
# Digests a reader can recompute for messageDigest (SM2 itself always hashes with SM3).
DIGEST_ALGORITHMS = frozenset({"sm3", "sha256"})


def flavour(name: str) -> Flavour:
    """``"gmt0010"`` or ``"pkcs7"`` -> its Flavour; ValueError naming the choices otherwise."""
    try:
        return FLAVOURS[name]
    except KeyError:
        raise ValueError(f"unknown CMS flavour {name!r}; choose one of {sorted(FLAVOURS)}") from None


def flavour_of(content_type: str) -> Flavour | None:
    """The flavour whose SignedData contentType is ``content_type`` (asn1crypto name)."""
    for f in FLAVOURS.values():
        if f.signed_data == content_type:
            return f
    return None


# --------------------------------------------------------------------------- RFC 3161 response


class TimeStampResp(_tsp.TimeStampResp):
    """RFC 3161 §2.4.2 TimeStampResp with ``timeStampToken`` OPTIONAL, as the RFC has it.

    asn1crypto 1.5.1 declares the token mandatory, so it can neither build nor parse a
    rejection (which carries no token). Same fields otherwise.
    """

    _fields = [
        ("status", _tsp.PKIStatusInfo),
        ("time_stamp_token", _cms.ContentInfo, {"optional": True}),
    ]
