"""A verifier over a region's own home answers revocation for that region's certificates from
its CA database (verify/registry.py) and builds chains with the home's issuing CA, without
one request to the region's own URLs; other regions' certificates still go to their OCSP
responder / CRL. On SQLite and PostgreSQL."""
from __future__ import annotations

from ca import service as ca_service
from keystore.soft import SoftKeyStore
from seal import service as seal_service
from seal.license import service as license_service
from store.db import make_sessionmaker
from store.home import Home
from store.testing import *  # noqa: F401,F403
from verify.errors import FetchError
from verify.report import Indication, SubIndication
from verify.service import verifier_for_home

AGENCY = "深圳市市场监督管理局"
UNREACHABLE = "http://127.0.0.1:9"          # nothing listens: a fetch would fail, not hang
BUSINESS = {
    "credit_code": "91350100M000100Y43", "name": "深圳某某科技有限公司", "entity_type": "有限责任公司",
    "legal_representative": "张三", "establishment_date": "2020-02-03", "address": "深圳市南山区",
    "scope": "软件开发",
}


class CountingRefusal:
    """A fetcher that refuses every request and counts them."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def get(self, url: str):
        self.urls.append(url)
        raise FetchError(f"{url}: refused by the test", "network")

    def post(self, url: str, body: bytes, content_type: str):
        return self.get(url)


def _region(home: Home, code: str, name: str):
    ks = SoftKeyStore.initialise(make_sessionmaker(home.engine), actor="admin", passphrase="pw for the test").store
    ca_service.init_region(home, ks, region_code=code, region_name=name, base_url=UNREACHABLE)
    key_ref = ks.generate("signer", "seal", actor="admin")
    serial, cert = ca_service.issue_for_key(home, ks, profile="organization", key_ref=key_ref,
                                            subject=f"C=CN,O={AGENCY},CN={AGENCY}", credit_code="11440300MB2C92051K")
    return ks, serial, cert


def _sealed_license(home: Home) -> bytes:
    """A business license of this region, sealed (and timestamped) with a seal of its own CA."""
    ks, _, cert = _region(home, "440300", "深圳市")
    es_id = seal_service.make_seal(home, ks, seal_type="organization", name=AGENCY, agency=AGENCY,
                                   holder_certs=[cert.dump()], actor="ra")
    return license_service.issue_license(home, ks, type="YYZZ", data=BUSINESS, agency=None, seal_id=es_id,
                                         actor="clerk")[1]


def test_own_region_license_passes_without_a_fetch(eseal_home) -> None:
    home = eseal_home
    ofd = _sealed_license(home)
    fetcher = CountingRefusal()
    [sig] = verifier_for_home(home, fetcher=fetcher).verify_ofd(ofd).signatures
    assert (sig.indication, sig.sub_indication) == (Indication.PASSED, None), \
        [(c.code, c.message) for c in sig.checks if c.failed]
    assert fetcher.urls == []
    assert sig.revocation and {e.source for e in sig.revocation} == {"registry"}


def test_own_region_status_is_current(eseal_home) -> None:
    home = eseal_home
    ks, serial, cert = _region(home, "440300", "深圳市")
    verifier = verifier_for_home(home, fetcher=CountingRefusal())
    assert verifier.verify_certificate(cert.dump()).indication is Indication.PASSED

    ca_service.suspend(home, serial)
    held = verifier.verify_certificate(cert.dump())       # same verifier: nothing stale is reused
    assert (held.indication, held.sub_indication) == (Indication.FAILED, SubIndication.REVOKED)
    assert "certificateHold" in str(held.to_dict())

    ca_service.resume(home, serial)
    assert verifier.verify_certificate(cert.dump()).indication is Indication.PASSED

    ca_service.revoke(home, serial, reason="keyCompromise")
    revoked = verifier.verify_certificate(cert.dump())
    assert (revoked.indication, revoked.sub_indication) == (Indication.FAILED, SubIndication.REVOKED)
    assert "keyCompromise" in str(revoked.to_dict())


def test_another_regions_certificate_is_asked_at_its_responder(eseal_home, tmp_path) -> None:
    other = Home.create(tmp_path / "other")
    try:
        _, _, foreign = _region(other, "110000", "北京市")
        _region(eseal_home, "440300", "深圳市")
        fetcher = CountingRefusal()
        their_issuing = ca_service.service_certificate(other, "seal_maker").chain[0]
        report = verifier_for_home(eseal_home, fetcher=fetcher, anchors=[their_issuing.dump()]) \
            .verify_certificate(foreign.dump())
        # not this home's: its own OCSP / CRL URLs were asked (and refused) -> TRY_LATER
        assert report.sub_indication is SubIndication.TRY_LATER
        assert fetcher.urls and all(u.startswith(UNREACHABLE) for u in fetcher.urls)
    finally:
        other.close()


def test_each_own_certificate_is_read_once_per_verification(eseal_home) -> None:
    """The signer's, the TSA's and the seal maker's chains meet at the issuing CA: within one
    verification its status is read once; the next verification reads it again."""
    from verify.certfacts import facts_of

    home = eseal_home
    ofd = _sealed_license(home)
    verifier = verifier_for_home(home, fetcher=CountingRefusal())
    checker, asked = verifier.revocation, []
    registry = checker.registry

    def counting(cert, issuer):
        asked.append((facts_of(issuer).der, facts_of(cert).serial))
        return registry(cert, issuer)

    consulted = []
    lookup = checker._registry

    def consulting(cert, issuer, *args, **kwargs):
        consulted.append(facts_of(cert).serial)
        return lookup(cert, issuer, *args, **kwargs)

    checker.registry, checker._registry = counting, consulting
    [sig] = verifier.verify_ofd(ofd).signatures
    assert sig.indication is Indication.PASSED and sig.timestamp_time is not None
    assert len(asked) == len(set(asked)) >= 3          # signer, TSA, issuing CA: each read once
    assert len(consulted) > len(asked)                 # though the shared CA is checked in more than one chain
    first = list(asked)
    verifier.verify_ofd(ofd)
    assert asked[len(first):] == first                 # read afresh by the next verification


def test_one_verification_reads_the_home_through_one_connection(eseal_home) -> None:
    """The seal's, the license's and each certificate's status are read with a statement each,
    all on one connection checked out of the pool once (on PostgreSQL each checkout also pings
    the server) and given back when the verification ends."""
    from sqlalchemy import event

    home = eseal_home
    ofd = _sealed_license(home)
    verifier = verifier_for_home(home, fetcher=CountingRefusal())
    verifier.verify_ofd(ofd)  # warm: identities and statements
    checkouts: list[object] = []
    statements: list[str] = []

    def on_checkout(dbapi_connection, record, proxy) -> None:
        checkouts.append(dbapi_connection)

    event.listen(home.engine.pool, "checkout", on_checkout)
    lookup = verifier.revocation._registry

    def counting(cert, issuer, *args, **kwargs):
        statements.append("certificate")
        return lookup(cert, issuer, *args, **kwargs)

    verifier.revocation._registry = counting
    try:
        [sig] = verifier.verify_ofd(ofd).signatures
    finally:
        event.remove(home.engine.pool, "checkout", on_checkout)
    assert sig.indication is Indication.PASSED
    assert {c.code for c in sig.checks} >= {"SEAL_STATUS", "LICENSE_STATUS"}, {c.code for c in sig.checks}
    assert statements, "no certificate status was looked up"
    assert len(checkouts) == 1, f"{len(checkouts)} connections for one verification"
    assert home.engine.pool.checkedout() == 0  # given back
