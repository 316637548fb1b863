"""The CLI contract of seal issue and seal use, on SQLite and PostgreSQL, through the real
`eseal` command (click's runner in process, or the installed script in a subprocess):

* `eseal seal make --type personal` makes a GB/T 38540 personal seal (property type 2);
* `eseal seal make --picture` keeps a JPEG or SVG picture byte for byte, typed JPG / SVG;
* `eseal sign --page --x --y` puts the StampAnnot on that page at that place, seal-sized;
* `eseal sign --cms [--pkcs7]` writes a detached SignedData over the input that our verifier
  and OpenSSL (pkeyutl over the signed attributes, dgst for messageDigest) both accept;
* every seal-use refusal of `eseal sign` exits non-zero with its reason, writes exactly one
  "seal.use_refused" audit record naming it, and writes no output file;
* `eseal license batch` shows its progress bar on a terminal (stderr) and keeps stdout clean;
* the repository ships no font file.

Referees: seal.structures (GB/T 38540 parser), lxml over the zip as unzip reads it,
seal.ofd.signing.verify_package, seal.cms.verify_cms, the OpenSSL 3 CLI.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import posixpath
import pty
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from asn1crypto import cms as acms
from click.testing import CliRunner
from lxml import etree
from PIL import Image
from sqlalchemy import select, update

from ca import service as ca_service
from ca.certificate import to_pem
from ca.testing import make_hierarchy, organization_signer
from cli.main import main
from gm.sm3 import sm3
from keystore.soft import SoftKeyStore
from seal import cms as scms
from seal import service, structures
from seal.ofd.document import Page, Text, build_ofd
from seal.ofd.signing import verify_package
from store.db import make_sessionmaker, transaction
from store.models.audit import AuditRecord
from store.models.seal import SealRecord
from store.testing import *  # noqa: F401,F403
from tests.helpers.pictures import cross_image

REPO_ROOT = Path(__file__).resolve().parents[1]
ESEAL = str(Path(sys.executable).with_name("eseal"))
PASSPHRASE = "seal cli contract passphrase"
AGENCY = "GD-AMR"
ORG_NAME = "广东省市场监督管理局"
PERSON = "张三"
CITIZEN_ID = "11010519491231002X"
PIN = "246810"
OFD_NS = "http://www.ofdspec.org/2016"
DISTID = "distid:1234567812345678"
OID_PKCS7_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_GMT0010_SIGNED_DATA = "1.2.156.10197.6.1.4.2.2"
BUSINESS = {"credit_code": "91350100M000100Y43", "name": "深圳某某科技有限公司", "entity_type": "有限责任公司",
            "legal_representative": "张三", "establishment_date": "2020-02-03", "address": "深圳市南山区",
            "scope": "软件开发"}


# ----------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture
def region(eseal_home, monkeypatch):
    """A region (root, CAs, seal maker, TSA) in the test's home; the CLI unlocks with ESEAL_PASSPHRASE."""
    ks = SoftKeyStore.initialise(make_sessionmaker(eseal_home.engine), actor="admin", passphrase=PASSPHRASE).store
    ca_service.init_region(eseal_home, ks, region_code="440000", region_name="广东省",
                           base_url="http://pki.gd.example.gov.cn")
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("ESEAL_PIN", raising=False)
    return eseal_home, ks


def _org_signer(home, ks, label="agency-signer"):
    key_ref = ks.generate(label, "seal", actor="admin")
    _, cert = ca_service.issue_for_key(home, ks, profile="organization", key_ref=key_ref,
                                       subject=f"C=CN,O={ORG_NAME},CN={ORG_NAME}", credit_code="91350100M000100Y43")
    return cert


@pytest.fixture
def org_seal(region):
    """An organization seal of AGENCY bound to a signer certificate whose key the key store holds."""
    home, ks = region
    cert = _org_signer(home, ks)
    es_id = service.make_seal(home, ks, seal_type="organization", name=ORG_NAME, agency=AGENCY,
                              holder_certs=[cert.dump()], actor="admin")
    return home, ks, es_id, cert


