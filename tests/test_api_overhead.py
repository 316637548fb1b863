"""The cheaper per-request session handling (api._CookieSessions) answers as Flask's own
``SecureCookieSessionInterface``: the same headers, cookies either one reads, key rotation.

Two apps over one home share the console's secret; one keeps Flask's interface. Every
request goes to both, through the test client.
"""
from __future__ import annotations

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature

from api import create_app
from ca.testing import soft_region
from store.testing import *

PASSPHRASE = "overhead passphrase"
COOKIE = "session"


@pytest.fixture
def apps(eseal_home):
    soft_region(eseal_home, PASSPHRASE, base_url="http://pki.example")
    ours = create_app(eseal_home.path, passphrase=PASSPHRASE)
    stock = create_app(eseal_home.path, passphrase=PASSPHRASE)
    stock.session_interface = SecureCookieSessionInterface()
    assert ours.secret_key == stock.secret_key and type(ours.session_interface) is not SecureCookieSessionInterface
    yield ours, stock
    for app in (ours, stock):
        app.extensions["eseal"].home.close()


def _headers(resp) -> list[tuple[str, str]]:
    """The headers, with the cookie's value (signed with a timestamp) left out."""
    return sorted((k, v.split("=", 1)[0] + "=..." if k == "Set-Cookie" else v) for k, v in resp.headers.items())


def _cookie(client) -> str | None:
    found = client.get_cookie(COOKIE)
    return found.value if found else None


def test_the_same_headers_and_cookies_as_flask(apps) -> None:
    ours, stock = apps
    a, b = ours.test_client(), stock.test_client()
    for method, path in (("GET", "/health"), ("GET", "/api/v1/no-such-thing"), ("GET", "/console/"),
                         ("GET", "/console/certificates"), ("GET", "/console/lang/en"), ("GET", "/console/"),
                         ("GET", "/console/login"), ("GET", "/health"), ("GET", "/console/lang/xx"),
                         ("GET", "/console/login")):
        ra, rb = a.open(path, method=method), b.open(path, method=method)
        assert (ra.status_code, _headers(ra)) == (rb.status_code, _headers(rb)), path
        assert ra.get_data() == rb.get_data() or path == "/console/login"  # the page holds a random CSRF token
    assert "Set-Cookie" not in a.get("/health", headers={"Cookie": ""}).headers
    # each reads the other's cookie
    for writer, reader in ((ours, stock), (stock, ours)):
        made = writer.test_client()
        made.get("/console/lang/en")
        value = _cookie(made)
        assert reader.session_interface.get_signing_serializer(reader).loads(value) == {"lang": "en"}
        other = reader.test_client()
        other.set_cookie(COOKIE, value)
        assert "Sign in" in other.get("/console/login").get_data(as_text=True)  # English, from the cookie


def test_a_rotated_secret_is_used_at_once_and_the_old_one_still_reads(apps) -> None:
    ours, _ = apps
    client = ours.test_client()
    client.get("/console/lang/en")
    old_cookie, old_key = _cookie(client), ours.secret_key
    serializer = ours.session_interface.get_signing_serializer(ours)
    assert serializer is ours.session_interface.get_signing_serializer(ours)  # made once per key

    ours.secret_key, ours.config["SECRET_KEY_FALLBACKS"] = b"n" * 32, [old_key]
    assert ours.session_interface.get_signing_serializer(ours) is not serializer
    again = ours.test_client()
    again.set_cookie(COOKIE, old_cookie)
    assert "Sign in" in again.get("/console/login").get_data(as_text=True)  # the fallback key reads it
    client.get("/console/lang/zh")
    new_cookie = _cookie(client)

    def reads(secret: bytes, fallbacks: list[bytes], value: str):
        stock = Flask("reader")
        stock.secret_key, stock.config["SECRET_KEY_FALLBACKS"] = secret, fallbacks
        return SecureCookieSessionInterface().get_signing_serializer(stock).loads(value)

    assert reads(b"n" * 32, [], new_cookie)["lang"] == "zh"
    with pytest.raises(BadSignature):
        reads(old_key, [], new_cookie)
    ours.config["SECRET_KEY_FALLBACKS"] = []
    late = ours.test_client()
    late.set_cookie(COOKIE, old_cookie)
    page = late.get("/console/login").get_data(as_text=True)
    assert "Sign in" not in page and "登录" in page  # the old cookie is no longer read: Chinese, the default
