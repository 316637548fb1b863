"""No private key, passphrase, PIN or token in the logs of a full run.

One region is taken through a day's work with every log turned up: `eseal init` with a known
passphrase, a personal seal with a known PIN, `eseal token create`, `eseal cert issue
--generate-key` with a known PKCS#8 password, the service under gunicorn at DEBUG (access and
error log files, Python's root logger and SQLAlchemy's SQL echo at DEBUG: tests/faults/
debug_serve.py), then over HTTP: sealing with an organization seal and with the personal seal
and its PIN (and a wrong PIN), a request with a made-up token, a console sign-in with a wrong
token, verification, OCSP and a revocation; and on the command line `eseal sign` (PIN in
ESEAL_PIN), `eseal verify` and `eseal cert revoke`. All stdout, stderr and log files are then
searched for each secret as text, hex (both cases) and base64, for the private keys' scalars
and for PEM "PRIVATE KEY" headers. The only place a secret may appear is where it is the
answer: the token `eseal token create` prints.

The scanner is shown to work first: secrets planted in a copy of the logs, in each form, are
all found. SQLite only: what is logged does not depend on the database.
"""
from __future__ import annotations

import base64
import http.client
import io
import json
import logging
import os
import re
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from api.testing import free_port, wait_ready


PASSPHRASE = "log-scan passphrase Qx7vT2"
PIN = "730519"
WRONG_PIN = "918273"
PKCS8_PASSWORD = "pkcs8 password Zr4kLm9"
MADE_UP_TOKEN = "esk_0123456789abcdef_" + "N" * 43
CITIZEN_ID = "11010519491231002X"
ROOT = Path(__file__).resolve().parents[1]
ESEAL = str(Path(sys.executable).with_name("eseal"))


# ---------------------------------------------------------------- the scanner

def _forms(secret: bytes) -> set[bytes]:
    """The ways a secret could be written into a log: as is, hex, base64 (both alphabets)."""
    forms = {secret, secret.hex().encode(), secret.hex().upper().encode()}
    for enc in (base64.b64encode, base64.urlsafe_b64encode):
        text = enc(secret)
        forms.add(text)
        forms.add(text.rstrip(b"="))
    return {f for f in forms if len(f) >= 6}


def token_forms(token: str) -> set[bytes]:
    """A token as text, and its random part decoded (hex, standard base64)."""
    forms = _forms(token.encode())
    secret = token.rsplit("_", 1)[-1]
    forms.add(secret.encode())
    try:
        forms |= _forms(base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4)))
    except ValueError:
        pass
    return forms


def scalar_forms(d: bytes) -> set[bytes]:
    """A private key's scalar: 32 bytes raw, hex, base64, and the decimal integer."""
    return _forms(d) | {str(int.from_bytes(d, "big")).encode()}


@dataclass
class Leak:
    source: str
    secret: str
    context: str


def scan(sources: dict[str, bytes], secrets: dict[str, set[bytes]],
         allowed: dict[str, set[str]] | None = None) -> list[Leak]:
    """Every occurrence of any form of any secret, and of a PEM private key header."""
    allowed = allowed or {}
    leaks = []
    for source, data in sources.items():
        for name, forms in secrets.items():
            if name in allowed.get(source, set()):
                continue
            for form in forms:
                at = data.find(form)
                if at >= 0:
                    leaks.append(Leak(source, name, data[max(0, at - 80):at + len(form) + 40].decode("utf-8", "replace")))
                    break
        for header in (b"PRIVATE KEY-----", b"PRIVATE KEY----- "):
            at = data.find(header)
            if at >= 0:
                leaks.append(Leak(source, "PEM private key", data[max(0, at - 40):at + 60].decode("utf-8", "replace")))
                break
    return leaks