def _personal_cert(home, ks, tmp_path: Path):
    """A personal signer certificate whose key (usage personal-seal) has the PIN; written as PEM.
    No command makes such a key (see tests/test_log_secrets.py), so the key store makes it here."""
    key_ref = ks.generate("zhangsan", "personal-seal", actor="admin", pin=PIN)
    _, cert = ca_service.issue_for_key(home, ks, profile="personal", key_ref=key_ref,
                                       subject=f"C=CN,CN={PERSON}", id_number=CITIZEN_ID)
    path = tmp_path / "zhangsan.pem"
    path.write_bytes(to_pem(cert))
    return path, cert


def _eseal(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def _make_personal_seal(home, ks, tmp_path: Path) -> tuple[str, object, Path]:
    cert_path, cert = _personal_cert(home, ks, tmp_path)
    esl = tmp_path / "personal.esl"
    made = _eseal("seal", "make", "--home", home.path, "--type", "personal", "--name", PERSON,
                  "--holder-cert", cert_path, "--agency", AGENCY, "--out", esl)
    assert made.exit_code == 0, made.output
    return made.stdout.strip(), cert, esl


def _refusals(home) -> list[tuple[str, dict]]:
    with transaction(home.engine, readonly=True) as s:
        rows = s.scalars(select(AuditRecord).where(AuditRecord.action == "seal.use_refused")
                         .order_by(AuditRecord.seq))
        return [(r.subject, json.loads(r.details)) for r in rows]


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, **kw)


# ----------------------------------------------------------------------------- 1. personal seal


def test_seal_make_personal_is_a_gbt38540_personal_seal(region, tmp_path) -> None:
    home, ks = region
    es_id, cert, esl = _make_personal_seal(home, ks, tmp_path)
    assert service.es_id_valid(es_id) and es_id.startswith("440000"), es_id
    seal = structures.parse_seal(esl.read_bytes())
    assert seal.es_id == es_id and seal.version == 4
    assert seal.seal_type == 2  # GB/T 38540 property.type: 1 organization (单位印章), 2 personal (个人印章)
    assert seal.name == PERSON
    assert seal.binds(cert.dump()) and len(seal.certificates) + len(seal.cert_digests) == 1
    assert structures.verify_seal_signature(seal).ok
    assert seal.picture.type == "PNG" and (seal.picture.width_mm, seal.picture.height_mm) == (20, 20)
    info = service.get_seal(home, es_id)
    assert info.seal_type == "personal" and info.der == esl.read_bytes() and info.agency == AGENCY
    # the personal seal is usable with its PIN (the positive control of the wrong-PIN refusal below)
    (tmp_path / "data.bin").write_bytes("个人签名的数据".encode())
    signed = _eseal("sign", "--home", home.path, "--seal", es_id, "--in", tmp_path / "data.bin",
                    "--out", tmp_path / "data.p7s", "--no-timestamp", env={"ESEAL_PIN": PIN})
    assert signed.exit_code == 0, signed.output
    check = scms.verify_cms((tmp_path / "data.p7s").read_bytes(), (tmp_path / "data.bin").read_bytes())
    assert check.ok and check.signer.certificate.dump() == cert.dump()


# ----------------------------------------------------------------------------- 2. pictures


SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="42mm" height="42mm" viewBox="0 0 42 42">'
       '<circle cx="21" cy="21" r="19" fill="none" stroke="#d00" stroke-width="1.5"/>'
       '<text x="21" y="23" font-size="4" text-anchor="middle" fill="#d00">某某局</text></svg>').encode()


