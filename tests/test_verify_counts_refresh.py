"""Two promises of the verification service, checked by counting and through the CLI.

1. Many documents from one signer cost about one SM2 verification each: a Verifier with warm
   caches (verify/path.py, verify/documents.py, seal/structures.py) verifies the signer's path,
   the revocation answers and the seal maker's signature once; after that a new document of the
   same signer and seal pays for its own signature only. Counted by wrapping the native entry
   point every SM2 verification goes through (gm/sm2.py ``PublicKey._verify`` calls
   ``gm._sm2.verify_digest``) with a counter that calls the real function -- the crypto runs.
2. ``eseal tl refresh`` (cli/tl.py, verify/trustlist/service.py ``refresh_lotl``): nothing
   fetched or changed while no imported list is due; once one is due, the national list and
   the regional lists are fetched again and the trust store follows them (a region withdrawn
   by the national operator becomes withdrawn); a tampered list is refused with a message and
   exit status 1 and the lists imported before stay as they were. On SQLite and PostgreSQL.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from ca import service as ca_service
from cli.main import main
from gm import sm2 as gm_sm2
from gm.sm3 import sm3
from keystore.soft import SoftKeyStore
from seal import structures as st
from store.db import make_sessionmaker, transaction
from store.models.trust import ImportedTrustList
from store.testing import *  # noqa: F401,F403
from tests.helpers.zip_records import entries, rezip
from verify import documents as vdocuments
from verify import path as vpath
from verify.engine import Verifier
from verify.path import StaticTrust, load_certificate
from verify.report import Indication, SubIndication
from verify.testing import PKIServer, TestPKI
from verify.trustlist.service import load_trust_store

UTC = dt.timezone.utc
PASS = "correct horse battery staple"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
BUSINESS = {
    "credit_code": "91350100M000100Y43", "name": "深圳某某科技有限公司", "entity_type": "有限责任公司",
    "legal_representative": "张三", "registered_capital": "100", "establishment_date": "2020-02-03",
    "address": "深圳市南山区科技园南区某某路1号", "scope": "软件开发；信息技术咨询服务；数据处理和存储支持服务。",
}
SIGNED_VALUE = "Doc_0/Signs/Sign_0/SignedValue.dat"


def _now() -> dt.datetime:
    return dt.datetime.now(UTC).replace(microsecond=0)


# --------------------------------------------------------------------------- counting SM2 verifications


class SM2Counter:
    """Counts calls of the native SM2 verification; each call is delegated to the real one."""

    def __init__(self, real) -> None:
        self.real = real
        self.calls = 0

    def __call__(self, *args):
        self.calls += 1
        return self.real(*args)

    def cost(self, fn, *args):
        """(result of fn(*args), SM2 verifications it made)."""
        before = self.calls
        result = fn(*args)
        return result, self.calls - before


@pytest.fixture
def sm2_counter(monkeypatch) -> SM2Counter:
    # gm/sm2.py looks up ``_sm2.verify_digest`` on the module object at call time
    counter = SM2Counter(gm_sm2._sm2.verify_digest)
    monkeypatch.setattr(gm_sm2._sm2, "verify_digest", counter)
    return counter


class Sealer:
    """Distinct sealed e-licenses (benchmarks/bench_verify.py ``_Sealer``) and SES_Signatures
    over distinct data, all by one signer with one seal bound to it."""

    def __init__(self, pki: TestPKI) -> None:
        self.maker, maker_key = pki.issue("seal_maker", "制章人")
        self.signer, self.signer_key = pki.issue("device", "某局")
        now = _now()
        info = st.build_seal_info(es_id="44000020260000009", seal_type=1, name="某局",
                                  valid_start=now - dt.timedelta(days=1), valid_end=now + dt.timedelta(days=365),
                                  picture=st.Picture("PNG", PNG, 40, 40), certificates=[self.signer.dump()])
        self.seal = st.assemble_seal(info, self.maker.dump(), maker_key.sign(info))

    def ses(self, data: bytes) -> bytes:
        tbs = st.build_tbs_sign(self.seal, data_hash=sm3(data), property_info="license.ofd")
        return st.assemble_signature(tbs, self.signer.dump(), self.signer_key.sign(tbs))

    def _signed_value(self, xml: bytes) -> bytes:
        from seal.ofd.signing import signature_location

        tbs = st.build_tbs_sign(self.seal, data_hash=sm3(xml), property_info=signature_location(xml))
        return st.assemble_signature(tbs, self.signer.dump(), self.signer_key.sign(tbs))

    def licenses(self, first: int, count: int) -> list[bytes]:
        from seal.license import render
        from seal.license.errors import NoCJKFont
        from seal.license.types import get_type
        from seal.license.validation import validate_fields
        from seal.ofd.signing import seal_ofd

        kind = get_type("YYZZ")
        values = validate_fields(kind, BUSINESS)
        docs = []
        for n in range(first, first + count):
            lid = f"440300YYZZ2026{n:06d}"
            try:
                face = render.render_license(kind, license_id=lid, values=values, agency="某局",
                                             issued_on=dt.date(2026, 11, 23), valid_to=None,
                                             verify_url=render.verification_url("https://pki.example", lid),
                                             record={"license_id": lid, "fields": values})
            except NoCJKFont:
                pytest.skip("no CJK font to render an e-license")
            docs.append(seal_ofd(face.ofd, page_index=0, boundary_mm=(120, 150, 40, 40),
                                 make_signed_value=self._signed_value, seal_der=self.seal))
        return docs


def _corrupt_signature_value(package: bytes) -> bytes:
    """The OFD with the last octet of the SES_Signature (inside the signer's DER signature value,
    which ends the structure) flipped: still well formed, no longer the signer's signature."""
    files = entries(package)
    value = bytearray(files[SIGNED_VALUE])
    value[-1] ^= 0x01
    files[SIGNED_VALUE] = bytes(value)
    return rezip(files)


