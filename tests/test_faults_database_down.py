"""The database goes away under a running API and comes back: requests in between get 503
problem+json with Retry-After (never a 500), and the same app serves again once the
database returns — no restart. PostgreSQL, reached through a TCP proxy the test cuts."""
from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from api import create_app
from ca import service
from keystore.soft import SoftKeyStore
from store.db import make_sessionmaker
from store.home import Home
from store.testing import pg_schema_url
from store.tokens import create_token
from tests.faults.tcp_proxy import TcpProxy

PASSPHRASE = "outage passphrase"


@pytest.mark.postgres
def test_database_outage_gives_503_and_recovers_without_restart(pg_url, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("ESEAL_DATABASE_URL", raising=False)
    with pg_schema_url(pg_url) as url:
        parsed = make_url(url)
        proxy = TcpProxy((parsed.host or "127.0.0.1", parsed.port or 5432)).start()
        try:
            via_proxy = parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
            home = Home.create(tmp_path / "home", database_url=via_proxy)
            sessions = make_sessionmaker(home.engine)
            ks = SoftKeyStore.initialise(sessions, actor="admin", passphrase=PASSPHRASE).store
            service.init_region(home, ks, region_code="440000", region_name="广东省", base_url="http://pki.example")
            token, _ = create_token(sessions, role="admin")
            home.close()
            app = create_app(tmp_path / "home", passphrase=PASSPHRASE)
            assert str(app.extensions["eseal"].home.engine.url.port) == str(proxy.port), app.extensions["eseal"].home.engine.url
            client = app.test_client()
            auth = {"Authorization": f"Bearer {token}"}
            assert client.get("/api/v1/certificates", headers=auth).status_code == 200

            proxy.stop()
            for path in ("/api/v1/certificates", "/ready"):
                down = client.get(path, headers=auth)
                assert down.status_code == 503, down.get_data(as_text=True)
                assert down.mimetype == "application/problem+json"
                assert down.headers["Retry-After"].isdigit()
                assert "127.0.0.1" not in down.get_data(as_text=True)  # no connection details leak

            proxy = TcpProxy(proxy.target, port=proxy.port).start()  # the database is back
            back = client.get("/api/v1/certificates", headers=auth)
            assert back.status_code == 200, back.get_data(as_text=True)
            assert client.get("/ready").status_code == 200
            app.extensions["eseal"].home.close()
        finally:
            proxy.stop()