@pytest.mark.parametrize("file_name, expected_type", [("x.jpg", "JPG"), ("x.jpeg", "JPG"), ("x.svg", "SVG")])
def test_seal_make_keeps_a_jpeg_or_svg_picture(org_seal, tmp_path, file_name, expected_type) -> None:
    home, _, _, cert = org_seal
    picture = tmp_path / file_name
    picture.write_bytes(SVG if expected_type == "SVG" else cross_image("JPEG", quality=90))
    if expected_type == "JPG":
        assert picture.read_bytes()[:3] == b"\xff\xd8\xff" and Image.open(picture).format == "JPEG"
    (tmp_path / "holder.pem").write_bytes(to_pem(cert))
    made = _eseal("seal", "make", "--home", home.path, "--type", "organization", "--name", "某某局",
                  "--holder-cert", tmp_path / "holder.pem", "--picture", picture, "--size-mm", "38",
                  "--out", tmp_path / "seal.esl")
    assert made.exit_code == 0, made.output
    es_id = made.stdout.strip()
    seal = structures.parse_seal((tmp_path / "seal.esl").read_bytes())
    assert seal.es_id == es_id and structures.verify_seal_signature(seal).ok
    assert seal.picture.type == expected_type
    assert seal.picture.data == picture.read_bytes()
    assert (seal.picture.width_mm, seal.picture.height_mm) == (38, 38)
    assert service.get_seal(home, es_id).picture_type == expected_type


# ----------------------------------------------------------------------------- 3. stamp position


def _xml(zf: zipfile.ZipFile, name: str) -> etree._Element:
    return etree.fromstring(zf.read(name.lstrip("/")))


def _loc(base_entry: str, loc: str) -> str:
    """An OFD location (absolute, or relative to the folder of base_entry) as a zip entry name."""
    if loc.startswith("/"):
        return loc.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(base_entry), loc))


def test_sign_places_the_stamp_on_the_page_and_at_the_place_asked(org_seal, tmp_path) -> None:
    home, _, es_id, _ = org_seal
    ns = {"ofd": OFD_NS}
    doc = tmp_path / "doc.ofd"
    doc.write_bytes(build_ofd([Page([Text(20, 20, "第一页", size=6)]), Page([Text(20, 20, "第二页", size=6)])]))
    out = tmp_path / "out.ofd"
    run = _eseal("sign", "--home", home.path, "--seal", es_id, "--in", doc, "--out", out,
                 "--page", "2", "--x", "33", "--y", "44", "--no-timestamp")
    assert run.exit_code == 0, run.output
    assert f"(ofd, seal {es_id})" in run.stdout

    seal = structures.parse_seal(service.get_seal(home, es_id).der)
    width, height = seal.picture.width_mm, seal.picture.height_mm
    assert (width, height) == (42, 42)  # the default organization seal size
    with zipfile.ZipFile(out) as zf:
        body = _xml(zf, "OFD.xml").find("ofd:DocBody", ns)
        doc_root = _loc("OFD.xml", body.findtext("ofd:DocRoot", namespaces=ns))
        pages = _xml(zf, doc_root).findall("ofd:Pages/ofd:Page", ns)
        assert len(pages) == 2
        page_ids = [p.get("ID") for p in pages]
        signatures_entry = _loc("OFD.xml", body.findtext("ofd:Signatures", namespaces=ns))
        [listed] = _xml(zf, signatures_entry).findall("ofd:Signature", ns)
        assert listed.get("Type") == "Seal"
        signature_entry = _loc(signatures_entry, listed.get("BaseLoc"))
        signature = _xml(zf, signature_entry)
        [annot] = signature.findall("ofd:SignedInfo/ofd:StampAnnot", ns)
        seal_loc = signature.findtext("ofd:SignedInfo/ofd:Seal/ofd:BaseLoc", namespaces=ns)
        assert zf.read(_loc(signature_entry, seal_loc)) == service.get_seal(home, es_id).der
    assert annot.get("PageRef") == page_ids[1] and page_ids[0] != page_ids[1]
    assert annot.get("Boundary").split() == ["33", "44", str(width), str(height)]
    # our package reader agrees: references hold, the stamp is on page index 1
    [facts] = verify_package(out.read_bytes())
    assert facts.references_ok
    [(stamp, page_index)] = facts.stamp_pages
    assert page_index == 1 and stamp.boundary == (33.0, 44.0, float(width), float(height))


