"""Who may call what, written down by hand: a role table that does not come from the code.

tests/test_api_role_matrix.py and tests/test_api_app.py read the expected roles from the
OpenAPI ``x-roles``, which the same ``@requires(...)`` line writes: a wrong role there would
still pass them. Here the table below is the expectation, derived from the roles' duties:

* ``admin`` — everything (api/auth.py); ``ra_operator`` — certificate issuance and lifecycle,
  the registration workflow, and the seal registry (making seals, their lifecycle and use
  grants: the seal maker's desk); ``agency`` — its own seals and e-licenses only (issue,
  seal with, revoke its own); ``auditor`` — read-only, never a write (but for recording a
  full verification of the audit log, which is its job);
* public (no token): OCSP, CRL, TSA, verification (REST and pages), trust lists,
  certificate / seal / e-license status, health and readiness, the OpenAPI document, the
  console's sign-in pages, plus a short list of publication endpoints named in
  ``PUBLIC_BEYOND_THE_LIST`` with the reason each is public;
* the web console authenticates with a session cookie (sign-in with an API token), not a
  bearer token, so its pages carry no ``x-roles``; their roles are in ``CONSOLE`` and
  checked through real sign-ins.

Part two: agency scoping with real objects (two agencies, each with a seal and a license).
"""
from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from api import create_app
from ca import service as ca_service
from ca.certificate import to_pem
from keystore.soft import SoftKeyStore
from seal.ofd.document import Page, Text, build_ofd
from store.db import make_sessionmaker
from store.home import Home
from store.testing import *  # noqa: F401,F403
from store.tokens import ROLES, create_token

ADMIN, RA, AGENCY, AUDITOR = "admin", "ra_operator", "agency", "auditor"
ALL = frozenset(ROLES)
PROBLEM = "https://eseal.example/problems/"
PASSPHRASE = "role table passphrase"
Op = tuple[str, str]  # (METHOD, OpenAPI path template)


def roles(*names: str) -> frozenset[str]:
    return frozenset(names)


# ----------------------------------------------------------------------------------------- the table

# Bearer-token operations of the REST API -> the roles allowed.
BEARER: dict[Op, frozenset[str]] = {
    # certificate registration workflow: the RA desk (separation of duties is inside the workflow)
    ("POST", "/api/v1/applications"): roles(ADMIN, RA),
    ("GET", "/api/v1/applications"): roles(ADMIN, RA, AUDITOR),
    ("GET", "/api/v1/applications/{application_id}"): roles(ADMIN, RA, AUDITOR),
    ("POST", "/api/v1/applications/{application_id}/review"): roles(ADMIN, RA),
    ("POST", "/api/v1/applications/{application_id}/approve"): roles(ADMIN, RA),
    ("POST", "/api/v1/applications/{application_id}/reject"): roles(ADMIN, RA),
    # certificates: issuance and lifecycle
    ("POST", "/api/v1/certificates"): roles(ADMIN, RA),
    ("GET", "/api/v1/certificates"): roles(ADMIN, RA, AUDITOR),
    ("GET", "/api/v1/certificates/{serial}"): roles(ADMIN, RA, AUDITOR),  # the subject may name a person
    ("POST", "/api/v1/certificates/{serial}/renew"): roles(ADMIN, RA),
    ("POST", "/api/v1/certificates/{serial}/rekey"): roles(ADMIN, RA),
    ("POST", "/api/v1/certificates/{serial}/suspend"): roles(ADMIN, RA),
    ("POST", "/api/v1/certificates/{serial}/resume"): roles(ADMIN, RA),
    ("POST", "/api/v1/certificates/{serial}/revoke"): roles(ADMIN, RA),
    # audit log: the auditor's job
    ("GET", "/api/v1/audit"): roles(ADMIN, AUDITOR),
    ("GET", "/api/v1/audit/verify"): roles(ADMIN, AUDITOR),
    ("POST", "/api/v1/audit/verify"): roles(ADMIN, AUDITOR),  # verifies in full and records it
    # seal registry: made and managed at the seal maker's desk; an agency lists its own
    ("GET", "/api/v1/seals"): ALL,
    ("POST", "/api/v1/seals"): roles(ADMIN, RA),
    ("POST", "/api/v1/seals/{es_id}/suspend"): roles(ADMIN, RA),
    ("POST", "/api/v1/seals/{es_id}/resume"): roles(ADMIN, RA),
    ("POST", "/api/v1/seals/{es_id}/revoke"): roles(ADMIN, RA),
    ("POST", "/api/v1/seals/{es_id}/grants"): roles(ADMIN, RA),
    ("DELETE", "/api/v1/seals/{es_id}/grants/{agency}"): roles(ADMIN, RA),
    # using a seal: the agency (its own seals); admin because admin may do everything (see report)
    ("POST", "/api/v1/seals/{es_id}/sign"): roles(ADMIN, AGENCY),
    # e-licenses: issued and revoked by the issuing agency; read by the oversight roles.
    # ra_operator reads them (read-only; an RA desk already sees subjects with full ID numbers).
    ("POST", "/api/v1/licenses"): roles(ADMIN, AGENCY),
    ("POST", "/api/v1/licenses/batch"): roles(ADMIN, AGENCY),
    ("GET", "/api/v1/licenses"): ALL,
    ("GET", "/api/v1/licenses/{license_id}/ofd"): ALL,  # full field data: not public
    # the issuing agency, or the region's registration desk acting on a holder's or court's request
    ("POST", "/api/v1/licenses/{license_id}/revoke"): roles(ADMIN, RA, AGENCY),
    # region-level signing and trust configuration: admin only
    ("POST", "/api/v1/log/sign"): roles(ADMIN),
    ("POST", "/api/v1/trust-lists/tl"): roles(ADMIN),
    ("POST", "/api/v1/trust-lists/lotl"): roles(ADMIN),
    ("POST", "/api/v1/trust-lists/import"): roles(ADMIN),
    ("POST", "/api/v1/trust-lists/refresh"): roles(ADMIN),
}

