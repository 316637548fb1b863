"""The orjson JSON provider (api/jsonprovider.py) writes and reads what Flask's own provider did.

Real app, real requests through the test client: a verification report, problem+json errors,
malformed and unusual JSON bodies; and, through the provider directly, the values no endpoint
sends today (datetimes, dataclasses, UUIDs, Decimals, non-str keys, integers beyond 64 bits,
NaN bodies, byte order marks, UTF-16). The reference is always Flask's
``DefaultJSONProvider`` with the app's settings, read back by the standard ``json`` module,
with key order compared too (the app does not sort keys: documents keep insertion order).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import json
import math
import uuid

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from markupsafe import Markup

from api import create_app
from api.jsonprovider import OrjsonProvider
from ca.testing import soft_region
from store.db import make_sessionmaker
from store.testing import *
from store.tokens import create_token

PASSPHRASE = "json provider passphrase"
PROBLEM = "https://eseal.example/problems/"


def ordered(data: bytes | str):
    """The document as the standard module reads it, objects as lists of pairs (order counts)."""
    return json.loads(data, object_pairs_hook=list)


def reference(app: Flask) -> DefaultJSONProvider:
    """Flask's own provider, set up as create_app sets the app's."""
    std = DefaultJSONProvider(app)
    std.ensure_ascii, std.sort_keys = app.json.ensure_ascii, app.json.sort_keys  # type: ignore[attr-defined]
    return std


@pytest.fixture
def app(eseal_home):
    sessions = make_sessionmaker(eseal_home.engine)
    soft_region(eseal_home, PASSPHRASE, base_url="http://pki.example")
    app = create_app(eseal_home.path, passphrase=PASSPHRASE)
    app.config["TEST_ADMIN_TOKEN"] = create_token(sessions, role="admin")[0]
    yield app
    app.extensions["eseal"].home.close()


@pytest.fixture
def bare() -> Flask:
    """A plain Flask app with the provider, Flask's default settings (sorted keys, ASCII)."""
    app = Flask("bare")
    app.json = OrjsonProvider(app)
    return app


def test_create_app_installs_the_provider_with_the_settings_it_had(app) -> None:
    assert isinstance(app.json, OrjsonProvider)
    assert app.json.sort_keys is False and app.json.ensure_ascii is False


def test_a_verification_report_is_the_document_flask_wrote(app, shared_vectors) -> None:
    from verify.service import shared_verifier

    ofd = (shared_vectors / "ofd" / "v4signed.ofd").read_bytes()
    resp = app.test_client().post("/api/v1/verify", data=ofd, content_type="application/ofd")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    raw = resp.get_data()
    assert raw.endswith(b"\n") and int(resp.headers["Content-Length"]) == len(raw)
    sent = json.loads(raw)   # what a client with the standard module reads
    assert sent["signatures"] and sent["indication"] == resp.headers["X-Eseal-Indication"]

    # the same report object through both providers: the same document, the same key order
    with app.test_request_context():
        report = shared_verifier(app.extensions["eseal"].home).verify_bytes(ofd, name="request body")
        body = report.to_dict()
        ours, std = app.json.response(body), reference(app).response(body)
    assert ours.mimetype == std.mimetype == "application/json"
    assert ordered(ours.get_data()) == ordered(std.get_data())
    assert [k for k, _ in ordered(ours.get_data())] == list(body)  # insertion order, as Flask with sort_keys off
    assert json.loads(ours.get_data())["signatures"][0].keys() == sent["signatures"][0].keys()


def test_problems_are_the_documents_flask_wrote(app) -> None:
    client = app.test_client()
    resp = client.post("/api/v1/verify", data=b"hello", content_type="application/octet-stream")
    assert resp.status_code == 400 and resp.mimetype == "application/problem+json"
    body = ordered(resp.get_data())
    assert [k for k, _ in body] == ["type", "title", "status", "detail"]
    assert dict(body)["type"] == PROBLEM + "unverifiable-input" and dict(body)["status"] == 400
    with app.test_request_context():
        assert ordered(reference(app).dumps(dict(body), ensure_ascii=False)) == body

    missing = client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404 and ordered(missing.get_data()) == [
        ("type", PROBLEM + "not-found"), ("title", "Not found"), ("status", 404),
        ("detail", json.loads(missing.get_data())["detail"])]


