"""Paging of the license directory and of certificate applications, done in SQL (offset, limit,
a count of all matches), on SQLite and PostgreSQL: the service functions, the REST lists (page
3 of 7 rows at 3 a page holds 1 row and has no `next`), the console and the CLI."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from asn1crypto import pem
from click.testing import CliRunner

from api import create_app
from ca import workflow
from ca.csr import build_csr
from ca.errors import CAError
from ca.testing import LocalSigner, soft_region
from cli.main import main
from seal.license import service
from seal.license.errors import LicenseError
from store.db import make_sessionmaker
from store.testing import *  # noqa: F401,F403
from store.tokens import create_token

PASSPHRASE = "pagination passphrase"
CREDIT_CODE = "91350100M000100Y43"
BUSINESS = {"credit_code": CREDIT_CODE, "name": "深圳某某科技有限公司", "entity_type": "有限责任公司",
            "legal_representative": "张三", "establishment_date": "2020-02-03", "address": "深圳市南山区",
            "scope": "软件开发"}
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def region(eseal_home):
    """7 licenses of agency A1 (newest = the last issued), 2 of A2, 7 applications."""
    ks, _ = soft_region(eseal_home, PASSPHRASE)
    a1 = [service.issue_license(eseal_home, ks, type="YYZZ", data=BUSINESS, agency="A1", actor="clerk",
                                now=T0 + dt.timedelta(minutes=i)).license_id for i in range(7)]
    for i in range(2):
        service.issue_license(eseal_home, ks, type="YYZZ", data=BUSINESS, agency="A2", actor="clerk",
                              now=T0 + dt.timedelta(minutes=10 + i))
    csr = pem.armor("CERTIFICATE REQUEST", build_csr(LocalSigner(), "C=CN,O=某某局,CN=某某局").dump())
    apps = [workflow.submit_application(eseal_home, profile="organization", csr_pem=csr, credit_code=CREDIT_CODE,
                                        operator="clerk") for _ in range(7)]
    return eseal_home, ks, a1[::-1], apps


def test_license_pages_come_from_the_database(region) -> None:
    home, _, a1_newest_first, _ = region
    pages = [service.list_licenses(home, agency="A1", offset=offset, limit=3) for offset in (0, 3, 6)]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert {p.total for p in pages} == {7}
    assert [st.license_id for p in pages for st in p] == a1_newest_first  # no row twice, none lost
    assert all(st.agency == "A1" for p in pages for st in p)
    everyone = service.list_licenses(home, limit=3)
    assert everyone.total == 9 and everyone[0].agency == "A2"
    beyond = service.list_licenses(home, agency="A1", offset=7, limit=3)
    assert list(beyond) == [] and beyond.total == 7
    service.revoke_license(home, a1_newest_first[0], "test", actor="clerk")
    service.revoke_license(home, a1_newest_first[6], "test", actor="clerk")
    assert service.list_licenses(home, agency="A1", status="revoked", limit=1).total == 2
    valid = service.list_licenses(home, agency="A1", status="valid", offset=3, limit=3)
    assert valid.total == 5 and [st.license_id for st in valid] == a1_newest_first[4:6]
    assert service.list_licenses(home, agency="A1", status="expired").total == 0
    with pytest.raises(LicenseError, match="offset must be an integer >= 0"):
        service.list_licenses(home, offset=-1)


def test_application_pages_come_from_the_database(region) -> None:
    home, _, _, apps = region
    pages = [workflow.list_applications(home, offset=offset, limit=3) for offset in (0, 3, 6)]
    assert [len(p) for p in pages] == [3, 3, 1] and {p.total for p in pages} == {7}
    assert [a.id for p in pages for a in p] == apps  # oldest first
    assert [a.id for a in workflow.list_applications(home)] == apps  # no limit: all of them
    workflow.reject_application(home, apps[1], actor="clerk", reason="no papers")
    workflow.reject_application(home, apps[5], actor="clerk", reason="no papers")
    rejected = workflow.list_applications(home, status="rejected", offset=1, limit=3)
    assert rejected.total == 2 and [a.id for a in rejected] == [apps[5]]
    assert workflow.list_applications(home, status="submitted", limit=1).total == 5
    with pytest.raises(CAError, match="offset must be an integer >= 0"):
        workflow.list_applications(home, offset=-2)
    with pytest.raises(CAError, match="limit must be an integer >= 1"):
        workflow.list_applications(home, limit=0)


@pytest.fixture
def api(region):
    home, _, a1, apps = region
    sessions = make_sessionmaker(home.engine)
    tokens = {"admin": create_token(sessions, role="admin")[0], "a1": create_token(sessions, role="agency",
                                                                                   agency="A1")[0]}
    app = create_app(home.path, passphrase=PASSPHRASE)
    yield app, tokens, a1, apps
    app.extensions["eseal"].home.close()


def _get(client, token: str, url: str) -> dict:
    resp = client.get(url, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.json


def test_rest_license_list_pages(api) -> None:
    app, tokens, a1, _ = api
    client = app.test_client()
    first = _get(client, tokens["a1"], "/api/v1/licenses?per_page=3")
    assert first["total"] == 7 and [i["license_id"] for i in first["items"]] == a1[:3]
    second = _get(client, tokens["a1"], first["next"])
    assert second["page"] == 2 and "page=3" in second["next"] and "per_page=3" in second["next"]
    last = _get(client, tokens["a1"], second["next"])
    assert [i["license_id"] for i in last["items"]] == a1[6:] and last["next"] is None and last["total"] == 7
    assert last["items"][0]["agency"] == "A1" and last["items"][0]["status"] == "valid"
    everyone = _get(client, tokens["admin"], "/api/v1/licenses?per_page=3&page=3")
    assert everyone["total"] == 9 and len(everyone["items"]) == 3 and everyone["next"] is None  # 9 = 3 full pages
    beyond = _get(client, tokens["admin"], "/api/v1/licenses?per_page=3&page=4")
    assert beyond["items"] == [] and beyond["next"] is None and beyond["total"] == 9  # empty, not an error


def test_rest_application_list_pages(api) -> None:
    app, tokens, _, apps = api
    client = app.test_client()
    first = _get(client, tokens["admin"], "/api/v1/applications?per_page=3")
    assert first["total"] == 7 and [i["id"] for i in first["items"]] == apps[:3] and "page=2" in first["next"]
    last = _get(client, tokens["admin"], "/api/v1/applications?per_page=3&page=3")
    assert [i["id"] for i in last["items"]] == apps[6:] and last["next"] is None and last["total"] == 7


def test_console_license_list_counts_the_agency_s_own(api) -> None:
    app, tokens, a1, _ = api
    client = app.test_client()
    login = client.get("/console/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', login).group(1)
    assert client.post("/console/login", data={"token": tokens["a1"], "csrf": csrf}).status_code == 302
    page = client.get("/console/licenses").get_data(as_text=True)
    assert '<span id="license-total">7</span>' in page
    assert all(lid in page for lid in a1) and "page=2" not in page


def test_cli_lists_a_page_and_says_where_the_next_begins(region) -> None:
    home, _, a1, apps = region
    runner = CliRunner()
    res = runner.invoke(main, ["license", "list", "--home", str(home.path), "--agency", "A1", "--limit", "3",
                               "--offset", "3", "--json"])
    assert res.exit_code == 0, res.output
    assert [d["license_id"] for d in json.loads(res.stdout)] == a1[3:6]
    assert res.stderr.strip() == "4-6 of 7; next page: --offset 6"
    res = runner.invoke(main, ["cert", "applications", "--home", str(home.path), "--limit", "3", "--offset", "6"])
    assert res.exit_code == 0, res.output
    assert [int(line.split("\t")[0]) for line in res.stdout.splitlines()] == apps[6:] and res.stderr == ""
    res = runner.invoke(main, ["cert", "applications", "--home", str(home.path), "--limit", "3"])
    assert len(res.stdout.splitlines()) == 3 and res.stderr.strip() == "1-3 of 7; next page: --offset 3"
