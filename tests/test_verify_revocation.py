"""verify/revocation.py and verify/fetch.py against a real local HTTP server serving CRLs
signed by ca.crl and OCSP answers made by ca.ocsp: good / revoked / proof of existence,
OCSP -> CRL fallback, unauthorised responders, stale and tampered CRLs, the offline mode,
the persistent cache (SQLite and PostgreSQL), and a fetcher that refuses what it must."""
from __future__ import annotations

import datetime as dt
import socket
import threading
from urllib.parse import urlsplit

import pytest
from asn1crypto import x509

from ca.certificate import CertificateBuilder
from ca.ocsp import Responder
from ca.testing import LocalSigner, make_hierarchy
from store.db import make_engine, make_sessionmaker
from store.testing import *  # noqa: F401,F403
from verify.certfacts import facts_of
from verify.errors import FetchError
from verify.fetch import Fetcher
from verify.report import CheckResult, SubIndication
from verify.revocation import RevocationCache, RevocationChecker

UTC = dt.timezone.utc


def test_good_by_ocsp_then_from_cache(pki, pki_server) -> None:
    leaf, _ = pki.issue()
    checker = RevocationChecker()
    first = checker.check(leaf, pki.issuing)
    assert first.check.result is CheckResult.PASSED
    assert (first.evidence.source, first.evidence.status) == ("ocsp", "good")
    assert "OCSP" in first.evidence.responder and first.evidence.next_update is not None
    hits = dict(pki_server.hits)
    again = checker.check(leaf, pki.issuing)
    assert again.evidence.from_cache and again.check.result is CheckResult.PASSED
    assert pki_server.hits == hits, "a fresh cached answer must not be fetched again"


def test_revoked_and_proof_of_existence(pki) -> None:
    leaf, _ = pki.issue()
    revoked_at = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    pki.revoke(leaf, revoked_at, "keyCompromise")
    checker = RevocationChecker()
    bare = checker.check(leaf, pki.issuing)
    assert (bare.check.result, bare.check.sub_indication) == (CheckResult.FAILED, SubIndication.REVOKED)
    assert bare.evidence.revoked_at == revoked_at and bare.evidence.reason == "key_compromise"
    no_poe = checker.check(leaf, pki.issuing, signature=True)
    assert (no_poe.check.result, no_poe.check.sub_indication) == (CheckResult.INDETERMINATE,
                                                                  SubIndication.REVOKED_NO_POE)
    before = checker.check(leaf, pki.issuing, signature=True, poe=revoked_at - dt.timedelta(minutes=1))
    assert before.check.result is CheckResult.PASSED and before.evidence.status == "revoked"
    assert "after the signature's proven existence" in before.check.message
    after = checker.check(leaf, pki.issuing, signature=True, poe=revoked_at + dt.timedelta(seconds=1))
    assert after.check.sub_indication is SubIndication.REVOKED
    claimed_after = checker.check(leaf, pki.issuing, signature=True, claimed=revoked_at + dt.timedelta(hours=1))
    assert claimed_after.check.sub_indication is SubIndication.REVOKED


def test_crl_answers_for_leaf_and_ca(pki) -> None:
    leaf, _ = pki.issue()
    pki.revoke(leaf)
    checker = RevocationChecker(prefer_ocsp=False)
    out = checker.check(leaf, pki.issuing)
    assert (out.evidence.source, out.check.sub_indication) == ("crl", SubIndication.REVOKED)
    ca = checker.check(pki.issuing, pki.root)        # the root's CRL, from the CA's CRL DP
    assert (ca.evidence.source, ca.evidence.status) == ("crl", "good")


def test_ocsp_down_falls_back_to_crl(pki, pki_server) -> None:
    leaf, _ = pki.issue()
    del pki_server.routes[pki.ocsp_path]
    out = RevocationChecker().check(leaf, pki.issuing)
    assert out.evidence.source == "crl" and out.check.result is CheckResult.PASSED
    assert any("HTTP status 404" in e for e in out.evidence.errors)


