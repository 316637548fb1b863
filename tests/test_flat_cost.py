"""DESIGN: the cost of an operation stays flat from 1 k to 1 M certificates in the database.

Measured without a clock, so the database work of an operation is a number that does not
depend on the machine: on SQLite the virtual-machine instructions its statements run
(a progress handler counts them), on PostgreSQL the buffer pages its reading statements
touch (each run again under EXPLAIN (ANALYZE, BUFFERS)). Each everyday operation runs in a region holding 1,000 bulk certificates
and log entries, then in one holding 20 times as many; its count may grow by a little
(B-tree depth, a proof one or two nodes longer), never with the table.

tests/test_query_plans.py reads the plans; this test catches what a plan cannot show: a
plan that searches an index with equality on every column can still walk most of the
table (issuer_id = ? AND status = 'good' matches every good certificate of the CA), as
the live OCSP answer did until ca.service.current_service_row stopped asking that way.
benchmarks/bench_scale.py times the same operations at 1 k and 1 M.
"""
from __future__ import annotations

import contextlib
import random
import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text

from ca import service as ca_service
from ca.certificate import load_certificate
from ca.testing import bulk_certificates
from gm.sm2 import PrivateKey
from keystore.region import audit_signer
from seal import tsa
from seal.license.sealing import RegistrySealer
from store import translog
from store.db import make_sessionmaker, transaction
from store.home import Home
from store.models.ca import CertificateAuthority
from store.testing import bulk_log_entries, pg_schema_url
from tests.helpers import lifecycle as lc
from tests.helpers.region import seal_region
from tests.helpers.statements import recorded_statements
from tests.test_query_plans import AGENCY

SMALL, LARGE = 1_000, 20_000
GROWTH = 1.5   # the most an operation's instruction count may grow over 20 times the rows
# except a log proof, whose reads follow log2 of the log's size: its length (10 nodes at 1,000
# entries, 15 at 20,000) and the depth of the indexes it descends (PostgreSQL reads the few
# stored nodes of the smaller log as one page). Measured 1.6x on SQLite, 3.2x on PostgreSQL;
# reading every leaf, as before store/translog_tree.py, was 19x.
PROOF_GROWTH = 4.0
EVERY = 100    # VM instructions per progress-handler call


class _Region:
    """A sealing region with ``certificates`` bulk certificates and as many bulk log entries,
    on SQLite (``url`` None) or PostgreSQL."""

    def __init__(self, path, certificates: int, url: str | None = None) -> None:
        self.home = Home.create(path, database_url=url)
        region = seal_region(self.home, passphrase="flat passphrase", agency=AGENCY, name=AGENCY,
                             region_code="440300")
        self.ks, self.es_id = region.keystore, region.es_id
        rnd = random.Random(certificates)
        self.serials = [(1 << 126) | rnd.getrandbits(126) for _ in range(certificates)]
        bulk_certificates(self.home, ((s, None, None) for s in self.serials))
        self.log_start = bulk_log_entries(self.home.engine, certificates)
        self.sessions = make_sessionmaker(self.home.engine)
        translog.sign_tree_head(self.sessions, audit_signer(self.home, self.ks))
        with transaction(self.home.engine, readonly=True) as s:
            self.issuer = load_certificate(bytes(s.scalar(select(CertificateAuthority.certificate)
                                                          .where(CertificateAuthority.kind == "issuing"))))
        if url is not None:
            with self.home.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")   # as autovacuum would have after a bulk load
        self.steps = 0
        self._sqlite = url is None
        if self._sqlite:
            event.listen(self.home.engine, "connect", self._count)
            self.home.engine.dispose()   # connections made from now on are counted

    def _count(self, dbapi_connection: Any, _record: Any) -> None:
        def tick() -> int:
            self.steps += 1
            return 0
        dbapi_connection.set_progress_handler(tick, EVERY)

    def measure(self, operation: Callable[[_Region, int], Any], rounds: int = 5) -> int:
        """The database work of the operation's ``rounds`` runs after one warm-up run: on SQLite
        VM instructions (in hundreds); on PostgreSQL the buffer pages its reading statements
        touch (SELECT, UPDATE, DELETE), each run again under EXPLAIN (ANALYZE, BUFFERS) in a
        savepoint rolled back."""
        operation(self, 0)
        if self._sqlite:
            self.steps = 0
            for i in range(1, rounds + 1):
                operation(self, i)
            return self.steps
        with recorded_statements(self.home.engine) as recorded:
            for i in range(1, rounds + 1):
                operation(self, i)
        return _buffers(self.home.engine, recorded)