def _detail_flask_gave(body: bytes) -> tuple[str, str] | None:
    """(slug, detail) api/request.py answered with Flask's provider (standard json.loads),
    None when the body was a JSON object."""
    try:
        data = json.loads(body)
    except ValueError:
        return "bad-json", "the body is not valid JSON" if body else "the body is empty"
    if not isinstance(data, dict):
        return "bad-json", f"the body must be a JSON object, not {type(data).__name__}"
    return None


@pytest.mark.parametrize("body", [
    b"{", b"", b"[1, 2", b'{"profile": }', b"\xff\xfe\xfa", b'"\\ud800', b"nul",
    b"NaN", b"[1]", b'"text"', b"12345678901234567890123",   # JSON, but not an object
    b'\xef\xbb\xbf{"profile": "organization"}',                 # a BOM: json.loads(bytes) takes it
    '{"profile": "organization"}'.encode("utf-16"),             # so it does UTF-16
    b'{"profile": "organization", "n": NaN}',                   # and NaN
])
def test_request_bodies_give_the_answer_they_gave(app, body) -> None:
    resp = app.test_client().post("/api/v1/certificates", data=body, content_type="application/json",
                                  headers={"Authorization": f"Bearer {app.config['TEST_ADMIN_TOKEN']}"})
    expected = _detail_flask_gave(body)
    problem = json.loads(resp.get_data())
    if expected is None:   # an object without "csr": the view read it and asked for the field
        assert (resp.status_code, problem["detail"]) == (400, "field 'csr' is required")
    else:
        assert resp.status_code == 400 and resp.mimetype == "application/problem+json"
        assert (problem["type"], problem["detail"]) == (PROBLEM + expected[0], expected[1])
        assert problem["title"] == "Request body is not valid JSON"


@dataclasses.dataclass
class _Seal:
    _hidden: int
    name: str
    at: dt.datetime


class _Colour(str, enum.Enum):
    RED = "red"


class _Key(str):
    pass


_STRANGE = {
    "aware": dt.datetime(2026, 11, 24, 5, 6, 7, 890, tzinfo=dt.UTC),
    "naive": dt.datetime(2026, 11, 24, 5, 6, 7),
    "east8": dt.datetime(2026, 11, 24, 13, 6, 7, tzinfo=dt.timezone(dt.timedelta(hours=8))),
    "day": dt.date(2026, 1, 2),
    "seal": _Seal(1, "印章", dt.datetime(2020, 2, 3, tzinfo=dt.UTC)),
    "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "amount": decimal.Decimal("12.3400"),
    "markup": Markup("<b>x</b>"),
    "colour": _Colour.RED,
    "tuple": (1, "二", None, True, 1.5, 1e-07, 1e16, -0.0),
    "big": 2 ** 64 - 1,
    "name": "深圳某某科技有限公司 \u2028 \x7f \x00 \"quoted\" \\",
    "nested": {"z": 1, "a": [{"y": 2, "b": 3}]},
}


@pytest.mark.parametrize("sort_keys", [False, True])
@pytest.mark.parametrize("ensure_ascii", [False, True])
def test_values_no_endpoint_sends_yet_come_out_as_flask_wrote_them(app, sort_keys, ensure_ascii) -> None:
    app.json.sort_keys, app.json.ensure_ascii = sort_keys, ensure_ascii  # type: ignore[attr-defined]
    std = reference(app)
    with app.app_context():
        for value in (_STRANGE, [_STRANGE, {"k": _STRANGE}]):
            # orjson writes these itself; only non-ASCII text under ensure_ascii goes to the json module
            assert (app.json._encode(value, {}) is None) is ensure_ascii  # type: ignore[attr-defined]
            ours = app.json.dumps(value)
            assert ordered(ours) == ordered(std.dumps(value))
            assert ours.isascii() or not ensure_ascii
            assert ordered(app.json.response(value).get_data()) == ordered(std.response(value).get_data())
            for kwargs in ({"separators": (",", ":")}, {"indent": 2}, {"sort_keys": not sort_keys},
                           {"ensure_ascii": not ensure_ascii}, {"indent": 4}, {"default": str}):
                assert ordered(app.json.dumps(value, **kwargs)) == ordered(std.dumps(value, **kwargs)), kwargs
    assert json.loads(ours)[0]["aware"] == "Tue, 24 Nov 2026 05:06:07 GMT"   # http_date, as Flask
    assert json.loads(ours)[0]["seal"]["_hidden"] == 1


