"""What the engine keeps between verifications hides no change.

Kept (verify/documents.py, seal/structures.py, verify/path.py, verify/revocation.py): a
seal's facts and its maker's signature by the seal's exact bytes, certificates and paths by
DER, SM2 key objects by point, revocation answers until nextUpdate (at most ``max_reuse``).
Never kept: anything of the document itself -- its References, dataHash, the signer's
signature over TBS_Sign are checked for every document. So a tampered copy verified right
after the good one fails, and a revocation shows once the answer held is due again."""
from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import time

import pytest

from gm.sm3 import sm3
from seal import structures as st
from seal.ofd.document import Page, Text, build_ofd
from seal.ofd.signing import seal_ofd, signature_location
from tests.helpers.zip_records import entries, rezip
from verify.engine import Verifier
from verify.path import StaticTrust
from verify.report import Indication, SubIndication
from verify.revocation import RevocationChecker
from verify.testing import TestPKI

UTC = dt.timezone.utc
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")


def _now() -> dt.datetime:
    return dt.datetime.now(UTC).replace(microsecond=0)


@dataclasses.dataclass
class Party:
    pki: TestPKI
    maker: object
    maker_key: object
    signer: object
    signer_key: object

    def seal(self, *, maker_key=None, name: str = "测试市市场监督管理局") -> bytes:
        start = _now() - dt.timedelta(days=1)
        info = st.build_seal_info(es_id="44000020260000001", seal_type=1, name=name, valid_start=start,
                                  valid_end=start + dt.timedelta(days=365), picture=st.Picture("PNG", PNG, 40, 40),
                                  certificates=[self.signer.dump()])
        return st.assemble_seal(info, self.maker.dump(), (maker_key or self.maker_key).sign(info))

    def sealed_ofd(self, seal: bytes, text: str = "营业执照 正文") -> bytes:
        def signed_value(xml: bytes) -> bytes:
            tbs = st.build_tbs_sign(seal, data_hash=sm3(xml), property_info=signature_location(xml))
            return st.assemble_signature(tbs, self.signer.dump(), self.signer_key.sign(tbs))

        plain = build_ofd([Page([Text(20, 20, text, size=6)])])
        return seal_ofd(plain, page_index=0, boundary_mm=(100, 100, 40, 40), make_signed_value=signed_value,
                        seal_der=seal)


@pytest.fixture
def party(pki) -> Party:
    maker, maker_key = pki.issue("seal_maker", "测试省制章人")
    signer, signer_key = pki.issue("device", "测试市市场监督管理局")
    return Party(pki, maker, maker_key, signer, signer_key)


def _changed(package: bytes, entry: str, edit) -> bytes:
    files = entries(package)
    files[entry] = edit(files[entry])
    return rezip(files)


def _flip_last(data: bytes, back: int = 1) -> bytes:
    out = bytearray(data)
    out[-back] ^= 0x01
    return bytes(out)


def _verdict(report):
    sig = report.signatures[0]
    return sig.indication, sig.sub_indication


def _failed(report) -> set[str]:
    return {c.code for c in report.signatures[0].checks if c.failed}


def test_tampered_copies_verified_after_the_good_one_fail(pki, party) -> None:
    v = Verifier(StaticTrust([pki.root], [pki.issuing]))
    seal = party.seal()
    good = party.sealed_ofd(seal)
    assert _verdict(v.verify_ofd(good)) == (Indication.PASSED, None)
    value = "Doc_0/Signs/Sign_0/SignedValue.dat"

    page = _changed(good, "Doc_0/Pages/Page_0/Content.xml", lambda b: b.replace("正文".encode(), "副本".encode()))
    assert _verdict(v.verify_ofd(page)) == (Indication.FAILED, SubIndication.HASH_FAILURE)

    # the signer's signature value (the last octets of SignedValue.dat): checked every time
    forged_value = _changed(good, value, _flip_last)
    report = v.verify_ofd(forged_value)
    assert _verdict(report) == (Indication.FAILED, SubIndication.SIG_CRYPTO_FAILURE)
    assert "SIGNATURE_VALUE" in _failed(report)

    # a seal whose maker signature is forged, carried in a document signed properly: the
    # seal's bytes differ from the good one's, so nothing about it comes from the cache
    from ca.testing import LocalSigner

    forged_seal = party.sealed_ofd(party.seal(maker_key=LocalSigner()))
    report = v.verify_ofd(forged_seal)
    assert _verdict(report) == (Indication.FAILED, SubIndication.SEAL_INVALID)
    assert "SEAL_SIGNATURE" in _failed(report)

    # Signature.xml edited (its dataHash no longer matches), the rest untouched
    xml = _changed(good, "Doc_0/Signs/Sign_0/Signature.xml", lambda b: b.replace(b"</ofd:Signature>",
                                                                                 b"<!-- x --></ofd:Signature>"))
    assert _verdict(v.verify_ofd(xml)) == (Indication.FAILED, SubIndication.HASH_FAILURE)

    # and the good document, after all of those, still passes
    assert _verdict(v.verify_ofd(good)) == (Indication.PASSED, None)