# Public operations that the requirements name -> which public service they are.
PUBLIC_LISTED: dict[Op, str] = {
    ("POST", "/ocsp"): "ocsp",
    ("GET", "/ocsp/{encoded}"): "ocsp",
    ("GET", "/crl/{issuer_id}.crl"): "crl",
    ("GET", "/crl/{issuer_id}-delta.crl"): "crl",
    ("POST", "/tsa"): "tsa",
    ("POST", "/api/v1/verify"): "verify",
    ("GET", "/api/v1/verify/license/{license_id}"): "verify",
    ("GET", "/api/v1/trust-lists/tl"): "trust lists",
    ("GET", "/api/v1/trust-lists/lotl"): "trust lists",
    ("GET", "/api/v1/trust-lists/status"): "trust lists",
    ("GET", "/api/v1/certificates/{serial}/status"): "certificate status",
    ("GET", "/api/v1/licenses/{license_id}"): "e-license status",  # the QR code's record; ID numbers masked
    ("GET", "/health"): "health",
    ("GET", "/ready"): "readiness",
    ("GET", "/api/openapi.json"): "openapi",
    ("GET", "/verify"): "public page",
    ("POST", "/verify"): "public page",
    ("GET", "/verify/license/{license_id}"): "public page",
    ("GET", "/console/login"): "public page",  # sign-in
    ("POST", "/console/login"): "public page",
    ("POST", "/console/logout"): "public page",
    ("GET", "/console/"): "public page",  # redirects to sign-in or to the role's start page
    ("GET", "/console/lang/{code}"): "public page",
    ("GET", "/console/style.css"): "public page",
}
PUBLIC_SERVICES = {"ocsp", "crl", "tsa", "verify", "trust lists", "certificate status", "e-license status",
                   "health", "readiness", "openapi", "public page"}

# Public although the requirements' list does not name them: each is a publication a relying
# party needs without credentials, so public is the right choice (listed in the report).
PUBLIC_BEYOND_THE_LIST: dict[Op, str] = {
    ("GET", "/ca/{issuer_id}.cer"): "CA certificate named by caIssuers (RFC 5280 AIA): must be public",
    ("GET", "/ca/chain.pem"): "the region's CA certificates: trust anchors are public",
    ("GET", "/api/v1/seals/{es_id}"): "seal status for verifiers: the seal's analogue of certificate status",
    ("GET", "/api/v1/log/head"): "transparency log (RFC 9162 style): signed tree heads are public by design",
    ("GET", "/api/v1/log/proof"): "transparency log: inclusion proofs for relying parties",
    ("GET", "/api/v1/log/consistency"): "transparency log: consistency proofs for monitors",
    ("GET", "/api/v1/license-types"): "license type templates (field names and labels, no personal data)",
}