def test_the_scanner_finds_planted_secrets() -> None:
    """Positive control: a secret in any of the forms above, or a PEM key, is reported."""
    d = bytes(range(1, 33))
    token = "esk_00112233aabbccdd_" + base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")
    secrets = {"passphrase": _forms(PASSPHRASE.encode()), "pin": _forms(PIN.encode()),
               "token": token_forms(token), "key": scalar_forms(d)}
    clean = b"2026-11-23 INFO eseal.api POST /api/v1/seals/x/sign 200\n" * 50
    assert scan({"log": clean}, secrets) == []
    planted = {
        "passphrase as text": clean + f"unlock with {PASSPHRASE}\n".encode(),
        "pin in base64": clean + b"pin=" + base64.b64encode(PIN.encode()) + b"\n",
        "token whole": clean + f"Authorization: Bearer {token}\n".encode(),
        "token secret as hex": clean + base64.urlsafe_b64decode(token.rsplit("_", 1)[1] + "=").hex().encode(),
        "key scalar hex": clean + b"d=" + d.hex().encode(),
        "key scalar base64": clean + base64.b64encode(d),
        "key scalar decimal": clean + str(int.from_bytes(d, "big")).encode(),
        "pem key": clean + b"-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n",
        "encrypted pem key": clean + b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n",
    }
    for label, data in planted.items():
        assert scan({label: data}, secrets), f"the scanner missed: {label}"
    # an allowed place (the token create answer) is not a leak, anywhere else it is
    assert scan({"token create": planted["token whole"]}, secrets, {"token create": {"token"}}) == []


# ---------------------------------------------------------------- the full run

