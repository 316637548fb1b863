"""GM/T 0015-2012 identity extension values (declarative ASN.1).

TODO(gm/asn1): move to ``gm/asn1/gmt0015.py`` and register these classes as the
``_oid_specs`` of the extension names gm/asn1/registry.py gives the OIDs; until then
ca/ dumps and loads ``extn_value`` explicitly.

GM/T 0015 does not say whether the CHOICE tags of IdentifyCode are IMPLICIT or
EXPLICIT. Deployed CAs use EXPLICIT (``A0 12 13 10 <18 chars>``: readers in the wild
skip four header bytes to reach the number), and so do we; :func:`load_identify_code`
reads both.
"""
from __future__ import annotations

from asn1crypto import core


class IdentifyCode(core.Choice):
    """IdentifyCode ::= CHOICE { residenterCardNumber [0] PrintableString,
    militaryOfficerCardNumber [1] UTF8String, passportNumber [2] PrintableString }"""

    _alternatives = [
        ("residenter_card_number", core.PrintableString, {"explicit": 0}),
        ("military_officer_card_number", core.UTF8String, {"explicit": 1}),
        ("passport_number", core.PrintableString, {"explicit": 2}),
    ]


class _IdentifyCodeImplicit(core.Choice):
    _alternatives = [
        ("residenter_card_number", core.PrintableString, {"implicit": 0}),
        ("military_officer_card_number", core.UTF8String, {"implicit": 1}),
        ("passport_number", core.PrintableString, {"implicit": 2}),
    ]


# InsuranceNumber, ICRegistrationNumber, OrganizationCode, TaxationNumber ::= PrintableString
InsuranceNumber = ICRegistrationNumber = OrganizationCode = TaxationNumber = core.PrintableString


def load_identify_code(der: bytes) -> tuple[str, str]:
    """(alternative name, value) of a DER IdentifyCode, EXPLICIT or IMPLICIT tagged."""
    if der[:1] in (b"\xa0", b"\xa1", b"\xa2"):
        value = IdentifyCode.load(der)
    else:
        value = _IdentifyCodeImplicit.load(der)
    return value.name, value.native