# Console pages behind a session sign-in -> the roles allowed (enforced by console.signed_in).
CONSOLE: dict[Op, frozenset[str]] = {
    ("GET", "/console/certificates"): roles(ADMIN, RA, AUDITOR),
    ("GET", "/console/certificates/{serial}"): roles(ADMIN, RA, AUDITOR),
    ("POST", "/console/certificates/{serial}/revoke"): roles(ADMIN, RA),
    ("GET", "/console/seals"): ALL,
    ("GET", "/console/seals/{es_id}/picture"): ALL,
    ("GET", "/console/licenses"): ALL,
    ("GET", "/console/licenses/{license_id}"): ALL,
    ("POST", "/console/licenses/{license_id}/revoke"): roles(ADMIN, RA, AGENCY),
    ("GET", "/console/audit"): roles(ADMIN, AUDITOR),
    ("POST", "/console/audit/verify"): roles(ADMIN, AUDITOR),  # "Verify now"
    ("GET", "/console/trust-lists"): ALL,
}

# The auditor is read-only: the non-GET operations it may call change no state of the region,
# they only record that the auditor verified the audit log in full (an audit.verify record).
AUDITOR_WRITES: frozenset[Op] = frozenset({("POST", "/api/v1/audit/verify"), ("POST", "/console/audit/verify")})

PUBLIC: dict[Op, str] = {**PUBLIC_LISTED, **PUBLIC_BEYOND_THE_LIST}
TABLE: dict[Op, frozenset[str] | str] = {**BEARER, **CONSOLE, **{op: "PUBLIC" for op in PUBLIC}}


def allowed_roles(op: Op) -> frozenset[str]:
    """The roles the table lets in for a secured operation."""
    return BEARER.get(op) or CONSOLE[op]


def test_the_table_is_consistent_with_itself() -> None:
    assert not (set(BEARER) & set(CONSOLE)) and not (set(BEARER) & set(PUBLIC)) and not (set(CONSOLE) & set(PUBLIC))
    assert not (set(PUBLIC_LISTED) & set(PUBLIC_BEYOND_THE_LIST))
    assert set(PUBLIC_LISTED.values()) <= PUBLIC_SERVICES
    for op, allowed in {**BEARER, **CONSOLE}.items():
        assert allowed and allowed <= ALL, op
        assert ADMIN in allowed, f"{op}: admin may do everything"


# ----------------------------------------------------------------------------------------- fixtures

_CODES = {"A": "91350100M000100Y43", "B": "91350100M000200Y4T"}


def _region(home: Home) -> tuple[dict[str, str], dict[str, bytes]]:
    """Initialise a region in ``home``; tokens for every role (agency A) and for agency B,
    and an organization signer certificate (PEM) per agency for its seal."""
    sessions = make_sessionmaker(home.engine)
    ks = SoftKeyStore.initialise(sessions, actor="admin", passphrase=PASSPHRASE).store
    ca_service.init_region(home, ks, region_code="440000", region_name="广东省", base_url="http://pki.example")
    tokens = {role: create_token(sessions, role=role, agency="A" if role == AGENCY else None)[0] for role in ROLES}
    tokens["agency_b"] = create_token(sessions, role=AGENCY, agency="B")[0]
    certs = {}
    for agency, code in _CODES.items():
        key_ref = ks.generate(f"signer-{agency}", "seal", actor="admin")
        _, cert = ca_service.issue_for_key(home, ks, profile="organization", key_ref=key_ref,
                                           subject=f"C=CN,O=机关{agency},CN=机关{agency}", credit_code=code)
        certs[agency] = to_pem(cert)
    return tokens, certs


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The OpenAPI document (the same for every database: it is built from the URL map)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("ESEAL_DATABASE_URL", raising=False)
        home = Home.create(tmp_path_factory.mktemp("doc") / "home")
        try:
            _region(home)
            app = create_app(home.path, passphrase=PASSPHRASE)
            try:
                return app.test_client().get("/api/openapi.json").get_json()
            finally:
                app.extensions["eseal"].home.close()
        finally:
            home.close()


