"""A NUL or an unpaired surrogate in a request's text is a 400 problem on both databases.

PostgreSQL refuses NUL in text columns and parameters ("PostgreSQL text fields cannot contain
NUL (0x00) bytes") where SQLite stores it, so a search for it was a 500 on PostgreSQL only
(found by schemathesis run against a PostgreSQL home). JSON's "\\ud800" escape carries a lone
surrogate, which no UTF-8 encoder takes: a CSR, a PIN or a batch's CSV holding one was a 500
on both. api.request.refuse_unusable_characters now refuses both before any view, naming
where the character was.
"""
from __future__ import annotations

import pytest

from api import create_app
from ca.testing import soft_region
from store.db import make_sessionmaker
from store.testing import *  # noqa: F401,F403
from store.tokens import create_token

PASSPHRASE = "nul characters passphrase"
PROBLEM = "https://eseal.example/problems/"


@pytest.fixture
def api(eseal_home):
    soft_region(eseal_home, PASSPHRASE, base_url="http://pki.example")
    token, _ = create_token(make_sessionmaker(eseal_home.engine), role="admin")
    app = create_app(eseal_home.path, passphrase=PASSPHRASE)
    yield app.test_client(), {"Authorization": f"Bearer {token}"}
    app.extensions["eseal"].home.close()


def _refused(response, words: str) -> None:
    assert response.status_code == 400, (response.status_code, response.get_data(as_text=True)[:300])
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["type"] == PROBLEM + "invalid-request"
    assert words in body["detail"] and ("NUL" in body["detail"] or "surrogate" in body["detail"]), body["detail"]


def test_a_search_for_nul_is_refused(api) -> None:
    client, auth = api
    _refused(client.get("/api/v1/certificates?q=%00", headers=auth), "query parameter 'q'")
    assert client.get("/api/v1/certificates?q=x", headers=auth).status_code == 200  # the same search without it


def test_nul_in_a_path_is_refused(api) -> None:
    client, auth = api
    _refused(client.get("/api/v1/certificates/ab%00cd", headers=auth), "URL path")
    _refused(client.get("/api/v1/licenses/L%00/status"), "URL path")


def test_nul_in_a_json_field_is_refused(api) -> None:
    client, auth = api
    _refused(client.post("/api/v1/seals/440000-2026-000001/grants", headers=auth, json={"agency": "某局\u0000"}),
             "field 'agency'")
    _refused(client.post("/api/v1/seals/440000-2026-000001/grants", headers=auth,
                         json={"agency": "x", "more": [{"deep": ["\u0000"]}]}), "field 'more'")
    _refused(client.post("/api/v1/seals/440000-2026-000001/grants", headers=auth, json={"a\u0000": "x"}),
             "a key of the body")


def test_an_unpaired_surrogate_in_json_is_refused(api) -> None:
    client, auth = api
    for path, body, words in (("/api/v1/certificates", '{"profile": "personal", "csr": "\\ud800"}', "field 'csr'"),
                              ("/api/v1/licenses/batch", '{"type": "YYZZ", "csv": "a\\udfffb"}', "field 'csv'"),
                              ("/api/v1/trust-lists/refresh", '{"pin": "\\ud83d"}', "field 'pin'")):
        answer = client.post(path, headers=auth, data=body, content_type="application/json")
        _refused(answer, f"{words} contains an unpaired surrogate (U+")
    paired = client.post("/api/v1/certificates", headers=auth, content_type="application/json",
                         data='{"profile": "personal", "csr": "\\ud83d\\ude00"}')   # a pair is one character: 😀
    assert paired.status_code == 400 and "surrogate" not in paired.json["detail"]


def test_nul_in_a_form_field_is_refused(api) -> None:
    client, auth = api
    _refused(client.post("/api/v1/verify", data={"policy": "\u0000"}, content_type="multipart/form-data"),
             "form field 'policy'")


def test_a_token_whose_id_is_not_hex_is_unknown_not_an_error(api) -> None:
    client, _ = api
    for token in ("esk_\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000"
                  "\u0000_secret", "esk_zzzzzzzzzzzzzzzz_secret"):
        answer = client.get("/api/v1/certificates", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, answer.status_code


def test_every_operation_declares_the_400_it_may_now_answer(api) -> None:
    """As problem+json, or as the HTML error page on the pages for people (the console, the
    public pages), which answer their problems so."""
    client, _ = api
    document = client.get("/api/openapi.json", environ_base={"REMOTE_ADDR": "192.0.2.251"}).get_json()
    undeclared = [f"{method.upper()} {path}" for path, item in document["paths"].items()
                  for method, op in item.items()
                  if ("text/html" if path.startswith(("/console/", "/verify")) else "application/problem+json")
                  not in op["responses"].get("400", {}).get("content", {})]
    assert not undeclared, undeclared


def test_a_csr_whose_name_holds_a_nul_is_refused_not_signed(api) -> None:
    """The NUL is inside the CSR's DER, past the request check: PostgreSQL refused to store the
    subject (a 500) and SQLite stored it, so the CA signed a name with a NUL in it."""
    from asn1crypto import pem

    from ca.csr import build_csr
    from ca.testing import LocalSigner

    client, auth = api
    csr = pem.armor("CERTIFICATE REQUEST", build_csr(LocalSigner(), "C=CN,CN=张\u0000三").dump()).decode()
    for path in ("/api/v1/certificates", "/api/v1/applications"):
        answer = client.post(path, headers=auth, json={"profile": "personal", "csr": csr,
                                                       "id_number": "11010519491231002X"})
        assert answer.status_code == 400 and answer.mimetype == "application/problem+json", answer.status_code
        assert answer.json["type"] == PROBLEM + "profile-violation"
        assert "subject: CN contains U+0000" in answer.json["detail"]
