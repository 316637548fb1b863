"""DESIGN: the cost of an operation stays flat from 1 k to 1 M certificates in the database.
A timing cannot show that in a test; the query plans can. Every statement of the everyday
operations (issue, OCSP, timestamp, sealing with a timestamp, license issue / status /
listing, revoke, suspend, resume, verify, a log proof) is captured as it runs, on SQLite and
PostgreSQL, and explained: none may read a table that grows with the region's work from end
to end. (benchmarks/bench_translog.py times the log at 1 k and 1 M entries.)

SQLite: ``EXPLAIN QUERY PLAN`` must not say ``SCAN <table>`` -- a walk over the table or a
whole index -- except in order with a LIMIT and no filter (the newest rows of a page).
PostgreSQL: with ``enable_seqscan = off`` the planner still answers with a sequential scan,
or an index scan without an index condition, only when no index can serve the statement,
whatever the table's size.

Before the indexes of migration 0019, the current TSA and OCSP responder certificates were
found by walking back through every certificate issued since them (one walk per timestamp
and per live OCSP answer), and license pages sorted the whole table.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select

from ca import service as ca_service
from ca.certificate import load_certificate
from gm.sm2 import PrivateKey
from keystore.region import audit_signer
from seal import sealing, tsa
from seal.license import service as license_service
from store import translog
from store.db import make_sessionmaker, transaction
from store.home import Home
from store.models.ca import CertificateAuthority
from store.testing import pg_schema_url
from tests.faults.seal_fast_worker import document
from tests.helpers import lifecycle as lc
from tests.helpers.region import seal_region
from tests.helpers.statements import recorded_statements
from verify.service import verifier_for_home

AGENCY = "深圳市市场监督管理局"
BUSINESS = {
    "credit_code": "91350100M000100Y43", "name": "深圳某某科技有限公司", "entity_type": "有限责任公司",
    "legal_representative": "张三", "registered_capital": "100", "establishment_date": "2020-02-03",
    "address": "深圳市南山区科技园南区某某路1号", "scope": "软件开发。",
}
# Tables whose size a region's configuration bounds (its CAs, keys, seals, license types,
# trust lists, tokens, single-row states); every other table grows with the work done.
BOUNDED = {
    "alembic_version", "sqlite_master", "sqlite_temp_master", "ca_authorities", "ca_crl_counters",
    "keystore_meta", "keystore_keys", "keystore_activation", "seals", "seal_holders",
    "seal_authorisations", "seal_counters", "license_counters", "trust_signers", "trust_published",
    "trust_imported", "api_tokens", "status_epoch", "audit_head", "translog_state", "translog_heads",
}


def _everyday(home: Home) -> None:
    """The operations a region runs all day, once each."""
    region = seal_region(home, passphrase="plans passphrase", agency=AGENCY, name=AGENCY, region_code="440300")
    ks = region.keystore
    key = PrivateKey.generate()
    serial, _ = ca_service.issue_for_public_key(home, ks, profile="personal", public_key=key.public_key,
                                                subject="C=CN,CN=张三", id_number="11010519491231002X")
    with transaction(home.engine, readonly=True) as s:
        issuer = load_certificate(bytes(s.scalar(select(CertificateAuthority.certificate)
                                                 .where(CertificateAuthority.kind == "issuing"))))
    ca_service.ocsp_respond(home, ks, lc.ocsp_request(issuer, [int(serial, 16)]))
    stamped = tsa.timestamp(home, ks, tsa.request_for(b"a document")[0], actor="plans")
    assert tsa.parse_response(stamped).status == "granted"
    grant = sealing.authorise(home, ks, region.es_id, actor="clerk")
    sealed = sealing.seal_document(home, ks, grant, document(), timestamp=True)
    lid, _ = license_service.issue_license(home, ks, type="YYZZ", data=BUSINESS, agency=AGENCY, actor="clerk")
    license_service.license_status(home, lid)
    license_service.list_licenses(home, limit=20)
    license_service.list_licenses(home, agency=AGENCY, limit=20)
    ca_service.suspend(home, serial, actor="ra")
    ca_service.resume(home, serial, actor="ra")
    ca_service.revoke(home, serial, "keyCompromise", actor="ra")
    ca_service.certificate_status(home, serial)
    assert verifier_for_home(home, online=False).verify_ofd(sealed.data).signatures
    sessions = make_sessionmaker(home.engine)
    translog.sign_tree_head(sessions, audit_signer(home, ks))
    translog.prove_inclusion(sessions, f"cert:{serial}")


@contextmanager
def _home(backend: str, tmp_path, pg_url: str | None):
    if backend == "sqlite":
        home = Home.create(tmp_path / "home")
        yield home, None
        home.close()
        return
    with pg_schema_url(pg_url) as url:
        home = Home.create(tmp_path / "home", database_url=url)
        try:
            yield home, url
        finally:
            home.close()


def _table_scans_sqlite(plan: list[str], sql: str) -> list[str]:
    """The lines of ``plan`` that walk a growing table. Not counted: an INSERT ... VALUES's
    scans of the tables that reference the new row (SQLite lists the foreign key check, but
    runs it only while deferred violations are outstanding: 6 µs an insert beside 300,000
    referencing rows); a page in index order with a LIMIT and no filter; and a page's total,
    ``count(*)`` through a covering index (an exact total counts the rows it totals)."""
    if re.match(r"\s*INSERT\b[^;]*\bVALUES\b", sql, re.I | re.S) and not re.search(r"\bSELECT\b", sql, re.I):
        return []
    growing = [t for line in plan for t in re.findall(r"(?:SCAN|SEARCH) (\w+)", line) if t not in BOUNDED]
    bad = [line for line in plan if "TEMP B-TREE" in line and growing]   # every match read, then sorted
    for line in plan:
        m = re.match(r"SCAN (\w+)", line)
        if not m or m.group(1) in BOUNDED or "CONSTANT ROW" in line:
            continue
        in_order = "USING" in line and " LIMIT " in sql and " WHERE " not in sql
        total = "COVERING INDEX" in line and re.match(r"\s*SELECT count\(\*\)", sql, re.I)
        if not (in_order or total):
            bad.append(line)
    return bad


def _table_walks_postgresql(node: dict[str, Any], sql: str) -> list[str]:
    """The scan nodes of an EXPLAIN (FORMAT JSON) plan that walk a growing table: a
    sequential scan, or an index scan with no index condition (the primary key walked
    backwards under a LIMIT, filtering row by row) -- with the same exceptions as SQLite's."""
    bad = []
    if node["Node Type"] in ("Sort", "Incremental Sort") and _growing_tables(node):
        bad.append(f"Sort of {', '.join(_growing_tables(node))} rows")   # every match read, then sorted
    table = node.get("Relation Name")
    if table and table not in BOUNDED and node["Node Type"] in ("Seq Scan", "Index Scan", "Index Only Scan"):
        in_order = node["Node Type"] != "Seq Scan" and "Filter" not in node and " LIMIT " in sql
        total = node["Node Type"] == "Index Only Scan" and re.match(r"\s*SELECT count\(\*\)", sql, re.I)
        if "Index Cond" not in node and not (in_order or total):
            bad.append(f"{node['Node Type']} on {table}" + (f" filtering {node['Filter']}" if "Filter" in node else ""))
    for child in node.get("Plans", ()):
        bad += _table_walks_postgresql(child, sql)
    return bad


