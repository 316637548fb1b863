"""License types as templates: data (TOML or JSON), read into frozen dataclasses.

A template says three things about a kind of license (营业执照, 食品经营许可证, ...):

* ``fields``   — name, labels (zh/en), type ``text | date | code | number | enum``, required,
                 ``max_length``, ``pattern`` (a full-match regular expression) or a named
                 ``validator`` (``uscc``, ``citizen_id``, ``organization_code``: the GB 32100,
                 GB 11643 and GB 11714 check characters of ``ca.identifiers``), ``choices``
                 for enums, ``min``/``max`` for numbers;
* ``face``     — page size in mm, background colour or image, static texts, where each
                 field goes (mm from the top-left corner, font size in pt, optional label
                 and wrap width), the seal and QR code positions; the service's own values
                 ``license_id``, ``agency``, ``issue_date``, ``valid_to`` can be placed too;
* ``validity`` — ``years`` N from the issue date (or from a date field), ``field`` (a
                 date field gives the end; empty means long-term, 长期) or ``none``.

Built-in templates live in ``seal/license/templates/*.toml``; a home adds or overrides
types with ``H/license-types/*.toml`` or ``*.json`` (same schema). Unknown keys anywhere are
refused, so a typo in a template is an error at load time, not a silently missing field.
"""
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

from gm.records import frozen_record
from seal.license.errors import LicenseTypeError, UnknownLicenseType

__all__ = [
    "FieldSpec", "Placement", "StaticText", "Box", "Face", "ValidityRule", "LicenseType",
    "FIELD_TYPES", "VALIDATORS", "parse_type", "load_type_file", "builtin_types", "load_types",
    "get_type", "HOME_TYPES_DIR", "SYSTEM_FIELDS",
]

FIELD_TYPES = ("text", "date", "code", "number", "enum")
# Values the service supplies, placeable on the face but never declared by a template.
SYSTEM_FIELDS = {
    "license_id": ("证照编号", "License No."),
    "agency": ("发证机关", "Issued by"),
    "issue_date": ("发证日期", "Date of issue"),
    "valid_to": ("有效期至", "Valid until"),
}
VALIDATORS = ("uscc", "citizen_id", "organization_code", "uscc_or_citizen_id")
VALIDITY_KINDS = ("years", "field", "none")
HOME_TYPES_DIR = "license-types"
TEMPLATES_DIR = Path(__file__).with_name("templates")
_TYPE_CODE = re.compile(r"[0-9A-Z]{4}")
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}")