def test_sign_page_out_of_range_is_a_clean_error(org_seal, tmp_path) -> None:
    home, _, es_id, _ = org_seal
    doc = tmp_path / "doc.ofd"
    doc.write_bytes(build_ofd([Page([Text(20, 20, "第一页", size=6)]), Page([Text(20, 20, "第二页", size=6)])]))
    run = _eseal("sign", "--home", home.path, "--seal", es_id, "--in", doc, "--out", tmp_path / "out.ofd",
                 "--page", "3", "--no-timestamp")
    assert run.exit_code == 1, run.output
    assert "page 3 does not exist: the document has 2 page(s), counted from 1" in run.output
    assert run.exception is None or isinstance(run.exception, SystemExit), repr(run.exception)
    assert not (tmp_path / "out.ofd").exists()


# ----------------------------------------------------------------------------- 4. detached CMS


@pytest.mark.parametrize("kind", ["ofd", "data"])
@pytest.mark.parametrize("flavour", ["gmt0010", "pkcs7"])
def test_sign_cms_is_a_detached_signature_over_the_input(org_seal, tmp_path, openssl_bin, kind, flavour) -> None:
    home, _, es_id, cert = org_seal
    source = tmp_path / ("doc.ofd" if kind == "ofd" else "data.bin")
    source.write_bytes(build_ofd([Page([Text(20, 20, "合同", size=6)])]) if kind == "ofd"
                       else "一份需要盖章的数据\n".encode() * 50)
    data = source.read_bytes()
    out = tmp_path / "out.p7s"
    run = _eseal("sign", "--home", home.path, "--seal", es_id, "--in", source, "--out", out, "--cms",
                 *(["--pkcs7"] if flavour == "pkcs7" else []))
    assert run.exit_code == 0, run.output
    assert f"(cms, seal {es_id})" in run.stdout
    der = out.read_bytes()
    assert not der.startswith(b"PK")  # a signature, not a sealed OFD

    info = acms.ContentInfo.load(der)
    expected_oid = OID_PKCS7_SIGNED_DATA if flavour == "pkcs7" else OID_GMT0010_SIGNED_DATA
    assert info["content_type"].dotted == expected_oid

    # our verifier: detached, over exactly the input bytes, by the seal's bound certificate
    check = scms.verify_cms(der, data)
    assert check.ok, check.signer.detail
    assert check.detached and check.flavour == flavour
    assert check.signer.certificate.dump() == cert.dump()
    assert not scms.verify_cms(der, data + b"\n").ok

    # OpenSSL: the outer OID as it reads it ...
    parsed = _run([openssl_bin, "asn1parse", "-inform", "DER", "-in", out], text=True)
    assert parsed.returncode == 0, parsed.stderr
    objects = [line.rsplit(":", 1)[1] for line in parsed.stdout.splitlines() if "OBJECT" in line]
    assert objects[0] == ("pkcs7-signedData" if flavour == "pkcs7" else OID_GMT0010_SIGNED_DATA), objects[:3]
    # ... messageDigest = SM3 of the input as OpenSSL computes it ...
    sd = info["content"]
    assert sd["encap_content_info"]["content"].native is None  # detached
    [signer_info] = list(sd["signer_infos"])
    attrs = {a["type"].native: a["values"][0].native for a in signer_info["signed_attrs"]}
    digest = _run([openssl_bin, "dgst", "-sm3", "-binary", source])
    assert digest.returncode == 0 and digest.stdout == attrs["message_digest"] == sm3(data)
    # ... and the SM2 signature over the signed attributes, with the GM/T 0009 default signer ID
    # (`openssl cms -verify` cannot check SM2 CMS: it uses an empty ID, openssl#23471, see
    # tests/test_cms_sign.py)
    (tmp_path / "cert.pem").write_bytes(to_pem(cert))
    pub = _run([openssl_bin, "x509", "-in", tmp_path / "cert.pem", "-pubkey", "-noout"], check=True).stdout
    (tmp_path / "pub.pem").write_bytes(pub)
    (tmp_path / "tbs.der").write_bytes(scms.signed_attrs_der(signer_info))
    (tmp_path / "sig.der").write_bytes(signer_info["signature"].native)
    ok = _run([openssl_bin, "pkeyutl", "-verify", "-pubin", "-inkey", tmp_path / "pub.pem", "-rawin", "-digest", "sm3",
               "-pkeyopt", DISTID, "-in", tmp_path / "tbs.der", "-sigfile", tmp_path / "sig.der"], text=True)
    assert ok.returncode == 0 and "Signature Verified Successfully" in ok.stdout, ok.stdout + ok.stderr


