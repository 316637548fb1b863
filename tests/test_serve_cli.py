"""`eseal token create|list|revoke` and `eseal serve --demo` (what `make serve` runs), on
SQLite and PostgreSQL."""
from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from api.testing import free_port
from cli.main import main
from store.db import make_sessionmaker
from store.testing import *  # noqa: F401,F403
from store.tokens import authenticate

ESEAL = str(Path(sys.executable).with_name("eseal"))


def test_token_create_list_revoke(eseal_home) -> None:
    runner = CliRunner()
    home = str(eseal_home.path)
    sessions = make_sessionmaker(eseal_home.engine)
    r = runner.invoke(main, ["token", "create", "--home", home, "--role", "ra_operator", "--label", "窗口 3"])
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[0]
    info = authenticate(sessions, token)
    assert info is not None and info.role == "ra_operator" and info.label == "窗口 3"
    r = runner.invoke(main, ["token", "create", "--home", home, "--role", "agency", "--agency", "gd-amr"])
    agency = authenticate(sessions, r.stdout.strip().splitlines()[0])
    assert agency is not None and agency.agency == "gd-amr"
    r = runner.invoke(main, ["token", "create", "--home", home, "--role", "agency"])
    assert r.exit_code == 1 and "needs --agency" in r.output
    r = runner.invoke(main, ["token", "create", "--home", home, "--role", "root"])
    assert r.exit_code == 2 and "'root' is not one of" in r.output
    listing = json.loads(runner.invoke(main, ["token", "list", "--home", home, "--json"]).stdout)
    assert [(t["token_id"], t["role"], t["revoked_at"]) for t in listing] == [
        (info.token_id, "ra_operator", None), (agency.token_id, "agency", None)]
    assert token not in runner.invoke(main, ["token", "list", "--home", home]).stdout  # never the secret
    r = runner.invoke(main, ["token", "revoke", "--home", home, info.token_id])
    assert r.exit_code == 0 and f"revoked token {info.token_id}" in r.stdout
    assert authenticate(sessions, token) is None
    r = runner.invoke(main, ["token", "revoke", "--home", home, info.token_id])
    assert r.exit_code == 1 and "already revoked" in r.output
    r = runner.invoke(main, ["token", "revoke", "--home", home, "0" * 16])
    assert r.exit_code == 1 and "no token with id" in r.output


def _get(port: int, path: str, token: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
    r = conn.getresponse()
    out = r.status, r.read()
    conn.close()
    return out


def _post_json(port: int, path: str, body: dict, token: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", path, body=json.dumps(body).encode(),
                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    r = conn.getresponse()
    out = r.status, json.loads(r.read())
    conn.close()
    return out


BUSINESS = {
    "credit_code": "91350100M000100Y43", "name": "演示科技有限公司", "entity_type": "有限责任公司",
    "legal_representative": "张三", "registered_capital": "100", "establishment_date": "2020-02-03",
    "address": "演示市某某路1号", "scope": "软件开发。",
}


def _serve_demo(home: Path, port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    proc = subprocess.Popen([ESEAL, "serve", "--demo", "--home", str(home), "--port", str(port), "--workers", "1"],
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 120  # start-up wait (the first start creates the region)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"eseal serve --demo exited {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if _get(port, "/ready")[0] == 200:
                return proc
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    pytest.fail(f"eseal serve --demo never became ready:\n{log.read_text(errors='replace')}")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def test_serve_demo_first_start_and_restart(database_url, tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("ESEAL_PASSPHRASE", "ESEAL_DATABASE_URL")}
    if make_url(database_url).get_backend_name() != "sqlite":
        env["ESEAL_DATABASE_URL"] = database_url
    home = tmp_path / "demo"
    # a folder made by `eseal demo` (key store, no region) is completed, not refused
    subprocess.run([ESEAL, "demo", "--home", str(home)], env=env, check=True, capture_output=True)
    port = free_port()
    log = tmp_path / "serve.log"
    proc = _serve_demo(home, port, env, log)
    try:
        token = (home / "admin.token").read_text().strip()
        status, body = _get(port, "/api/v1/certificates?profile=ocsp", token)
        assert status == 200 and json.loads(body)["total"] == 1
        assert _get(port, "/api/v1/certificates")[0] == 401
        status, body = _get(port, "/api/v1/certificates?profile=organization", token)
        assert status == 200 and json.loads(body)["total"] == 1  # the demo agency's signer
        # the console it names answers, and the demo agency issues a business license with its seal
        status, body = _get(port, "/console/")
        assert status in (200, 302) and (status == 302 or "eseal" in body.decode())
        status, body = _get(port, "/api/v1/license-types")
        assert status == 200 and "YYZZ" in [t["code"] for t in json.loads(body)]
        status, issued = _post_json(port, "/api/v1/licenses", {"type": "YYZZ", "data": BUSINESS, "agency": "DEMO-AMR"},
                                    token)
        assert status == 201, issued
        status, body = _get(port, f"/api/v1/licenses/{issued['license_id']}")
        assert status == 200 and json.loads(body)["status"] == "valid"
    finally:
        _stop(proc)
    out = log.read_text()
    assert "demo agency 演示市市场监督管理局 (DEMO-AMR) with seal 440000" in out
    listed = subprocess.run([ESEAL, "seal", "list", "--home", str(home), "--json"], env=env,
                            capture_output=True, text=True, check=True)
    (seal,) = json.loads(listed.stdout)
    assert seal["agency"] == "DEMO-AMR" and seal["status"] == "valid"
    assert f"eseal serving http://127.0.0.1:{port}" in out and f"admin token: {home / 'admin.token'}" in out
    assert f"console: http://127.0.0.1:{port}/console/" in out
    assert "DEMO passphrase written to" in out
    note = (home / "PASSPHRASE-demo").read_text()
    assert "DEMO ONLY" in note and "NEVER" in note
    assert oct((home / "admin.token").stat().st_mode & 0o777) == "0o600"
    root = (home / "root.pem").read_bytes()
    # second start: the region is reused, nothing is generated again
    proc = _serve_demo(home, port, env, log)
    try:
        assert _get(port, "/api/v1/certificates?profile=ocsp", token)[0] == 200
    finally:
        _stop(proc)
    assert (home / "root.pem").read_bytes() == root
    assert "first start" not in log.read_text()
