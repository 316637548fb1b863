"""Sign-type OFD signatures (GB/T 33190 Signature Type="Sign") made by the product, on SQLite
and PostgreSQL: `eseal sign --sign-type sign` and POST /api/v1/seals/<es_id>/sign with
"sign_type": "sign" (JSON and multipart).

SignedValue.dat is a GM/T 0010 SignedData by the seal's signer certificate over
SM3(Signature.xml) as attached content (ofdrw's GBT35275DSContainer, GM/T 0099-2020 7.2.2);
no Seal.esl. Referees: zipfile, asn1crypto, the OpenSSL 3 CLI (SM3 of the files, the SM2
signature over the signed attributes with the GM/T 0009 default signer ID -- `openssl cms
-verify` cannot check SM2 CMS, see tests/test_cms_sign.py) and our verifier with the region's
trust and CRLs, which must also fail the document when a referenced file or SignedValue.dat
changes. Each sealing writes one seal.sign audit record and one transparency-log entry; a
Sign type for anything but an OFD is a usage error that writes nothing.
"""
from __future__ import annotations

import base64
import io
import json
import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms as acms
from click.testing import CliRunner
from sqlalchemy import select

from api import create_app
from ca import service as ca_service
from ca.certificate import to_pem
from cli.main import main
from gm.sm3 import sm3
from seal import cms as scms
from seal.ofd.document import Page, Text, build_ofd
from seal.tsa import verify_token
from store.db import make_sessionmaker, transaction
from store.models.audit import AuditRecord
from store.models.translog import TransLogEntry
from store.testing import *  # noqa: F401,F403
from store.tokens import create_token
from tests.helpers.region import seal_region
from tests.helpers.zip_records import entries, rezip
from tests.test_pdf_seal import make_pdf
from verify.report import Indication, SubIndication

PASSPHRASE = "ofd sign type passphrase"
AGENCY = "A1"
PROBLEM = "https://eseal.example/problems/"
DISTID = "distid:1234567812345678"
OID_GMT0010_SIGNED_DATA = "1.2.156.10197.6.1.4.2.2"
OID_GMT0010_DATA = "1.2.156.10197.6.1.4.2.1"
SIGN = "Doc_0/Signs/Sign_0/"
PAGE = "Doc_0/Pages/Page_0/Content.xml"


@pytest.fixture
def region(eseal_home, monkeypatch):
    """A region, an organization seal of AGENCY bound to a signer certificate whose key the key
    store holds; the CLI unlocks with ESEAL_PASSPHRASE."""
    made = seal_region(eseal_home, passphrase=PASSPHRASE, agency=AGENCY, name="某某局")
    ks, es_id, cert = made.keystore, made.es_id, made.signer
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("ESEAL_PIN", raising=False)
    return eseal_home, ks, es_id, cert


def _ofd() -> bytes:
    return build_ofd([Page([Text(20, 20, "通知 第一号", size=6)])])


def _openssl(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, **kw)


def _signer_info(signed_value: bytes) -> tuple[acms.SignedData, acms.SignerInfo]:
    info = acms.ContentInfo.load(signed_value)
    assert info["content_type"].dotted == OID_GMT0010_SIGNED_DATA
    sd = info["content"]
    [signer_info] = list(sd["signer_infos"])
    return sd, signer_info