def test_a_second_document_with_the_same_seal_checks_its_own_signature(pki, party) -> None:
    """Same seal, same signer, a second document: the seal comes from the cache, the
    document's signature and hash do not (one wrong octet in the second fails it)."""
    v = Verifier(StaticTrust([pki.root], [pki.issuing]))
    seal = party.seal()
    first, second = party.sealed_ofd(seal, "第一份"), party.sealed_ofd(seal, "第二份")
    assert _verdict(v.verify_ofd(first)) == (Indication.PASSED, None)
    bad = _changed(second, "Doc_0/Signs/Sign_0/SignedValue.dat", _flip_last)
    assert _verdict(v.verify_ofd(bad)) == (Indication.FAILED, SubIndication.SIG_CRYPTO_FAILURE)
    assert _verdict(v.verify_ofd(second)) == (Indication.PASSED, None)


def test_revocation_after_the_first_verification_shows_when_the_answer_is_due(pki, party) -> None:
    """Documented semantics (verify/revocation.py): an answer is reused until its nextUpdate,
    and at most ``max_reuse``; a verifier with a fresh cache asks again at once."""
    trust = StaticTrust([pki.root], [pki.issuing])
    v = Verifier(trust, RevocationChecker(max_reuse=dt.timedelta(seconds=1)))
    doc = party.sealed_ofd(party.seal())
    assert _verdict(v.verify_ofd(doc)) == (Indication.PASSED, None)

    pki.revoke(party.signer)
    held = v.verify_ofd(doc).signatures[0]
    assert held.indication is Indication.PASSED        # the good answer held, until it is due
    assert any(e.from_cache for e in held.revocation)

    assert Verifier(trust).verify_ofd(doc).signatures[0].sub_indication in (SubIndication.REVOKED,
                                                                             SubIndication.REVOKED_NO_POE)
    time.sleep(1.2)
    due = v.verify_ofd(doc).signatures[0]
    assert due.indication is not Indication.PASSED
    assert due.sub_indication in (SubIndication.REVOKED, SubIndication.REVOKED_NO_POE)
    assert "REVOCATION_STATUS" in {c.code for c in due.checks if c.failed}


def test_a_decision_is_reused_only_while_its_answers_are_unchanged(pki) -> None:
    """The checker reuses the answer it found from answers held in memory (per certificate,
    whatever the signature's times); a replaced answer
    (another worker refreshed it, say) is used at once."""
    from verify.certfacts import facts_of
    from verify.revocation import RevocationCache

    leaf, _ = pki.issue("device", "某局")
    cache = RevocationCache()
    checker = RevocationChecker(cache=cache)
    first = checker.check(leaf, pki.issuing)
    assert first.evidence.status == "good" and not first.evidence.from_cache
    second = checker.check(leaf, pki.issuing)
    assert second.evidence.from_cache
    third = checker.check(leaf, pki.issuing)                   # answered once, from the held answer
    assert third.evidence == second.evidence and list(checker._answered) == [
        (facts_of(leaf).der, facts_of(pki.issuing).der)]

    [key] = [k for k in cache._mem if k.startswith("ocsp|")]
    held, until = cache._mem[key]
    revoked_at = _now() - dt.timedelta(minutes=1)
    cache.put(key, dataclasses.replace(held, status="revoked", revoked_at=revoked_at, reason="keyCompromise"), until)
    after = checker.check(leaf, pki.issuing)
    assert after.evidence.status == "revoked" and after.check.sub_indication is SubIndication.REVOKED


