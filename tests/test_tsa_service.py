"""seal/tsa.py on SQLite and PostgreSQL: RFC 3161 replies read by `openssl ts`, requests
made by `openssl ts -query`, rejections with the right failInfo, tokens checked by
verify_token, the token log and audit, and unique serials across four processes."""
from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms, tsp
from sqlalchemy import select

import gm  # noqa: F401
from ca.certificate import CertificateBuilder, load_certificate
from ca.testing import make_hierarchy
from keystore.soft import SoftKeyStore
from seal import cms as scms
from seal import tsa
from store.db import make_sessionmaker, transaction
from store.models import AuditRecord
from store.models.tsa import TsaToken
from store.testing import *  # noqa: F401,F403

PASSPHRASE = "correct horse battery staple"
DATA = b"a document to be timestamped\n"


def make_tsa(home):
    """Key store with a TSA key; its certificate (tsa profile) from a throw-away CA."""
    ks = SoftKeyStore.initialise(make_sessionmaker(home.engine), actor="admin", passphrase=PASSPHRASE).store
    key_ref = ks.generate("tsa", "tsa", actor="admin")
    h = make_hierarchy()
    cert = (CertificateBuilder("tsa", h.config)
            .subject({"C": "CN", "O": "测试省电子认证中心", "CN": "测试省时间戳服务"})
            .public_key(ks.public_key(key_ref)).issuer(h.issuing).sign(h.issuing_signer))
    return ks, tsa.TsaIdentity(key_ref, cert, (h.issuing, h.root))


@pytest.fixture
def env(eseal_home):
    ks, ident = make_tsa(eseal_home)
    return eseal_home, ks, ident


def stamp(env, request_der, **kw) -> bytes:
    home, ks, ident = env
    return tsa.timestamp(home, ks, request_der, actor="client", tsa=ident, **kw)


def run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)


def rows(home, cls):
    with transaction(home.engine, readonly=True) as s:
        return list(s.scalars(select(cls)))


# --------------------------------------------------------------------------- granted tokens


@pytest.mark.parametrize("hash_alg", ["sm3", "sha256"])
def test_token_verifies_for_the_data_and_not_for_other_data(env, hash_alg):
    request, nonce = tsa.request_for(DATA, hash_alg=hash_alg)
    resp = tsa.parse_response(stamp(env, request))
    assert resp.status == "granted" and resp.token is not None
    check = tsa.verify_token(resp.token, DATA, nonce=nonce)
    assert check.ok, check.detail
    assert check.nonce == nonce and check.policy == tsa.DEFAULT_POLICY and check.hash_algorithm == hash_alg
    assert check.tsa_certificate.dump() == env[2].certificate.dump()
    if hash_alg == "sha256":
        assert check.message_imprint == hashlib.sha256(DATA).digest()
    else:
        import gmssl.sm3 as gsm3

        assert check.message_imprint.hex() == gsm3.sm3_hash(list(DATA))
    assert tsa.verify_token(resp.token, DATA + b"x").failure == tsa.TokenFailure.IMPRINT_MISMATCH
    assert tsa.verify_token(resp.token, DATA, nonce=nonce + 1).failure == tsa.TokenFailure.NONCE_MISMATCH
    # the whole response is accepted too
    assert tsa.verify_token(stamp(env, request), DATA).ok


def test_token_log_and_audit(env):
    home = env[0]
    checks = []
    for i in range(3):
        request, nonce = tsa.request_for(DATA + bytes([i]), nonce=(i != 1))
        checks.append(tsa.verify_token(stamp(env, request), DATA + bytes([i])))
    logged = {r.serial: r for r in rows(home, TsaToken)}
    assert len(logged) == 3
    for i, c in enumerate(checks):
        row = logged[format(c.serial, "x")]
        assert row.message_imprint == c.message_imprint.hex() and row.hash_algorithm == "sm3"
        assert row.gen_time == c.gen_time and (row.nonce is None) == (i == 1)
        assert tsa.verify_token(row.token, DATA + bytes([i])).ok
    audits = [r for r in rows(home, AuditRecord) if r.action == "tsa.timestamp"]
    assert sorted(a.subject for a in audits) == sorted(f"tst:{s}" for s in logged)


