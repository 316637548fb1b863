"""DESIGN: the cost of an operation stays flat from 1 k to 1 M certificates in the database.

Measured without a clock: SQLite's progress handler counts the virtual-machine instructions
a statement runs, so the database work of an operation is a number that does not depend
on the machine. Each everyday operation runs in a region holding 1,000 bulk certificates
and log entries, then in one holding 20 times as many; its count may grow by a little
(B-tree depth, a proof one or two nodes longer), never with the table.

tests/test_query_plans.py reads the plans; this test catches what a plan cannot show: a
plan that searches an index with equality on every column can still walk most of the
table (issuer_id = ? AND status = 'good' matches every good certificate of the CA), as
the live OCSP answer did until ca.service.current_service_row stopped asking that way.
benchmarks/bench_scale.py times the same operations at 1 k and 1 M.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event, select, text

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
from store.testing import bulk_log_entries
from tests.helpers import lifecycle as lc
from tests.helpers.region import seal_region
from tests.test_query_plans import AGENCY

SMALL, LARGE = 1_000, 20_000
GROWTH = 1.5   # the most an operation's instruction count may grow over 20 times the rows
# except a log proof, whose length is log2 of the log's size (10 nodes at 1,000 entries, 15 at
# 20,000), and its reads with it
PROOF_GROWTH = 2.0
EVERY = 100    # VM instructions per progress-handler call


class _Region:
    def __init__(self, path, certificates: int) -> None:
        self.home = Home.create(path)
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
        self.steps = 0
        event.listen(self.home.engine, "connect", self._count)
        self.home.engine.dispose()   # connections made from now on are counted

    def _count(self, dbapi_connection: Any, _record: Any) -> None:
        def tick() -> int:
            self.steps += 1
            return 0
        dbapi_connection.set_progress_handler(tick, EVERY)

    def measure(self, operation: Callable[[_Region, int], Any], rounds: int = 5) -> int:
        """Database instructions of the operation's ``rounds`` runs after one warm-up run."""
        operation(self, 0)
        self.steps = 0
        for i in range(1, rounds + 1):
            operation(self, i)
        return self.steps


def _ocsp(r: _Region, i: int) -> None:
    r_serial = r.serials[(i * 7919) % len(r.serials)]
    assert len(ca_service.ocsp_respond(r.home, r.ks, lc.ocsp_request(r.issuer, [r_serial]))) > 100


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


OPERATIONS = {"live OCSP answer": _ocsp, "timestamp": _timestamp, "certificate status": _status,
              "issuance": _issue, "license sealing": _seal_license, "log inclusion proof": _log_proof}


@pytest.fixture(scope="module")
def regions(tmp_path_factory):
    made = [_Region(tmp_path_factory.mktemp("flat") / "home", n) for n in (SMALL, LARGE)]
    yield made
    for r in made:
        r.home.close()


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_database_work_does_not_grow_with_the_tables(regions, name: str) -> None:
    small, large = (r.measure(OPERATIONS[name]) for r in regions)
    assert small > 0
    assert large <= small * (PROOF_GROWTH if name == "log inclusion proof" else GROWTH), f"{name}: {small} -> {large} ({large / small:.1f}x) x{EVERY} instructions"


def test_the_count_sees_a_walk(regions) -> None:
    """Not blind: a statement that reads every certificate costs 20 times more in the larger region."""
    def walk(r: _Region, _i: int) -> None:
        with transaction(r.home.engine, readonly=True) as s:
            s.execute(text("SELECT count(*) FROM ca_certificates WHERE profile = 'device'")).scalar_one()
    small, large = (r.measure(walk) for r in regions)
    assert large > small * 10
