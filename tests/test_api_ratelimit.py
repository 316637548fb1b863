"""Rate limits of the public endpoints (api/ratelimit.py) through the real app, on SQLite and
PostgreSQL: 429 problem+json with Retry-After past the burst (an HTML page on the console and
the public pages), per client address, refilled with time (an injected clock: no sleeping),
token holders' endpoints not limited."""
from __future__ import annotations

import pytest

from api import create_app
from api.config import ApiConfig, ApiConfigError
from api.ratelimit import TokenBuckets
from ca import service
from keystore.soft import SoftKeyStore
from store.db import make_sessionmaker
from store.testing import *  # noqa: F401,F403
from store.tokens import create_token

PASSPHRASE = "correct horse battery staple"
PROBLEM = "https://eseal.example/problems/"
A, B, C = {"REMOTE_ADDR": "198.51.100.7"}, {"REMOTE_ADDR": "203.0.113.9"}, {"REMOTE_ADDR": "192.0.2.44"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def served(eseal_home):
    sessions = make_sessionmaker(eseal_home.engine)
    ks = SoftKeyStore.initialise(sessions, actor="admin", passphrase=PASSPHRASE).store
    service.init_region(eseal_home, ks, region_code="440000", region_name="广东省",
                        base_url="http://pki.gd.example.gov.cn")
    token, _ = create_token(sessions, role="auditor")
    app = create_app(eseal_home.path, passphrase=PASSPHRASE,
                     config={"rate_limit_per_second": 0.5, "rate_limit_burst": 3})
    clock = Clock()
    app.extensions["eseal_ratelimit"].buckets.clock = clock
    yield app.test_client(), clock, token
    app.extensions["eseal"].home.close()


def test_past_the_burst_a_client_gets_429_problem_with_retry_after(served):
    client, _, _ = served
    for _ in range(3):
        assert client.get("/ca/chain.pem", environ_base=A).status_code == 200
    r = client.get("/ca/chain.pem", environ_base=A)
    assert r.status_code == 429
    assert r.mimetype == "application/problem+json"
    assert r.json["type"] == PROBLEM + "rate-limited" and r.json["status"] == 429
    assert r.headers["Retry-After"] == "2"  # one token at 0.5 per second


def test_another_client_address_is_not_affected(served):
    client, _, _ = served
    for _ in range(4):
        client.get("/health", environ_base=A)
    assert client.get("/health", environ_base=A).status_code == 429
    assert client.get("/health", environ_base=B).status_code == 200


def test_after_the_refill_the_client_passes_again(served):
    client, clock, _ = served
    for _ in range(3):
        assert client.get("/verify", environ_base=A).status_code == 200
    assert client.get("/verify", environ_base=A).status_code == 429
    clock.now += 1.9
    assert client.get("/verify", environ_base=A).status_code == 429  # 0.95 of a token: not yet
    clock.now += 0.2
    assert client.get("/verify", environ_base=A).status_code == 200
    assert client.get("/verify", environ_base=A).status_code == 429
    clock.now += 3600  # the bucket fills up to the burst, no further
    assert [client.get("/verify", environ_base=A).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_ocsp_fast_path_and_unrouted_paths_are_limited(served):
    client, _, _ = served
    statuses = [client.post("/ocsp", data=b"\x30\x00", content_type="application/ocsp-request",
                            environ_base=A).status_code for _ in range(3)]
    assert 429 not in statuses
    assert client.post("/ocsp", data=b"\x30\x00", content_type="application/ocsp-request",
                       environ_base=A).status_code == 429
    for _ in range(3):
        assert client.get("/no/such/page", environ_base=B).status_code == 404
    assert client.get("/no/such/page", environ_base=B).status_code == 429


def _exhaust(client, path: str, environ: dict[str, str]):
    """The answer to ``path`` once the address has spent its burst of 3 on it."""
    for _ in range(3):
        assert client.get(path, environ_base=environ).status_code != 429
    return client.get(path, environ_base=environ)


def _html_429(r) -> str:
    assert r.status_code == 429 and r.mimetype == "text/html", (r.status_code, r.mimetype)
    assert r.headers["Retry-After"] == "2"
    assert r.headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    page = r.get_data(as_text=True)
    assert "retry in 2 s" in page and '"type"' not in page
    return page


def test_a_page_for_people_past_the_burst_is_an_html_page_in_its_language(served):
    # a citizen refreshing the public verification page saw raw problem+json
    client, _, _ = served
    page = _html_429(_exhaust(client, "/verify", A))
    assert "429 请求过于频繁 · Too many requests" in page and "验证文件 · Verify a file" in page
    # the console in its language: Chinese by default, English once switched
    assert "429 请求过于频繁" in _html_429(_exhaust(client, "/console/login", B))
    english = client.application.test_client()  # a browser of its own: its own session cookie
    english.get("/console/lang/en", environ_base=C)
    for _ in range(2):
        english.get("/console/login", environ_base=C)
    page = _html_429(english.get("/console/login", environ_base=C))
    assert "429 Too many requests" in page and "请求过于频繁" not in page and "Back to the console" in page


def test_the_machine_endpoints_past_the_burst_stay_problem_json(served):
    client, _, _ = served
    for path, environ in (("/api/v1/verify/license/x", A), ("/crl/1.crl", B), ("/tsa", C)):
        r = _exhaust(client, path, environ)
        assert r.status_code == 429 and r.mimetype == "application/problem+json", (path, r.mimetype)
        assert r.json["type"] == PROBLEM + "rate-limited" and r.headers["Retry-After"] == "2"


def test_token_holders_endpoints_are_not_limited_by_address(served):
    client, _, token = served
    for _ in range(6):
        r = client.get("/api/v1/certificates", headers={"Authorization": f"Bearer {token}"}, environ_base=A)
        assert r.status_code == 200
    # ... and they do not use up the address's public allowance
    assert client.get("/health", environ_base=A).status_code == 200


def test_zero_switches_limits_off(eseal_home):
    sessions = make_sessionmaker(eseal_home.engine)
    ks = SoftKeyStore.initialise(sessions, actor="admin", passphrase=PASSPHRASE).store
    service.init_region(eseal_home, ks, region_code="440000", region_name="广东省",
                        base_url="http://pki.gd.example.gov.cn")
    app = create_app(eseal_home.path, passphrase=PASSPHRASE, config={"rate_limit_per_second": 0})
    try:
        client = app.test_client()
        assert app.extensions["eseal_ratelimit"].buckets is None
        assert all(client.get("/health", environ_base=A).status_code == 200 for _ in range(20))
    finally:
        app.extensions["eseal"].home.close()


def test_settings_from_the_environment():
    cfg = ApiConfig.load(environ={"ESEAL_API_RATE_LIMIT_PER_SECOND": "2.5", "ESEAL_API_RATE_LIMIT_BURST": "7"})
    assert (cfg.rate_limit_per_second, cfg.rate_limit_burst) == (2.5, 7)
    assert ApiConfig.load(environ={"ESEAL_API_RATE_LIMIT_PER_SECOND": "0"}).rate_limit_per_second == 0
    with pytest.raises(ApiConfigError):
        ApiConfig.load(environ={"ESEAL_API_RATE_LIMIT_PER_SECOND": "fast"})
    with pytest.raises(ApiConfigError):
        ApiConfig.load({"rate_limit_burst": 0})


def test_buckets_keep_at_most_max_keys():
    clock = Clock()
    buckets = TokenBuckets(1.0, 1, max_keys=2, clock=clock)
    assert buckets.take("a") == 0 and buckets.take("b") == 0
    assert buckets.take("a") == pytest.approx(1.0)   # empty: a second to the next token
    buckets.take("c")                                # "b", the least recently seen, is dropped
    assert buckets.take("b") == 0                    # back with a full bucket
    assert buckets.take("c") == pytest.approx(1.0)


# ------------------------------------------------------------------ failed authentications


def _lockout(client) -> Clock:
    clock = Clock()
    client.application.extensions["eseal"].api_lockout.clock = clock
    return clock


def test_unknown_tokens_lock_the_address_out_and_the_lock_ends(served):
    """Ten unknown tokens from one address in five minutes: 429 with Retry-After for whatever
    it sends next, the right token included; another address is not affected; the lock ends
    when the oldest failure is five minutes old."""
    client, _, token = served
    clock = _lockout(client)
    for i in range(10):
        r = client.get("/api/v1/audit", headers={"Authorization": f"Bearer guess-{i}"}, environ_base=A)
        assert r.status_code == 401 and r.json["type"] == PROBLEM + "unauthorized"
        clock.now += 1
    locked = client.get("/api/v1/audit", headers={"Authorization": f"Bearer {token}"}, environ_base=A)
    assert locked.status_code == 429 and locked.mimetype == "application/problem+json"
    assert locked.json["type"] == PROBLEM + "too-many-failed-authentications"
    assert locked.headers["Retry-After"] == "290"  # the first failure, 10 s ago, ends the lock in 290 s
    assert client.get("/api/v1/audit", headers={"Authorization": f"Bearer {token}"}, environ_base=B).status_code == 200
    clock.now += 289
    assert client.get("/api/v1/audit", headers={"Authorization": f"Bearer {token}"},
                      environ_base=A).headers["Retry-After"] == "1"
    clock.now += 1
    assert client.get("/api/v1/audit", headers={"Authorization": f"Bearer {token}"}, environ_base=A).status_code == 200


def test_a_valid_token_between_guesses_does_not_reset_the_count(served):
    client, _, token = served
    _lockout(client)
    for i in range(10):
        client.get("/api/v1/audit", headers={"Authorization": f"Bearer guess-{i}"}, environ_base=A)
        if i < 9:
            assert client.get("/api/v1/audit", headers={"Authorization": f"Bearer {token}"},
                              environ_base=A).status_code == 200
    assert client.get("/api/v1/audit", headers={"Authorization": f"Bearer {token}"},
                      environ_base=A).status_code == 429


def test_requests_without_a_token_are_not_failures(served):
    client, _, token = served
    _lockout(client)
    for _ in range(20):
        assert client.get("/api/v1/audit", environ_base=A).status_code == 401
    assert client.get("/api/v1/audit", headers={"Authorization": f"Bearer {token}"}, environ_base=A).status_code == 200


def test_the_lockout_is_in_the_openapi_document(served):
    client, _, _ = served
    doc = client.get("/api/openapi.json").json
    operation = doc["paths"]["/api/v1/audit"]["get"]
    assert "429" in operation["responses"], sorted(operation["responses"])


def test_every_public_operation_documents_the_rate_limit(served):
    # schemathesis met a 429 problem on GET /console/lang/{code}, documented as text/html only;
    # the pages for people now answer it as their HTML page, and say so
    client, _, _ = served
    doc = client.get("/api/openapi.json").json
    public = [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items()
              if "security" not in op]
    assert len(public) >= 15 and any(path == "/console/lang/{code}" for path, _, _ in public)
    pages = 0
    for path, method, op in public:
        answer = op["responses"].get("429")
        assert answer is not None, (method, path)
        assert "rate-limited" in answer["description"], (method, path)
        page = path.startswith(("/console/", "/verify"))
        pages += page
        assert set(answer["content"]) == ({"text/html"} if page else {"application/problem+json"}), (method, path)
    assert pages >= 5
    # a token holder's operation is not limited by address (its 429 is the lockout of token guessing)
    assert "rate-limited" not in doc["paths"]["/api/v1/seals/{es_id}/sign"]["post"]["responses"]["429"]["description"]


def test_a_lockout_forgets_the_least_recent_address_past_its_bound():
    from api.lockout import FailedAuthentications

    clock = Clock()
    lockout = FailedAuthentications(2, 60, max_clients=3, clock=clock)
    for address in ("a", "b", "c", "d"):
        lockout.failed(address)
        lockout.failed(address)
    assert lockout.retry_after("a") is None           # forgotten: the bound is 3 addresses
    assert lockout.retry_after("d") == 60
    lockout.succeeded("d")
    assert lockout.retry_after("d") is None