def test_cert_req_false_leaves_certificates_out(env):
    request, _ = tsa.request_for(DATA, cert_req=False)
    token = tsa.parse_response(stamp(env, request)).token
    sd = cms.ContentInfo.load(token)["content"]
    assert sd["certificates"].native is None
    missing = tsa.verify_token(token, DATA)
    assert missing.failure == scms.Failure.SIGNER_CERT_NOT_FOUND
    assert tsa.verify_token(token, DATA, extra_certificates=[env[2].certificate]).ok
    request, _ = tsa.request_for(DATA, cert_req=True)
    sd = cms.ContentInfo.load(tsa.parse_response(stamp(env, request)).token)["content"]
    assert len(sd["certificates"]) == 3  # TSA, issuing CA, root


def test_tampered_token_fails(env):
    request, _ = tsa.request_for(DATA)
    token = tsa.parse_response(stamp(env, request)).token
    sig = cms.ContentInfo.load(token)["content"]["signer_infos"][0]["signature"].native
    flipped = sig[:10] + bytes([sig[10] ^ 1]) + sig[11:]
    assert tsa.verify_token(token.replace(sig, flipped), DATA).failure == scms.Failure.SIGNATURE_INVALID
    # and a changed TSTInfo (other genTime second) breaks the messageDigest
    tst = cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"].parsed
    gen = tst["gen_time"].dump()
    other = gen[:-2] + bytes([gen[-2] ^ 1]) + gen[-1:]
    assert tsa.verify_token(token.replace(gen, other), DATA).failure == scms.Failure.DIGEST_MISMATCH


def test_configured_policy_and_accuracy(env):
    config = tsa.TsaConfig(policy=tsa.POLICY_ARC + ".1.440000", accuracy_seconds=2)
    request, _ = tsa.request_for(DATA, policy=config.policy)
    check = tsa.verify_token(stamp(env, request, config=config), DATA)
    assert check.ok and check.policy == config.policy and check.accuracy.total_seconds() == 2
    other, _ = tsa.request_for(DATA, policy=tsa.DEFAULT_POLICY)
    assert tsa.parse_response(stamp(env, other, config=config)).fail_info == {"unaccepted_policy"}


def test_policy_and_accuracy_from_the_environment(monkeypatch):
    monkeypatch.setenv("ESEAL_TSA_POLICY", tsa.POLICY_ARC + ".1.440000")
    monkeypatch.setenv("ESEAL_TSA_ACCURACY_SECONDS", "3")
    assert (tsa.TsaConfig.from_env().policy, tsa.TsaConfig.from_env().accuracy_seconds) == \
        (tsa.POLICY_ARC + ".1.440000", 3)
    for bad, message in (("1.5", "must be a whole number of seconds, not '1.5'"), ("0", "at least 1")):
        monkeypatch.setenv("ESEAL_TSA_ACCURACY_SECONDS", bad)
        with pytest.raises(tsa.TsaError, match=re.escape(message)):
            tsa.TsaConfig.from_env()
    monkeypatch.setenv("ESEAL_TSA_ACCURACY_SECONDS", "1")
    monkeypatch.setenv("ESEAL_TSA_POLICY", "not-an-oid")
    with pytest.raises(tsa.TsaError, match="TSA policy 'not-an-oid' is not an object identifier"):
        tsa.TsaConfig.from_env()


def test_tsa_callable_stamps_a_signature_value(env):
    home, ks, ident = env
    f = tsa.tsa_callable(home, ks, tsa=ident)
    value = b"\x30\x45" + bytes(69)
    check = tsa.verify_token(f(value), value)
    assert check.ok and check.hash_algorithm == "sm3"


def test_cms_signature_with_timestamp_unsigned_attribute(env):
    """A CMS signature made through the key store, with the TSA's token over its value."""
    home, ks, ident = env
    seal_key = ks.generate("agency-seal", "seal", actor="admin")
    h = make_hierarchy()
    cert = (CertificateBuilder("organization", h.config).subject({"C": "CN", "O": "某局", "CN": "某局"})
            .identity(organization_code="91350100M000100Y43")
            .public_key(ks.public_key(seal_key)).issuer(h.issuing).sign(h.issuing_signer))
    sign = scms.keystore_signer(ks, seal_key, actor="agency", role="seal")
    der = scms.sign_data(DATA, cert, sign, flavour="gmt0010", timestamper=tsa.tsa_callable(home, ks, tsa=ident))
    check = scms.verify_cms(der, DATA)
    assert check.ok
    si = check.signed_data["signer_infos"][0]
    token = [a for a in si["unsigned_attrs"] if a["type"].native == "signature_time_stamp_token"][0]["values"][0]
    assert tsa.verify_token(token.dump(), check.signer.signature).ok