def test_unauthorised_responder_is_not_believed(pki, pki_server) -> None:
    leaf, _ = pki.issue()
    other = make_hierarchy()
    rogue_key = LocalSigner()
    rogue_cert = (CertificateBuilder("ocsp", other.config).subject({"C": "CN", "O": "x", "CN": "rogue"})
                  .public_key(rogue_key.public_key).issuer(other.issuing).sign(other.issuing_signer))
    pki.responder = Responder(rogue_key, rogue_cert)
    del pki_server.routes[pki.crl_path]
    out = RevocationChecker().check(leaf, pki.issuing)
    assert (out.check.result, out.check.sub_indication) == (CheckResult.INDETERMINATE, SubIndication.TRY_LATER)
    # the rogue CA has the same names as ours (a twin), so it is its signature that gives it away
    assert any("is not signed by the CA" in e for e in out.evidence.errors), out.evidence.errors
    assert any("404" in e for e in out.evidence.errors)


def test_stale_and_tampered_crls_are_not_used(pki, pki_server) -> None:
    leaf, _ = pki.issue()
    del pki_server.routes[pki.ocsp_path]
    old = dt.datetime.now(UTC) - dt.timedelta(days=10)
    pki_server.routes[pki.crl_path] = pki.crl(this_update=old, next_update=old + dt.timedelta(days=1))
    stale = RevocationChecker().check(leaf, pki.issuing)
    assert stale.check.sub_indication is SubIndication.TRY_LATER
    assert "stale" in stale.check.message
    crl = bytearray(pki.crl())
    crl[-1] ^= 1
    pki_server.routes[pki.crl_path] = bytes(crl)
    tampered = RevocationChecker().check(leaf, pki.issuing)
    assert tampered.check.sub_indication is SubIndication.TRY_LATER
    assert "signature does not verify" in tampered.check.message


def test_offline_mode_uses_only_given_crls(pki, pki_server) -> None:
    leaf, _ = pki.issue()
    nothing = RevocationChecker(online=False).check(leaf, pki.issuing)
    assert nothing.check.sub_indication is SubIndication.TRY_LATER and "offline mode" in nothing.check.message
    pki.revoke(leaf)
    offline = RevocationChecker(online=False, offline_crls=[pki.crl()])
    out = offline.check(leaf, pki.issuing)
    assert (out.evidence.source, out.check.sub_indication) == ("offline-crl", SubIndication.REVOKED)
    assert pki_server.hits.get(pki.crl_path, 0) == 0 and pki_server.hits.get(pki.ocsp_path, 0) == 0


def test_persistent_cache_is_shared(pki, pki_server, migrated_database_url) -> None:
    engine = make_engine(migrated_database_url)
    try:
        sessions = make_sessionmaker(engine)
        leaf, _ = pki.issue()
        first = RevocationChecker(cache=RevocationCache(sessions), prefer_ocsp=False).check(leaf, pki.issuing)
        assert first.evidence.source == "crl"
        hits = pki_server.hits[pki.crl_path]
        # another worker: empty memory, same database
        second = RevocationChecker(cache=RevocationCache(sessions), prefer_ocsp=False).check(leaf, pki.issuing)
        assert second.check.result is CheckResult.PASSED
        assert pki_server.hits[pki.crl_path] == hits
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- the fetcher


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x.crl", "ldap://x/cn=y", "/relative.crl"])
def test_fetcher_refuses_other_schemes(url) -> None:
    with pytest.raises(FetchError, match="only http and https") as err:
        Fetcher().get(url)
    assert err.value.reason == "scheme"


def test_redirect_to_file_is_refused(pki_server) -> None:
    pki_server.routes["/r"] = lambda body: (302, {"Location": "file:///etc/passwd"}, b"")
    with pytest.raises(FetchError, match="only http and https"):
        Fetcher().get(pki_server.url + "/r")


