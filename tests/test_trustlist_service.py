"""verify/trustlist/service.py: a region publishes its TL, the national operator builds the
LOTL, a relying party imports it (pinned) over real local HTTP, on SQLite and PostgreSQL;
withdrawal of a region, rollback and pin refusals, audit records."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from ca import service as ca_service
from keystore.soft import SoftKeyStore
from store import audit
from store.db import make_sessionmaker, transaction
from store.home import Home
from store.models import AuditRecord
from store.testing import *  # noqa: F401,F403
from verify.errors import PinMismatch, TrustListError
from verify.path import load_certificate
from verify.testing import PKIServer
from verify.trustlist.model import open_list
from verify.trustlist.service import (
    PointerSpec,
    build_lotl,
    import_lotl,
    list_signer,
    load_trust_store,
    publish_region_tl,
    refresh_lotl,
)

UTC = dt.timezone.utc
PASS = "correct horse battery staple"


def make_region(home, code, name):
    ks = SoftKeyStore.initialise(make_sessionmaker(home.engine), actor="admin", passphrase=PASS).store
    ca_service.init_region(home, ks, region_code=code, region_name=name, base_url=f"http://pki.{code}.example")
    return ks


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Region A (广东), region C (福建) and the national operator, each in its own SQLite home,
    their lists served by one local HTTP server."""
    d = tmp_path_factory.mktemp("world")
    homes, stores = {}, {}
    for key, code, name in (("A", "440000", "广东省"), ("C", "350000", "福建省"), ("N", "100000", "国家")):
        homes[key] = Home.create(d / key, database_url=f"sqlite:///{d / key}.db")
        stores[key] = make_region(homes[key], code, name)
    with PKIServer() as srv:
        for key in ("A", "C"):
            srv.routes[f"/{key}/tl.json"] = publish_region_tl(homes[key], stores[key])
        signers = {k: list_signer(homes[k], stores[k], "tl")[1] for k in ("A", "C")}
        lotl = build_lotl(homes["N"], stores["N"], [PointerSpec(f"{srv.url}/{k}/tl.json", signers[k]) for k in ("A", "C")])
        srv.routes["/lotl.json"] = lotl
        national = list_signer(homes["N"], stores["N"], "lotl")[1]
        yield {"srv": srv, "homes": homes, "stores": stores, "national": national, "signers": signers}
    for h in homes.values():
        h.close()


def roots(world, key):
    return load_certificate(world["homes"][key].path.joinpath("root.pem").read_bytes())


def test_region_tl_lists_the_region_services(world) -> None:
    tl, signer = open_list(world["srv"].routes["/A/tl.json"], [world["signers"]["A"]])
    assert tl.type == "TL" and tl.scheme_territory == "CN-440000"
    assert sorted(s.type for s in tl.services) == ["issuing_ca", "ocsp", "root_ca", "seal_platform", "tsa"]
    root = next(s for s in tl.services if s.type == "root_ca")
    assert root.certificates[0].dump() == roots(world, "A").dump()
    assert all(s.history[-1].status == "granted" for s in tl.services)


def test_import_builds_a_trust_store(world, eseal_home) -> None:
    srv = world["srv"]
    result = import_lotl(eseal_home, srv.url + "/lotl.json", world["national"])
    assert sorted(t for _, t, _ in result.imported) == ["CN-350000", "CN-440000"] and not result.failures
    store = load_trust_store(eseal_home, own_region=False)
    now = dt.datetime.now(UTC)
    anchors = {c.dump() for c in store.anchors_at(now)}
    assert roots(world, "A").dump() in anchors and roots(world, "C").dump() in anchors
    with transaction(eseal_home.engine, readonly=True) as s:
        actions = [r.action for r in s.scalars(select(AuditRecord))]
        assert "trustlist.import" in actions
        assert audit.verify(s).ok


def test_wrong_pin_refused(world, eseal_home) -> None:
    with pytest.raises(PinMismatch, match="not by the expected signer"):
        import_lotl(eseal_home, world["srv"].url + "/lotl.json", world["signers"]["A"])