# ----------------------------------------------------------------------------- 5. refusals


def _expire(home, es_id) -> None:
    with transaction(home.engine) as s:
        s.execute(update(SealRecord).where(SealRecord.es_id == es_id)
                  .values(valid_to=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)))


@pytest.mark.parametrize("reason", [
    "not-authorised",
    "seal-revoked",
    "seal-suspended",
    "seal-expired",
    "signer-not-bound",
    "wrong-pin",
    "missing-pin",
])
def test_sign_refusal(region, tmp_path, reason) -> None:
    home, ks = region
    extra: list[str] = []
    env: dict[str, str] = {}
    codes = {reason}
    if reason in ("wrong-pin", "missing-pin"):
        es_id, _, _ = _make_personal_seal(home, ks, tmp_path)
        if reason == "wrong-pin":
            env["ESEAL_PIN"] = "135799"
        codes = {"wrong-pin"}
        message = rf"personal seal {es_id}: .*(PIN|pin)"
    elif reason == "signer-not-bound":
        h = make_hierarchy()  # another CA: this region holds no key for its certificate
        _, foreign = organization_signer(h, name=ORG_NAME)
        es_id = service.make_seal(home, ks, seal_type="organization", name=ORG_NAME, agency=AGENCY,
                                  holder_certs=[foreign.dump()], actor="admin")
        codes = {"signer-certificate-invalid"}
        message = rf"seal {es_id} binds no signer certificate of this region"
    else:
        es_id = service.make_seal(home, ks, seal_type="organization", name=ORG_NAME, agency=AGENCY,
                                  holder_certs=[_org_signer(home, ks).dump()], actor="admin")
        if reason == "not-authorised":
            extra = ["--agency", "某某区政府"]
            message = rf"agency '某某区政府' is not authorised to use seal {es_id}"
        elif reason == "seal-revoked":
            assert _eseal("seal", "revoke", "--home", home.path, es_id, "--reason", "lost").exit_code == 0
            message = rf"seal {es_id} is revoked"
        elif reason == "seal-suspended":
            assert _eseal("seal", "suspend", "--home", home.path, es_id, "--reason", "audit").exit_code == 0
            message = rf"seal {es_id} is suspended"
        else:
            _expire(home, es_id)
            message = rf"seal {es_id} is valid from .* to .*, not at "
    source = tmp_path / "doc.ofd"
    source.write_bytes(build_ofd([Page([Text(20, 20, "合同", size=6)])]))
    out = tmp_path / "out.ofd"
    before = _refusals(home)

    run = _eseal("sign", "--home", home.path, "--seal", es_id, "--in", source, "--out", out, *extra, env=env)

    assert run.exit_code != 0, run.output
    assert re.search(message, run.output), run.output
    assert not out.exists()
    assert not list(tmp_path.glob(".out.ofd.tmp-*"))
    new = _refusals(home)[len(before):]
    assert len(new) == 1, new
    [(subject, details)] = new
    assert subject == f"seal:{es_id}"
    assert details["reason"] in codes, details
    assert re.search(message, details["message"]), details