def _cold_verifier(pki: TestPKI) -> Verifier:
    # the caches are per process: start from none, so the first document's cost is the full one
    vpath.clear_caches()
    vdocuments.clear_caches()
    return Verifier(StaticTrust([pki.root], [pki.issuing]))


def _problems(sig) -> list:
    return [(c.code, c.message) for c in sig.checks if c.failed]


def test_licenses_of_one_signer_cost_one_sm2_verification_each_once_warm(pki, sm2_counter) -> None:
    """The first e-license pays for the path (root -> issuing -> leaf certificates of signer and
    seal maker), the OCSP / CRL answers and the seal maker's signature; every later, distinct
    license of the same signer and seal costs exactly its own signature, and passes."""
    sealer = Sealer(pki)
    docs = sealer.licenses(0, 6)
    assert len(set(docs)) == len(docs)
    verifier = _cold_verifier(pki)

    report, first = sm2_counter.cost(verifier.verify_ofd, docs[0])
    [sig] = report.signatures
    assert sig.indication is Indication.PASSED, _problems(sig)
    # at least: the signer's and the maker's certificate signatures, the seal maker's signature
    # over the seal, the document's signature -- and the revocation answers' signatures
    assert first >= 5, first

    hits = dict(pki.server.hits)
    for doc in docs[1:]:
        report, cost = sm2_counter.cost(verifier.verify_ofd, doc)
        [sig] = report.signatures
        assert sig.indication is Indication.PASSED, _problems(sig)
        assert {"SIGNATURE_VALUE", "SEAL_SIGNATURE", "REVOCATION_STATUS"} <= {c.code for c in sig.checks}
        assert cost == 1, f"a warm license cost {cost} SM2 verifications (the first cost {first})"
    assert pki.server.hits == hits, "warm verifications fetched OCSP / CRL again"

    # nothing of a document is remembered: the same license again still checks its signature
    report, cost = sm2_counter.cost(verifier.verify_ofd, docs[1])
    assert report.signatures[0].indication is Indication.PASSED and cost == 1