def test_a_location_longer_than_the_store_keeps_is_refused_before_fetching(world, eseal_home) -> None:
    """The location is stored with the import (1,000 characters): a longer one failed in the
    import's transaction on PostgreSQL, after every list had been fetched and checked."""
    with pytest.raises(TrustListError, match="longer than 1000 characters"):
        import_lotl(eseal_home, world["srv"].url + "/lotl.json?" + "x" * 1000, world["national"])


def _signed_with_sequence(world, sequence: int) -> bytes:
    """The national list, re-signed by its signer with ``sequence`` as its sequence number (as a
    foreign operator could sign it: sign_list itself refuses to)."""
    import base64

    from seal.cms import sign_data
    from verify.trustlist.model import FORMAT, canonical_json
    from verify.trustlist.service import _signer_fn

    homes, stores = world["homes"], world["stores"]
    key_ref, cert = list_signer(homes["N"], stores["N"], "lotl")
    body = json.loads(world["srv"].routes["/lotl.json"])["list"]
    body["sequence_number"] = sequence
    signature = sign_data(canonical_json(body), cert, _signer_fn(stores["N"], key_ref, "admin"), flavour="gmt0010",
                          detached=True)
    return json.dumps({"format": FORMAT, "list": body, "signature": base64.b64encode(signature).decode()},
                      ensure_ascii=False).encode("utf-8")


def test_a_sequence_number_past_the_column_is_refused(world, eseal_home, tmp_path) -> None:
    """imported_trust_lists.sequence_number is an INTEGER (PostgreSQL's int4): a list signed
    with 2**31 was a driver error on PostgreSQL at the end of the import and stored on SQLite."""
    path = tmp_path / "lotl.json"
    path.write_bytes(_signed_with_sequence(world, 2 ** 31))
    with pytest.raises(TrustListError, match="sequence_number 2147483648 is larger than 2147483647"):
        import_lotl(eseal_home, str(path), world["national"])
    with transaction(eseal_home.engine, readonly=True) as s:
        assert s.scalars(select(AuditRecord).where(AuditRecord.action == "trustlist.import")).all() == []
    path.write_bytes(_signed_with_sequence(world, 2 ** 31 - 1))
    assert import_lotl(eseal_home, str(path), world["national"]).lotl_sequence == 2 ** 31 - 1


def test_tampered_tl_is_a_failure_not_an_import(world, eseal_home) -> None:
    srv = world["srv"]
    good = srv.routes["/C/tl.json"]
    envelope = json.loads(good)
    envelope["list"]["scheme_operator"] = "冒充"
    srv.routes["/C/tl.json"] = json.dumps(envelope, ensure_ascii=False).encode()
    try:
        result = import_lotl(eseal_home, srv.url + "/lotl.json", world["national"])
    finally:
        srv.routes["/C/tl.json"] = good
    assert [t for _, t, _ in result.imported] == ["CN-440000"]
    assert len(result.failures) == 1 and "does not verify" in result.failures[0][1]
    assert not any(roots(world, "C").dump() == c.dump() for c in load_trust_store(eseal_home).anchors())


def test_withdrawn_region_history(world, eseal_home, tmp_path) -> None:
    srv, homes, stores = world["srv"], world["homes"], world["stores"]
    c_url = srv.url + "/C/tl.json"
    now = dt.datetime.now(UTC).replace(microsecond=0)
    # (re-)granted at +10 s, withdrawn at +20 s: the lists carry both periods
    granted = build_lotl(homes["N"], stores["N"], [PointerSpec(c_url, world["signers"]["C"])],
                         now=now + dt.timedelta(seconds=10))
    withdrawn = build_lotl(homes["N"], stores["N"], withdraw=[c_url], now=now + dt.timedelta(seconds=20))
    path = tmp_path / "lotl.json"
    path.write_bytes(withdrawn)
    result = import_lotl(eseal_home, str(path), world["national"], now=now)
    assert len(result.imported) == 2
    store = load_trust_store(eseal_home, own_region=False)
    c_root = roots(world, "C")
    assert store.service_status_at(c_root, now + dt.timedelta(seconds=15)).granted
    later = store.service_status_at(c_root, now + dt.timedelta(seconds=25))
    assert later.status == "withdrawn" and "withdrawn from the national list" in later.reason
    assert later.since == now + dt.timedelta(seconds=20)
    assert store.service_status_at(roots(world, "A"), now + dt.timedelta(seconds=25)).granted
    # an older national list is not accepted over the newer one from the same source
    path.write_bytes(granted)
    with pytest.raises(TrustListError, match="rollback refused"):
        import_lotl(eseal_home, str(path), world["national"], now=now)


