"""ASN.1 of electronic seals and seal signatures: GB/T 38540-2020 (v4) and GM/T 0031-2014 (v1).

Declarations only, field names spelled as the standards spell them (including the
standard's own "Pictrue"). Logic — building, parsing leniently, checking signatures —
lives in `seal.structures`.

Checked against the real seals in shared/vectors (ofdrw, a tax-invoice platform) with
`openssl asn1parse` and against ofdrw-gm's `org.ofdrw.gm.ses.v1` / `.v4` classes.

Version 4 (GB/T 38540-2020)::

    SESeal ::= SEQUENCE { eSealInfo SES_SealInfo, cert OCTET STRING,
                          signAlgID OBJECT IDENTIFIER, signedValue BIT STRING }
    SES_SealInfo ::= SEQUENCE { header SES_Header, esID IA5String,
                                property SES_ESPropertyInfo, picture SES_ESPictrueInfo,
                                extDatas ExtensionDatas OPTIONAL }
    SES_ESPropertyInfo ::= SEQUENCE { type INTEGER, name UTF8String, certListType INTEGER,
                                      certList SES_CertList, createDate GeneralizedTime,
                                      validStart GeneralizedTime, validEnd GeneralizedTime }
    SES_CertList ::= CHOICE { certs CertInfoList, certDigestList CertDigestList }
        -- chosen by certListType: 1 certificates, 2 digests; both are untagged SEQUENCE OF
    TBS_Sign ::= SEQUENCE { version INTEGER, eseal SESeal, timeInfo GeneralizedTime,
                            dataHash BIT STRING, propertyInfo IA5String,
                            extDatas ExtensionDatas OPTIONAL }
    SES_Signature ::= SEQUENCE { toSign TBS_Sign, cert OCTET STRING,
                                 signatureAlgID OBJECT IDENTIFIER, signature BIT STRING,
                                 timeStamp [0] EXPLICIT BIT STRING OPTIONAL }

Version 1 (GM/T 0031-2014)::

    SESeal ::= SEQUENCE { esealInfo SES_SealInfo, signInfo SES_SignInfo }
    SES_ESPropertyInfo ::= SEQUENCE { type INTEGER, name UTF8String,
                                      certList SEQUENCE OF OCTET STRING,
                                      createDate UTCTime, validStart UTCTime, validEnd UTCTime }
    SES_SignInfo ::= SEQUENCE { cert OCTET STRING, signatureAlgorithm OBJECT IDENTIFIER,
                                signData BIT STRING }
    TBS_Sign ::= SEQUENCE { version INTEGER, eseal SESeal, timeInfo BIT STRING,
                            dataHash BIT STRING, propertyInfo IA5String,
                            cert OCTET STRING, signatureAlgorithm OBJECT IDENTIFIER }
    SES_Signature ::= SEQUENCE { toSign TBS_Sign, signature BIT STRING }

Every BIT STRING here carries octets (a signature, a digest, a token), so it is declared
as asn1crypto's OctetBitString: built from bytes, read back as bytes. Producers that set
a non-zero unused-bits count stay readable: `.contents[0]` is that count, `.contents[1:]`
the octets as written, and `.dump()` of a parsed value returns the bytes it was read from.
"""
from __future__ import annotations

from asn1crypto import core

# certListType values (GB/T 38540-2020 7.2).
CERT_LIST_CERTIFICATES = 1
CERT_LIST_DIGESTS = 2

# SES_ESPropertyInfo.type values (GB/T 38540-2020 7.2): 1 organization seal, 2 personal.
SEAL_TYPE_ORGANIZATION = 1
SEAL_TYPE_PERSONAL = 2


class SES_Header(core.Sequence):
    """Header: ID is always "ES", version 4 (GB/T 38540) or 1 (GM/T 0031), Vid names the vendor."""

    _fields = [
        ("ID", core.IA5String),
        ("version", core.Integer),
        ("Vid", core.IA5String),
    ]


class ExtData(core.Sequence):
    """One vendor extension, shaped like an X.509 Extension."""

    _fields = [
        ("extnID", core.ObjectIdentifier),
        ("critical", core.Boolean, {"default": False}),
        ("extnValue", core.OctetString),
    ]


class ExtensionDatas(core.SequenceOf):
    _child_spec = ExtData


class CertInfoList(core.SequenceOf):
    """Bound signer certificates, each the DER of an X.509 certificate."""

    _child_spec = core.OctetString


class CertDigestObj(core.Sequence):
    """A bound signer certificate by digest: type names the hash (e.g. "sm3"), value the digest."""

    _fields = [
        ("type", core.PrintableString),
        ("value", core.OctetString),
    ]


class CertDigestList(core.SequenceOf):
    _child_spec = CertDigestObj