def test_a_corrupted_signature_value_is_verified_not_taken_from_a_cache(pki, sm2_counter) -> None:
    """Between good licenses of the same signer and seal, one whose own signature value is
    corrupted fails, each time it is verified, and is really verified (one SM2 verification,
    no cached outcome, and not two: a flood of bad documents costs what good ones do); the
    next good license still costs exactly one."""
    sealer = Sealer(pki)
    good = sealer.licenses(100, 3)
    bad = _corrupt_signature_value(sealer.licenses(200, 1)[0])
    verifier = _cold_verifier(pki)
    for doc in good[:2]:
        assert verifier.verify_ofd(doc).signatures[0].indication is Indication.PASSED

    for _ in range(2):
        report, cost = sm2_counter.cost(verifier.verify_ofd, bad)
        [sig] = report.signatures
        assert (sig.indication, sig.sub_indication) == (Indication.FAILED, SubIndication.SIG_CRYPTO_FAILURE)
        assert "SIGNATURE_VALUE" in {c.code for c in sig.checks if c.failed}
        # the engine's fast check fails, then seal/structures names the reason and tries the
        # other readings of the octets (none here) without verifying the plain one again
        assert cost == 1, cost

    report, cost = sm2_counter.cost(verifier.verify_ofd, good[2])
    assert report.signatures[0].indication is Indication.PASSED and cost == 1


def test_ses_signatures_of_one_signer_over_distinct_data_cost_one_each(pki, sm2_counter) -> None:
    """The same with bare SES_Signatures (no OFD, no font needed): one SM2 verification each
    once warm; one over data it does not sign fails (its dataHash) and one with a corrupted
    signature value fails, each really verified."""
    sealer = Sealer(pki)
    verifier = _cold_verifier(pki)
    data = [f"营业执照 第{n}份 ".encode() * 200 for n in range(6)]
    report, first = sm2_counter.cost(verifier.verify_ses_signature, sealer.ses(data[0]), data[0])
    assert report.indication is Indication.PASSED and first >= 5, (report.indication, first)
    for item in data[1:]:
        report, cost = sm2_counter.cost(verifier.verify_ses_signature, sealer.ses(item), item)
        assert report.indication is Indication.PASSED and cost == 1, (report.indication, cost)

    signed = sealer.ses(data[1])
    report, cost = sm2_counter.cost(verifier.verify_ses_signature, signed, data[2])
    assert report.indication is Indication.FAILED and report.sub_indication is SubIndication.HASH_FAILURE
    assert cost >= 1
    corrupted = signed[:-1] + bytes([signed[-1] ^ 0x01])
    report, cost = sm2_counter.cost(verifier.verify_ses_signature, corrupted, data[1])
    assert report.indication is Indication.FAILED and report.sub_indication is SubIndication.SIG_CRYPTO_FAILURE
    assert cost == 1, cost


# --------------------------------------------------------------------------- eseal tl refresh


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _stored(home) -> dict[str, tuple]:
    """What the home holds of each imported list: kind, sequence number, next update, when
    imported, the signed document."""
    with transaction(home.engine, readonly=True) as s:
        return {r.source: (r.kind, r.sequence_number, r.next_update, r.imported_at, r.document)
                for r in s.scalars(select(ImportedTrustList)).all()}


def _due_within(home, delta: dt.timedelta) -> None:
    """Time passing, through the store: every imported list's next update is ``delta`` away
    (the refresh re-imports once a list is within a day of its next update)."""
    with transaction(home.engine) as s:
        for row in s.scalars(select(ImportedTrustList)).all():
            row.next_update = _now() + delta


def _tampered(document: bytes) -> bytes:
    envelope = json.loads(document)
    envelope["list"]["scheme_operator"] = "冒充的运营者"
    return json.dumps(envelope, ensure_ascii=False).encode()