def test_silent_server_times_out_to_try_later(pki) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)              # accepts connections in the backlog, never answers
    try:
        port = sock.getsockname()[1]
        with pytest.raises(FetchError, match="timed out") as err:
            Fetcher(read_timeout=0.3).get(f"http://127.0.0.1:{port}/x.crl")
        assert err.value.reason == "timeout"
        # a certificate whose OCSP and CRL URLs point at the silent server
        from ca.profiles import CAConfig

        h = make_hierarchy(CAConfig(region_code="110000", base_url=f"http://127.0.0.1:{port}"))
        k = LocalSigner()
        leaf = (CertificateBuilder("seal_maker", h.config).subject({"C": "CN", "O": "x", "CN": "y"})
                .public_key(k.public_key).issuer(h.issuing).sign(h.issuing_signer))
        out = RevocationChecker(fetcher=Fetcher(read_timeout=0.3)).check(leaf, h.issuing)
        assert (out.check.result, out.check.sub_indication) == (CheckResult.INDETERMINATE, SubIndication.TRY_LATER)
        assert out.evidence.errors and all("[timeout]" in e for e in out.evidence.errors)
    finally:
        sock.close()


def test_response_too_large(pki, pki_server) -> None:
    leaf, _ = pki.issue()
    pki_server.routes[pki.crl_path] = b"\x30" * (64 * 1024)
    del pki_server.routes[pki.ocsp_path]
    out = RevocationChecker(fetcher=Fetcher(max_bytes=16 * 1024), prefer_ocsp=False).check(leaf, pki.issuing)
    assert out.check.sub_indication is SubIndication.TRY_LATER
    assert "exceeds the limit of 16384 bytes" in out.check.message and "[too_large]" in out.check.message


def test_body_without_length_is_cut_at_the_limit() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)

    def serve() -> None:
        conn, _ = sock.accept()
        conn.recv(4096)
        try:
            conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * (200 * 1024))
        except OSError:
            pass
        conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        with pytest.raises(FetchError, match="exceeds the limit") as err:
            Fetcher(max_bytes=10_000).get(f"http://127.0.0.1:{sock.getsockname()[1]}/big")
        assert err.value.reason == "too_large"
    finally:
        t.join(5)
        sock.close()


def test_missing_intermediate_fetched_from_aia(pki, pki_server) -> None:
    from verify.path import StaticTrust, validate_path

    leaf, _ = pki.issue()
    trust = StaticTrust([pki.root])
    assert not validate_path(leaf, trust=trust).ok          # no fetcher: the issuing CA is unknown
    fetched = validate_path(leaf, trust=trust, fetcher=Fetcher())
    assert fetched.ok and [c.dump() for c in fetched.path][1] == pki.issuing.dump()
    assert pki_server.hits[f"/{pki.region_code}/ca/{pki.issuing_id}.cer"] == 1
    pki_server.routes[f"/{pki.region_code}/ca/{pki.issuing_id}.cer"] = b"not a certificate"
    from verify.path import clear_caches

    clear_caches()           # a fresh process: the path found above is cached
    broken = validate_path(leaf, trust=trust, fetcher=Fetcher())
    assert any(c.code == "X509_AIA_FETCH" and "neither a certificate" in c.message for c in broken.checks)


def test_ocsp_signed_by_the_ca_itself_is_accepted(pki) -> None:
    leaf, _ = pki.issue()
    pki.responder = Responder(pki.h.issuing_signer, pki.issuing)
    out = RevocationChecker().check(leaf, pki.issuing)
    assert (out.evidence.source, out.check.result) == ("ocsp", CheckResult.PASSED)
    assert "签发CA" in out.evidence.responder