def test_refresh_only_when_due(world, eseal_home) -> None:
    with pytest.raises(TrustListError, match="no national list imported yet"):
        refresh_lotl(eseal_home, world["national"])
    import_lotl(eseal_home, world["srv"].url + "/lotl.json", world["national"])
    assert refresh_lotl(eseal_home, world["national"]) is None
    again = refresh_lotl(eseal_home, world["national"], force=True)
    assert again is not None and len(again.imported) == 2


def test_sequence_numbers_increase_and_history_carries(world) -> None:
    homes, stores = world["homes"], world["stores"]
    first, _ = open_list(publish_region_tl(homes["A"], stores["A"]), None)
    second, _ = open_list(publish_region_tl(homes["A"], stores["A"]), None)
    assert second.sequence_number == first.sequence_number + 1
    assert [s.history for s in second.services] == [s.history for s in first.services]


def test_home_without_region_cannot_sign(eseal_home) -> None:
    ks = SoftKeyStore.initialise(make_sessionmaker(eseal_home.engine), actor="admin", passphrase=PASS).store
    with pytest.raises(TrustListError, match="run `eseal init` first"):
        publish_region_tl(eseal_home, ks)


def test_shared_verifier_trusts_the_imported_lists(world, eseal_home, monkeypatch) -> None:
    from verify import service as verify_service
    from verify.report import Indication

    monkeypatch.setattr(verify_service, "_SHARED", {})
    first = verify_service.shared_verifier(eseal_home)
    assert verify_service.shared_verifier(eseal_home) is first          # warm caches are kept
    assert roots(world, "A").dump() not in {c.dump() for c in first.trust.anchors()}
    import_lotl(eseal_home, world["srv"].url + "/lotl.json", world["national"])
    monkeypatch.setattr(verify_service, "TRUST_RELOAD", 0.0)
    reloaded = verify_service.shared_verifier(eseal_home)
    assert reloaded is not first and reloaded.revocation is first.revocation
    # and one fetcher still serves revocation and license status (its resting hosts kept)
    assert reloaded.license_status.remote.fetcher is first.revocation.fetcher is not None
    report = reloaded.verify_certificate(roots(world, "A"), purpose="ca")
    assert report.indication is Indication.PASSED       # a listed root, granted now


def test_region_tl_names_the_license_directory(world) -> None:
    tl, _ = open_list(world["srv"].routes["/A/tl.json"], [world["signers"]["A"]])
    assert tl.license_status_uri == "http://pki.440000.example/api/v1/licenses/{license_id}"


def test_shared_verifier_notices_an_import_without_waiting_for_the_reload(world, eseal_home, monkeypatch) -> None:
    from verify import service as verify_service

    monkeypatch.setattr(verify_service, "_SHARED", {})
    monkeypatch.setattr(verify_service, "TRUST_RELOAD", 3600.0)
    monkeypatch.setattr(verify_service, "TRUST_CHECK", 0.0)    # ask the database at every call
    first = verify_service.shared_verifier(eseal_home)
    assert verify_service.shared_verifier(eseal_home) is first   # nothing imported: the same verifier
    import_lotl(eseal_home, world["srv"].url + "/lotl.json", world["national"])
    reloaded = verify_service.shared_verifier(eseal_home)
    assert reloaded is not first and reloaded.revocation is first.revocation
    assert roots(world, "A").dump() in {c.dump() for c in reloaded.trust.anchors()}
    assert reloaded.trust.license_status_uri("CN-440000") == "http://pki.440000.example/api/v1/licenses/{license_id}"