@pytest.fixture
def region(eseal_home: Home) -> Iterator[tuple[FlaskClient, dict[str, str], dict[str, bytes], Any]]:
    tokens, certs = _region(eseal_home)
    app = create_app(eseal_home.path, passphrase=PASSPHRASE)
    try:
        yield app.test_client(), tokens, certs, app
    finally:
        app.extensions["eseal"].home.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, (status, slug, response.get_data(as_text=True)[:500])
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["type"] == PROBLEM + slug and body["status"] == status, body
    return body


def operations(doc: dict[str, Any]) -> dict[Op, dict[str, Any]]:
    return {(method.upper(), path): op for path, ops in doc["paths"].items() for method, op in ops.items()}


# ----------------------------------------------------------------------------------------- (a)-(d): the document


def test_a_the_table_lists_exactly_the_documented_operations(document) -> None:
    documented = set(operations(document))
    assert not documented - set(TABLE), f"operations missing from the role table: {sorted(documented - set(TABLE))}"
    assert not set(TABLE) - documented, f"operations in the table that do not exist: {sorted(set(TABLE) - documented)}"


def test_b_each_operation_declares_the_roles_of_the_table(document) -> None:
    wrong = []
    for op, spec in sorted(operations(document).items()):
        declared = spec.get("x-roles")
        if op in BEARER:
            expected = allowed_roles(op)
            if declared is None or len(declared) != len(set(declared)) or set(declared) != expected:
                wrong.append(f"{op}: x-roles {declared}, table {sorted(expected)}")
            if spec.get("security") != [{"bearer": []}]:
                wrong.append(f"{op}: security {spec.get('security')}, expected bearer")
        elif declared is not None or "security" in spec:  # public, or a console page (session sign-in)
            wrong.append(f"{op}: declares {declared} / {spec.get('security')}, expected no bearer security")
    assert not wrong, "\n".join(wrong)


def test_c_the_auditor_only_reads(document) -> None:
    assert {op for op, allowed in {**BEARER, **CONSOLE}.items() if AUDITOR in allowed and op[0] != "GET"} \
        == AUDITOR_WRITES
    coded = {op for op, spec in operations(document).items() if AUDITOR in spec.get("x-roles", ()) and op[0] != "GET"}
    assert coded == AUDITOR_WRITES & set(BEARER), f"the code lets the auditor write: {sorted(coded)}"


def test_d_nothing_is_public_but_the_public_endpoints(document) -> None:
    unsecured = {op for op, spec in operations(document).items() if not spec.get("x-roles")}
    assert unsecured - set(CONSOLE) == set(PUBLIC), (
        f"public but not in the public list: {sorted(unsecured - set(CONSOLE) - set(PUBLIC))}; "
        f"listed public but secured: {sorted(set(PUBLIC) - unsecured)}")
    assert not [path for path in document["paths"] if "token" in path.lower()], \
        "tokens are managed with `eseal token` only; an HTTP token endpoint would need an admin-only entry here"


# ----------------------------------------------------------------------------------------- (e): over HTTP

_DUMMY = {"serial": "7" * 32, "issuer_id": "00" * 20, "encoded": "MAA=", "es_id": "440000202600000019",
          "license_id": "440000YYZZ20260000001X", "application_id": "1", "agency": "B", "code": "en"}


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: _DUMMY.get(m.group(1), "x"), path)


def _call(client: FlaskClient, op: Op, role: str | None, tokens: dict[str, str]) -> Any:
    method, path = op
    headers = bearer(tokens[role]) if role else {}
    kwargs = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    return client.open(_url(path), method=method, headers=headers, **kwargs)


