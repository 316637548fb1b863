"""Check a license's field data against its type; every problem names its field.

``validate_fields(type, data)`` returns the normalised values (strings, trimmed; codes
upper-cased by their validator; dates as ISO ``YYYY-MM-DD``; numbers as canonical decimal
text) or raises :class:`LicenseValidationError` listing *all* problems at once, so a
batch row or a form shows everything to fix in one go. Fields the type does not declare
are errors too: a misspelt column name must not silently drop data.

``validity_end(type, values, issued_on)`` applies the type's validity rule.
"""
from __future__ import annotations

import datetime as _dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from ca import identifiers as ids
from ca.errors import InvalidIdentifier
from seal.license.errors import FieldError, LicenseValidationError
from seal.license.types import FieldSpec, LicenseType

__all__ = ["validate_fields", "validity_end", "add_years", "parse_date", "unfit_character"]


def _uscc_or_citizen_id(value: str) -> str:
    try:
        return ids.unified_social_credit_code(value)
    except InvalidIdentifier as first:
        if value.strip()[:17].isdigit():
            return ids.citizen_id(value)
        raise first


_VALIDATORS = {
    "uscc": ids.unified_social_credit_code,
    "citizen_id": ids.citizen_id,
    "organization_code": ids.organization_code,
    "uscc_or_citizen_id": _uscc_or_citizen_id,
}


def parse_date(text: str) -> _dt.date:
    """``YYYY-MM-DD`` (also ``YYYY/MM/DD`` and ``YYYYMMDD``, common in spreadsheets)."""
    t = text.strip()
    m = re.fullmatch(r"(\d{4})[-/]?(\d{1,2})[-/]?(\d{1,2})", t) if not t.isdigit() or len(t) == 8 else None
    if m is None:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)")
    try:
        return _dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        raise ValueError(f"{text!r} is not a valid calendar date") from None


# What XML 1.0 cannot hold (a license's fields go into its OFD as text): C0 controls other
# than tab and line breaks, unpaired surrogates (JSON can carry them), U+FFFE and U+FFFF.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def unfit_character(text: str) -> str | None:
    """Why ``text`` cannot be written into a license (None when it can): the first character
    XML cannot hold. PostgreSQL refuses U+0000 in text too, so this keeps it from the database."""
    bad = _NOT_XML_CHAR.search(text)
    if bad is None:
        return None
    return (f"contains U+{ord(bad.group()):04X} at position {bad.start() + 1}: control characters and unpaired "
            "surrogates cannot appear in a license")


def _check(spec: FieldSpec, raw: Any) -> str:
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float, Decimal)):
        raise ValueError(f"expected text, got {type(raw).__name__}")
    value = str(raw).strip()
    problem = unfit_character(value)
    if problem is not None:
        raise ValueError(problem)
    if spec.max_length is not None and len(value) > spec.max_length:
        raise ValueError(f"at most {spec.max_length} characters, got {len(value)}")
    if spec.type == "date":
        value = parse_date(value).isoformat()
    elif spec.type == "number":
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
        if not number.is_finite():
            raise ValueError(f"{value!r} is not a finite number")
        if spec.min is not None and number < Decimal(str(spec.min)):
            raise ValueError(f"{value} is below the minimum {spec.min:g}")
        if spec.max is not None and number > Decimal(str(spec.max)):
            raise ValueError(f"{value} is above the maximum {spec.max:g}")
        value = format(number.normalize(), "f")
    elif spec.type == "enum":
        if value not in spec.choices:
            raise ValueError(f"{value!r} is not one of {', '.join(spec.choices)}")
    if spec.validator is not None:
        try:
            value = _VALIDATORS[spec.validator](value)
        except InvalidIdentifier as exc:
            raise ValueError(str(exc)) from None
    if spec.pattern is not None and not re.fullmatch(spec.pattern, value):
        raise ValueError(f"{value!r} does not match the pattern {spec.pattern}")
    return value


def validate_fields(license_type: LicenseType, data: Any) -> dict[str, str]:
    """Normalised field values, or LicenseValidationError naming every bad field."""
    if not isinstance(data, dict):
        raise LicenseValidationError([FieldError("(data)", f"expected an object of fields, got {type(data).__name__}")])
    errors: list[FieldError] = []
    known = set(license_type.field_names)
    for name in sorted(set(data) - known):
        errors.append(FieldError(str(name), f"not a field of {license_type.code} ({license_type.name_zh}); "
                                            f"fields: {', '.join(license_type.field_names)}"))
    values: dict[str, str] = {}
    for spec in license_type.fields:
        raw = data.get(spec.name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if spec.required:
                errors.append(FieldError(spec.name, f"required ({spec.label_zh} / {spec.label_en})"))
            continue
        try:
            values[spec.name] = _check(spec, raw)
        except ValueError as exc:
            errors.append(FieldError(spec.name, f"{exc} ({spec.label_zh})"))
    if not errors:
        rule = license_type.validity
        start = values.get(rule.from_field) if rule.from_field else None
        end = values.get(rule.field) if rule.field else None
        if start and end and end < start:
            errors.append(FieldError(rule.field or "", f"ends before {rule.from_field}"))
    if errors:
        raise LicenseValidationError(errors)
    return values


def add_years(day: _dt.date, years: int) -> _dt.date:
    """`day` plus whole years; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def validity_end(license_type: LicenseType, values: dict[str, str], issued_on: _dt.date) -> _dt.date | None:
    """The last day of validity (inclusive), or None for a long-term license.

    ``years``: N years from the start (issue date or ``from_field``) minus one day, the way
    a five-year permit issued on 2026-11-23 reads "有效期至 2031-11-22".
    """
    rule = license_type.validity
    if rule.kind == "years":
        start = parse_date(values[rule.from_field]) if rule.from_field and values.get(rule.from_field) else issued_on
        return add_years(start, rule.years or 0) - _dt.timedelta(days=1)
    if rule.kind == "field":
        value = values.get(rule.field or "")
        return parse_date(value) if value else None
    return None