def _check_keys(where: str, raw: Any, required: set[str], optional: set[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise LicenseTypeError(f"{where}: expected a table, got {type(raw).__name__}")
    unknown = sorted(set(raw) - required - optional)
    if unknown:
        raise LicenseTypeError(f"{where}: unknown key(s) {', '.join(unknown)}; "
                               f"known: {', '.join(sorted(required | optional))}")
    missing = sorted(required - set(raw))
    if missing:
        raise LicenseTypeError(f"{where}: missing key(s) {', '.join(missing)}")
    return raw


def _num(where: str, value: Any, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LicenseTypeError(f"{where} must be a number, not {value!r}")
    if value < 0 or (positive and value == 0):
        raise LicenseTypeError(f"{where} must be {'positive' if positive else 'non-negative'}, not {value!r}")
    return float(value)


@frozen_record
class FieldSpec:
    name: str
    label_zh: str
    label_en: str
    type: str
    required: bool = True
    max_length: int | None = None
    pattern: str | None = None
    validator: str | None = None
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "label_zh": self.label_zh, "label_en": self.label_en,
                               "type": self.type, "required": self.required}
        for key in ("max_length", "pattern", "validator", "min", "max"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.choices:
            out["choices"] = list(self.choices)
        return out


@frozen_record
class Placement:
    """Where one field's value goes on the face: top-left (x, y) of the first line, in mm."""

    field: str
    x: float
    y: float
    size: float = 12.0  # pt
    label: bool = True  # print "label：" before the value
    width: float | None = None  # wrap lines at this width (mm)


@frozen_record
class StaticText:
    text: str
    x: float
    y: float
    size: float = 12.0
    colour: str = "#000000"
    centre: bool = False  # x is the centre of the line


@frozen_record
class Box:
    """A square region (x, y = top-left, size = side, all in mm) for the seal or the QR code."""

    x: float
    y: float
    size: float


@frozen_record
class Face:
    width: float
    height: float
    background: str = "#FFFFFF"
    background_image: str | None = None  # path, relative to the template file
    texts: tuple[StaticText, ...] = ()
    fields: tuple[Placement, ...] = ()
    seal: Box | None = None
    qr: Box | None = None


@frozen_record
class ValidityRule:
    kind: str  # years | field | none
    years: int | None = None
    from_field: str | None = None  # start date field for "years" (default: the issue date)
    field: str | None = None  # end date field for "field"

    def describe(self) -> str:
        if self.kind == "years":
            start = f"field {self.from_field}" if self.from_field else "the issue date"
            return f"valid {self.years} years from {start}"
        if self.kind == "field":
            return f"valid until field {self.field} (empty: long-term)"
        return "no end date (long-term)"


@frozen_record
class LicenseType:
    code: str
    name_zh: str
    name_en: str
    fields: tuple[FieldSpec, ...]
    face: Face
    validity: ValidityRule
    holder_name_field: str
    holder_id_field: str | None = None
    source: str = "built-in"

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.fields)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name_zh": self.name_zh, "name_en": self.name_en,
                "holder_name_field": self.holder_name_field, "holder_id_field": self.holder_id_field,
                "validity": self.validity.describe(), "source": self.source,
                "fields": [spec.to_dict() for spec in self.fields]}


# --------------------------------------------------------------------------- parsing


def _parse_field(where: str, raw: Any) -> FieldSpec:
    raw = _check_keys(where, raw, {"name", "label_zh", "label_en", "type"},
                      {"required", "max_length", "pattern", "validator", "choices", "min", "max"})
    name = raw["name"]
    if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name):
        raise LicenseTypeError(f"{where}: field name {name!r} must match {_FIELD_NAME.pattern}")
    if name in SYSTEM_FIELDS:
        raise LicenseTypeError(f"{where}: {name!r} is a value the service supplies; choose another field name")
    where = f"{where} ({name})"
    if raw["type"] not in FIELD_TYPES:
        raise LicenseTypeError(f"{where}: type {raw['type']!r} is not one of {', '.join(FIELD_TYPES)}")
    validator = raw.get("validator")
    if validator is not None and validator not in VALIDATORS:
        raise LicenseTypeError(f"{where}: validator {validator!r} is not one of {', '.join(VALIDATORS)}")
    pattern = raw.get("pattern")
    if pattern is not None:
        try:
            re.compile(pattern)
        except (re.error, TypeError) as exc:
            raise LicenseTypeError(f"{where}: pattern {pattern!r} is not a regular expression ({exc})") from None
    choices = raw.get("choices", [])
    if raw["type"] == "enum" and (not isinstance(choices, list) or not choices
                                  or not all(isinstance(c, str) for c in choices)):
        raise LicenseTypeError(f"{where}: an enum needs a non-empty list of string choices")
    max_length = raw.get("max_length")
    if max_length is not None and (not isinstance(max_length, int) or isinstance(max_length, bool)
                                   or max_length < 1):
        raise LicenseTypeError(f"{where}: max_length must be a positive integer")
    required = raw.get("required", True)
    if not isinstance(required, bool):
        raise LicenseTypeError(f"{where}: required must be true or false")
    for key in ("label_zh", "label_en"):
        if not isinstance(raw[key], str) or not raw[key]:
            raise LicenseTypeError(f"{where}: {key} must be a non-empty string")
    return FieldSpec(
        name=name, label_zh=raw["label_zh"], label_en=raw["label_en"], type=raw["type"],
        required=required, max_length=max_length, pattern=pattern, validator=validator,
        choices=tuple(choices),
        min=None if raw.get("min") is None else float(raw["min"]),
        max=None if raw.get("max") is None else float(raw["max"]),
    )