def _check_sign_type(ofd: bytes, cert, tmp_path: Path, openssl_bin: str) -> bytes:
    """The package holds one Sign-type signature whose SignedValue.dat is a GM/T 0010 SignedData
    over SM3(Signature.xml), attached, timestamped, that OpenSSL verifies; returns the SM2
    signature value (what the log entry is keyed by)."""
    files = entries(ofd)
    assert f"{SIGN}Seal.esl" not in files
    assert {n for n in files if n.startswith(SIGN)} == {f"{SIGN}Signature.xml", f"{SIGN}SignedValue.dat"}
    assert b'Type="Sign"' in files["Doc_0/Signs/Signatures.xml"]
    assert b'Type="Seal"' not in files["Doc_0/Signs/Signatures.xml"]
    signature_xml = files[f"{SIGN}Signature.xml"]
    assert b"<ofd:Seal>" not in signature_xml and b"<ofd:StampAnnot " in signature_xml
    signed_value = files[f"{SIGN}SignedValue.dat"]

    sd, signer_info = _signer_info(signed_value)
    assert sd["encap_content_info"]["content_type"].dotted == OID_GMT0010_DATA
    econtent = sd["encap_content_info"]["content"].native
    attrs = {a["type"].native: a["values"][0] for a in signer_info["signed_attrs"]}
    assert attrs["content_type"].dotted == OID_GMT0010_DATA
    assert signer_info["sid"].chosen["serial_number"].native == cert.serial_number
    assert cert.dump() in [c.chosen.dump() for c in sd["certificates"]]
    check = scms.verify_cms(signed_value)          # as the library test reads it
    assert check.ok and check.flavour == "gmt0010" and not check.detached

    # OpenSSL: eContent = SM3(Signature.xml), messageDigest = SM3(eContent) ...
    (tmp_path / "Signature.xml").write_bytes(signature_xml)
    (tmp_path / "econtent.bin").write_bytes(econtent)
    xml_digest = _openssl(openssl_bin, "dgst", "-sm3", "-binary", tmp_path / "Signature.xml")
    assert xml_digest.returncode == 0 and econtent == xml_digest.stdout == sm3(signature_xml)
    md = _openssl(openssl_bin, "dgst", "-sm3", "-binary", tmp_path / "econtent.bin")
    assert md.returncode == 0 and md.stdout == attrs["message_digest"].native
    # ... and the SM2 signature over the signed attributes with the signer certificate's key
    (tmp_path / "cert.pem").write_bytes(to_pem(cert))
    pub = _openssl(openssl_bin, "x509", "-in", tmp_path / "cert.pem", "-pubkey", "-noout", check=True).stdout
    (tmp_path / "pub.pem").write_bytes(pub)
    (tmp_path / "tbs.der").write_bytes(scms.signed_attrs_der(signer_info))
    signature = signer_info["signature"].native
    (tmp_path / "sig.der").write_bytes(signature)
    ok = _openssl(openssl_bin, "pkeyutl", "-verify", "-pubin", "-inkey", tmp_path / "pub.pem", "-rawin",
                  "-digest", "sm3", "-pkeyopt", DISTID, "-in", tmp_path / "tbs.der", "-sigfile",
                  tmp_path / "sig.der", text=True)
    assert ok.returncode == 0 and "Signature Verified Successfully" in ok.stdout, ok.stdout + ok.stderr
    (tmp_path / "tbs.der").write_bytes(scms.signed_attrs_der(signer_info) + b"\x00")
    bad = _openssl(openssl_bin, "pkeyutl", "-verify", "-pubin", "-inkey", tmp_path / "pub.pem", "-rawin",
                   "-digest", "sm3", "-pkeyopt", DISTID, "-in", tmp_path / "tbs.der", "-sigfile",
                   tmp_path / "sig.der", text=True)
    assert bad.returncode != 0  # the referee does say no

    # timestamped by the region's TSA: an RFC 3161 token over the signature value
    [token] = [a["values"][0].dump() for a in signer_info["unsigned_attrs"]
               if a["type"].dotted == "1.2.840.113549.1.9.16.2.14"]
    stamped = verify_token(token, signature)
    assert stamped.ok, (stamped.failure, stamped.detail)
    return signature


def _verifier(home, ks):
    from verify.service import verifier_for_home

    crls = [ca_service.generate_crl(home, ks), ca_service.generate_crl(home, ks, authority="root")]
    return verifier_for_home(home, online=False, crls=crls)


