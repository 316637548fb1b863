"""Reading requests the same way in every view: JSON objects, typed fields, multipart forms.
(A whole number in the path or the query: :func:`gm.digits.ascii_whole_number`.)"""
from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.datastructures import FileStorage, MultiDict

from api.problems import Problem
from store.text import unstorable

__all__ = ["json_object", "field", "multipart", "refuse_unusable_characters"]


def json_object() -> dict[str, Any]:
    """The body as a JSON object; 415 for another media type, 400 for broken JSON."""
    if request.mimetype != "application/json":
        raise Problem(415, "unsupported-media-type",
                      f"send the body as application/json, not {request.mimetype or 'no Content-Type'}")
    data = request.get_json(silent=True)
    if data is None:
        raw = request.get_data(cache=True)
        raise Problem(400, "bad-json", "the body is not valid JSON" if raw else "the body is empty")
    if not isinstance(data, dict):
        raise Problem(400, "bad-json", f"the body must be a JSON object, not {type(data).__name__}")
    return data


def field(data: dict[str, Any], name: str, *, required: bool = False, kind: type = str,
          choices: tuple[str, ...] | None = None) -> Any:
    value = data.get(name)
    if value is None and name in data:
        # the schemas allow no null in a request: an explicit null is a mistake, not "absent"
        raise Problem(400, "invalid-request", f"field {name!r} must be a {kind.__name__}, not null")
    if value is None:
        if required:
            raise Problem(400, "invalid-request", f"field {name!r} is required")
        return None
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise Problem(400, "invalid-request", f"field {name!r} must be a {kind.__name__}")
    if choices is not None and value not in choices:
        raise Problem(400, "invalid-request", f"field {name!r} must be one of {', '.join(choices)}")
    return value


def multipart(file_parts: tuple[str, ...] = ()) -> tuple[MultiDict[str, str], MultiDict[str, FileStorage]]:
    """The fields and files of a multipart/form-data body. 400 for a part without a name
    (RFC 7578 section 4.2 requires one; werkzeug files such a part under None), and for one of
    ``file_parts`` sent as a plain field: its bytes would arrive decoded as text, or not at all."""
    form, files = request.form, request.files
    if None in form or None in files:
        raise Problem(400, "invalid-request",
                      "every part of a multipart/form-data body needs a name (Content-Disposition: form-data; "
                      'name="...")')
    for name in file_parts:
        if name in form:
            raise Problem(400, "invalid-request", f"the {name!r} part must be a file (Content-Disposition with a "
                                                  "filename, as curl -F name=@path sends it), not a text field")
    return form, files


def refuse_unusable_characters() -> None:
    """400 for a NUL or an unpaired surrogate anywhere in the request's text: the path, the
    query, form fields, JSON strings and keys. Without this a certificate search for "%00" was a
    500 on PostgreSQL only, and a CSR, a PIN or a CSV holding "\\ud800" in JSON a 500 on both
    databases. Run before every view (``create_app``); reads only bodies the view would parse
    anyway."""
    _refuse(request.path, "the URL path")
    _refuse_in_pairs(request.args, "query parameter")
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        _refuse_in_pairs(request.form, "form field")
    elif request.mimetype == "application/json":
        _refuse_in_json(request.get_json(silent=True))


def _refuse(text: Any, where: str) -> None:
    problem = unstorable(text) if isinstance(text, str) else None
    if problem is not None:
        raise Problem(400, "invalid-request", f"{where} contains {problem}")


def _refuse_in_pairs(pairs: MultiDict[str, str], what: str) -> None:
    for key, value in pairs.items(multi=True):
        _refuse(key, f"a {what} name")
        _refuse(value, f"{what} {key!r}")


def _refuse_in_json(data: Any) -> None:
    pending = [("the body", data)]  # a loop, not recursion: the JSON may nest as deep as the parser allows
    while pending:
        where, value = pending.pop()
        if isinstance(value, str):
            _refuse(value, where)
        elif isinstance(value, dict):
            for key, item in value.items():
                _refuse(key, f"a key of {where}")
                pending.append((f"field {key!r}" if where == "the body" else where, item))
        elif isinstance(value, list):
            pending.extend((where, item) for item in value)