def test_tl_refresh_only_when_due_follows_the_lists_and_refuses_tampering(eseal_home, tmp_path: Path,
                                                                        monkeypatch) -> None:
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASS)
    ks = SoftKeyStore.initialise(make_sessionmaker(eseal_home.engine), actor="admin", passphrase=PASS).store
    ca_service.init_region(eseal_home, ks, region_code="440000", region_name="广东省",
                           base_url="http://pki.gd.example")
    home = eseal_home.path
    region_root = load_certificate((home / "root.pem").read_bytes())
    lotl, pin, tl_signer = tmp_path / "lotl.json", tmp_path / "national.pem", tmp_path / "tl-signer.pem"
    assert run("tl", "publish", "--home", home, "--out", tmp_path / "tl.json").exit_code == 0
    assert run("tl", "signer", "--home", home, "--kind", "tl", "--out", tl_signer).exit_code == 0
    assert run("tl", "signer", "--home", home, "--kind", "lotl", "--out", pin).exit_code == 0

    with PKIServer() as srv:
        tl_url = f"{srv.url}/tl.json"
        srv.routes["/tl.json"] = (tmp_path / "tl.json").read_bytes()
        out = run("tl", "lotl", "--home", home, "--add", f"{tl_url},{tl_signer}", "--out", lotl)
        assert out.exit_code == 0, out.output
        out = run("tl", "import", "--home", home, "--lotl", lotl, "--pin", pin)
        assert out.exit_code == 0 and "CN-440000" in out.output, out.output
        imported = _stored(eseal_home)
        assert {k: v[:2] for k, v in imported.items()} == {str(lotl): ("lotl", 1), tl_url: ("tl", 1)}
        assert load_trust_store(eseal_home, own_region=False).service_status_at(region_root, _now()).granted

        # nothing due (30 days to go): nothing fetched, nothing changed -- even though the
        # national operator has meanwhile withdrawn the region and the region published anew
        assert run("tl", "publish", "--home", home, "--out", tmp_path / "tl.json").exit_code == 0
        srv.routes["/tl.json"] = (tmp_path / "tl.json").read_bytes()
        assert run("tl", "lotl", "--home", home, "--withdraw", tl_url, "--out", lotl).exit_code == 0
        withdrawn_lotl = lotl.read_bytes()
        fetched = srv.hits.get("/tl.json", 0)
        out = run("tl", "refresh", "--home", home, "--pin", pin)
        assert out.exit_code == 0 and out.output.strip() == "nothing due", out.output
        assert _stored(eseal_home) == imported
        assert srv.hits.get("/tl.json", 0) == fetched
        assert load_trust_store(eseal_home, own_region=False).service_status_at(region_root, _now()).granted

        # due (within a day of the next update); the national list at its source tampered with:
        # refused, with the reason, exit status 1, and the imported lists kept as they were
        _due_within(eseal_home, dt.timedelta(hours=12))
        before = _stored(eseal_home)
        lotl.write_bytes(_tampered(withdrawn_lotl))
        out = run("tl", "refresh", "--home", home, "--pin", pin)
        assert out.exit_code == 1, out.output
        assert "Error:" in out.output and "does not verify" in out.output, out.output
        assert _stored(eseal_home) == before
        assert load_trust_store(eseal_home, own_region=False).service_status_at(region_root, _now()).granted

        # the genuine list back: re-fetched, both lists updated, the region now withdrawn
        lotl.write_bytes(withdrawn_lotl)
        out = run("tl", "refresh", "--home", home, "--pin", pin)
        assert out.exit_code == 0, out.output
        assert "national list #2: 1 regional list(s) imported" in out.output and "CN-440000 #2" in out.output
        after = _stored(eseal_home)
        assert {k: v[:2] for k, v in after.items()} == {str(lotl): ("lotl", 2), tl_url: ("tl", 2)}
        assert all(after[k][4] != before[k][4] and after[k][3] >= before[k][3] for k in after)  # new documents
        assert all(after[k][2] > _now() + dt.timedelta(days=20) for k in after)    # next update: 30 days on
        assert srv.hits.get("/tl.json", 0) == fetched + 1
        status = load_trust_store(eseal_home, own_region=False).service_status_at(region_root, _now())
        assert status.status == "withdrawn" and "withdrawn from the national list" in status.reason, status

        # and not due again until the new lists near their next update
        out = run("tl", "refresh", "--home", home, "--pin", pin)
        assert out.exit_code == 0 and out.output.strip() == "nothing due", out.output
        assert _stored(eseal_home) == after

        # due again; a regional TL tampered with in transit: reported, exit status 1, the copy
        # imported before kept (the national list itself verifies and is stored)
        _due_within(eseal_home, dt.timedelta(hours=1))
        assert run("tl", "publish", "--home", home, "--out", tmp_path / "tl.json").exit_code == 0
        srv.routes["/tl.json"] = _tampered((tmp_path / "tl.json").read_bytes())
        before = _stored(eseal_home)
        out = run("tl", "refresh", "--home", home, "--pin", pin)
        assert out.exit_code == 1, out.output
        assert f"FAILED {tl_url}" in out.output and "does not verify" in out.output, out.output
        assert "1 regional list(s) could not be imported" in out.output, out.output
        assert _stored(eseal_home)[tl_url] == before[tl_url]
        assert load_trust_store(eseal_home, own_region=False).service_status_at(region_root, _now()).status \
            == "withdrawn"