def _verdict(report) -> tuple[Indication, SubIndication | None]:
    return report.indication, report.sub_indication


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def _check_verifier(home, ks, ofd: bytes) -> None:
    """PASSED as made; FAILED when one byte of a referenced page or of SignedValue.dat changes."""
    verifier = _verifier(home, ks)
    report = verifier.verify_bytes(ofd, name="signed.ofd")
    problems = [(c.code, c.message) for s in report.signatures for c in s.checks if c.failed]
    assert report.indication is Indication.PASSED, problems
    [sig] = report.signatures
    codes = {c.code: c.result.value for c in sig.checks}
    assert codes["DOCUMENT_REFERENCES"] == codes["CMS_CONTENT"] == codes["SIGNATURE_VALUE"] == "PASSED", codes
    assert sig.timestamp_time is not None and sig.seal is None

    files = entries(ofd)
    page = files[PAGE]
    assert page.count(b'X="0"') == 1
    one_byte = {**files, PAGE: page.replace(b'X="0"', b'X="1"')}
    changed = verifier.verify_bytes(rezip(one_byte), name="page-changed.ofd")
    assert _verdict(changed) == (Indication.FAILED, SubIndication.HASH_FAILURE)
    refs = next(c for c in changed.signatures[0].checks if c.code == "DOCUMENT_REFERENCES")
    assert refs.failed and PAGE in refs.message

    value = files[f"{SIGN}SignedValue.dat"]
    _, signer_info = _signer_info(value)
    econtent_at = value.index(sm3(files[f"{SIGN}Signature.xml"]))
    content_changed = verifier.verify_bytes(rezip({**files, f"{SIGN}SignedValue.dat": _flip(value, econtent_at)}),
                                            name="econtent-changed.ofd")
    assert _verdict(content_changed) == (Indication.FAILED, SubIndication.HASH_FAILURE)
    signature = signer_info["signature"].native
    signature_at = value.index(signature) + len(signature) - 1
    signature_changed = verifier.verify_bytes(
        rezip({**files, f"{SIGN}SignedValue.dat": _flip(value, signature_at)}), name="signature-changed.ofd")
    assert _verdict(signature_changed) == (Indication.FAILED, SubIndication.SIG_CRYPTO_FAILURE)
    value_check = next(c for c in signature_changed.signatures[0].checks if c.code == "SIGNATURE_VALUE")
    assert value_check.failed


def _sealings(home) -> tuple[list[dict], list[TransLogEntry]]:
    with transaction(home.engine, readonly=True) as s:
        records = [json.loads(r.details) for r in
                   s.scalars(select(AuditRecord).where(AuditRecord.action == "seal.sign").order_by(AuditRecord.seq))]
        logged = list(s.scalars(select(TransLogEntry).where(TransLogEntry.kind == "sealed-document")
                                .order_by(TransLogEntry.idx)))
    return records, logged


def _check_recorded(record: dict, entry: TransLogEntry, ofd: bytes, signature: bytes) -> None:
    signature_xml = entries(ofd)[f"{SIGN}Signature.xml"]
    assert record["format"] == "ofd-sign" and record["timestamped"] is True and record["agency"] == AGENCY
    assert record["data_hash"] == sm3(signature_xml).hex()
    assert record["property_info"] == f"/{SIGN}Signature.xml"
    assert record["signature_sm3"] == sm3(signature).hex()
    assert entry.subject == f"signature:{sm3(signature).hex()}"


def test_a_timestamped_sign_type_sealing_is_one_commit(region) -> None:
    """The same one-commit path as every sealing (seal.service.seal_with): the signer key's use,
    the TSA key's use, tsa.timestamp and seal.sign, with the log entry, in one commit."""
    from seal import sealing
    from tests.test_seal_timestamp_one_commit import _commits

    home, ks, es_id, _ = region
    sealing.seal_document(home, ks, sealing.authorise(home, ks, es_id), _ofd(), ofd_sign_type="Sign")  # warm
    grant = sealing.authorise(home, ks, es_id, actor="clerk")
    with transaction(home.engine, readonly=True) as s:
        seq = s.scalar(select(AuditRecord.seq).order_by(AuditRecord.seq.desc()).limit(1))
    with _commits(home.engine) as commits:
        sealed = sealing.seal_document(home, ks, grant, _ofd(), ofd_sign_type="Sign")
    assert sealed.format == "ofd" and len(commits) == 1, f"{len(commits)} commits"
    with transaction(home.engine, readonly=True) as s:
        actions = [(r.action, r.subject) for r in
                   s.scalars(select(AuditRecord).where(AuditRecord.seq > seq).order_by(AuditRecord.seq))]
    tsa_key = ca_service.service_certificate(home, "tsa").key_ref
    assert [a for a, _ in actions] == ["key.sign", "key.sign", "tsa.timestamp", "seal.sign"], actions
    assert actions[0][1] == grant.key_ref and actions[1][1] == tsa_key and actions[3][1] == f"seal:{es_id}"
    records, logged = _sealings(home)
    assert len(records) == len(logged) == 2


