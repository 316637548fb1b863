"""schemathesis against the served OpenAPI document (in process, WSGI; a home on SQLite and one
on PostgreSQL): generated requests to every operation, with an admin token, must never get a
5xx nor a response that breaks the document (status codes, content types, JSON schemas).
Bounded in `make test`; ESEAL_SCHEMATHESIS_EXAMPLES raises it."""
from __future__ import annotations

import contextlib
import os
import re

import pytest

from api import create_app
from ca import service
from keystore.soft import SoftKeyStore
from store.db import make_sessionmaker
from store.tokens import create_token

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

PASSPHRASE = "schemathesis passphrase"
# DER request bodies: random bytes (structured mutation of valid DER is fuzzed in
# tests/test_fuzz_*.py; here the point is the HTTP contract)
from hypothesis import strategies as st  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import AcceptedNegativeData, FailureGroup  # noqa: E402

for _media in ("application/ocsp-request", "application/timestamp-query"):
    schemathesis.openapi.media_type(_media, st.binary(max_size=400))

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = int(os.environ.get("ESEAL_SCHEMATHESIS_EXAMPLES", "15"))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api_app(request, tmp_path_factory):
    """An app over a home on each database: PostgreSQL refuses what SQLite stores (a NUL in
    text, say), so the same request can be a 500 on one only."""
    from store.testing import pg_schema_url

    with contextlib.ExitStack() as stack:
        url = None
        if request.param == "postgresql":
            url = stack.enter_context(pg_schema_url(request.getfixturevalue("pg_url")))
        yield from _app(tmp_path_factory, url, request.param)


def _app(tmp_path_factory, database_url, dialect):
    from store.home import Home

    saved = os.environ.pop("ESEAL_DATABASE_URL", None)
    try:
        home = Home.create(tmp_path_factory.mktemp("schemathesis") / "home", database_url=database_url)
    finally:
        if saved is not None:
            os.environ["ESEAL_DATABASE_URL"] = saved
    sessions = make_sessionmaker(home.engine)
    ks = SoftKeyStore.initialise(sessions, actor="admin", passphrase=PASSPHRASE).store
    service.init_region(home, ks, region_code="440000", region_name="广东省", base_url="http://pki.example")
    token, _ = create_token(sessions, role="admin")
    app = create_app(home.path, passphrase=PASSPHRASE)
    assert app.extensions["eseal"].home.engine.dialect.name == dialect
    app.config["ESEAL_TEST_TOKEN"] = token
    yield app
    app.extensions["eseal"].home.close()
    home.close()


def _document(app) -> dict:
    """The served OpenAPI document, asked for from an address of its own: after a few hundred
    examples the rate limit of the cases' address (127.0.0.1, public operations) may be spent,
    and schemathesis does not wait out a 429 when it loads a schema."""
    answer = app.test_client().get("/api/openapi.json", environ_base={"REMOTE_ADDR": "192.0.2.250"})
    assert answer.status_code == 200, answer.status_code
    return answer.json


def _operations(app):
    schema = schemathesis.openapi.from_dict(_document(app))
    schema.app = app  # cases are called through the app in process, as from_wsgi would
    for result in schema.get_all_operations():
        yield result.ok()


def test_api_conforms(api_app) -> None:
    from hypothesis import given

    token = api_app.config["ESEAL_TEST_TOKEN"]
    failures: list[str] = []
    operations = list(_operations(api_app))
    assert len(operations) >= 15
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def run(case) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
            response = case.call()
            assert response.status_code < 500, \
                f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
            # the document's promises: no 5xx, declared status codes, content types and JSON
            # schemas. Not "every schema-valid body is accepted": a string is schema-valid as
            # a CSR, and a 400 naming what is wrong with it is the right answer.
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:600]}")
    assert not failures, "\n\n".join(failures)


def _content_type(response) -> str:  # noqa: ANN001
    for key, value in response.headers.items():
        if key.lower() == "content-type":
            return (value[0] if isinstance(value, list) and value else value) or ""
    return ""


_BROKEN = re.compile(r"violates `(\w+)`")


