"""schemathesis against the served OpenAPI document (in process, WSGI): generated requests to
every operation, with an admin token, must never get a 5xx nor a response that breaks the
document (status codes, content types, JSON schemas). Bounded in `make test`;
ESEAL_SCHEMATHESIS_EXAMPLES raises it."""
from __future__ import annotations

import os

import pytest

from api import create_app
from ca import service
from keystore.soft import SoftKeyStore
from store.db import make_sessionmaker
from store.tokens import create_token

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

PASSPHRASE = "schemathesis passphrase"
from schemathesis.checks import (  # noqa: E402
    content_type_conformance, not_a_server_error, response_schema_conformance, status_code_conformance)

# DER request bodies: random bytes (structured mutation of valid DER is fuzzed in
# tests/test_fuzz_*.py; here the point is the HTTP contract)
from hypothesis import strategies as st  # noqa: E402

for _media in ("application/ocsp-request", "application/timestamp-query"):
    schemathesis.openapi.media_type(_media, st.binary(max_size=400))

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = int(os.environ.get("ESEAL_SCHEMATHESIS_EXAMPLES", "15"))


@pytest.fixture(scope="module")
def api_app(tmp_path_factory):
    from store.home import Home

    saved = os.environ.pop("ESEAL_DATABASE_URL", None)
    try:
        home = Home.create(tmp_path_factory.mktemp("schemathesis") / "home")
    finally:
        if saved is not None:
            os.environ["ESEAL_DATABASE_URL"] = saved
    sessions = make_sessionmaker(home.engine)
    ks = SoftKeyStore.initialise(sessions, actor="admin", passphrase=PASSPHRASE).store
    service.init_region(home, ks, region_code="440000", region_name="广东省", base_url="http://pki.example")
    token, _ = create_token(sessions, role="admin")
    app = create_app(home.path, passphrase=PASSPHRASE)
    app.config["ESEAL_TEST_TOKEN"] = token
    yield app
    app.extensions["eseal"].home.close()
    home.close()


def _operations(app):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
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