# --------------------------------------------------------------------------- OpenSSL as referee


def test_openssl_ts_reply_text_shows_policy_serial_nonce_accuracy(env, tmp_path, openssl_bin):
    request, nonce = tsa.request_for(DATA)
    (tmp_path / "r.tsr").write_bytes(stamp(env, request))
    out = run([openssl_bin, "ts", "-reply", "-in", tmp_path / "r.tsr", "-text"])
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "Status: Granted." in text
    assert f"Policy OID: {tsa.DEFAULT_POLICY}" in text
    assert int(re.search(r"Nonce: 0x([0-9A-F]+)", text).group(1), 16) == nonce
    assert re.search(r"Accuracy: 0x01 seconds|Accuracy: 1 seconds", text), text
    assert "Hash Algorithm: sm3" in text
    serial = int(re.search(r"Serial number: 0x([0-9A-F]+)", text).group(1), 16)
    assert {r.serial for r in rows(env[0], TsaToken)} == {format(serial, "x")}
    escaped_cn = "".join(f"\\x{b:02X}" for b in "测试省时间戳服务".encode())  # how OpenSSL prints UTF-8
    assert "TSA: DirName:/C=CN/O=" in text and f"/CN={escaped_cn}" in text


@pytest.mark.parametrize("alg", ["sha256", "sm3"])
def test_openssl_ts_query_is_answered_with_its_imprint_and_nonce(env, tmp_path, openssl_bin, alg):
    (tmp_path / "f.bin").write_bytes(DATA)
    q = run([openssl_bin, "ts", "-query", "-data", tmp_path / "f.bin", f"-{alg}", "-cert", "-out", tmp_path / "q.tsq"])
    assert q.returncode == 0, q.stderr
    qtext = run([openssl_bin, "ts", "-query", "-in", tmp_path / "q.tsq", "-text"]).stdout
    nonce = int(re.search(r"Nonce: 0x([0-9A-F]+)", qtext).group(1), 16)
    (tmp_path / "r.tsr").write_bytes(stamp(env, (tmp_path / "q.tsq").read_bytes()))
    check = tsa.verify_token((tmp_path / "r.tsr").read_bytes(), DATA, nonce=nonce)
    assert check.ok, check.detail
    expected = hashlib.sha256(DATA).digest() if alg == "sha256" else None
    if expected is not None:
        assert check.message_imprint == expected
    rtext = run([openssl_bin, "ts", "-reply", "-in", tmp_path / "r.tsr", "-text"]).stdout
    assert int(re.search(r"Nonce: 0x([0-9A-F]+)", rtext).group(1), 16) == nonce
    assert f"Hash Algorithm: {alg}" in rtext
    # the imprint OpenSSL prints for the query is the one in our reply
    q_hex = re.findall(r"- ([0-9a-f -]{47})", qtext)
    r_hex = re.findall(r"- ([0-9a-f -]{47})", rtext)
    assert q_hex and q_hex == r_hex[: len(q_hex)]


def test_openssl_reads_a_rejection(env, tmp_path, openssl_bin):
    request, _ = tsa.request_for(DATA, hash_alg="sha1")
    (tmp_path / "r.tsr").write_bytes(stamp(env, request))
    text = run([openssl_bin, "ts", "-reply", "-in", tmp_path / "r.tsr", "-text"]).stdout
    assert "Status: Rejected." in text and "unrecognized or unsupported algorithm identifier" in text
    assert "sha1 is not accepted" in text


# --------------------------------------------------------------------------- rejections


def _req(**over) -> bytes:
    value = {"version": "v1", "message_imprint": {"hash_algorithm": {"algorithm": "sm3"},
                                                  "hashed_message": bytes(32)}, "cert_req": True}
    value.update(over)
    return tsp.TimeStampReq(value).dump()