def test_caches_keyed_by_document_bytes_stay_bounded() -> None:
    """Seals, certificates and OFD parts come from outside: an outsized one is not kept, and
    a cache whose byte budget is spent starts again (a flood cannot fill memory)."""
    from gm.asn1.cache import ByBytes
    from seal.ofd import model

    cache = ByBytes(entries=100, budget=64 * 1024)
    cache.keep(b"x" * 2048, 1)                  # more than budget/64: not kept
    assert len(cache) == 0
    for i in range(40):                          # 40,000 bytes: within the budget
        cache.keep(bytes([i]) * 1000, i)
    assert len(cache) == 40 and cache.held == 40_000
    for i in range(40, 70):                      # passes 64 KiB: forgotten, then refilled
        cache.keep(bytes([i]) * 1000, i)
    assert cache.held <= 64 * 1024 and len(cache) < 70

    big = b"<ofd:Res xmlns:ofd='http://www.ofdspec.org/2016'>" + b" " * (40 * 1024) + b"</ofd:Res>"
    before = len(model._OUTLINES)
    assert model._outline("res", "Doc_0/Big.xml", big, lambda root: ()) == ()
    assert ("res", "Doc_0/Big.xml", big) not in model._OUTLINES and len(model._OUTLINES) <= before


def _without_times(report) -> dict:
    out = report.to_dict()
    out.pop("created_at")
    for sig in out["signatures"]:
        sig.pop("validation_time")
    return out


def test_a_warm_verification_reports_what_a_cold_one_does(pki, party) -> None:
    """Rows made once and shared (verify/report.py Policy), seal facts kept per binding
    (verify/documents.py), the seal found by its bytes (seal/structures.py): a document
    verified by a warm engine gets the very report a cold engine gives it."""
    from verify import documents, path
    from verify.report import Policy, Severity

    seal = party.seal()
    warm = Verifier(StaticTrust([pki.root], [pki.issuing]))
    for text in ("第一份", "第二份"):
        assert _verdict(warm.verify_ofd(party.sealed_ofd(seal, text))) == (Indication.PASSED, None)
    doc = party.sealed_ofd(seal, "第三份")
    bad = _changed(doc, "Doc_0/Signs/Sign_0/SignedValue.dat", _flip_last)
    seen = [_without_times(warm.verify_ofd(d)) for d in (doc, bad)]

    documents.clear_caches()
    path.clear_caches()
    # the same revocation answers (held: the evidence says "from cache" in both), all else afresh
    answers = RevocationChecker(cache=warm.revocation.cache)
    cold = Verifier(StaticTrust([pki.root], [pki.issuing]), answers, policy=Policy("strict", Severity.ERROR))
    assert [_without_times(cold.verify_ofd(d)) for d in (doc, bad)] == seen
    assert seen[0]["indication"] == "PASSED" and seen[1]["sub_indication"] == "SIG_CRYPTO_FAILURE"


def test_a_seal_binding_is_judged_for_each_document(pki, party) -> None:
    """The seal's facts are kept per seal, but whether it binds the signer is asked of each
    document: the same seal on a document of a signer it does not bind fails there only."""
    seal = party.seal()
    stranger, stranger_key = pki.issue("device", "另一个局")
    other = dataclasses.replace(party, signer=stranger, signer_key=stranger_key)
    v = Verifier(StaticTrust([pki.root], [pki.issuing]))
    assert _verdict(v.verify_ofd(party.sealed_ofd(seal, "第一份"))) == (Indication.PASSED, None)
    report = v.verify_ofd(other.sealed_ofd(seal, "第二份"))
    assert _verdict(report) == (Indication.FAILED, SubIndication.SIGNER_NOT_BOUND_TO_SEAL)
    assert "SEAL_BINDING" in _failed(report)
    assert _verdict(v.verify_ofd(party.sealed_ofd(seal, "第三份"))) == (Indication.PASSED, None)