def _resign(world, key: str, kind: str, body: dict) -> bytes:
    """``body`` signed as home ``key``'s list of ``kind`` ("tl" or "lotl"), the way a region
    whose lists are not refreshed would have signed them long ago."""
    import base64

    from seal.cms import sign_data
    from verify.trustlist.model import FORMAT, canonical_json
    from verify.trustlist.service import _signer_fn

    key_ref, cert = list_signer(world["homes"][key], world["stores"][key], kind)
    signature = sign_data(canonical_json(body), cert, _signer_fn(world["stores"][key], key_ref, "admin"),
                          flavour="gmt0010", detached=True)
    return json.dumps({"format": FORMAT, "list": body, "signature": base64.b64encode(signature).decode()},
                      ensure_ascii=False).encode("utf-8")


def _lists_due(world, tl_due: dt.datetime, lotl_due: dt.datetime) -> str:
    """Region A's TL and a national list pointing only at it, due at the given times, served;
    returns the national list's URL."""
    srv = world["srv"]
    tl = json.loads(srv.routes["/A/tl.json"])["list"]
    tl.update(issue_date=_text(tl_due - dt.timedelta(days=30)), next_update=_text(tl_due))
    tag = _text(tl_due).replace(":", "")
    srv.routes[f"/due/{tag}/A/tl.json"] = _resign(world, "A", "tl", tl)
    lotl = json.loads(srv.routes["/lotl.json"])["list"]
    pointer = next(p for p in lotl["pointers"] if p["territory"] == "CN-440000")
    pointer["url"] = f"{srv.url}/due/{tag}/A/tl.json"
    lotl.update(pointers=[pointer], issue_date=_text(lotl_due - dt.timedelta(days=30)), next_update=_text(lotl_due))
    srv.routes[f"/due/{tag}/lotl.json"] = _resign(world, "N", "lotl", lotl)
    return f"{srv.url}/due/{tag}/lotl.json"


