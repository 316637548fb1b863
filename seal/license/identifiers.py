"""License identifiers: region + type + year + sequence + one ISO 7064 MOD 37,36 check character.

Format (22 characters, upper case, no separators)::

    RRRRRR TTTT YYYY NNNNNNN C
    440300 YYZZ 2026 0000042 K

* ``RRRRRR`` the region's GB/T 2260 administrative division code (6 digits);
* ``TTTT``   the license type code (4 characters 0-9 A-Z, from the template);
* ``YYYY``   the year of issue;
* ``NNNNNNN`` a per (region, type, year) sequence number, 7 digits, from the directory;
* ``C``      the check character of ISO/IEC 7064 MOD 37,36 (the hybrid system over the 36
             characters 0-9 A-Z, as used by GRid): it catches every single-character error
             and every transposition of adjacent characters, letters included, which a
             digits-only MOD 11,10 check could not do for the letter type code.

MOD 37,36 (hybrid, M = 36): p = M; for each character value v: s = (p + v) mod M, s = M if
s == 0, p = 2s mod (M + 1); the check value c makes (p + c) mod M == 1.

``parse_license_id`` validates the shape and the check character *before* anything looks
the identifier up, so a mistyped identifier is a clear InvalidLicenseId, never a
"not found" from the database.
"""
from __future__ import annotations

import re

from gm.records import frozen_record
from seal.license.errors import InvalidLicenseId

__all__ = ["ALPHABET", "mod37_36_check", "mod37_36_valid", "make_license_id", "parse_license_id",
           "LicenseId", "LICENSE_ID_LENGTH", "SEQUENCE_MAX"]

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
LICENSE_ID_LENGTH = 22
SEQUENCE_MAX = 9_999_999
_SHAPE = re.compile(r"(\d{6})([0-9A-Z]{4})(\d{4})(\d{7})([0-9A-Z])")


def _residue(text: str) -> int:
    m = 36
    p = m
    for ch in text:
        try:
            v = _VALUE[ch]
        except KeyError:
            raise InvalidLicenseId(f"character {ch!r} is not in 0-9 A-Z") from None
        s = (p + v) % m or m
        p = (2 * s) % (m + 1)
    return p


def mod37_36_check(text: str) -> str:
    """The ISO 7064 MOD 37,36 check character of `text` (characters 0-9 A-Z)."""
    p = _residue(text)
    return ALPHABET[(1 - p) % 36]


def mod37_36_valid(text_with_check: str) -> bool:
    """True when the last character is the MOD 37,36 check character of the others."""
    return len(text_with_check) >= 2 and mod37_36_check(text_with_check[:-1]) == text_with_check[-1]


@frozen_record
class LicenseId:
    region_code: str
    type_code: str
    year: int
    sequence: int
    check: str

    def __str__(self) -> str:
        return f"{self.region_code}{self.type_code}{self.year:04d}{self.sequence:07d}{self.check}"


def make_license_id(region_code: str, type_code: str, year: int, sequence: int) -> str:
    """Assemble an identifier and append its check character."""
    if not re.fullmatch(r"\d{6}", region_code or ""):
        raise InvalidLicenseId(f"region code {region_code!r} must be 6 digits (GB/T 2260)")
    if not re.fullmatch(r"[0-9A-Z]{4}", type_code or ""):
        raise InvalidLicenseId(f"type code {type_code!r} must be 4 characters 0-9 A-Z")
    if not 1000 <= year <= 9999:
        raise InvalidLicenseId(f"year {year} out of range")
    if not 1 <= sequence <= SEQUENCE_MAX:
        raise InvalidLicenseId(f"sequence {sequence} out of range 1..{SEQUENCE_MAX}")
    body = f"{region_code}{type_code}{year:04d}{sequence:07d}"
    return body + mod37_36_check(body)


def parse_license_id(value: str) -> LicenseId:
    """Validate a license identifier (shape, then check character) and split it."""
    if not isinstance(value, str):
        raise InvalidLicenseId("a license identifier is a string")
    v = value.strip().upper().replace("-", "").replace(" ", "")
    if len(v) != LICENSE_ID_LENGTH:
        raise InvalidLicenseId(
            f"license identifier {value!r} must have {LICENSE_ID_LENGTH} characters "
            f"(region 6 + type 4 + year 4 + sequence 7 + check 1), got {len(v)}")
    m = _SHAPE.fullmatch(v)
    if m is None:
        raise InvalidLicenseId(
            f"license identifier {value!r} is malformed: expected 6 digits, 4 characters 0-9 A-Z, "
            "4 digits (year), 7 digits (sequence) and a check character")
    expected = mod37_36_check(v[:-1])
    if v[-1] != expected:
        raise InvalidLicenseId(
            f"license identifier {value!r}: wrong check character {v[-1]!r} (expected {expected!r}); "
            "the identifier was mistyped")
    region, type_code, year, seq, check = m.groups()
    return LicenseId(region, type_code, int(year), int(seq), check)
