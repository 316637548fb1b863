"""verify/trustlist model and store without a database: canonical bytes, signature and
pin checks, malformed lists, and the status-history question "granted at T?"."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from ca.certificate import CertificateBuilder
from ca.testing import LocalSigner, make_hierarchy
from verify.engine import verify_certificate
from verify.errors import PinMismatch, TrustListError, TrustListSignatureError
from verify.path import StaticTrust
from verify.report import Indication, Policy, Severity, SubIndication
from verify.revocation import RevocationChecker
from verify.trustlist import TrustStore, canonical_json, open_list, sign_list
from verify.trustlist.model import Pointer, Service, StatusPeriod, TrustList

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 1, 1, tzinfo=UTC)
T_WITHDRAWN = dt.datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def signer():
    h = make_hierarchy()
    key = LocalSigner()
    cert = (CertificateBuilder("audit_signer", h.config).subject({"C": "CN", "O": "测试", "CN": "信任列表签名"})
            .public_key(key.public_key).issuer(h.issuing).sign(h.issuing_signer))
    return cert, key, h


def a_tl(h, history=(StatusPeriod("granted", T0),), seq=1) -> TrustList:
    return TrustList("TL", "测试省电子认证中心", "CN-440000", seq, T0, T0 + dt.timedelta(days=3650), (
        Service("root_ca", "测试省根CA", (h.root,), tuple(history)),
    ))


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert canonical_json({"b": [1, "二"], "a": {"d": None, "c": True}}) == \
        '{"a":{"c":true,"d":null},"b":[1,"二"]}'.encode()
    with pytest.raises(TrustListError, match="floating-point"):
        canonical_json({"x": 1.5})


def test_signed_list_round_trip(signer) -> None:
    cert, key, h = signer
    doc = sign_list(a_tl(h), cert, key.sign)
    tl, by = open_list(doc, [cert])
    assert by.dump() == cert.dump()
    assert tl.services[0].certificates[0].dump() == h.root.dump() and tl.sequence_number == 1


def test_tampered_list_is_refused(signer) -> None:
    cert, key, h = signer
    envelope = json.loads(sign_list(a_tl(h), cert, key.sign))
    envelope["list"]["services"][0]["name"] = "别人的根CA"
    with pytest.raises(TrustListSignatureError, match="does not verify"):
        open_list(json.dumps(envelope).encode(), [cert])
    envelope = json.loads(sign_list(a_tl(h), cert, key.sign))
    envelope["list"]["sequence_number"] = 99
    with pytest.raises(TrustListSignatureError, match="does not verify"):
        open_list(json.dumps(envelope).encode(), None)


def test_wrong_pin_is_refused(signer) -> None:
    cert, key, h = signer
    doc = sign_list(a_tl(h), cert, key.sign)
    other_key = LocalSigner()
    other = (CertificateBuilder("audit_signer", h.config).subject({"C": "CN", "O": "测试", "CN": "另一个"})
             .public_key(other_key.public_key).issuer(h.issuing).sign(h.issuing_signer))
    with pytest.raises(PinMismatch, match="not by the expected signer"):
        open_list(doc, [other])
    # a list re-signed by someone else with a valid signature is still refused by the pin
    forged = sign_list(a_tl(h), other, other_key.sign)
    with pytest.raises(PinMismatch):
        open_list(forged, [cert])


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(type="XL"), "list type must be TL or LOTL"),
    (lambda d: d.update(extra=1), "unknown field"),
    (lambda d: d.update(sequence_number=0), "sequence_number must be a positive integer"),
    (lambda d: d.update(next_update="2020-01-01T00:00:00Z"), "next_update must be later"),
    (lambda d: d["services"][0].update(type="bank"), "is not one of root_ca"),
    (lambda d: d["services"][0].update(status="withdrawn"), "must be the last history period"),
    (lambda d: d["services"][0].update(certificates=["@@"]), "not a base64 DER certificate"),
    (lambda d: d["services"][0]["history"][0].update(status="paused"), "is not granted or withdrawn"),
    # text PostgreSQL or any UTF-8 encoder refuses, and URLs longer than the import can store
    (lambda d: d.update(scheme_operator="中心\x00"), r"the list: scheme_operator contains a NUL character"),
    (lambda d: d["services"][0].update(name="根\udc80"), r"services\[0\]: name contains an unpaired surrogate"),
    (lambda d: d.update(scheme_territory="x" * 1001), "scheme_territory is longer than 1000 characters"),
])
def test_malformed_lists_are_named(signer, mutate, message) -> None:
    _, _, h = signer
    body = a_tl(h).to_dict()
    mutate(body)
    with pytest.raises(TrustListError, match=message):
        TrustList.from_dict(body)


def test_a_service_listed_twice_with_two_statuses_is_refused(signer) -> None:
    """The same root listed as granted and (in a second entry) as withdrawn: it was read as
    granted (the first granting entry won), trusting a key its operator also calls withdrawn."""
    _, _, h = signer
    body = a_tl(h).to_dict()
    withdrawn = {**body["services"][0], "status": "withdrawn", "status_starting_time": "2026-06-01T00:00:00Z",
                 "history": [{"status": "granted", "start": "2026-01-01T00:00:00Z"},
                             {"status": "withdrawn", "start": "2026-06-01T00:00:00Z"}]}
    for services in ([body["services"][0], withdrawn], [withdrawn, body["services"][0]]):
        with pytest.raises(TrustListError, match=r"services\[0\] and services\[1\] both list .* as root_ca"):
            TrustList.from_dict({**body, "services": services})
    # one certificate under two types is two services, each with its own status
    other_type = {**withdrawn, "type": "issuing_ca"}
    assert len(TrustList.from_dict({**body, "services": [body["services"][0], other_type]}).services) == 2


def test_a_region_pointed_at_twice_is_refused(signer) -> None:
    _, _, h = signer
    pointer = Pointer("CN-440000", "测试省", "http://x/tl.json", (h.root,), (StatusPeriod("granted", T0),)).to_dict()
    withdrawn = {**pointer, "status": "withdrawn", "status_starting_time": "2026-06-01T00:00:00Z",
                 "history": [*pointer["history"], {"status": "withdrawn", "start": "2026-06-01T00:00:00Z"}]}
    body = TrustList("LOTL", "国家", "CN", 1, T0, T0 + dt.timedelta(days=30)).to_dict()
    with pytest.raises(TrustListError, match=r"pointers\[0\] and pointers\[1\] both point at http://x/tl.json"):
        TrustList.from_dict({**body, "pointers": [pointer, withdrawn]})


def test_not_a_signed_list() -> None:
    with pytest.raises(TrustListError, match="not a JSON trust list"):
        open_list(b"\xff\xfe", None)
    with pytest.raises(TrustListError, match="format field"):
        open_list(b'{"format": "x"}', None)
    with pytest.raises(TrustListError, match="nested too deeply"):   # was a RecursionError
        open_list(b"[" * 100_000, None)


def test_status_history_answers(signer) -> None:
    _, _, h = signer
    history = (StatusPeriod("granted", T0), StatusPeriod("withdrawn", T_WITHDRAWN))
    store = TrustStore.of([(a_tl(h, history), None)])
    assert store.service_status_at(h.root, T0 - dt.timedelta(days=1)).status == "withdrawn"  # not yet granted
    assert store.service_status_at(h.root, T_WITHDRAWN - dt.timedelta(seconds=1)).granted
    after = store.service_status_at(h.root, T_WITHDRAWN)
    assert after.status == "withdrawn" and after.since == T_WITHDRAWN
    assert [c.dump() for c in store.anchors_at(dt.datetime(2026, 3, 1, tzinfo=UTC))] == [h.root.dump()]
    assert store.anchors_at(dt.datetime(2026, 7, 1, tzinfo=UTC)) == []
    assert store.service_status_at(h.issuing, T0).status == "unknown"


def test_region_pointer_withdrawal_withdraws_its_services(signer) -> None:
    _, _, h = signer
    pointer = Pointer("CN-440000", "测试省", "http://x/tl.json", (h.root,),
                      (StatusPeriod("granted", T0), StatusPeriod("withdrawn", T_WITHDRAWN)))
    store = TrustStore.of([(a_tl(h), pointer)])
    assert store.service_status_at(h.root, T_WITHDRAWN - dt.timedelta(days=1)).granted
    late = store.service_status_at(h.root, T_WITHDRAWN + dt.timedelta(days=1))
    assert late.status == "withdrawn" and "withdrawn from the national list" in late.reason


def test_path_to_a_withdrawn_anchor_is_trust_service_withdrawn(signer) -> None:
    _, _, h = signer
    now = dt.datetime.now(UTC)
    history = (StatusPeriod("granted", now - dt.timedelta(days=10)), StatusPeriod("withdrawn", now - dt.timedelta(hours=2)))
    store = TrustStore.of([(a_tl(h, history), None)])
    offline = RevocationChecker(online=False)
    report = verify_certificate(h.issuing, trust=store, revocation=offline, purpose="ca")
    assert (report.indication, report.sub_indication) == (Indication.INDETERMINATE,
                                                          SubIndication.TRUST_SERVICE_WITHDRAWN)
    # the same certificate checked with a plain anchor gets past the trust question
    plain = verify_certificate(h.issuing, trust=StaticTrust([h.root]), revocation=offline, purpose="ca")
    assert plain.signatures[0].check("TRUST_ANCHOR_STATUS").result.value == "PASSED"


def test_signature_timestamped_before_withdrawal_stays_valid(signer) -> None:
    """A region withdrawn an hour ago: its signer's signature proven (timestamp) two hours
    ago passes; the same signature with no proof of time is TRUST_SERVICE_WITHDRAWN."""
    from verify.engine import SignatureFacts, TimestampFacts, Verifier

    _, _, h = signer
    now = dt.datetime.now(UTC).replace(microsecond=0)
    history = (StatusPeriod("granted", now - dt.timedelta(days=10)), StatusPeriod("withdrawn", now - dt.timedelta(hours=1)))
    tl = TrustList("TL", "测试省", "CN-440000", 1, now - dt.timedelta(days=10), now + dt.timedelta(days=10),
                   (Service("issuing_ca", "测试省签发CA", (h.issuing,), history),))
    desk = Policy("strict-no-revocation", Severity.ERROR, {"REVOCATION_STATUS": Severity.WARNING})
    v = Verifier(TrustStore.of([(tl, None)]), RevocationChecker(online=False, policy=desk), policy=desk)
    leaf = (CertificateBuilder("device", h.config).subject({"C": "CN", "O": "测试", "CN": "签章"})
            .public_key(LocalSigner().public_key).issuer(h.issuing)
            .validity(now - dt.timedelta(days=5), now + dt.timedelta(days=300)).sign(h.issuing_signer))
    facts = SignatureFacts("s", "ses", leaf, True, timestamp=TimestampFacts(now - dt.timedelta(hours=2), True))
    proven = v.evaluate(facts)
    assert proven.indication is Indication.PASSED and proven.timestamp_time == now - dt.timedelta(hours=2)
    unproven = v.evaluate(SignatureFacts("s", "ses", leaf, True, claimed_signing_time=now - dt.timedelta(hours=2)))
    assert (unproven.indication, unproven.sub_indication) == (Indication.INDETERMINATE,
                                                              SubIndication.TRUST_SERVICE_WITHDRAWN)


def test_the_list_an_anchor_comes_from_is_named_and_a_stale_one_is_a_warning(signer) -> None:
    """TRUST_LIST_FRESHNESS: the TL of the anchor and its next update; past it, a warning on a
    PASSED verdict by default, INDETERMINATE TRY_LATER for a policy that makes it an error."""
    from verify.report import CheckResult

    _, _, h = signer
    now = dt.datetime.now(UTC).replace(microsecond=0)
    offline = RevocationChecker(online=False)
    for due, result in ((now - dt.timedelta(days=40), CheckResult.WARNING),
                        (now + dt.timedelta(days=40), CheckResult.PASSED)):
        tl = TrustList("TL", "测试省电子认证中心", "CN-440000", 7, T0, due, (
            Service("root_ca", "测试省根CA", (h.root,), (StatusPeriod("granted", T0),)),))
        store = TrustStore()
        store.add_list(tl, source="http://tl.example/tl.json")
        report = verify_certificate(h.root, trust=store, revocation=offline, purpose="ca")
        sig = report.signatures[0]
        check = sig.check("TRUST_LIST_FRESHNESS")
        assert sig.indication is Indication.PASSED and check.result is result
        assert check.details["list"] == {"kind": "TL", "scheme_operator": "测试省电子认证中心", "territory": "CN-440000",
                                         "sequence_number": 7, "next_update": due.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                         "source": "http://tl.example/tl.json"}
        assert due.strftime("%Y-%m-%dT%H:%M:%SZ") in check.message and "CN-440000" in check.message
    strict = Policy("strict-lists", Severity.ERROR, {"TRUST_LIST_FRESHNESS": Severity.ERROR})
    stale = TrustStore()
    stale.add_list(TrustList("TL", "测试省电子认证中心", "CN-440000", 7, T0, now - dt.timedelta(days=1), (
        Service("root_ca", "测试省根CA", (h.root,), (StatusPeriod("granted", T0),)),)))
    report = verify_certificate(h.root, trust=stale, revocation=RevocationChecker(online=False, policy=strict),
                                purpose="ca", policy=strict)
    assert (report.indication, report.sub_indication) == (Indication.INDETERMINATE, SubIndication.TRY_LATER)


def test_a_configured_anchor_has_no_list_to_be_stale(signer) -> None:
    """The home's own root (added as an anchor, not from a list) gets no TRUST_LIST_FRESHNESS row."""
    _, _, h = signer
    store = TrustStore()
    store.add_anchor(h.root)
    report = verify_certificate(h.root, trust=store, revocation=RevocationChecker(online=False), purpose="ca")
    assert report.indication is Indication.PASSED
    assert report.signatures[0].check("TRUST_ANCHOR_STATUS") is not None
    assert report.signatures[0].check("TRUST_LIST_FRESHNESS") is None