def test_e_bearer_enforcement_matches_the_table(region) -> None:
    """Every REST and public operation, with no token and with each role's real token (dummy
    ids): 401 ``unauthorized`` without a token and 403 ``forbidden`` to a role the table denies;
    anything but 401/403 (and never 5xx) where it allows. The expectation is the table's."""
    client, tokens, _, _ = region
    failures = []
    for op in sorted(set(BEARER) | (set(PUBLIC) - {o for o in PUBLIC if o[1].startswith("/console/")})):
        allowed = ALL if op in PUBLIC else allowed_roles(op)
        for role in (None, *ROLES):
            r = _call(client, op, role, tokens)
            what = f"{op[0]} {op[1]} as {role or 'anonymous'}: {r.status_code}"
            if r.status_code >= 500:
                failures.append(f"{what}, a server error")
            elif op in PUBLIC or role in allowed:
                if r.status_code in (401, 403):
                    failures.append(f"{what}, expected to be let in ({r.get_data(as_text=True)[:200]})")
            elif role is None:
                if r.status_code != 401 or r.get_json(force=True).get("type") != PROBLEM + "unauthorized" \
                        or "Bearer" not in r.headers.get("WWW-Authenticate", ""):
                    failures.append(f"{what}, expected 401 unauthorized with WWW-Authenticate")
            elif r.status_code != 403 or r.get_json(force=True).get("type") != PROBLEM + "forbidden":
                failures.append(f"{what}, expected 403 forbidden")
    assert not failures, "\n".join(failures)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def _sign_in(client: FlaskClient, token: str) -> str:
    """Sign in through the form (English console); the CSRF token for the forms that follow."""
    assert client.get("/console/lang/en").status_code == 302
    signed = client.post("/console/login", data={"token": token, "csrf": _csrf(client.get("/console/login").text)})
    assert signed.status_code == 302 and "/console/login" not in signed.headers["Location"], signed.text[:300]
    return _csrf(client.get("/console/login").text)


def _flashes(client: FlaskClient) -> list[str]:
    with client.session_transaction() as session:
        return [message for _, message in session.pop("_flashes", [])]


def _console_denied(client: FlaskClient, op: Op, csrf: str | None) -> bool | str:
    """True when the console refused the page (sign-in redirect, or 'Your role may not do
    this'), False when it let the caller in, a string describing anything else."""
    method, path = op
    _flashes(client)
    data = {"csrf": csrf or ""} if method == "POST" else None
    r = client.open(_url(path), method=method, data=data)
    refused = "Your role may not do this" in _flashes(client)
    if r.status_code >= 500:
        return f"server error {r.status_code}"
    if csrf is None:
        return r.status_code == 302 and r.headers["Location"].startswith("/console/login?next=")
    return refused and r.status_code == 302


def test_e_console_enforcement_matches_the_table(region) -> None:
    """The console refuses with a redirect, not 401/403: to the sign-in page without a session,
    to the role's start page with 'Your role may not do this' for a role the table denies.
    Each role signs in through the form with its real token."""
    _, tokens, _, app = region
    failures = []
    anonymous = app.test_client()
    for op in sorted(CONSOLE):
        if _console_denied(anonymous, op, None) is not True:
            failures.append(f"{op} without signing in: not sent to sign in")
    for role in ROLES:
        client = app.test_client()
        csrf = _sign_in(client, tokens[role])
        for op in sorted(CONSOLE):
            denied = _console_denied(client, op, csrf)
            if isinstance(denied, str) or denied == (role in allowed_roles(op)):
                failures.append(f"{op} as {role}: {'denied' if denied is True else denied or 'let in'}, "
                                f"table says {'let in' if role in allowed_roles(op) else 'denied'}")
    # the public console pages: no sign-in asked
    assert anonymous.get("/console/login").status_code == 200
    assert anonymous.get("/console/style.css").status_code == 200
    assert anonymous.get("/console/lang/en").status_code == 302
    assert anonymous.get("/console/").headers["Location"] == "/console/login"
    assert anonymous.post("/console/logout", data={"csrf": _csrf(anonymous.get("/console/login").text)}) \
        .headers["Location"] == "/console/login"
    assert not failures, "\n".join(failures)


# ----------------------------------------------------------------------------------------- part 2: scoping

BUSINESS = {"credit_code": "91350100M000100Y43", "name": "深圳某某科技有限公司", "entity_type": "有限责任公司",
            "legal_representative": "张三", "establishment_date": "2020-02-03", "address": "深圳市南山区",
            "scope": "软件开发"}
OFD = build_ofd([Page([Text(20, 20, "通知", size=6)])])


