"""`eseal serve`: the HTTP API under gunicorn. Serving never creates keys.

    eseal serve --home H --port N [--host 127.0.0.1] [--workers 2] [--passphrase-file F]

The master process checks, before any worker starts, that H is a home holding an
initialised region (else: run `eseal init`) and that the passphrase (ESEAL_PASSPHRASE or
--passphrase-file) unlocks its key store; then each gunicorn worker builds its own app
(``api.create_app``) after the fork, with its own database connections. Workers are
gthread workers, so HTTP keep-alive connections are honoured, and they spread those
connections evenly among themselves (api/worker.py). Sealing and verifying are
CPU-bound under one GIL per worker, so threads add no throughput, and while one thread
holds the database's writer turn (SQLite) or the audit chain's row lock (PostgreSQL) the
others compete with it for the GIL: measured with wrk (benchmarks/bench_http_load.py,
November 2026), seals per second with 1 / 2 / 4 threads per worker were 556 / 504-560 / 510
on SQLite (289 with 1 against 199 with 4 on PostgreSQL), and the verify p99 10.7 / 12-13 /
18 ms at the same rate. Four threads stay the default because a slow upload holds a
thread while its body arrives (put a buffering proxy in front, or fewer threads). A
verifier in the region's own service no longer fetches its own OCSP answers or CRLs over
HTTP (verify/registry.py): one worker with one thread verifies the region's documents.

``--demo`` is for `make serve` on a laptop: when H holds no region yet it creates one
(home, key store with the demo passphrase written to H/PASSPHRASE-demo, region 440000, an
admin token in H/admin.token) — the same steps as `eseal init`, done by `eseal serve` only
because it was asked to with --demo.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from cli.keys import PASSPHRASE_ENV, _home_option, _passphrase_option, _read_passphrase, _read_utf8
from cli.main import main

DEMO_PASSPHRASE = "demo passphrase - change me"   # the one cli/demo.py uses too
DEMO_PASSPHRASE_FILE = "PASSPHRASE-demo"
ADMIN_TOKEN_FILE = "admin.token"


def _region_code(home: Any) -> str | None:
    from sqlalchemy import select

    from store import db
    from store.models.ca import CertificateAuthority

    with db.transaction(home.engine, readonly=True) as s:
        return s.scalar(select(CertificateAuthority.region_code).where(CertificateAuthority.kind == "root").limit(1))


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def _demo_setup(home_path: Path, base_url: str) -> str:
    """Create the demo region if it is not there; return the passphrase to unlock it."""
    from ca import service
    from keystore.errors import KeyStoreAlreadyInitialised
    from keystore.soft import SoftKeyStore
    from seal.demo import create_demo_agency
    from store.db import make_sessionmaker
    from store.errors import StoreError
    from store.home import CONFIG_FILE, Home
    from store.tokens import create_token

    passphrase_file = home_path / DEMO_PASSPHRASE_FILE
    if os.environ.get(PASSPHRASE_ENV):
        passphrase = os.environ[PASSPHRASE_ENV]
    elif passphrase_file.is_file():
        lines = [ln.strip() for ln in _read_utf8(passphrase_file).splitlines()]
        passphrase = next((ln for ln in lines if ln and not ln.startswith("#")), "")
        if not passphrase:
            raise click.ClickException(f"{passphrase_file} holds no passphrase (only comments or blank lines)")
    else:
        passphrase = DEMO_PASSPHRASE
    try:
        home = Home.open(home_path) if (home_path / CONFIG_FILE).is_file() else Home.create(home_path)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    with home:
        if _region_code(home) is not None:
            return passphrase
        click.echo(f"first start: creating a DEMO region in {home.path}")
        sessions = make_sessionmaker(home.engine)
        try:
            store = SoftKeyStore.initialise(sessions, actor="demo", passphrase=passphrase).store
        except KeyStoreAlreadyInitialised:
            store = SoftKeyStore(sessions)
            store.unlock_with_passphrase(passphrase, actor="demo")
        try:
            info = service.init_region(home, store, region_code="440000", region_name="演示省",
                                       base_url=base_url, actor="demo")
            agency = create_demo_agency(home, store)
        finally:
            store.lock()
        if not passphrase_file.exists():
            _write_private(passphrase_file,
                           "# DEMO ONLY - this passphrase protects the demo key store. NEVER use a\n"
                           "# passphrase written next to the keys for a real region.\n" + passphrase + "\n")
        token_path = home.path / ADMIN_TOKEN_FILE
        if not token_path.exists():
            token, _ = create_token(sessions, role="admin", label="demo admin", actor="demo")
            _write_private(token_path, token + "\n")
        click.echo(f"region {info.region_code} {info.region_name}; root certificate {info.root_pem_path}")
        click.echo(f"demo agency {agency.name} ({agency.agency}) with seal {agency.es_id}; "
                   "license types: eseal license types")
        click.secho(f"DEMO passphrase written to {passphrase_file} - for a laptop demo only", fg="yellow", bold=True)
    return passphrase


def _preflight(home_path: Path, passphrase: str) -> Any:
    from keystore.errors import KeyStoreError
    from keystore.soft import SoftKeyStore
    from store.errors import StoreError
    from store.home import Home

    try:
        home = Home.open(home_path)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    with home:
        if _region_code(home) is None:
            raise click.ClickException(
                f"{home.path} holds no region: create it first with `eseal init --home {home_path} "
                "--region-code ... --region-name ...` (eseal serve never generates keys)")
        store = SoftKeyStore.from_home(home)
        try:
            store.unlock_with_passphrase(passphrase, actor="eseal-serve")
        except KeyStoreError as exc:
            raise click.ClickException(f"cannot unlock the key store: {exc}") from None
        store.lock()
        return home.path


def _application(home_path: Path, passphrase: str, options: dict[str, Any]) -> Any:
    from gunicorn.app.base import BaseApplication

    class EsealApplication(BaseApplication):  # type: ignore[misc]
        """gunicorn running api.create_app, built in each worker after the fork."""

        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from api import create_app

            return create_app(home_path, passphrase=passphrase)

    return EsealApplication()


def _trim_hooks(interval: float) -> dict[str, Any]:
    """gunicorn hooks giving each worker a HeapTrimmer (api/memory.py), run after its requests,
    with the application's objects frozen once loaded so that its collections stay cheap."""
    from api.memory import HeapTrimmer, freeze_loaded_objects

    def post_fork(server: Any, worker: Any) -> None:
        worker.eseal_trimmer = HeapTrimmer(interval)

    def post_worker_init(worker: Any) -> None:
        freeze_loaded_objects()

    def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
        trimmer = getattr(worker, "eseal_trimmer", None)
        if trimmer is not None:
            trimmer.after_request()

    if interval <= 0:
        return {}
    return {"post_fork": post_fork, "post_worker_init": post_worker_init, "post_request": post_request}