@pytest.mark.parametrize("request_der, fail, text", [
    (b"garbage", "bad_data_format", "not a DER TimeStampReq"),
    (b"", "bad_data_format", "not a DER TimeStampReq"),
    (b"\x30\x03\x02\x01\x01", "bad_data_format", "not a DER TimeStampReq"),
    (_req(version=2), "bad_request", "version must be 1"),
    (_req(message_imprint={"hash_algorithm": {"algorithm": "sha1"}, "hashed_message": bytes(20)}),
     "bad_alg", "sha1 is not accepted"),
    (_req(message_imprint={"hash_algorithm": {"algorithm": "md5"}, "hashed_message": bytes(16)}),
     "bad_alg", "md5 is not accepted"),
    (_req(message_imprint={"hash_algorithm": {"algorithm": "sm3"}, "hashed_message": bytes(20)}),
     "bad_data_format", "sm3 imprint has 32 bytes, not 20"),
    (_req(message_imprint={"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": bytes(33)}),
     "bad_data_format", "sha256 imprint has 32 bytes, not 33"),
    (_req(req_policy="1.2.3.4.1"), "unaccepted_policy", "policy 1.2.3.4.1 is not this TSA's policy"),
    (_req(extensions=[{"extn_id": "1.2.3.4", "extn_value": b"\x05\x00"}]), "unaccepted_extensions",
     "extensions are not supported"),
    (_req(nonce=1 << 400), "bad_request", "nonce longer than 320 bits"),
    # 320 bits and negative: 81 characters stored with its sign, tsa_tokens.nonce is VARCHAR(80)
    # (PostgreSQL: a driver error, a 500 at /tsa; SQLite stored it)
    (_req(nonce=-(1 << 320) + 1), "bad_request", "nonce longer than 320 bits (or 316 when negative)"),
])
def test_bad_requests_are_rejected_with_fail_info(env, request_der, fail, text):
    resp = tsa.parse_response(stamp(env, request_der))
    assert resp.status == "rejection" and resp.fail_info == {fail} and resp.token is None
    assert text in resp.text
    assert rows(env[0], TsaToken) == []
    assert not [r for r in rows(env[0], AuditRecord) if r.action == "tsa.timestamp"]


def test_the_longest_nonces_that_fit_the_token_log_are_granted(env):
    for nonce in ((1 << 320) - 1, -(1 << 316) + 1):   # 80 hex digits; 79 and the sign
        resp = tsa.parse_response(stamp(env, _req(nonce=nonce)))
        assert resp.status == "granted", resp.text
    assert sorted(len(r.nonce) for r in rows(env[0], TsaToken)) == [80, 80]


def test_our_policy_requested_explicitly_is_granted(env):
    assert tsa.parse_response(stamp(env, _req(req_policy=tsa.DEFAULT_POLICY))).status == "granted"


def test_rejection_response_is_what_verify_token_reports(env):
    bad = stamp(env, _req(version=3))
    check = tsa.verify_token(bad, DATA)
    assert not check.ok and check.failure == tsa.TokenFailure.NOT_GRANTED and "version" in check.detail


def test_misuse_raises(env):
    with pytest.raises(tsa.MalformedToken, match="TimeStampResp is malformed"):
        tsa.verify_token(b"\x30\x00", DATA)
    with pytest.raises(tsa.TsaError, match="not an object identifier"):
        tsa.TsaConfig(policy="not-an-oid")
    with pytest.raises(tsa.TsaError, match="not supported"):
        tsa.TsaConfig(hash_algorithms=frozenset({"md5"}))
    with pytest.raises(tsa.TsaError, match="not supported"):
        tsa.request_for(DATA, hash_alg="md5")


def test_wrong_key_for_the_tsa_certificate_is_refused(env):
    home, ks, ident = env
    other = ks.generate("other-tsa", "tsa", actor="admin")
    request, _ = tsa.request_for(DATA)
    with pytest.raises(scms.SigningError, match="does not verify with the certificate's public key"):
        tsa.timestamp(home, ks, request, actor="c", tsa=tsa.TsaIdentity(other, ident.certificate))
    assert rows(home, TsaToken) == []


