"""Flask's JSON by orjson: the documents of Flask's ``DefaultJSONProvider``, several times sooner.

``jsonify`` of a verification report (~9 KB) took ~60 µs with the standard ``json`` module,
a large share of a verify request's HTTP layer; with orjson it takes ~9 µs, the same document.
:class:`OrjsonProvider` keeps what callers rely on from ``DefaultJSONProvider``:

* its settings: ``sort_keys`` (the app turns sorting off: keys keep their insertion order),
  ``ensure_ascii``, ``compact`` and ``mimetype``; ``dumps`` keyword arguments ``sort_keys``,
  ``ensure_ascii``, ``indent`` (2) and ``separators``;
* its types: datetimes and dates go to Flask's own ``default`` (``http_date``), and so do
  dataclasses (``dataclasses.asdict``), ``Decimal`` and anything else orjson does not write
  itself, so an unknown type fails as before; UUIDs are written as ``str(uuid)``, as Flask does;
* every document orjson refuses or would write differently goes to the standard provider
  instead: integers beyond 64 bits (certificate serials can be), keys not plain ``str`` (``json``
  converts ``1`` to ``"1"``), nesting deeper than orjson's limit, non-ASCII output when
  ``ensure_ascii`` holds, and any other ``dumps`` keyword argument (``cls``, ``default``...).

Documents differ from the standard ones only in insignificant whitespace and in the spelling
of floats (``1e-7`` for ``1e-07``); NaN and infinities, which the standard module writes as
non-JSON ``NaN`` / ``Infinity``, come out as ``null``; and an ``Enum`` member that is not a
``str`` or ``int`` is written as its value where Flask raised ``TypeError``.

``loads`` parses with orjson and falls back to ``json.loads`` whenever orjson refuses the text
(``NaN``, a byte order mark, UTF-16, lone surrogates...: the standard module then accepts it
or raises its usual ``json.JSONDecodeError``, a ``ValueError``, so a malformed body is still
a 400 problem) or may have parsed it differently: orjson turns integers beyond 64 bits into
floats, so a document holding a float of magnitude 2**63 or more is parsed again by ``json``.
"""
from __future__ import annotations

import json
from typing import Any

import orjson
from flask import Response
from flask.json.provider import DefaultJSONProvider

__all__ = ["OrjsonProvider"]

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
# separators that change whitespace only: any of them gives the same parsed document
_SEPARATORS = ((",", ":"), (", ", ": "), (",", ": "), (", ", ":"))
_FLOAT_FROM_BIG_INT = float(2 ** 63)   # orjson parses a larger integer literal as a float


def _standard_loads(s: str | bytes) -> Any:
    """``json.loads``, with a document nested past Python's recursion limit (orjson refuses
    depths over 1,024; ``json`` then recurses once per level) refused as malformed JSON, a
    ValueError, rather than a RecursionError that no caller expects (a 500)."""
    try:
        return json.loads(s)
    except RecursionError:
        raise ValueError("the JSON document is nested too deeply to be read") from None


def _may_hold_big_int(data: Any) -> bool:
    """True when ``data`` (as orjson parsed it) holds a float that may come from an integer
    literal beyond 64 bits."""
    stack = [data]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind is float and not -_FLOAT_FROM_BIG_INT < item < _FLOAT_FROM_BIG_INT:
            return True
    return False


class OrjsonProvider(DefaultJSONProvider):
    """``app.json = OrjsonProvider(app)``; settings as on ``DefaultJSONProvider``."""

    def _encode(self, obj: Any, kwargs: dict[str, Any]) -> bytes | None:
        """``obj`` as orjson writes it, or None where only the standard module writes it right."""
        option = _OPTIONS
        ensure_ascii = self.ensure_ascii
        sort_keys = self.sort_keys
        for key, value in kwargs.items():
            if key == "sort_keys":
                sort_keys = value
            elif key == "ensure_ascii":
                ensure_ascii = value
            elif key == "indent" and (value is None or type(value) is int and value == 2):
                if value:
                    option |= orjson.OPT_INDENT_2
            elif key == "separators" and (value is None or isinstance(value, (tuple, list))
                                          and tuple(value) in _SEPARATORS):
                pass
            else:
                return None
        if sort_keys:
            option |= orjson.OPT_SORT_KEYS
        try:
            out = orjson.dumps(obj, default=self.default, option=option)
        except orjson.JSONEncodeError:
            return None
        if ensure_ascii and not out.isascii():
            return None
        return out

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        out = self._encode(obj, kwargs)
        return super().dumps(obj, **kwargs) if out is None else out.decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if kwargs:
            return json.loads(s, **kwargs)
        try:
            data = orjson.loads(s)
        except orjson.JSONDecodeError:
            return _standard_loads(s)
        return _standard_loads(s) if _may_hold_big_int(data) else data

    def response(self, *args: Any, **kwargs: Any) -> Response:
        obj = self._prepare_response_obj(args, kwargs)
        pretty = (self.compact is None and self._app.debug) or self.compact is False
        out = self._encode(obj, {"indent": 2} if pretty else {})
        if out is None:
            return super().response(*args, **kwargs)
        return self._app.response_class(out + b"\n", mimetype=self.mimetype)