def test_ocsp_answer_for_another_certificate_or_nonce_is_refused(pki, pki_server) -> None:
    from ca import ocsp

    leaf, _ = pki.issue()
    other, _ = pki.issue(cn="别的证书")
    now = dt.datetime.now(UTC).replace(microsecond=0)

    def wrong_serial(body: bytes) -> bytes:
        req = ocsp.parse_request(body)
        cid = ocsp.cert_id_for(pki.issuing, other.serial_number)
        return pki.responder.respond([ocsp.Answer(cid, "good", now, now + dt.timedelta(hours=1))], nonce=req.nonce)

    def wrong_nonce(body: bytes) -> bytes:
        req = ocsp.parse_request(body)
        return pki.responder.respond([ocsp.Answer(req.cert_ids[0], "good", now, now + dt.timedelta(hours=1))],
                                     nonce=b"replayed-nonce-0")

    del pki_server.routes[pki.crl_path]
    for handler, message in ((wrong_serial, "no answer for this certificate's CertID"),
                             (wrong_nonce, "nonce is not the request's")):
        pki_server.routes[pki.ocsp_path] = handler
        out = RevocationChecker().check(leaf, pki.issuing)
        assert out.check.sub_indication is SubIndication.TRY_LATER
        assert any(message in e for e in out.evidence.errors), out.evidence.errors


def test_delta_crl_completes_the_full_crl(pki, pki_server) -> None:
    from ca.crl import CRLBuilder

    leaf, _ = pki.issue()
    held, _ = pki.issue(cn="暂停后恢复")
    now = dt.datetime.now(UTC).replace(microsecond=0)
    del pki_server.routes[pki.ocsp_path]
    full = (CRLBuilder(pki.issuing, pki.config).crl_number(1).this_update(now - dt.timedelta(hours=1))
            .next_update(now + dt.timedelta(days=7))
            .revoked([(held.serial_number, now - dt.timedelta(hours=2), "certificateHold", None)])
            .sign(pki.h.issuing_signer))
    delta = (CRLBuilder(pki.issuing, pki.config).crl_number(2).delta_of(1).this_update(now)
             .next_update(now + dt.timedelta(days=1))
             .revoked([(leaf.serial_number, now - dt.timedelta(minutes=5), "keyCompromise", None),
                       (held.serial_number, now - dt.timedelta(minutes=4), "removeFromCRL", None)])
             .sign(pki.h.issuing_signer))
    pki_server.routes[pki.crl_path] = full
    # the full CRL alone says good for the leaf and held for the other one
    alone = RevocationChecker()
    pki_server.routes.pop(pki.crl_path.replace(".crl", "-delta.crl"), None)
    assert alone.check(leaf, pki.issuing).evidence.status == "good"
    assert alone.check(held, pki.issuing).evidence.status == "revoked"
    pki_server.routes[pki.crl_path.replace(".crl", "-delta.crl")] = delta
    both = RevocationChecker()
    out = both.check(leaf, pki.issuing)
    assert (out.evidence.source, out.check.sub_indication) == ("crl+delta", SubIndication.REVOKED)
    resumed = both.check(held, pki.issuing)
    assert (resumed.evidence.status, resumed.check.result) == ("good", CheckResult.PASSED)


def test_stale_ocsp_answer_is_not_used(pki, pki_server) -> None:
    from ca import ocsp

    leaf, _ = pki.issue()
    now = dt.datetime.now(UTC).replace(microsecond=0)

    def stale(body: bytes) -> bytes:
        req = ocsp.parse_request(body)
        return pki.responder.respond([ocsp.Answer(req.cert_ids[0], "good", now - dt.timedelta(hours=2),
                                                  now - dt.timedelta(hours=1))], nonce=req.nonce)

    pki_server.routes[pki.ocsp_path] = stale
    out = RevocationChecker().check(leaf, pki.issuing)
    assert out.evidence.source == "crl"            # the fresh CRL answers instead
    assert any("stale answer" in e for e in out.evidence.errors), out.evidence.errors


# --------------------------------------------------------------------------- the persistent cache's key

LONG_PATH = "/" + "p" * 480     # an address past the 500 characters the cache row's key once kept


def config_at(pki, base_url: str):
    """``pki``'s CA configuration with its addresses (CRL DP, IDP, OCSP) under ``base_url``."""
    from ca.profiles import CAConfig

    return CAConfig(region_code=pki.region_code, base_url=base_url)