def test_certificate_without_time_stamping_purpose_is_reported(env):
    home, ks, ident = env
    h = make_hierarchy()
    cert = (CertificateBuilder("organization", h.config).subject({"C": "CN", "O": "某局", "CN": "某局"})
            .identity(organization_code="91350100M000100Y43")
            .public_key(ks.public_key(ident.key_ref)).issuer(h.issuing).sign(h.issuing_signer))
    request, _ = tsa.request_for(DATA)
    resp = tsa.timestamp(home, ks, request, actor="c", tsa=tsa.TsaIdentity(ident.key_ref, cert))
    assert tsa.verify_token(resp, DATA).failure == tsa.TokenFailure.TSA_CERT_NOT_TIMESTAMPING


# --------------------------------------------------------------------------- four processes


def stamp_worker(home_path: str, key_ref: str, certs: list[bytes], count: int, out: str, start) -> None:
    """One of four processes stamping at once; writes the serials it got, one per line."""
    from store.home import Home

    home = Home.open(home_path)
    try:
        ks = SoftKeyStore.from_home(home)
        ks.unlock_with_passphrase(PASSPHRASE, actor="worker")
        ident = tsa.TsaIdentity(key_ref, load_certificate(certs[0]), [load_certificate(c) for c in certs[1:]])
        start.wait()
        serials = []
        for i in range(count):
            request, nonce = tsa.request_for(f"{out}-{i}".encode())
            check = tsa.verify_token(tsa.timestamp(home, ks, request, actor=out, tsa=ident), f"{out}-{i}".encode(),
                                     nonce=nonce)
            assert check.ok, check.detail
            serials.append(format(check.serial, "x"))
        Path(out).write_text("\n".join(serials))
    finally:
        home.close()


def test_serials_unique_across_four_processes(env, tmp_path):
    import multiprocessing

    home, _, ident = env
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(4)
    certs = [ident.certificate.dump()] + [c.dump() for c in ident.chain]
    outs = [str(tmp_path / f"w{w}.txt") for w in range(4)]
    procs = [ctx.Process(target=stamp_worker, args=(str(home.path), ident.key_ref, certs, 15, out, start))
             for out in outs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    serials = [s for out in outs for s in Path(out).read_text().split()]
    assert len(serials) == 60 and len(set(serials)) == 60
    assert {r.serial for r in rows(home, TsaToken)} == set(serials)
    assert len([r for r in rows(home, AuditRecord) if r.action == "tsa.timestamp"]) == 60


def test_token_made_before_the_tsa_certificate_was_valid_is_reported(env):
    home, ks, ident = env
    h = make_hierarchy()
    import datetime as dt

    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    cert = (CertificateBuilder("tsa", h.config).subject({"C": "CN", "O": "测试", "CN": "未来的时间戳服务"})
            .public_key(ks.public_key(ident.key_ref)).issuer(h.issuing)
            .validity(later, later + dt.timedelta(days=30)).sign(h.issuing_signer))
    request, _ = tsa.request_for(DATA)
    resp = tsa.timestamp(home, ks, request, actor="c", tsa=tsa.TsaIdentity(ident.key_ref, cert))
    assert tsa.verify_token(resp, DATA).failure == tsa.TokenFailure.GEN_TIME_OUTSIDE_CERT_VALIDITY


def test_mutated_requests_always_get_a_response(env):
    """Byte flips, truncations and extensions of a valid request: every answer is a
    TimeStampResp (granted or rejected), never an exception."""
    import random

    rnd = random.Random(3161)
    request, _ = tsa.request_for(DATA, policy=tsa.DEFAULT_POLICY)
    statuses = set()
    for _ in range(60):
        blob = bytearray(request)
        kind = rnd.randrange(3)
        if kind == 0:
            blob[rnd.randrange(len(blob))] ^= 1 << rnd.randrange(8)
        elif kind == 1:
            blob = blob[: rnd.randrange(len(blob))]
        else:
            blob += bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 5)))
        resp = tsa.parse_response(stamp(env, bytes(blob)))
        statuses.add(resp.status)
        assert resp.status in ("granted", "rejection")
        assert (resp.token is None) == (resp.status == "rejection")
    assert "rejection" in statuses
