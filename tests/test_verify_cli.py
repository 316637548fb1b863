"""`eseal verify` and `eseal tl`: exit codes 0 / 1 / 2 (3 for no verdict), JSON and
HTML output, real-world OFD and CMS vectors, tampering, and the trust-list commands run
end to end on SQLite and PostgreSQL."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from click.testing import CliRunner

from ca import service as ca_service
from ca.certificate import to_pem
from cli.main import main
from keystore.soft import SoftKeyStore
from store.db import make_sessionmaker
from store.testing import *  # noqa: F401,F403
from verify.testing import PKIServer

PASS = "correct horse battery staple"


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_certificate_exit_codes(pki, tmp_path) -> None:
    leaf, _ = pki.issue()
    leaf_pem = write(tmp_path, "leaf.pem", to_pem(leaf))
    root = write(tmp_path, "root.pem", to_pem(pki.root))
    sub = write(tmp_path, "sub.pem", to_pem(pki.issuing))
    ok = run("verify", leaf_pem, "--anchor", root, "--anchor", sub, "--json", "--html", tmp_path / "r.html")
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.output)
    assert data["indication"] == "PASSED" and data["input"]["kind"] == "certificate"
    assert 'id="indication">PASSED<' in (tmp_path / "r.html").read_text(encoding="utf-8")
    unknown = run("verify", leaf_pem)
    assert unknown.exit_code == 2 and "NO_CERTIFICATE_CHAIN_FOUND" in unknown.output
    pki.revoke(leaf)
    revoked = run("verify", leaf_pem, "--anchor", root, "--anchor", sub)
    assert revoked.exit_code == 1 and "REVOKED" in revoked.output


def test_offline_with_crl_files(pki, tmp_path) -> None:
    leaf, _ = pki.issue()
    pki.revoke(leaf)
    leaf_pem = write(tmp_path, "leaf.pem", to_pem(leaf))
    args = ["verify", leaf_pem, "--anchor", write(tmp_path, "root.pem", to_pem(pki.root)),
            "--anchor", write(tmp_path, "sub.pem", to_pem(pki.issuing)), "--offline"]
    pki.server.routes.clear()          # nothing online: only the files count
    assert run(*args).exit_code == 2
    with_crl = run(*args, "--crl", write(tmp_path, "sub.crl", pki.crl()), "--json")
    assert with_crl.exit_code == 1
    sig = json.loads(with_crl.output)["signatures"][0]
    assert sig["sub_indication"] == "REVOKED" and sig["revocation"][0]["source"] == "offline-crl"


def test_unusable_input_exits_3(tmp_path) -> None:
    out = run("verify", write(tmp_path, "x.bin", b"hello, not a signature"))
    assert out.exit_code == 3 and "not a certificate, OFD, PDF, CMS" in out.output


def test_no_verdict_is_never_a_verdicts_exit_status(pki, tmp_path) -> None:
    """0-2 are verdicts; a usage error (click's 2 is INDETERMINATE's), a home that cannot be
    opened or a trust list that cannot be used (a ClickException's 1 is FAILED's) exit 3."""
    leaf = write(tmp_path, "leaf.pem", to_pem(pki.issue()[0]))
    cases = {
        "--no-such-option": ([leaf, "--no-such-option"], "No such option"),
        "a time that is not ISO 8601": ([leaf, "--at", "yesterday"], "is not an ISO 8601 time"),
        "a home that is not one": ([leaf, "--home", tmp_path / "no-home"], "is not an eseal home"),
        "a trust list that is not one": ([leaf, "--trust-list", write(tmp_path, "tl.json", b'{"x": 1}')],
                                         "not an eseal-trust-list/1 document"),
    }
    for case, (args, message) in cases.items():
        out = CliRunner().invoke(main, ["verify", *map(str, args), "--offline"])
        assert (out.exit_code, message in out.output) == (3, True), (case, out.exit_code, out.output)


def test_real_cms_vector(shared_vectors, tmp_path) -> None:
    p7 = shared_vectors / "cms" / "cfca_sadk_signedData_detached_HelloSecretWorld.p7.der"
    good = run("verify", p7, "--data", write(tmp_path, "d.txt", b"Hello Secret World!"), "--json", "--offline")
    data = json.loads(good.output)["signatures"][0]
    assert good.exit_code == 2 and data["sub_indication"] == "NO_CERTIFICATE_CHAIN_FOUND"   # CFCA's test root is not ours
    assert {c["code"]: c["result"] for c in data["checks"]}["SIGNATURE_VALUE"] == "PASSED"
    bad = run("verify", p7, "--data", write(tmp_path, "e.txt", b"Hello Secret World?"), "--json", "--offline")
    # SADK signs the content itself (no signed attributes): other data breaks the signature
    assert bad.exit_code == 1 and json.loads(bad.output)["sub_indication"] == "SIG_CRYPTO_FAILURE"


def _rewrite(ofd: bytes, name: str, change) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(ofd))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            dst.writestr(info.filename, change(data) if info.filename == name else data)
    return out.getvalue()


def test_real_ofd_vector_and_tampering(shared_vectors, tmp_path) -> None:
    ofd = (shared_vectors / "ofd" / "v4signed.ofd").read_bytes()
    out = run("verify", write(tmp_path, "v4.ofd", ofd), "--json", "--offline")
    sig = json.loads(out.output)["signatures"][0]
    results = {c["code"]: c["result"] for c in sig["checks"]}
    # intact and correctly signed, by a test CA that is not ours
    assert results["DOCUMENT_REFERENCES"] == "PASSED" and results["SIGNATURE_VALUE"] == "PASSED"
    assert results["SEAL_SIGNATURE"] == "PASSED" and results["SEAL_BINDING"] == "PASSED"
    assert out.exit_code == 2 and "NO_CERTIFICATE_CHAIN_FOUND" in {c.get("sub_indication") for c in sig["checks"]}
    page = "Doc_0/Pages/Page_0/Content.xml"
    edited = _rewrite(ofd, page, lambda d: d.replace(b"</ofd:Page>", b"<!-- edited --></ofd:Page>", 1))
    bad = run("verify", write(tmp_path, "edited.ofd", edited), "--json", "--offline")
    report = json.loads(bad.output)
    assert bad.exit_code == 1 and report["sub_indication"] == "HASH_FAILURE"
    refs = next(c for c in report["signatures"][0]["checks"] if c["code"] == "DOCUMENT_REFERENCES")
    assert refs["result"] == "FAILED" and "mismatch" in refs["message"]
    value = "Doc_0/Signs/Sign_0/SignedValue.dat"
    flipped = _rewrite(ofd, value, lambda d: d[:-5] + bytes([d[-5] ^ 1]) + d[-4:])
    broken = json.loads(run("verify", write(tmp_path, "sv.ofd", flipped), "--json", "--offline").output)
    assert broken["indication"] == "FAILED"


def test_trust_list_commands(eseal_home, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASS)
    ks = SoftKeyStore.initialise(make_sessionmaker(eseal_home.engine), actor="admin", passphrase=PASS).store
    ca_service.init_region(eseal_home, ks, region_code="440000", region_name="广东省", base_url="http://pki.gd.example")
    home = str(eseal_home.path)
    assert run("tl", "publish", "--home", home, "--out", tmp_path / "tl.json").exit_code == 0
    assert run("tl", "signer", "--home", home, "--kind", "tl", "--out", tmp_path / "tl-signer.pem").exit_code == 0
    assert run("tl", "signer", "--home", home, "--kind", "lotl", "--out", tmp_path / "national.pem").exit_code == 0
    with PKIServer() as srv:
        srv.routes["/tl.json"] = (tmp_path / "tl.json").read_bytes()
        out = run("tl", "lotl", "--home", home, "--add", f"{srv.url}/tl.json,{tmp_path / 'tl-signer.pem'}",
                  "--out", tmp_path / "lotl.json")
        assert out.exit_code == 0, out.output
        wrong = run("tl", "import", "--home", home, "--lotl", tmp_path / "lotl.json", "--pin", tmp_path / "tl-signer.pem")
        assert wrong.exit_code == 1 and "not by the expected signer" in wrong.output
        good = run("tl", "import", "--home", home, "--lotl", tmp_path / "lotl.json", "--pin", tmp_path / "national.pem")
        assert good.exit_code == 0 and "CN-440000" in good.output, good.output
    # the region's seal-maker certificate, trusted through the imported list (the issuing CA
    # is a listed anchor); its revocation status from the issuing CA's CRL, given offline
    maker = ca_service.service_certificate(eseal_home, "seal_maker").certificate
    leaf = write(tmp_path, "maker.pem", to_pem(maker))
    crl = write(tmp_path, "issuing.crl", ca_service.generate_crl(eseal_home, ks))
    out = run("verify", leaf, "--home", home, "--offline", "--crl", crl, "--json")
    assert out.exit_code == 0, out.output
    sig = json.loads(out.output)["signatures"][0]
    assert "广东省签发CA" in sig["trust_path"][-1]["subject"]
    assert sig["revocation"][0]["source"] == "offline-crl" and sig["revocation"][0]["status"] == "good"
    # the same certificate with only the TL file, no home; and with nothing to trust
    assert run("verify", leaf, "--trust-list", tmp_path / "tl.json", "--offline", "--crl", crl).exit_code == 0
    assert run("verify", leaf, "--offline", "--crl", crl).exit_code == 2