def _growing_tables(node: dict[str, Any]) -> list[str]:
    own = [node["Relation Name"]] if node.get("Relation Name") not in (None, *BOUNDED) else []
    return own + [t for child in node.get("Plans", ()) for t in _growing_tables(child)]


def test_everyday_statements_read_by_index_on_sqlite(tmp_path) -> None:
    statements: list[str] = []

    def trace(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_trace_callback(statements.append)
    with _home("sqlite", tmp_path, None) as (home, _):
        event.listen(home.engine, "connect", trace)
        home.engine.dispose()   # connections made from now on are traced
        _everyday(home)
        event.remove(home.engine, "connect", trace)
        raw = home.engine.raw_connection()
        try:
            found = {}
            for sql in dict.fromkeys(statements):
                if not re.match(r"\s*(SELECT|UPDATE|DELETE|INSERT|WITH)\b", sql, re.I):
                    continue
                plan = [row[3] for row in raw.execute("EXPLAIN QUERY PLAN " + sql)]
                if bad := _table_scans_sqlite(plan, sql):
                    found[sql[:300]] = bad
        finally:
            raw.close()
    assert len(statements) > 100   # the trace saw the work
    assert found == {}, "\n".join(f"{plan}  <-  {sql}" for sql, plan in found.items())


@pytest.mark.postgres
def test_everyday_statements_read_by_index_on_postgresql(tmp_path, pg_url) -> None:
    with _home("postgresql", tmp_path, pg_url) as (home, url):
        with recorded_statements(home.engine) as recorded:
            _everyday(home)
        found = {}
        with home.engine.raw_connection() as raw:
            cursor = raw.cursor()
            cursor.execute("SET enable_seqscan = off")
            for query, params in recorded:
                if not re.match(r"\s*(SELECT|UPDATE|DELETE|INSERT|WITH)\b", query, re.I):
                    continue
                cursor.execute("SAVEPOINT plan")
                cursor.execute("EXPLAIN (FORMAT JSON) " + query, params)
                plan = cursor.fetchone()[0][0]["Plan"]
                cursor.execute("ROLLBACK TO SAVEPOINT plan")
                if bad := _table_walks_postgresql(plan, query):
                    found[query[:300]] = bad
            raw.rollback()
    assert len(recorded) > 100
    assert found == {}, "\n".join(f"{plan}  <-  {sql}" for sql, plan in found.items())


def test_the_scan_rule_is_not_blind(tmp_path) -> None:
    """The rule flags the walk that migration 0019 removed, and passes the index search."""
    walk = ["SCAN ca_certificates"]
    sql = "SELECT serial FROM ca_certificates WHERE profile = 'tsa' ORDER BY id DESC LIMIT 1"
    assert _table_scans_sqlite(walk, sql) == walk
    assert _table_scans_sqlite(["SEARCH ca_certificates USING INDEX ix_ca_certificates_service (profile=?)"],
                               sql) == []
    assert _table_scans_sqlite(["SCAN license_records USING INDEX ix_license_records_issued"],
                               "SELECT id FROM license_records ORDER BY issued_at DESC LIMIT 20 OFFSET 0") == []