def _seal_for(client: FlaskClient, tokens: dict[str, str], certs: dict[str, bytes], agency: str) -> str:
    made = client.post("/api/v1/seals", headers=bearer(tokens[RA]),
                       json={"type": "organization", "name": f"机关{agency}", "agency": agency,
                             "holder_certs": [certs[agency].decode()]})
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["agency"] == agency
    return made.get_json()["es_id"]


def _license_for(client: FlaskClient, token: str, external_id: str) -> str:
    issued = client.post("/api/v1/licenses", headers=bearer(token),
                         json={"type": "YYZZ", "data": BUSINESS, "external_id": external_id})
    assert issued.status_code == 201, issued.get_json()
    return issued.get_json()["license_id"]


def _sign(client: FlaskClient, token: str, es_id: str) -> Any:
    return client.post(f"/api/v1/seals/{es_id}/sign", headers=bearer(token),
                       data={"file": (io.BytesIO(OFD), "doc.ofd")}, content_type="multipart/form-data")


@pytest.fixture
def two_agencies(region):
    client, tokens, certs, app = region
    seal_a, seal_b = _seal_for(client, tokens, certs, "A"), _seal_for(client, tokens, certs, "B")
    lic_a = _license_for(client, tokens[AGENCY], "a-1")  # with the agency's one seal, by default
    lic_b = _license_for(client, tokens["agency_b"], "b-1")
    return client, tokens, app, {"seal_a": seal_a, "seal_b": seal_b, "lic_a": lic_a, "lic_b": lic_b}


def _refusals(client: FlaskClient, tokens: dict[str, str], es_id: str) -> list[dict[str, Any]]:
    r = client.get("/api/v1/audit", headers=bearer(tokens[AUDITOR]),
                   query_string={"action": "seal.use_refused", "subject": f"seal:{es_id}"})
    assert r.status_code == 200
    return r.get_json()["items"]


def test_an_agency_seals_only_with_its_own_seal(two_agencies) -> None:
    """Another agency's seal: 403 ``seal-not-authorised`` from the registry's use check (the
    documented, audited refusal: the sign view leaves the decision to the registry, so that a
    use grant counts), for documents and for detached data alike."""
    client, tokens, _, ids = two_agencies
    a, b = tokens[AGENCY], tokens["agency_b"]
    assert_problem(_sign(client, a, ids["seal_b"]), 403, "seal-not-authorised")  # B's seal, A's token
    assert_problem(client.post(f"/api/v1/seals/{ids['seal_b']}/sign", headers=bearer(a),
                               json={"document": base64.b64encode(b"data").decode(), "cms": True}),
                   403, "seal-not-authorised")
    refusals = _refusals(client, tokens, ids["seal_b"])
    assert len(refusals) == 2 and all(r["details"]["agency"] == "A" for r in refusals), refusals
    own = _sign(client, a, ids["seal_a"])
    assert own.status_code == 200 and own.mimetype == "application/ofd", own.get_data()[:300]
    assert _sign(client, b, ids["seal_b"]).status_code == 200
    assert_problem(_sign(client, b, ids["seal_a"]), 403, "seal-not-authorised")
    # an e-license issued by A cannot borrow B's seal, nor be issued in B's name
    assert_problem(client.post("/api/v1/licenses", headers=bearer(a),
                               json={"type": "YYZZ", "data": BUSINESS, "seal_id": ids["seal_b"]}),
                   403, "seal-not-authorised")
    assert_problem(client.post("/api/v1/licenses", headers=bearer(a),
                               json={"type": "YYZZ", "data": BUSINESS, "agency": "B"}), 403, "forbidden")
    assert_problem(client.post("/api/v1/licenses/batch", headers=bearer(a),
                               json={"type": "YYZZ", "agency": "B", "csv": "external_id\n"}), 403, "forbidden")


