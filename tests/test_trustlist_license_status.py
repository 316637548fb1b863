"""Another region's e-license status, found through its signed TL (verify/license_status.py),
over real local HTTP; the TL's license_status_uri field; the status-reuse setting
(verify/freshness.py); the shared verifier reloading its trust store after an import."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from ca.certificate import CertificateBuilder
from ca.testing import LocalSigner, make_hierarchy
from seal.license.identifiers import make_license_id
from verify.errors import TrustListError
from verify.fetch import Fetcher
from verify.freshness import ENV, status_max_age
from verify.license_status import RemoteLicenseDirectory, license_status_lookup, region_of_license
from verify.testing import PKIServer
from verify.trustlist import TrustStore, open_list, sign_list
from verify.trustlist.model import Service, StatusPeriod, TrustList

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 1, 1, tzinfo=UTC)
LICENSE = make_license_id("440000", "YYZZ", 2026, 42)


@pytest.fixture(scope="module")
def hierarchy():
    return make_hierarchy()


def region_tl(h, uri: str | None, seq: int = 1) -> TrustList:
    return TrustList("TL", "广东省电子认证中心", "CN-440000", seq, T0, T0 + dt.timedelta(days=3650),
                     (Service("root_ca", "广东省根CA", (h.root,), (StatusPeriod("granted", T0),)),),
                     license_status_uri=uri)


def record(status: str, **extra) -> bytes:
    return json.dumps({"license_id": LICENSE, "status": status, **extra}, ensure_ascii=False).encode()


def test_license_status_uri_is_signed_and_checked(hierarchy) -> None:
    key = LocalSigner()
    cert = (CertificateBuilder("audit_signer", hierarchy.config).subject({"C": "CN", "O": "测试", "CN": "签名"})
            .public_key(key.public_key).issuer(hierarchy.issuing).sign(hierarchy.issuing_signer))
    uri = "https://pki.gd.example/api/v1/licenses/{license_id}"
    tl, _ = open_list(sign_list(region_tl(hierarchy, uri), cert, key.sign), [cert])
    assert tl.license_status_uri == uri
    assert open_list(sign_list(region_tl(hierarchy, None), cert, key.sign), [cert])[0].license_status_uri is None
    for bad in ("ftp://x/{license_id}", "https://pki.gd.example/licenses/", 7):
        body = region_tl(hierarchy, None).to_dict()
        body["license_status_uri"] = bad
        with pytest.raises(TrustListError, match="license_status_uri"):
            TrustList.from_dict(body)
    lotl = {**region_tl(hierarchy, None).to_dict(), "type": "LOTL", "pointers": [], "license_status_uri": uri}
    del lotl["services"]
    with pytest.raises(TrustListError, match="unknown field"):
        TrustList.from_dict(lotl)


def test_remote_directory_answers_through_the_tl(hierarchy) -> None:
    with PKIServer() as srv:
        path = f"/api/v1/licenses/{LICENSE}"
        store = TrustStore.of([(region_tl(hierarchy, srv.url + "/api/v1/licenses/{license_id}"), None)])
        fetcher = Fetcher(connect_timeout=2, read_timeout=2, total_timeout=5)
        srv.routes[path] = record("valid")
        fresh = RemoteLicenseDirectory(store, fetcher, max_age=dt.timedelta(0))
        assert fresh(LICENSE).status == "valid" and srv.url in fresh(LICENSE).source
        srv.routes[path] = record("revoked", revoked_at="2026-03-01T08:00:00+08:00", revoke_reason="依法吊销")
        answer = fresh(LICENSE)                          # nothing reused: the revocation shows at once
        assert (answer.status, answer.reason) == ("revoked", "依法吊销")
        assert answer.since == dt.datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
        assert srv.hits[path] == 3
        kept = RemoteLicenseDirectory(store, fetcher, max_age=dt.timedelta(minutes=1))
        assert kept(LICENSE).status == kept(LICENSE).status == "revoked" and srv.hits[path] == 4
        # what the directory says it does not know is "unknown" (the engine fails it); garbage is "unavailable"
        other = make_license_id("440000", "YYZZ", 2026, 43)
        srv.routes[f"/api/v1/licenses/{other}"] = (404, {"Content-Type": "application/problem+json"}, json.dumps(
            {"type": "https://eseal.example/problems/unknown-license", "title": "No such license"}).encode())
        assert fresh(other).status == "unknown"
        srv.routes[path] = b"<html>not json</html>"
        assert fresh(LICENSE).status == "unavailable"
        srv.routes[path] = b"[" * 100_000       # nested past Python's recursion limit: garbage too
        assert fresh(LICENSE).status == "unavailable"
        srv.routes[path] = json.dumps({"license_id": other, "status": "valid"}).encode()
        assert fresh(LICENSE).status == "unavailable"    # an answer about another license
        # another region, or a mistyped identifier: nobody to ask, no request made
        hits = dict(srv.hits)
        assert fresh(make_license_id("330000", "YYZZ", 2026, 1)) is None
        assert fresh(LICENSE[:-1] + ("0" if LICENSE[-1] != "0" else "1")) is None
        assert srv.hits == hits
    assert region_of_license(LICENSE) == "CN-440000" and region_of_license("nonsense") is None


def test_unreachable_directory_is_try_later(hierarchy) -> None:
    with PKIServer() as srv:
        url = srv.url
    store = TrustStore.of([(region_tl(hierarchy, url + "/api/v1/licenses/{license_id}"), None)])
    lookup = license_status_lookup(None, store, Fetcher(connect_timeout=1, read_timeout=1, total_timeout=2))
    assert lookup(LICENSE).status == "unavailable"
    # the engine: a license whose directory cannot be asked is INDETERMINATE TRY_LATER
    from verify.engine import Verifier
    from verify.report import SubIndication

    check = Verifier(license_status=lookup)._registry_check("LICENSE_STATUS", "e-license", LICENSE,
                                                           lookup(LICENSE), None, SubIndication.LICENSE_REVOKED)
    assert (check.result.value, check.sub_indication) == ("INDETERMINATE", SubIndication.TRY_LATER)


def test_status_max_age_setting() -> None:
    assert status_max_age({}) is None
    assert status_max_age({ENV: "0"}) == dt.timedelta(0)
    assert status_max_age({ENV: "90"}) == dt.timedelta(seconds=90)
    for bad in ("-1", "soon"):
        with pytest.raises(ValueError, match=ENV):
            status_max_age({ENV: bad})


def test_revocation_answers_reused_no_longer_than_the_setting(monkeypatch) -> None:
    from verify.revocation import RevocationChecker

    monkeypatch.setenv(ENV, "5")
    checker = RevocationChecker(online=False)
    now = dt.datetime(2026, 1, 1, tzinfo=UTC)
    assert checker.max_reuse == dt.timedelta(seconds=5)
    assert checker._reuse_until(now + dt.timedelta(hours=24), now) == now + dt.timedelta(seconds=5)
    assert checker._reuse_until(now + dt.timedelta(seconds=2), now) == now + dt.timedelta(seconds=2)
    monkeypatch.delenv(ENV)
    assert RevocationChecker(online=False)._reuse_until(now + dt.timedelta(hours=24), now) == \
        now + dt.timedelta(hours=24)


# --------------------------------------------------------------------------- a 404 is "unknown" only from a directory


PASS = "correct horse battery staple"


@pytest.fixture(scope="module")
def our_directory(tmp_path_factory):
    """Region 440000's own API (api.create_app over an initialised SQLite home) on a real
    local HTTP server: the directory another region's verifier asks."""
    import threading

    from werkzeug.serving import make_server

    from api import create_app
    from ca import service as ca_service
    from keystore.soft import SoftKeyStore
    from store.db import make_sessionmaker
    from store.home import Home

    d = tmp_path_factory.mktemp("directory")
    home = Home.create(d / "A", database_url=f"sqlite:///{d / 'A.db'}")
    ks = SoftKeyStore.initialise(make_sessionmaker(home.engine), actor="admin", passphrase=PASS).store
    ca_service.init_region(home, ks, region_code="440000", region_name="广东省", base_url="http://pki.440000.example")
    home.close()
    server = make_server("127.0.0.1", 0, create_app(d / "A", passphrase=PASS), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def ask(hierarchy, template: str):
    store = TrustStore.of([(region_tl(hierarchy, template), None)])
    return RemoteLicenseDirectory(store, Fetcher(connect_timeout=2, read_timeout=5, total_timeout=10),
                                  max_age=dt.timedelta(0))(LICENSE)


def test_our_directory_not_knowing_a_license_is_unknown(hierarchy, our_directory) -> None:
    answer = ask(hierarchy, our_directory + "/api/v1/licenses/{license_id}")
    assert (answer.status, answer.reason) == ("unknown", "the issuing region's directory has no such license")


def test_a_404_that_is_not_the_directory_s_answer_is_unavailable(hierarchy, our_directory) -> None:
    """A TL naming a wrong path, or a proxy in front of the directory answering 404 by itself,
    said "no such license" as surely as the directory would: a genuine license FAILED
    (LICENSE_REVOKED) instead of INDETERMINATE TRY_LATER."""
    # a wrong path on a real eseal server: its own 404 problem, of another type
    wrong = ask(hierarchy, our_directory + "/api/v1/licences/{license_id}")
    assert wrong.status == "unavailable" and "404" in wrong.reason, wrong
    with PKIServer() as srv:
        path = f"/api/v1/licenses/{LICENSE}"
        not_found = json.dumps({"type": "https://eseal.example/problems/unknown-license", "status": 404}).encode()
        for status, headers, body in (
                (404, {}, b""),                                                     # a bare 404
                (404, {"Content-Type": "text/html"}, b"<html><h1>404 Not Found</h1></html>"),   # a proxy's page
                (404, {"Content-Type": "application/json"}, not_found),            # not a problem document
                (404, {"Content-Type": "application/problem+json"}, b"{not json"),
                (404, {"Content-Type": "application/problem+json"}, b'["unknown-license"]'),
        ):
            srv.routes[path] = (status, headers, body)
            answer = ask(hierarchy, srv.url + "/api/v1/licenses/{license_id}")
            assert answer.status == "unavailable" and "404" in answer.reason, (headers, body, answer)
        # the same answer our directory gives, from any server: unknown
        srv.routes[path] = (404, {"Content-Type": "application/problem+json"}, not_found)
        assert ask(hierarchy, srv.url + "/api/v1/licenses/{license_id}").status == "unknown"