def test_a_stale_list_behind_the_timestamp_shows_in_the_signature_report(signer) -> None:
    """The signer chains to a configured anchor, the TSA to another region's root from a TL past
    its next update: the TSA's path is summed up in TIMESTAMP (PASSED), and its stale-list
    warning is carried into the signature's report, once."""
    from verify.engine import SignatureFacts, TimestampFacts, Verifier
    from verify.report import CheckResult

    _, _, h = signer
    other = make_hierarchy(region_name="他省")
    now = dt.datetime.now(UTC).replace(microsecond=0)
    tsa = (CertificateBuilder("tsa", other.config).subject({"C": "CN", "O": "他省", "CN": "他省时间戳"})
           .public_key(LocalSigner().public_key).issuer(other.issuing)
           .validity(now - dt.timedelta(days=5), now + dt.timedelta(days=300)).sign(other.issuing_signer))
    leaf = (CertificateBuilder("device", h.config).subject({"C": "CN", "O": "测试", "CN": "签章"})
            .public_key(LocalSigner().public_key).issuer(h.issuing)
            .validity(now - dt.timedelta(days=5), now + dt.timedelta(days=300)).sign(h.issuing_signer))
    store = TrustStore()
    store.add_anchor(h.root)
    store.add_intermediate(h.issuing)
    store.add_list(TrustList("TL", "他省电子认证中心", "CN-350000", 3, T0, now - dt.timedelta(days=2), (
        Service("root_ca", "他省根CA", (other.root,), (StatusPeriod("granted", T0),)),)))
    desk = Policy("strict-no-revocation", Severity.ERROR, {"REVOCATION_STATUS": Severity.WARNING})
    v = Verifier(store, RevocationChecker(online=False, policy=desk), policy=desk)
    stamp = TimestampFacts(now - dt.timedelta(hours=1), True, tsa_certificate=tsa, tsa_chain=(other.issuing,))
    report = v.evaluate(SignatureFacts("s", "ses", leaf, True, timestamp=stamp))
    assert report.indication is Indication.PASSED and report.check("TIMESTAMP").result is CheckResult.PASSED
    rows = [c for c in report.checks if c.code == "TRUST_LIST_FRESHNESS"]
    assert len(rows) == 1 and rows[0].result is CheckResult.WARNING and "CN-350000" in rows[0].message