def test_a_use_grant_lets_another_agency_seal_until_withdrawn(two_agencies) -> None:
    client, tokens, _, ids = two_agencies
    a = tokens[AGENCY]
    granted = client.post(f"/api/v1/seals/{ids['seal_b']}/grants", headers=bearer(tokens[RA]), json={"agency": "A"})
    assert granted.status_code == 200 and granted.get_json()["authorised"] is True
    sealed = _sign(client, a, ids["seal_b"])
    assert sealed.status_code == 200 and sealed.mimetype == "application/ofd", sealed.get_data()[:300]
    issued = client.post("/api/v1/licenses", headers=bearer(a),
                         json={"type": "YYZZ", "data": BUSINESS, "seal_id": ids["seal_b"], "external_id": "a-2"})
    assert issued.status_code == 201, issued.get_json()
    # a grant is not ownership: B's seal is still listed only for B, and A cannot manage it
    assert {s["es_id"] for s in client.get("/api/v1/seals", headers=bearer(a)).get_json()["items"]} == {ids["seal_a"]}
    assert_problem(client.post(f"/api/v1/seals/{ids['seal_b']}/suspend", headers=bearer(a)), 403, "forbidden")
    assert client.delete(f"/api/v1/seals/{ids['seal_b']}/grants/A", headers=bearer(tokens[RA])).status_code == 200
    assert_problem(_sign(client, a, ids["seal_b"]), 403, "seal-not-authorised")


def test_an_agency_lists_only_its_own_seals_and_licenses(two_agencies) -> None:
    client, tokens, _, ids = two_agencies

    def seals(token: str) -> set[str]:
        r = client.get("/api/v1/seals", headers=bearer(token))
        assert r.status_code == 200
        return {s["es_id"] for s in r.get_json()["items"]}

    def licenses(token: str) -> set[str]:
        r = client.get("/api/v1/licenses", headers=bearer(token))
        assert r.status_code == 200
        return {item["license_id"] for item in r.get_json()["items"]}

    assert seals(tokens[AGENCY]) == {ids["seal_a"]} and seals(tokens["agency_b"]) == {ids["seal_b"]}
    assert licenses(tokens[AGENCY]) == {ids["lic_a"]} and licenses(tokens["agency_b"]) == {ids["lic_b"]}
    for role in (ADMIN, RA, AUDITOR):
        assert seals(tokens[role]) == {ids["seal_a"], ids["seal_b"]}, role
        assert licenses(tokens[role]) == {ids["lic_a"], ids["lic_b"]}, role


def test_an_agency_reads_and_revokes_only_its_own_licenses(two_agencies) -> None:
    client, tokens, _, ids = two_agencies
    a = tokens[AGENCY]
    # B's license: the full OFD and revocation are refused (403 forbidden: the license's existence
    # and agency are public anyway, through its public record)
    assert_problem(client.get(f"/api/v1/licenses/{ids['lic_b']}/ofd", headers=bearer(a)), 403, "forbidden")
    assert_problem(client.post(f"/api/v1/licenses/{ids['lic_b']}/revoke", headers=bearer(a),
                               json={"reason": "not mine"}), 403, "forbidden")
    assert client.get(f"/api/v1/licenses/{ids['lic_b']}").get_json()["status"] == "valid"
    # A's own: allowed
    ofd = client.get(f"/api/v1/licenses/{ids['lic_a']}/ofd", headers=bearer(a))
    assert ofd.status_code == 200 and ofd.mimetype == "application/ofd" and ofd.data[:2] == b"PK"
    revoked = client.post(f"/api/v1/licenses/{ids['lic_a']}/revoke", headers=bearer(a), json={"reason": "吊销"})
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"
    # and B on B's own
    assert client.get(f"/api/v1/licenses/{ids['lic_b']}/ofd", headers=bearer(tokens["agency_b"])).status_code == 200


def test_the_console_scopes_an_agency_too(two_agencies) -> None:
    _, tokens, app, ids = two_agencies
    client = app.test_client()
    csrf = _sign_in(client, tokens[AGENCY])
    assert client.get(f"/console/licenses/{ids['lic_b']}").status_code == 404
    assert client.get(f"/console/licenses/{ids['lic_a']}").status_code == 200
    assert client.get(f"/console/seals/{ids['seal_b']}/picture").status_code == 404
    assert client.get(f"/console/seals/{ids['seal_a']}/picture").status_code == 200
    listed = client.get("/console/licenses").text
    assert ids["lic_a"] in listed and ids["lic_b"] not in listed
    client.post(f"/console/licenses/{ids['lic_b']}/revoke", data={"csrf": csrf, "reason": "x", "confirm": "yes"})
    assert app.test_client().get(f"/api/v1/licenses/{ids['lic_b']}").get_json()["status"] == "valid"