class Run:
    """Runs commands and keeps every byte they print."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.outputs: dict[str, bytes] = {}
        self.env = dict(os.environ, ESEAL_PASSPHRASE=PASSPHRASE, PYTHONPATH=str(ROOT))
        self.env.pop("ESEAL_DATABASE_URL", None)

    def cli(self, name: str, *args: str, env: dict[str, str] | None = None, ok: bool | None = True) -> str:
        """Run `eseal ARGS`; ok: must succeed (True), must fail (False), either (None)."""
        proc = subprocess.run([ESEAL, *args], env={**self.env, **(env or {})}, capture_output=True, timeout=300)
        self.outputs[f"{name} (stdout)"] = proc.stdout
        self.outputs[f"{name} (stderr)"] = proc.stderr
        if ok is True:
            assert proc.returncode == 0, (args, proc.stdout.decode()[-2000:], proc.stderr.decode()[-2000:])
        elif ok is False:
            assert proc.returncode != 0, args
        return proc.stdout.decode()


def _http(port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None):  # noqa: ANN202
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response, data


def _in_process_setup(home_path: Path, log: io.StringIO) -> tuple[str, str, list[bytes], bytes]:
    """The personal seal (its key has a PIN; no command makes one) and a peek at key material.

    Returns (personal seal id, personal signer serial, scalars of keys in the key store,
    the key store's key-encryption key) so the scan can look for them."""
    from ca import service as ca_service
    from keystore.soft import SoftKeyStore
    from seal import service as seal_service
    from store.home import Home

    handler = logging.StreamHandler(log)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with Home.open(home_path) as home:
            ks = SoftKeyStore.from_home(home)
            ks.unlock_with_passphrase(PASSPHRASE, actor="admin")
            key_ref = ks.generate("zhangsan", "personal-seal", actor="admin", pin=PIN)
            serial, cert = ca_service.issue_for_key(home, ks, profile="personal", key_ref=key_ref,
                                                    subject="C=CN,CN=张三", id_number=CITIZEN_ID)
            es_id = seal_service.make_seal(home, ks, seal_type="personal", name="张三", agency="DEMO-AMR",
                                           holder_certs=[cert.dump()], actor="admin")
            scalars, kek = _key_material(ks)
            ks.lock()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    return es_id, serial, scalars, kek


def _key_material(ks) -> tuple[list[bytes], bytes]:  # noqa: ANN001
    """Every private scalar in the key store and its key-encryption key, read through the soft
    key store's internals (the test must know the secrets it looks for)."""
    kek = ks._require_unlocked()
    scalars = []
    for info in ks.list():
        with ks._read() as s:
            key = ks._unwrap_now(ks._row(s, info.key_ref), kek)
        scalars.append(key.to_bytes())
    return scalars, kek


def test_no_secret_in_the_logs_of_a_full_run(tmp_path) -> None:
    from gm.keyformat import decode_private_key

    run = Run(tmp_path)
    home = tmp_path / "home"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    run.cli("init", "init", "--home", str(home), "--region-code", "440000", "--region-name", "广东省",
            "--base-url", base, "--demo", "--actor", "admin")
    admin_token = (home / "admin.token").read_text().strip()
    demo_seal = next(line.split("with seal ")[1].split(";")[0].strip()
                     for line in run.outputs["init (stdout)"].decode().splitlines() if "with seal " in line)

    in_process_log = io.StringIO()
    personal_seal, personal_serial, scalars, kek = _in_process_setup(home, in_process_log)

    created = run.cli("token create", "token", "create", "--home", str(home), "--role", "agency",
                      "--agency", "DEMO-AMR", "--label", "agency clerk")
    agency_token = next(w for w in created.split() if w.startswith("esk_"))
    created = run.cli("token create (for a URL)", "token", "create", "--home", str(home), "--role", "admin")
    url_token = next(w for w in created.split() if w.startswith("esk_"))

    (tmp_path / "pkcs8.pass").write_text(PKCS8_PASSWORD + "\n")
    issued = run.cli("cert issue", "cert", "issue", "--home", str(home), "--profile", "personal",
                     "--generate-key", "--key-out", str(tmp_path / "subscriber.key.pem"),
                     "--key-passphrase-file", str(tmp_path / "pkcs8.pass"), "--subject", "C=CN,CN=李四",
                     "--id-number", CITIZEN_ID, "--out", str(tmp_path / "subscriber.pem"), "--actor", "admin")
    subscriber_serial = issued.split()[0]
    subscriber_d, _ = decode_private_key((tmp_path / "subscriber.key.pem").read_bytes(), PKCS8_PASSWORD.encode())

    logs = tmp_path / "logs"
    logs.mkdir()
    server_out, server_err = (logs / "serve.stdout").open("wb"), (logs / "serve.stderr").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "tests.faults.debug_serve", str(home), str(port), str(logs)],
                              cwd=ROOT, env=run.env, stdout=server_out, stderr=server_err)
    try:
        wait_ready(port, server)
        _drive_api(port, admin_token, agency_token, url_token, demo_seal, personal_seal, subscriber_serial)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        server_out.close()
        server_err.close()

    (tmp_path / "doc.bin").write_bytes("一份需要盖章的数据".encode())
    run.cli("sign personal", "sign", "--home", str(home), "--seal", personal_seal, "--in", str(tmp_path / "doc.bin"),
            "--out", str(tmp_path / "doc.p7s"), "--no-timestamp", "--actor", "zhangsan", env={"ESEAL_PIN": PIN})
    run.cli("sign wrong pin", "sign", "--home", str(home), "--seal", personal_seal, "--in",
            str(tmp_path / "doc.bin"), "--out", str(tmp_path / "bad.p7s"), "--no-timestamp", "--actor", "zhangsan",
            env={"ESEAL_PIN": WRONG_PIN}, ok=False)
    run.cli("verify", "verify", str(tmp_path / "doc.p7s"), "--data", str(tmp_path / "doc.bin"), "--home", str(home),
            "--offline", ok=None)  # the verdict depends on what revocation data the home holds; only the output matters
    run.cli("cert revoke", "cert", "revoke", "--home", str(home), "--serial", personal_serial, "--actor", "admin",
            "--reason", "keyCompromise")
    run.cli("audit verify", "audit", "verify", "--home", str(home))

    sources = dict(run.outputs)
    sources["in-process setup (logging at DEBUG)"] = in_process_log.getvalue().encode()
    for path in sorted(logs.iterdir()):
        sources[f"logs/{path.name}"] = path.read_bytes()
    for path in home.rglob("*.log"):
        sources[f"home/{path.relative_to(home)}"] = path.read_bytes()
    assert len(sources["logs/serve.stderr"]) > 10_000, "the server logged little: DEBUG logging is not on"
    assert b"sqlalchemy.engine" in sources["logs/serve.stderr"], "SQLAlchemy's SQL echo is not on"
    assert b"POST /api/v1/seals/" in sources["logs/access.log"]

    secrets = {
        "key-store passphrase": _forms(PASSPHRASE.encode()),
        "personal seal PIN": _forms(PIN.encode()),
        "wrong PIN": _forms(WRONG_PIN.encode()),
        "PKCS#8 password": _forms(PKCS8_PASSWORD.encode()),
        "admin token": token_forms(admin_token),
        "agency token": token_forms(agency_token),
        "made-up token": token_forms(MADE_UP_TOKEN),
        "generated subscriber key": scalar_forms(subscriber_d),
        "key-store key-encryption key": _forms(kek),
    }
    for i, d in enumerate(scalars):
        secrets[f"key-store private key #{i}"] = scalar_forms(d)
    assert len(scalars) >= 5, "the key store's keys were not all read"
    leaks = scan(sources, secrets, allowed={"token create (stdout)": {"agency token"}})
    print(f"\nscanned {len(sources)} outputs, {sum(map(len, sources.values())):,} bytes, for {len(secrets)} secrets "
          f"in {sum(map(len, secrets.values()))} forms: {len(leaks)} found")
    assert leaks == [], "\n".join(f"{leak.secret} in {leak.source}: ...{leak.context}..." for leak in leaks)