def _buffers(engine: Engine, recorded: list[tuple[str, Any]]) -> int:
    pages = 0
    with engine.raw_connection() as raw:
        cursor = raw.cursor()
        for query, params in recorded:
            if not re.match(r"\s*(SELECT|UPDATE|DELETE|WITH)\b", query, re.I):
                continue
            cursor.execute("SAVEPOINT measure")
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query, params)
            plan = cursor.fetchone()[0][0]["Plan"]   # a node's buffers include its children's
            pages += plan["Shared Hit Blocks"] + plan["Shared Read Blocks"] + plan.get("Temp Read Blocks", 0)
            cursor.execute("ROLLBACK TO SAVEPOINT measure")
        raw.rollback()
    return pages


def _ocsp(r: _Region, i: int) -> None:
    r_serial = r.serials[(i * 7919) % len(r.serials)]
    assert len(ca_service.ocsp_respond(r.home, r.ks, lc.ocsp_request(r.issuer, [r_serial]))) > 100


def _ocsp_presigned(r: _Region, i: int) -> None:
    """No nonce, one certificate: the pre-signed answers of ca/ocsp_cache.py (signed once,
    then served while the certificate's status and the responder stay as they were)."""
    from asn1crypto import ocsp as aocsp

    from ca import ocsp
    from ca.ocsp_cache import OCSPCache

    if not hasattr(r, "ocsp_cache"):
        r.ocsp_cache = OCSPCache(r.home, r.ks)
    serial = r.serials[(i * 7919) % len(r.serials)]
    request = aocsp.OCSPRequest({"tbs_request": {"request_list": [
        {"req_cert": ocsp.cert_id_for(r.issuer, serial, "sm3").raw}]}}).dump()
    assert len(r.ocsp_cache.respond(request)) > 100


def _timestamp(r: _Region, i: int) -> None:
    answer = tsa.timestamp(r.home, r.ks, tsa.request_for(b"document %d" % i)[0], actor="flat")
    assert tsa.parse_response(answer).status == "granted"


def _status(r: _Region, i: int) -> None:
    assert ca_service.certificate_status(r.home, r.serials[(i * 7919) % len(r.serials)]).status == "good"


def _issue(r: _Region, i: int) -> None:
    ca_service.issue_for_public_key(r.home, r.ks, profile="device", public_key=PrivateKey.generate().public_key,
                                    subject=f"C=CN,O=某某局,CN=设备-{i}", actor="flat")


def _seal_license(r: _Region, _i: int) -> None:
    from benchmarks.bench_license import _license_ofd

    ofd, box = _license_ofd()
    sealer = RegistrySealer(r.home, r.ks, timestamp=False)
    assert len(sealer.seal(ofd, sealer.authorise(seal_id=r.es_id, agency=None, actor="flat"), box=box)) > len(ofd)


def _log_proof(r: _Region, i: int) -> None:
    proof = translog.prove_inclusion(r.sessions, f"cert:{r.log_start + (i * 7919) % len(r.serials):x}")
    assert proof.head.size >= len(r.serials)


OPERATIONS = {"live OCSP answer": _ocsp, "pre-signed OCSP answer": _ocsp_presigned, "timestamp": _timestamp,
              "certificate status": _status, "issuance": _issue, "license sealing": _seal_license,
              "log inclusion proof": _log_proof}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def regions(request, tmp_path_factory):
    with contextlib.ExitStack() as stack:
        made = []
        for n in (SMALL, LARGE):
            url = None
            if request.param == "postgresql":
                url = stack.enter_context(pg_schema_url(request.getfixturevalue("pg_url")))
            region = _Region(tmp_path_factory.mktemp("flat") / "home", n, url)
            stack.callback(region.home.close)
            made.append(region)
        yield made


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_database_work_does_not_grow_with_the_tables(regions, name: str) -> None:
    small, large = (r.measure(OPERATIONS[name]) for r in regions)
    assert small > 0
    assert large <= small * (PROOF_GROWTH if name == "log inclusion proof" else GROWTH), \
        f"{name}: {small} -> {large} ({large / small:.1f}x)"


def test_the_count_sees_a_walk(regions) -> None:
    """Not blind: a statement that reads every certificate costs 20 times more in the larger region."""
    def walk(r: _Region, _i: int) -> None:
        with transaction(r.home.engine, readonly=True) as s:
            s.execute(text("SELECT count(*) FROM ca_certificates WHERE profile = 'device'")).scalar_one()
    small, large = (r.measure(walk) for r in regions)
    assert large > small * 10