def _colour(where: str, value: Any) -> str:
    if not isinstance(value, str) or not _COLOUR.fullmatch(value):
        raise LicenseTypeError(f"{where}: colour {value!r} must be #RRGGBB")
    return value.upper()


def _box(where: str, raw: Any) -> Box:
    raw = _check_keys(where, raw, {"x", "y", "size"}, set())
    return Box(_num(f"{where}.x", raw["x"]), _num(f"{where}.y", raw["y"]),
               _num(f"{where}.size", raw["size"], positive=True))


def _parse_face(where: str, raw: Any, names: set[str], base: Path | None) -> Face:
    raw = _check_keys(where, raw, {"width", "height"},
                      {"background", "background_image", "texts", "fields", "seal", "qr"})
    width = _num(f"{where}.width", raw["width"], positive=True)
    height = _num(f"{where}.height", raw["height"], positive=True)
    texts = []
    for i, t in enumerate(raw.get("texts", [])):
        w = f"{where}.texts[{i}]"
        t = _check_keys(w, t, {"text", "x", "y"}, {"size", "colour", "centre"})
        texts.append(StaticText(str(t["text"]), _num(f"{w}.x", t["x"]), _num(f"{w}.y", t["y"]),
                                _num(f"{w}.size", t.get("size", 12), positive=True),
                                _colour(w, t.get("colour", "#000000")), bool(t.get("centre", False))))
    placements = []
    for i, p in enumerate(raw.get("fields", [])):
        w = f"{where}.fields[{i}]"
        p = _check_keys(w, p, {"field", "x", "y"}, {"size", "label", "width"})
        if p["field"] not in names and p["field"] not in SYSTEM_FIELDS:
            raise LicenseTypeError(f"{w}: places field {p['field']!r}, which the type does not declare")
        placements.append(Placement(p["field"], _num(f"{w}.x", p["x"]), _num(f"{w}.y", p["y"]),
                                    _num(f"{w}.size", p.get("size", 12), positive=True),
                                    bool(p.get("label", True)),
                                    None if p.get("width") is None else _num(f"{w}.width", p["width"], positive=True)))
    image = raw.get("background_image")
    if image is not None:
        path = Path(image)
        if not path.is_absolute() and base is not None:
            path = base / path
        if not path.is_file():
            raise LicenseTypeError(f"{where}.background_image: {path} does not exist")
        image = str(path)
    face = Face(width, height, _colour(f"{where}.background", raw.get("background", "#FFFFFF")), image,
                tuple(texts), tuple(placements),
                _box(f"{where}.seal", raw["seal"]) if "seal" in raw else None,
                _box(f"{where}.qr", raw["qr"]) if "qr" in raw else None)
    for name, box in (("seal", face.seal), ("qr", face.qr)):
        if box is not None and (box.x + box.size > width or box.y + box.size > height):
            raise LicenseTypeError(f"{where}.{name}: the box leaves the page ({width} x {height} mm)")
    return face


def _parse_validity(where: str, raw: Any, specs: dict[str, FieldSpec]) -> ValidityRule:
    raw = _check_keys(where, raw, {"kind"}, {"years", "from_field", "field"})
    kind = raw["kind"]
    if kind not in VALIDITY_KINDS:
        raise LicenseTypeError(f"{where}.kind {kind!r} is not one of {', '.join(VALIDITY_KINDS)}")
    for key in ("from_field", "field"):
        name = raw.get(key)
        if name is not None and (name not in specs or specs[name].type != "date"):
            raise LicenseTypeError(f"{where}.{key}: {name!r} is not a date field of the type")
    if kind == "years":
        years = raw.get("years")
        if not isinstance(years, int) or isinstance(years, bool) or not 1 <= years <= 100:
            raise LicenseTypeError(f"{where}.years must be an integer from 1 to 100")
        return ValidityRule("years", years=years, from_field=raw.get("from_field"))
    if kind == "field":
        if raw.get("field") is None:
            raise LicenseTypeError(f"{where}: kind 'field' needs field = <a date field>")
        return ValidityRule("field", field=raw["field"])
    return ValidityRule("none")