def _cert_list_spec(property_info: core.Sequence) -> tuple[type[core.Asn1Value], None]:
    """certList is a CHOICE of two untagged SEQUENCE OFs; certListType says which.

    (asn1crypto reads a (spec, None) answer as "parse the field as spec".)
    """
    if property_info["certListType"].native == CERT_LIST_DIGESTS:
        return CertDigestList, None
    return CertInfoList, None


class SES_ESPropertyInfo(core.Sequence):
    """Seal properties, version 4."""

    _fields = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("certListType", core.Integer),
        ("certList", CertInfoList),
        ("createDate", core.GeneralizedTime),
        ("validStart", core.GeneralizedTime),
        ("validEnd", core.GeneralizedTime),
    ]
    _spec_callbacks = {"certList": _cert_list_spec}


class SES_ESPictrueInfo(core.Sequence):
    """The seal picture: type is "PNG", "JPG", "SVG", "GIF", "BMP" or "OFD"; width/height in mm."""

    _fields = [
        ("type", core.IA5String),
        ("data", core.OctetString),
        ("width", core.Integer),
        ("height", core.Integer),
    ]


SES_ESPictureInfo = SES_ESPictrueInfo  # the standard's spelling is kept above; this one reads better


class SES_SealInfo(core.Sequence):
    """What the seal maker signs in version 4: DER(SES_SealInfo)."""

    _fields = [
        ("header", SES_Header),
        ("esID", core.IA5String),
        ("property", SES_ESPropertyInfo),
        ("picture", SES_ESPictrueInfo),
        ("extDatas", ExtensionDatas, {"optional": True}),
    ]


class SESeal(core.Sequence):
    """The e-seal, version 4."""

    _fields = [
        ("eSealInfo", SES_SealInfo),
        ("cert", core.OctetString),
        ("signAlgID", core.ObjectIdentifier),
        ("signedValue", core.OctetBitString),
    ]


class TBS_Sign(core.Sequence):
    """What the signer signs in version 4: DER(TBS_Sign); dataHash is the SM3 of the protected data."""

    _fields = [
        ("version", core.Integer),
        ("eseal", SESeal),
        ("timeInfo", core.GeneralizedTime),
        ("dataHash", core.OctetBitString),
        ("propertyInfo", core.IA5String),
        ("extDatas", ExtensionDatas, {"optional": True}),
    ]


class SES_Signature(core.Sequence):
    """The seal signature (OFD SignedValue.dat), version 4; timeStamp is an RFC 3161 token."""

    _fields = [
        ("toSign", TBS_Sign),
        ("cert", core.OctetString),
        ("signatureAlgID", core.ObjectIdentifier),
        ("signature", core.OctetBitString),
        ("timeStamp", core.OctetBitString, {"explicit": 0, "optional": True}),
    ]


# --- GM/T 0031-2014, version 1 ---


class SES_ESPropertyInfoV1(core.Sequence):
    """Seal properties, version 1: certificates only, UTCTime dates."""

    _fields = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("certList", CertInfoList),
        ("createDate", core.UTCTime),
        ("validStart", core.UTCTime),
        ("validEnd", core.UTCTime),
    ]


class SES_SealInfoV1(core.Sequence):
    _fields = [
        ("header", SES_Header),
        ("esID", core.IA5String),
        ("property", SES_ESPropertyInfoV1),
        ("picture", SES_ESPictrueInfo),
        ("extDatas", ExtensionDatas, {"optional": True}),
    ]


class SES_SignInfoV1(core.Sequence):
    """The seal maker's signature of a version 1 seal."""

    _fields = [
        ("cert", core.OctetString),
        ("signatureAlgorithm", core.ObjectIdentifier),
        ("signData", core.OctetBitString),
    ]


class SESealV1(core.Sequence):
    _fields = [
        ("esealInfo", SES_SealInfoV1),
        ("signInfo", SES_SignInfoV1),
    ]


class SES_SealSignedDataV1(core.Sequence):
    """Not named in GM/T 0031 but what its 8.2 has the maker sign: SEQUENCE { sealInfo, cert,
    signatureAlgorithm } (the SESeal without signData)."""

    _fields = [
        ("sealInfo", SES_SealInfoV1),
        ("cert", core.OctetString),
        ("signatureAlgorithm", core.ObjectIdentifier),
    ]


class TBS_SignV1(core.Sequence):
    """What the signer signs in version 1; timeInfo is a BIT STRING holding time text or a token."""

    _fields = [
        ("version", core.Integer),
        ("eseal", SESealV1),
        ("timeInfo", core.OctetBitString),
        ("dataHash", core.OctetBitString),
        ("propertyInfo", core.IA5String),
        ("cert", core.OctetString),
        ("signatureAlgorithm", core.ObjectIdentifier),
    ]


class SES_SignatureV1(core.Sequence):
    _fields = [
        ("toSign", TBS_SignV1),
        ("signature", core.OctetBitString),
    ]