def _drive_api(port: int, admin: str, agency: str, url_token: str, demo_seal: str, personal_seal: str,
               subscriber_serial: str) -> None:
    from seal.ofd.document import Page, Text, build_ofd

    ofd = base64.b64encode(build_ofd([Page([Text(20, 20, "营业执照 正本", size=6)])])).decode()
    as_admin = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
    as_agency = {"Authorization": f"Bearer {agency}", "Content-Type": "application/json"}

    response, data = _http(port, "POST", f"/api/v1/seals/{demo_seal}/sign", json.dumps({"document": ofd}).encode(),
                           as_agency)
    assert response.status == 200, data[:500]
    sealed = base64.b64decode(json.loads(data)["document"])
    response, data = _http(port, "POST", f"/api/v1/seals/{personal_seal}/sign",
                           json.dumps({"document": ofd, "pin": PIN}).encode(), as_admin)
    assert response.status == 200, data[:500]
    response, data = _http(port, "POST", f"/api/v1/seals/{personal_seal}/sign",
                           json.dumps({"document": ofd, "pin": WRONG_PIN}).encode(), as_admin)
    assert response.status in (400, 403, 409, 422), (response.status, data[:500])
    response, _ = _http(port, "GET", "/api/v1/certificates",
                        headers={"Authorization": f"Bearer {MADE_UP_TOKEN}"})
    assert response.status == 401
    # a token in the URL is refused (a URL lands in every access log and proxy log on the way, so
    # the service never reads one there); that token is not scanned for: the client wrote it down
    response, _ = _http(port, "GET", f"/api/v1/certificates?token={url_token}&access_token={url_token}")
    assert response.status == 401
    for token, expected in ((MADE_UP_TOKEN, 401), (admin, 302)):  # the console's sign-in form, wrong then right
        response, page = _http(port, "GET", "/console/login")
        cookie = response.getheader("Set-Cookie", "").split(";")[0]
        csrf = re.search(rb'name="csrf" value="([^"]+)"', page).group(1).decode()
        form = urllib.parse.urlencode({"csrf": csrf, "token": token}).encode()
        response, _ = _http(port, "POST", "/console/login", form,
                            {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
        assert response.status == expected
    response, data = _http(port, "POST", "/api/v1/verify", sealed, {"Content-Type": "application/ofd"})
    assert response.status == 200, data[:500]
    response, data = _http(port, "GET", f"/api/v1/certificates/{subscriber_serial}", headers=as_admin)
    assert response.status == 200, data[:500]
    response, data = _http(port, "POST", f"/api/v1/certificates/{subscriber_serial}/revoke",
                           json.dumps({"reason": "keyCompromise"}).encode(), as_admin)
    assert response.status == 200, data[:500]
    response, _ = _http(port, "GET", "/ca/chain.pem")
    assert response.status == 200