def parse_type(raw: Any, *, source: str = "built-in", base: Path | None = None) -> LicenseType:
    """Build a LicenseType from a decoded TOML/JSON document; LicenseTypeError names the problem."""
    where = source
    raw = _check_keys(where, raw, {"code", "name_zh", "name_en", "fields", "face", "validity", "holder_name_field"},
                      {"holder_id_field"})
    code = raw["code"]
    if not isinstance(code, str) or not _TYPE_CODE.fullmatch(code):
        raise LicenseTypeError(f"{where}: code {code!r} must be 4 characters 0-9 A-Z (it is part of license ids)")
    if not isinstance(raw["fields"], list) or not raw["fields"]:
        raise LicenseTypeError(f"{where}: fields must be a non-empty list")
    specs = [_parse_field(f"{where}: fields[{i}]", f) for i, f in enumerate(raw["fields"])]
    by_name = {s.name: s for s in specs}
    if len(by_name) != len(specs):
        raise LicenseTypeError(f"{where}: field names must be unique")
    for key in ("holder_name_field", "holder_id_field"):
        name = raw.get(key)
        if name is not None and name not in by_name:
            raise LicenseTypeError(f"{where}: {key} {name!r} is not a field of the type")
    face = _parse_face(f"{where}: face", raw["face"], set(by_name), base)
    validity = _parse_validity(f"{where}: validity", raw["validity"], by_name)
    return LicenseType(code=code, name_zh=str(raw["name_zh"]), name_en=str(raw["name_en"]), fields=tuple(specs),
                       face=face, validity=validity, holder_name_field=raw["holder_name_field"],
                       holder_id_field=raw.get("holder_id_field"), source=source)


def load_type_file(path: str | Path, *, source: str | None = None) -> LicenseType:
    """Read one template from a .toml or .json file."""
    path = Path(path)
    if path.suffix not in (".toml", ".json"):
        raise LicenseTypeError(f"{path}: a license type file ends in .toml or .json")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LicenseTypeError(f"cannot read license type {path}: {exc}") from None
    try:
        raw = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise LicenseTypeError(f"{path} is not valid {path.suffix[1:].upper()}: {exc}") from None
    return parse_type(raw, source=source or str(path), base=path.parent)


_BUILTIN: dict[str, LicenseType] | None = None


def builtin_types() -> dict[str, LicenseType]:
    """The types shipped in seal/license/templates (parsed once per process)."""
    global _BUILTIN
    if _BUILTIN is None:
        found = {}
        for path in sorted(TEMPLATES_DIR.glob("*.toml")):
            t = load_type_file(path, source="built-in")
            found[t.code] = t
        _BUILTIN = found
    return dict(_BUILTIN)


def load_types(home: Any = None) -> dict[str, LicenseType]:
    """Built-in types, overridden or extended by H/license-types/*.toml|*.json."""
    types = builtin_types()
    if home is not None:
        folder = Path(getattr(home, "path", home)) / HOME_TYPES_DIR
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.suffix in (".toml", ".json"):
                    t = load_type_file(path)
                    types[t.code] = t
    return types


def get_type(code: str, home: Any = None) -> LicenseType:
    types = load_types(home)
    try:
        return types[str(code).upper()]
    except KeyError:
        raise UnknownLicenseType(
            f"unknown license type {code!r}; known types: {', '.join(sorted(types)) or '(none)'}") from None