@pytest.mark.parametrize("value", [
    {"serial": 2 ** 159 + 12345},                 # a certificate serial: 20 bytes
    {"serial": -(2 ** 63) - 1},
    [2 ** 64],
    {1: "one", 2.5: "two and a half", False: "no", None: "nothing"},   # keys the json module converts
    {_Key("sub"): "a str subclass as a key"},
    {"deep": json.loads("[" * 400 + "]" * 400)},  # deeper than orjson goes
])
def test_what_orjson_refuses_goes_to_the_standard_provider(app, bare, value) -> None:
    def outcome(write, provider):  # the document, or the error (sorting mixed keys fails in the json module)
        try:
            return ordered(write(provider))
        except TypeError as exc:
            return f"TypeError: {exc}"

    def dumps(provider):
        return provider.dumps(value)

    def response(provider):
        return provider.response(value).get_data()

    for flask_app in (app, bare):
        std = reference(flask_app)
        with flask_app.app_context():
            for write in (dumps, response):
                assert outcome(write, flask_app.json) == outcome(write, std)
    with app.app_context():
        assert json.loads(app.json.dumps(value)) == json.loads(reference(app).dumps(value))  # app: no sorting
        if "serial" in value:
            assert json.loads(app.json.dumps(value))["serial"] == value["serial"]


def test_what_flask_refused_is_still_refused(app) -> None:
    std = reference(app)
    for value in ({"s": {1, 2}}, {"b": b"bytes"}, {"t": dt.time(1, 2)}, {(1, 2): "tuple key"}, object()):
        with app.app_context():
            with pytest.raises(TypeError) as ours:
                app.json.dumps(value)
            with pytest.raises(TypeError) as theirs:
                std.dumps(value)
        assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("text", [
    b'{"serial": 1267650600228229401496703205376, "n": -9223372036854775809}',
    b'{"a": [1.5, 1e300, -1e19, 18446744073709551615, 9223372036854775807]}',
    b'{"a": NaN, "b": Infinity, "c": -Infinity}',
    b"1e400",
    b'\xef\xbb\xbf{"bom": "\xe5\x8d\xb0"}',
    '{"utf16": "印章"}'.encode("utf-16-le"),
    '{"utf32": "印章"}'.encode("utf-32"),
    b'"\\ud800"',
    b'{"a": 1, "a": 2}',
    '{"str": "印章"}',
    bytearray(b'{"ba": true}'),
])
def test_loads_reads_what_json_loads_reads(app, text) -> None:
    with app.app_context():
        got = app.json.loads(text)
    expected = json.loads(text)
    assert repr(got) == repr(expected)  # repr: NaN compares unequal to itself, ints and floats must not mix
    assert type(got) is type(expected)
    if isinstance(got, dict) and "serial" in got:
        assert got["serial"] == 2 ** 100 and isinstance(got["serial"], int)
    if isinstance(got, float):
        assert math.isinf(got)


@pytest.mark.parametrize("text", [b"{", b"", b"[1,]", b"\xff", "{'single': 1}", b'{"a": 1} x', 42])
def test_loads_fails_as_json_loads_fails(app, text) -> None:
    with pytest.raises(Exception) as theirs:
        json.loads(text)
    with app.app_context(), pytest.raises(Exception) as ours:
        app.json.loads(text)
    assert type(ours.value) is type(theirs.value) and str(ours.value) == str(theirs.value)
    if isinstance(theirs.value, ValueError):   # what Flask's request.get_json turns into a 400
        assert isinstance(ours.value, ValueError)


def test_json_nested_past_the_recursion_limit_is_malformed_not_an_error(app) -> None:
    """orjson refuses more than 1,024 levels; json.loads then raised RecursionError, which no
    caller expects: every JSON endpoint answered 500 (and, once the request check read every
    JSON body, so did those that take none). Now a ValueError, so a 400 bad-json problem."""
    deep = b"[" * 100_000
    with app.app_context(), pytest.raises(ValueError, match="nested too deeply"):
        app.json.loads(deep)
    auth = {"Authorization": f"Bearer {app.config['TEST_ADMIN_TOKEN']}"}
    client = app.test_client()
    taken = client.post("/api/v1/certificates", data=deep, content_type="application/json", headers=auth)
    assert taken.status_code == 400 and json.loads(taken.get_data())["type"] == PROBLEM + "bad-json"
    not_taken = client.post("/api/v1/verify", data=deep, content_type="application/json")
    assert not_taken.status_code == 415, not_taken.status_code