@main.command("serve")
@_home_option
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--workers", type=click.IntRange(1, 256), default=2, show_default=True,
              help="gunicorn worker processes.")
@click.option("--threads", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Threads per worker (gthread).")
@click.option("--demo", is_flag=True, help="Create a demo region in --home on first start (laptop demo).")
@_passphrase_option
def serve_command(home_path: Path, port: int, host: str, workers: int, threads: int, demo: bool,
                  passphrase_file: Path | None) -> None:
    """Serve the REST API, CRLs, CA certificates and OCSP with gunicorn."""
    base = f"http://{host}:{port}"
    if demo:
        passphrase = _demo_setup(home_path, base)
    else:
        passphrase = _read_passphrase(passphrase_file)
        if passphrase is None:
            raise click.UsageError(f"the key store passphrase is needed: set {PASSPHRASE_ENV} or give "
                                   "--passphrase-file")
    from api.memory import trim_interval

    try:
        trim_seconds = trim_interval()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    path = _preflight(home_path, passphrase)
    click.echo(f"eseal serving {base} (home {path}, {workers} workers x {threads} threads)")
    token = path / ADMIN_TOKEN_FILE
    if token.exists():
        click.echo(f"admin token: {token}  (curl -H \"Authorization: Bearer $(cat {token})\" {base}/api/v1/certificates)")
    else:
        click.echo(f"make an API token with: eseal token create --home {home_path} --role admin")
    click.echo(f"console: {base}/console/ (sign in with the admin token); public verification page: {base}/verify")
    click.echo(f"OpenAPI: {base}/api/openapi.json; health: {base}/health")
    sys.stdout.flush()
    options = {
        "bind": f"{host}:{port}", "workers": workers, "worker_class": "api.worker.BalancedThreadWorker",
        "threads": threads,
        "keepalive": 30, "timeout": 60, "graceful_timeout": 10, "accesslog": None, "loglevel": "warning",
        "proc_name": "eseal", "limit_request_line": 8190, **_trim_hooks(trim_seconds),
    }
    from api.worker import prepare_board

    prepare_board(workers)
    _application(path, passphrase, options).run()