def _text(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_stale_trust_list_is_named_in_the_report(world, eseal_home, tmp_path) -> None:
    """Lists imported while current and never refreshed since (the national list months past
    its next update): a verification resting on them still passes, with a warning naming each
    list and when its next update was due, in the JSON, the text and the HTML report."""
    from click.testing import CliRunner

    from cli.main import load_all
    from verify.report import CheckResult, Indication
    from verify.service import verifier_for_home

    now = dt.datetime.now(UTC).replace(microsecond=0)
    tl_due, lotl_due = now - dt.timedelta(days=20), now - dt.timedelta(days=90)
    url = _lists_due(world, tl_due, lotl_due)
    import_lotl(eseal_home, url, world["national"], now=lotl_due - dt.timedelta(days=1))
    root = roots(world, "A")
    report = verifier_for_home(eseal_home, online=False).verify_certificate(root, purpose="ca")
    sig = report.signatures[0]
    assert sig.indication is Indication.PASSED
    rows = [c for c in sig.checks if c.code == "TRUST_LIST_FRESHNESS"]
    assert [(c.result, c.details["list"]["kind"], c.details["list"]["next_update"]) for c in rows] == [
        (CheckResult.WARNING, "TL", _text(tl_due)), (CheckResult.WARNING, "LOTL", _text(lotl_due))]
    assert rows[0].details["list"]["source"].endswith("/A/tl.json") and rows[1].details["list"]["source"] == url
    assert f"next update was due {_text(tl_due)}" in rows[0].message and "CN-440000" in rows[0].message
    as_json = json.loads(report.json())["signatures"][0]["checks"]
    assert sum(c["code"] == "TRUST_LIST_FRESHNESS" and c["result"] == "WARNING" for c in as_json) == 2
    page = report.html()
    assert f"next update was due {_text(lotl_due)}" in page and 'id="warnings-1"' in page
    cert = tmp_path / "root.pem"
    cert.write_bytes(root.dump())
    result = CliRunner().invoke(load_all(), ["verify", str(cert), "--home", str(eseal_home.path), "--offline"])
    assert result.exit_code == 0, result.output
    assert "WARNING TRUST_LIST_FRESHNESS: " in result.output and _text(tl_due) in result.output


def test_a_current_trust_list_is_named_without_a_warning(world, eseal_home) -> None:
    from verify.report import CheckResult, Indication
    from verify.service import verifier_for_home

    now = dt.datetime.now(UTC).replace(microsecond=0)
    url = _lists_due(world, now + dt.timedelta(days=20), now + dt.timedelta(days=10))
    import_lotl(eseal_home, url, world["national"])
    report = verifier_for_home(eseal_home, online=False).verify_certificate(roots(world, "A"), purpose="ca")
    sig = report.signatures[0]
    rows = [c for c in sig.checks if c.code == "TRUST_LIST_FRESHNESS"]
    assert sig.indication is Indication.PASSED and not sig.warnings
    assert [(c.result, c.details["list"]["kind"]) for c in rows] == [(CheckResult.PASSED, "TL"),
                                                                    (CheckResult.PASSED, "LOTL")]
    assert "next update due" in rows[0].message


def test_a_tl_listing_a_service_twice_is_not_imported(world, eseal_home) -> None:
    """Region A's TL with its root listed a second time as withdrawn: the TL is a failure of the
    import (the rest of the national list is imported) instead of a root trusted as granted."""
    from verify.report import Indication
    from verify.service import verifier_for_home

    now = dt.datetime.now(UTC).replace(microsecond=0)
    url = _lists_due(world, now + dt.timedelta(days=20), now + dt.timedelta(days=10))
    import_lotl(eseal_home, url, world["national"])
    srv = world["srv"]
    tl_url = next(p.url for p in open_list(srv.routes[url.removeprefix(srv.url)], None)[0].pointers)
    tl = json.loads(srv.routes[tl_url.removeprefix(srv.url)])["list"]
    root = next(s for s in tl["services"] if s["type"] == "root_ca")
    tl["sequence_number"] += 1
    tl["services"].append({**root, "status": "withdrawn", "status_starting_time": _text(now),
                           "history": [*root["history"], {"status": "withdrawn", "start": _text(now)}]})
    srv.routes[tl_url.removeprefix(srv.url)] = _resign(world, "A", "tl", tl)
    result = import_lotl(eseal_home, url, world["national"])
    assert result.imported == () and len(result.failures) == 1
    assert "both list" in result.failures[0][1] and "as root_ca" in result.failures[0][1]
    # the copy imported before stays in force
    report = verifier_for_home(eseal_home, online=False).verify_certificate(roots(world, "A"), purpose="ca")
    assert report.indication is Indication.PASSED


def _lists_named(world, tl_operator: str, lotl_operator: str) -> str:
    """Region A's TL and a national list pointing only at it, their operators renamed; served."""
    srv = world["srv"]
    tag = f"named-{len(tl_operator)}-{len(lotl_operator)}"
    tl = json.loads(srv.routes["/A/tl.json"])["list"]
    tl["scheme_operator"] = tl_operator
    srv.routes[f"/{tag}/A/tl.json"] = _resign(world, "A", "tl", tl)
    lotl = json.loads(srv.routes["/lotl.json"])["list"]
    pointer = next(p for p in lotl["pointers"] if p["territory"] == "CN-440000")
    lotl.update(pointers=[{**pointer, "url": f"{srv.url}/{tag}/A/tl.json"}], scheme_operator=lotl_operator)
    srv.routes[f"/{tag}/lotl.json"] = _resign(world, "N", "lotl", lotl)
    return f"{srv.url}/{tag}/lotl.json"


def test_an_operator_name_longer_than_the_import_keeps_is_refused_not_cut(world, eseal_home) -> None:
    """trust_imported.scheme_name is VARCHAR(200); the import stored the first 200 characters
    of a longer name. Now such a list is refused (the LOTL: the import; a TL: a failure)."""
    from store.models.trust import ImportedTrustList

    with pytest.raises(TrustListError, match="the national list's scheme_operator has 201 characters, more than "
                                             "the 200"):
        import_lotl(eseal_home, _lists_named(world, "广东省电子认证中心", "国" * 201), world["national"])
    result = import_lotl(eseal_home, _lists_named(world, "广" * 201, "国家"), world["national"])
    assert result.imported == () and "the TL's scheme_operator has 201 characters" in result.failures[0][1]
    url = _lists_named(world, "广" * 200, "国" * 200)
    result = import_lotl(eseal_home, url, world["national"])
    assert len(result.imported) == 1 and not result.failures
    with transaction(eseal_home.engine, readonly=True) as s:
        stored = {r.source: r.scheme_name for r in s.scalars(select(ImportedTrustList))}
    assert (stored[url], stored[result.imported[0][0]]) == ("国" * 200, "广" * 200)


@pytest.mark.parametrize("what", ["signer", "sequence"])
def test_two_publications_at_once_publish_one_list_or_refuse_with_a_conflict(eseal_home, what) -> None:
    # Two POST /api/v1/trust-lists/tl at once (tests/test_api_races.py): both read the same
    # last sequence number (or found no signer yet), and the second insert failed on the
    # unique constraint -- a 500 (and on SQLite a 503: both signer keys took one label).
    from store.models.trust import PublishedTrustList, TrustListSigner
    from tests.helpers.locks import meanwhile
    from verify.errors import TrustListConflict

    if eseal_home.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writers queue before BEGIN IMMEDIATE: no two hold locks at once")
    ks = make_region(eseal_home, "440000", "广东省")
    if what == "sequence":
        publish_region_tl(eseal_home, ks)
    first_key, first_cert = list_signer(eseal_home, ks, "lotl")  # a signer to stand for the other one's
    with transaction(eseal_home.engine) as s:  # the other publication, under way
        if what == "signer":
            s.add(TrustListSigner(label="trust-list-signer", key_ref=first_key, certificate=first_cert.dump(),
                                  created_at=dt.datetime.now(UTC)))
        else:
            s.add(PublishedTrustList(kind="tl", sequence_number=2, issued_at=dt.datetime.now(UTC),
                                     next_update=dt.datetime.now(UTC), document="{}"))
        s.flush()
        second = meanwhile(lambda: publish_region_tl(eseal_home, ks), s)
    outcome = second()
    if what == "signer":  # the second publication signs with the signer the first one made
        assert isinstance(outcome, bytes), outcome
        key_ref, cert = list_signer(eseal_home, ks, "tl")
        assert (key_ref, cert.dump()) == (first_key, first_cert.dump())
    else:
        assert type(outcome) is TrustListConflict, outcome


def test_a_stored_list_that_no_longer_opens_is_left_out_not_fatal(world, eseal_home) -> None:
    """One stored list altered in the database (or refused by a stricter reading than the one
    it was imported under) stopped every verification of the home: load_trust_store raised.
    Now that list is left out and named: its region's root finds no anchor, and says why;
    the other region's still verifies."""
    from store.models.trust import ImportedTrustList
    from verify.report import Indication, SubIndication
    from verify.service import verifier_for_home

    import_lotl(eseal_home, world["srv"].url + "/lotl.json", world["national"])
    with transaction(eseal_home.engine) as s:
        row = s.scalar(select(ImportedTrustList).where(ImportedTrustList.source.like("%/A/tl.json")))
        row.document = row.document.replace("CN-440000", "CN-440001")   # the signature no longer holds
        source = row.source
    verifier = verifier_for_home(eseal_home, online=False)
    assert verifier.verify_certificate(roots(world, "C"), purpose="ca").indication is Indication.PASSED
    sig = verifier.verify_certificate(roots(world, "A"), purpose="ca").signatures[0]
    assert sig.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    [left_out] = [c for c in sig.checks if c.code == "TRUST_LIST_UNUSABLE"]
    assert left_out.subject == source and "was left out" in left_out.message