# ----------------------------------------------------------------------------- 6. batch progress


def _run_with_tty_stderr(args: list[str], env: dict[str, str]) -> tuple[int, bytes, bytes]:
    """Run a command with stderr on a pseudo-terminal (so click draws its progress bar) and
    stdout on a pipe; returns (exit status, stdout, everything written to the terminal)."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=env,
                                cwd=REPO_ROOT)
    finally:
        os.close(slave)
    terminal = bytearray()
    try:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            terminal += chunk
    finally:
        os.close(master)
    stdout = proc.stdout.read()
    proc.stdout.close()
    return proc.wait(timeout=300), stdout, bytes(terminal)


def _has_option(group: str, command: str, option: str) -> bool:
    from cli.main import load_all

    cmd = load_all().commands[group].commands[command]
    return any(option in p.opts for p in cmd.params)


@pytest.mark.parametrize("output", ["text", "json"])
def test_license_batch_shows_progress_on_a_terminal(org_seal, tmp_path, output) -> None:
    if output == "json" and not _has_option("license", "batch", "--json"):
        pytest.skip("`eseal license batch` has no --json option")
    home, _, es_id, _ = org_seal
    rows = 4
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text("external_id," + ",".join(BUSINESS) + "\n" + "".join(
        f"B{i}," + ",".join(BUSINESS.values()) + "\n" for i in range(rows)), encoding="utf-8")
    out_dir = tmp_path / "out"
    env = dict(os.environ, ESEAL_PASSPHRASE=PASSPHRASE, PYTHONPATH=str(REPO_ROOT), COLUMNS="100")
    env.pop("ESEAL_DATABASE_URL", None)  # the home's config names its database
    code, stdout, terminal = _run_with_tty_stderr(
        [ESEAL, "license", "batch", "--home", str(home.path), "--type", "YYZZ", "--csv", str(csv_path),
         "--out", str(out_dir), "--seal", es_id, *(["--json"] if output == "json" else [])], env)
    text = terminal.decode("utf-8", "replace")
    assert code == 0, (stdout, text)
    # stdout: the summary only (one line, or one JSON document), no trace of the bar
    assert b"issuing" not in stdout and b"\r" not in stdout and b"%" not in stdout
    if output == "text":
        assert stdout.decode() == f"{rows} issued, 0 already issued, 0 errors; results in {out_dir / 'results.csv'}\n"
    else:
        facts = json.loads(stdout)
        assert facts["issued"] == rows and facts["errors"] == 0 and len(facts["rows"]) == rows
        assert {r["status"] for r in facts["rows"]} == {"issued"}
    # the terminal: the bar, redrawn in place, a step per row (4 rows: 0 25 50 75 100 %), then done
    assert "issuing" in text and "\r" in text and "[" in text
    percents = [int(p) for p in re.findall(r"(\d+)%", text)]
    assert sorted(set(percents)) == [0, 25, 50, 75, 100], text
    assert percents[-1] == 100
    assert len(list(out_dir.glob("*.ofd"))) == rows


# ----------------------------------------------------------------------------- 7. no font files


def test_the_repository_ships_no_font_file() -> None:
    listed = _run(["git", "ls-files", "-z"], cwd=REPO_ROOT)
    assert listed.returncode == 0, listed.stderr
    names = [n for n in listed.stdout.decode("utf-8", "replace").split("\0") if n]
    assert len(names) > 50  # the listing is real
    assert any(n.endswith(".py") for n in names)
    fonts = [n for n in names if n.lower().endswith((".ttf", ".ttc", ".otf", ".woff", ".woff2"))]
    assert fonts == []