# ----------------------------------------------------------------------------- eseal sign


def _eseal(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_cli_sign_type_sign(region, tmp_path, openssl_bin) -> None:
    home, ks, es_id, cert = region
    source, out = tmp_path / "doc.ofd", tmp_path / "signed.ofd"
    source.write_bytes(_ofd())
    run = _eseal("sign", "--home", home.path, "--seal", es_id, "--in", source, "--out", out, "--sign-type", "sign",
                 "--x", "120", "--y", "200")
    assert run.exit_code == 0, run.output
    assert f"(ofd, seal {es_id})" in run.output
    ofd = out.read_bytes()
    signature = _check_sign_type(ofd, cert, tmp_path, openssl_bin)
    # the stamp keeps the place given and the seal's size (42 mm), without a picture
    assert b'Boundary="120 200 42 42"' in entries(ofd)[f"{SIGN}Signature.xml"]
    _check_verifier(home, ks, ofd)
    records, logged = _sealings(home)
    assert len(records) == len(logged) == 1
    _check_recorded(records[0], logged[0], ofd, signature)

    # the default is still a Seal-type signature
    seal_out = tmp_path / "sealed.ofd"
    run = _eseal("sign", "--home", home.path, "--seal", es_id, "--in", source, "--out", seal_out)
    assert run.exit_code == 0, run.output
    files = entries(seal_out.read_bytes())
    assert b'Type="Seal"' in files["Doc_0/Signs/Signatures.xml"] and f"{SIGN}Seal.esl" in files
    records, logged = _sealings(home)
    assert [r["format"] for r in records] == ["ofd-sign", "ses"] and len(logged) == 2


@pytest.mark.parametrize("case", ["pdf", "data", "cms"])
def test_cli_sign_type_sign_is_for_ofd_only(region, tmp_path, case) -> None:
    home, _, es_id, _ = region
    source = tmp_path / {"pdf": "doc.pdf", "data": "data.bin", "cms": "doc.ofd"}[case]
    source.write_bytes({"pdf": make_pdf(1), "data": "数据".encode(), "cms": _ofd()}[case])
    out = tmp_path / "out.bin"
    run = _eseal("sign", "--home", home.path, "--seal", es_id, "--in", source, "--out", out, "--sign-type", "sign",
                 *(["--cms"] if case == "cms" else []))
    assert run.exit_code == 2, run.output
    assert "a Sign-type signature is made in an OFD document only" in run.output
    assert {"pdf": "the input is a PDF", "data": "the input is not an OFD package",
            "cms": "not with a detached CMS"}[case] in run.output
    assert not out.exists()
    with transaction(home.engine, readonly=True) as s:
        assert s.scalar(select(AuditRecord).where(AuditRecord.action.in_(["seal.sign", "seal.use_refused"]))) is None


def test_cli_sign_type_rejects_other_values(region, tmp_path) -> None:
    home, _, es_id, _ = region
    (tmp_path / "doc.ofd").write_bytes(_ofd())
    run = _eseal("sign", "--home", home.path, "--seal", es_id, "--in", tmp_path / "doc.ofd", "--out",
                 tmp_path / "out.ofd", "--sign-type", "stamp")
    assert run.exit_code == 2 and "--sign-type" in run.output
    assert not (tmp_path / "out.ofd").exists()


# ----------------------------------------------------------------------------- the API


@pytest.fixture
def api(region):
    home, ks, es_id, cert = region
    sessions = make_sessionmaker(home.engine)
    token = create_token(sessions, role="agency", agency=AGENCY)[0]
    app = create_app(home.path, passphrase=PASSPHRASE)
    yield app.test_client(), {"Authorization": f"Bearer {token}"}
    app.extensions["eseal"].home.close()


def test_api_sign_type_sign_json_and_multipart(region, api, tmp_path, openssl_bin) -> None:
    home, ks, es_id, cert = region
    client, auth = api
    as_json = client.post(f"/api/v1/seals/{es_id}/sign", headers=auth,
                          json={"document": base64.b64encode(_ofd()).decode(), "sign_type": "sign", "x": 50})
    assert as_json.status_code == 200, as_json.get_data(as_text=True)[:500]
    assert as_json.json["format"] == "ofd" and as_json.json["es_id"] == es_id
    from_json = base64.b64decode(as_json.json["document"])
    multipart = client.post(f"/api/v1/seals/{es_id}/sign", headers=auth, content_type="multipart/form-data",
                            data={"file": (io.BytesIO(_ofd()), "doc.ofd"), "sign_type": "sign", "y": "60"})
    assert multipart.status_code == 200, multipart.get_data(as_text=True)[:500]
    assert multipart.mimetype == "application/ofd"
    from_multipart = multipart.data

    signatures = []
    for ofd, boundary in ((from_json, b'Boundary="50 20 42 42"'), (from_multipart, b'Boundary="20 60 42 42"')):
        signatures.append(_check_sign_type(ofd, cert, tmp_path, openssl_bin))
        assert boundary in entries(ofd)[f"{SIGN}Signature.xml"]
        _check_verifier(home, ks, ofd)
    records, logged = _sealings(home)
    assert len(records) == len(logged) == 2
    for record, entry, ofd, signature in zip(records, logged, (from_json, from_multipart), signatures):
        _check_recorded(record, entry, ofd, signature)
    # "seal" (and no sign_type) is the Seal type
    sealed = client.post(f"/api/v1/seals/{es_id}/sign", headers=auth,
                         json={"document": base64.b64encode(_ofd()).decode(), "sign_type": "seal"})
    assert sealed.status_code == 200
    assert b'Type="Seal"' in entries(base64.b64decode(sealed.json["document"]))["Doc_0/Signs/Signatures.xml"]


def test_api_sign_type_refusals(region, api) -> None:
    home, _, es_id, _ = region
    client, auth = api
    url = f"/api/v1/seals/{es_id}/sign"
    ofd64 = base64.b64encode(_ofd()).decode()
    refusals = [
        client.post(url, headers=auth, json={"document": ofd64, "sign_type": "stamp"}),
        client.post(url, headers=auth, json={"document": ofd64, "sign_type": "Sign"}),
        client.post(url, headers=auth, json={"document": ofd64, "sign_type": 1}),
        client.post(url, headers=auth, json={"document": ofd64, "sign_type": ["sign"]}),
        client.post(url, headers=auth, content_type="multipart/form-data",
                    data={"file": (io.BytesIO(_ofd()), "doc.ofd"), "sign_type": ""}),
        client.post(url, headers=auth, json={"document": base64.b64encode(make_pdf(1)).decode(), "sign_type": "sign"}),
        client.post(url, headers=auth, content_type="multipart/form-data",
                    data={"file": (io.BytesIO(b"raw data"), "data.bin"), "sign_type": "sign"}),
        client.post(url, headers=auth, json={"document": ofd64, "sign_type": "sign", "cms": True}),
    ]
    for answer in refusals:
        assert answer.status_code == 400, answer.get_data(as_text=True)[:300]
        assert answer.mimetype == "application/problem+json"
        assert answer.json["type"] == PROBLEM + "invalid-request", answer.json
    assert "OFD document only: the input is a PDF" in refusals[-3].json["detail"]
    assert "OFD document only: not with a detached CMS" in refusals[-1].json["detail"]
    with transaction(home.engine, readonly=True) as s:
        assert s.scalar(select(AuditRecord).where(AuditRecord.action.in_(["seal.sign", "seal.use_refused"]))) is None


def test_api_documents_sign_type_for_both_media_types(api) -> None:
    client, _ = api
    spec = client.get("/api/openapi.json").get_json()
    content = spec["paths"]["/api/v1/seals/{es_id}/sign"]["post"]["requestBody"]["content"]
    for media in ("application/json", "multipart/form-data"):
        assert content[media]["schema"]["properties"]["sign_type"]["enum"] == ["seal", "sign"], media