def _only_bytes_broken(case, failure: Exception) -> bool:  # noqa: ANN001
    """An accepted "violation" no server can see: a multipart part is bytes on the wire, so
    a value said to break its `format: binary` arrives as valid bytes (alone, or with unknown
    query parameters, which the API ignores). Docs: docs/reliability.md, fuzzing."""
    if not isinstance(failure, AcceptedNegativeData) or case.media_type != "multipart/form-data":
        return False
    broken = set(_BROKEN.findall(failure.message))
    return "format" in broken and broken <= {"format", "additionalProperties"}


def test_schema_violating_requests_are_refused_with_a_problem(api_app) -> None:
    """Negative mode: every operation gets requests that break its own declaration (wrong
    types, missing required fields, values out of range, unknown enum values, in the body, the
    query and the path). Each must be refused with a 4xx problem+json -- never a 5xx, never
    accepted. Operations with nothing to break (no parameters, no body) are left out."""
    from hypothesis import given
    from hypothesis.errors import Unsatisfiable
    from schemathesis.checks import negative_data_rejection
    from schemathesis.generation import GenerationMode

    token = api_app.config["ESEAL_TEST_TOKEN"]
    failures: list[str] = []
    tried = 0
    for operation in _operations(api_app):
        @given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def run(case) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
            response = case.call()
            where = f"{case.method} {case.formatted_path}: {response.status_code}"
            assert response.status_code < 500, f"{where} {response.text[:300]}"
            if response.status_code >= 400:
                assert _content_type(response).startswith("application/problem+json"), \
                    f"{where} as {_content_type(response)!r}, not problem+json"
            try:
                case.validate_response(response, checks=[not_a_server_error, negative_data_rejection])
            except (FailureGroup, AcceptedNegativeData) as found:
                if not all(_only_bytes_broken(case, failure) for failure in getattr(found, "exceptions", [found])):
                    raise

        try:
            run()
            tried += 1
        except Unsatisfiable:
            continue  # nothing in this operation's declaration can be broken
        except Exception as exc:  # collect every operation's failure, then report them all
            tried += 1
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:600]}")
    assert tried >= 15
    assert not failures, "\n\n".join(failures)


def test_every_request_body_refuses_bad_bodies_with_a_problem(api_app) -> None:
    """Every operation that takes a request body, with an admin token: a body over the size
    limit (413), a body of a media type it does not take (415), and -- where it takes JSON --
    JSON that does not parse (400 bad-json) and JSON of the wrong shape (an array, a string:
    400). Each a problem+json, none a 5xx."""
    token = api_app.config["ESEAL_TEST_TOKEN"]
    limit = api_app.extensions["eseal"].config.max_content_length
    client = api_app.test_client()
    doc = _document(api_app)
    failures, tried, statuses = [], 0, []
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method not in ("post", "put", "patch") or "requestBody" not in operation:
                continue
            media = set(operation["requestBody"]["content"])
            url = path
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    url = url.replace("{" + parameter["name"] + "}", "1")
            headers = {"Authorization": f"Bearer {token}"}
            cases = [("too large", b"x" * (limit + 1), sorted(media)[0], {413}),
                     ("wrong media type", b"hello", "text/x-unknown", {415})]
            if "application/json" in media:
                cases += [("broken JSON", b'{"a": ', "application/json", {400}),
                          ("JSON array", b"[1, 2]", "application/json", {400}),
                          ("JSON string", b'"text"', "application/json", {400})]
            for label, body, ctype, expected in cases:
                tried += 1
                r = client.open(url, method=method.upper(), data=body, content_type=ctype, headers=headers)
                # 404 first is right where the path's thing does not exist and the view looks it up
                # before reading the body; 429 where a rate limit applies
                ok = r.status_code in expected | {404} and r.mimetype == "application/problem+json"
                statuses.append(r.status_code)
                if not ok:
                    failures.append(f"{method.upper()} {path} ({label}): {r.status_code} {r.mimetype} "
                                    f"{r.get_data(as_text=True)[:200]}")
    assert tried >= 40, tried
    assert not failures, "\n".join(failures)
    assert statuses.count(404) < len(statuses) / 4, statuses  # most bodies were read, not looked past
