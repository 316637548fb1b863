"""Every endpoint of the OpenAPI document called with every role and with no token.

The document says who may call what (``security`` + ``x-roles``, written by the same
``@requires`` line that enforces it), so the matrix grows with the API by itself:
* an operation with roles: no token -> 401; a role outside x-roles -> 403; a listed role
  -> neither 401 nor 403 (the request may still be refused for its content: 4xx);
* an operation without roles (OCSP, CRL, TSA, verify, status, console pages): never 401/403;
* nothing ever answers 5xx.
"""
from __future__ import annotations

import re

import pytest

from api import create_app
from ca import service
from keystore.soft import SoftKeyStore
from store.db import make_sessionmaker
from store.testing import *  # noqa: F401,F403
from store.tokens import ROLES, create_token

PASSPHRASE = "role matrix passphrase"
_DUMMY = {"serial": "1234abcd", "issuer_id": "00", "es_id": "44000020260000001X", "code": "en", "application_id": "1",
          "kind": "tl"}


@pytest.fixture
def app_and_tokens(eseal_home):
    sessions = make_sessionmaker(eseal_home.engine)
    ks = SoftKeyStore.initialise(sessions, actor="admin", passphrase=PASSPHRASE).store
    service.init_region(eseal_home, ks, region_code="440000", region_name="广东省", base_url="http://pki.example")
    tokens = {role: create_token(sessions, role=role, agency="a1" if role == "agency" else None)[0] for role in ROLES}
    app = create_app(eseal_home.path, passphrase=PASSPHRASE)
    yield app, tokens
    app.extensions["eseal"].home.close()


def _fill(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: _DUMMY.get(m.group(1), "x"), path)


def test_every_endpoint_with_every_role(app_and_tokens) -> None:
    app, tokens = app_and_tokens
    client = app.test_client()
    doc = client.get("/api/openapi.json").get_json()
    checked = 0
    failures = []
    for path, ops in sorted(doc["paths"].items()):
        for method, op in ops.items():
            allowed = set(op.get("x-roles", ()))
            for role in (None, *ROLES):
                headers = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
                kwargs = {"json": {}} if method in ("post", "put", "patch") else {}
                resp = getattr(client, method)(_fill(path), headers=headers, **kwargs)
                status = resp.status_code
                checked += 1
                if status >= 500:
                    failures.append(f"{method.upper()} {path} as {role}: {status}")
                elif allowed and role is None and status != 401:
                    failures.append(f"{method.upper()} {path} without a token: {status}, expected 401")
                elif allowed and role is not None and role not in allowed and status != 403:
                    failures.append(f"{method.upper()} {path} as {role}: {status}, expected 403")
                elif (not allowed or role in allowed) and status in (401, 403):
                    failures.append(f"{method.upper()} {path} as {role}: {status}, expected to be let in")
    assert not failures, "\n".join(failures)
    assert checked >= 5 * 10