def leaf_at(pki, base_url: str, cn: str) -> x509.Certificate:
    """A leaf of ``pki``'s issuing CA whose OCSP and CRL addresses are under ``base_url``."""
    return (CertificateBuilder("seal_maker", config_at(pki, base_url)).subject({"C": "CN", "O": pki.region_name, "CN": cn})
            .public_key(LocalSigner().public_key).issuer(pki.issuing).sign(pki.h.issuing_signer))


def test_long_crl_addresses_sharing_a_prefix_are_not_one_cache_row(pki, pki_server, migrated_database_url) -> None:
    """A CA that partitions its CRLs at two long addresses: the row was keyed by the first 500
    characters of ``crl|<url>``, so another worker asking for partition b's CRL got
    partition a's (the same CA's signature, so it was believed) and a revoked certificate
    of b was good."""
    from ca.crl import CRLBuilder

    bases = {part: f"{pki_server.url}{LONG_PATH}/{part}" for part in "ab"}
    a, b = (leaf_at(pki, bases[part], f"分区{part}") for part in "ab")
    now = dt.datetime.now(UTC).replace(microsecond=0)
    for part, leaf, revoked in (("a", a, []),
                                ("b", b, [(b.serial_number, now - dt.timedelta(hours=1), "keyCompromise", None)])):
        pki_server.routes[urlsplit(facts_of(leaf).crl_urls[0]).path] = (
            CRLBuilder(pki.issuing, config_at(pki, bases[part])).crl_number(1).this_update(now - dt.timedelta(minutes=1))
            .next_update(now + dt.timedelta(days=1)).revoked(revoked).sign(pki.h.issuing_signer))
    engine = make_engine(migrated_database_url)
    try:
        sessions = make_sessionmaker(engine)
        first = RevocationChecker(cache=RevocationCache(sessions), prefer_ocsp=False).check(a, pki.issuing)
        assert (first.evidence.source, first.evidence.status) == ("crl", "good"), first.evidence
        # another worker: empty memory, same database
        second = RevocationChecker(cache=RevocationCache(sessions), prefer_ocsp=False).check(b, pki.issuing)
        assert (second.evidence.status, second.check.sub_indication) == ("revoked", SubIndication.REVOKED), \
            second.evidence
        assert pki_server.hits[urlsplit(facts_of(b).crl_urls[0]).path] == 1     # b's own CRL was asked
        # and each is kept: a third worker reads both from the database
        third = RevocationChecker(cache=RevocationCache(sessions), prefer_ocsp=False, online=False)
        assert [third.check(c, pki.issuing).evidence.status for c in (a, b)] == ["good", "revoked"]
    finally:
        engine.dispose()


def test_certificates_under_one_long_ocsp_address_each_keep_their_answer(pki, pki_server,
                                                                        migrated_database_url) -> None:
    """Past 500 characters of ``ocsp|<url>|<issuer key>|<serial>`` the serial was cut off: every
    certificate under a long responder address shared one row, and the next worker asking
    about another certificate read the first one's answer, refused it (its CertID is not
    this certificate's) and never asked the responder: no OCSP answer until that row expired."""
    base = f"{pki_server.url}{LONG_PATH}"
    pki_server.routes[urlsplit(base).path + "/ocsp"] = pki.answer_ocsp
    a, b = leaf_at(pki, base, "甲"), leaf_at(pki, base, "乙")
    engine = make_engine(migrated_database_url)
    try:
        sessions = make_sessionmaker(engine)
        first = RevocationChecker(cache=RevocationCache(sessions)).check(a, pki.issuing)
        assert (first.evidence.source, first.evidence.status) == ("ocsp", "good"), first.evidence
        second = RevocationChecker(cache=RevocationCache(sessions)).check(b, pki.issuing)
        assert (second.evidence.source, second.evidence.errors) == ("ocsp", ()), second.evidence
        offline = RevocationChecker(cache=RevocationCache(sessions), online=False)
        assert [offline.check(c, pki.issuing).evidence.source for c in (a, b)] == ["ocsp", "ocsp"]
    finally:
        engine.dispose()
