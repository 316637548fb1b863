"""Validation of the Chinese identifiers carried in GM/T 0015 certificates.

* ``citizen_id`` — the 18-character resident identity card number of GB 11643-1999:
  6-digit administrative division code, 8-digit birth date (YYYYMMDD), 3-digit
  sequence code and one check character computed with ISO 7064 MOD 11-2
  (weights 2^(17-i) mod 11, check value 10 written 'X').
* ``unified_social_credit_code`` — the 18-character code of GB 32100-2015:
  registration authority (1 char), organization category (1 char), administrative
  division (6 digits), organization code body (9 chars) and one check character:
  ``C18 = 31 - (sum(value(c_i) * 3^(i-1) mod 31) mod 31)``, 31 -> 0, over the
  31-character alphabet 0-9 A-H J-N P-R T-U W-Y (no I, O, S, V, Z).
* ``organization_code`` — the legacy 9-character organization code of GB 11714-1997
  (8 characters + check: ``11 - (sum mod 11)`` with weights 3,7,9,10,5,8,4,2;
  10 -> 'X', 11 -> '0').

Every validator returns the normalised value (upper case, stripped) or raises
:class:`ca.errors.InvalidIdentifier` with a message naming the problem. The embedded
organization code of a USCC (characters 9-17) is *not* required to pass the
GB 11714 check: registrars have issued codes whose embedded part does not, and
refusing a real organization's certificate is worse than not catching a typo that
the USCC check character already catches. A few codes issued by early pilot registrars
(e.g. in Fujian before GB 32100 was final) fail even the USCC check character; such an
organization needs an RA decision, not a silently weaker check.
"""
from __future__ import annotations

import datetime as _dt

from ca.errors import InvalidIdentifier

__all__ = [
    "citizen_id",
    "citizen_id_check_char",
    "unified_social_credit_code",
    "uscc_check_char",
    "organization_code",
    "organization_code_check_char",
]

# --- GB 11643: citizen identity number ---------------------------------------------

_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))  # 7,9,10,5,8,4,2,1,6,3,...
_ID_CHECK = "10X98765432"  # index = weighted sum mod 11
# Province-level codes of GB/T 2260 (plus 71 Taiwan, 81/82 HK/Macao, 83 residence permits
# for Taiwan residents).
_PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
     50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83}
)


def citizen_id_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise InvalidIdentifier("citizen ID number: the first 17 characters must be digits")
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def citizen_id(value: str, *, today: _dt.date | None = None) -> str:
    """Validate an 18-character citizen ID number; return it normalised ('x' -> 'X')."""
    if not isinstance(value, str):
        raise InvalidIdentifier("citizen ID number must be a string")
    v = value.strip().upper()
    if len(v) != 18:
        raise InvalidIdentifier(f"citizen ID number must have 18 characters, got {len(v)}")
    body, check = v[:17], v[17]
    if not (body.isascii() and body.isdigit()):
        raise InvalidIdentifier("citizen ID number: the first 17 characters must be digits")
    if check not in "0123456789X":
        raise InvalidIdentifier(
            f"citizen ID number: the check character must be a digit or 'X', got {check!r}")
    if int(v[:2]) not in _PROVINCES:
        raise InvalidIdentifier(
            f"citizen ID number: {v[:2]!r} is not a province code of GB/T 2260")
    try:
        birth = _dt.date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        raise InvalidIdentifier(
            f"citizen ID number: birth date {v[6:14]!r} is not a valid date") from None
    today = today or _dt.date.today()
    if birth.year < 1900 or birth > today:
        raise InvalidIdentifier(
            f"citizen ID number: birth date {birth.isoformat()} is out of range")
    expected = citizen_id_check_char(body)
    if check != expected:
        raise InvalidIdentifier(
            f"citizen ID number: wrong check character {check!r} (expected {expected!r})")
    return v


# --- GB 32100: unified social credit code ------------------------------------------

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1,3,9,27,19,26,16,17,20,29,...
# Registration management departments of GB 32100 table 1 (first character).
_USCC_AUTHORITIES = frozenset("123456789ANY")


def uscc_check_char(first17: str) -> str:
    """The GB 32100 MOD 31 check character for the first 17 characters."""
    try:
        total = sum(_USCC_VALUE[c] * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    except (KeyError, ValueError):
        raise InvalidIdentifier(
            "unified social credit code: the first 17 characters must come from "
            "0-9 A-H J-N P-R T-U W-Y") from None
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def unified_social_credit_code(value: str) -> str:
    """Validate an 18-character unified social credit code; return it upper-cased."""
    if not isinstance(value, str):
        raise InvalidIdentifier("unified social credit code must be a string")
    v = value.strip().upper()
    if len(v) != 18:
        raise InvalidIdentifier(
            f"unified social credit code must have 18 characters, got {len(v)}")
    bad = sorted({c for c in v if c not in _USCC_VALUE})
    if bad:
        raise InvalidIdentifier(
            f"unified social credit code: character(s) {''.join(bad)!r} not allowed "
            "(alphabet 0-9 A-H J-N P-R T-U W-Y; I, O, S, V, Z are never used)")
    if v[0] not in _USCC_AUTHORITIES:
        raise InvalidIdentifier(
            f"unified social credit code: {v[0]!r} is not a registration authority code")
    if not v[2:8].isdigit():
        raise InvalidIdentifier(
            f"unified social credit code: characters 3-8 ({v[2:8]!r}) must be the "
            "administrative division code (6 digits)")
    expected = uscc_check_char(v[:17])
    if v[17] != expected:
        raise InvalidIdentifier(
            f"unified social credit code: wrong check character {v[17]!r} "
            f"(expected {expected!r})")
    return v


# --- GB 11714: organization code ---------------------------------------------------

_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _org_value(c: str) -> int:
    if "0" <= c <= "9":
        return ord(c) - 48
    if "A" <= c <= "Z":
        return ord(c) - 55
    raise InvalidIdentifier(
        f"organization code: character {c!r} not allowed (digits and A-Z only)")


def organization_code_check_char(first8: str) -> str:
    """The GB 11714 check character for the first 8 characters."""
    if len(first8) != 8:
        raise InvalidIdentifier("organization code body must have 8 characters")
    total = sum(_org_value(c) * w for c, w in zip(first8, _ORG_WEIGHTS, strict=True))
    c9 = 11 - total % 11
    return "X" if c9 == 10 else "0" if c9 == 11 else str(c9)


def organization_code(value: str) -> str:
    """Validate a 9-character organization code (``12345678-9`` or ``123456789``)."""
    if not isinstance(value, str):
        raise InvalidIdentifier("organization code must be a string")
    v = value.strip().upper()
    if len(v) == 10 and v[8] == "-":
        v = v[:8] + v[9]
    if len(v) != 9:
        raise InvalidIdentifier(f"organization code must have 9 characters, got {len(v)}")
    expected = organization_code_check_char(v[:8])
    if v[8] != expected:
        raise InvalidIdentifier(
            f"organization code: wrong check character {v[8]!r} (expected {expected!r})")
    return v
