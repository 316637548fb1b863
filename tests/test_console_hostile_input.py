"""Hostile input to the web console (Flask test client, SQLite and PostgreSQL): each case here
was a 500 or a wrong answer before its fix; now the console answers as it does for other bad input.

* A page number that ``str.isdigit()`` takes but ``int()`` refuses -- a superscript "²", or
  more digits than int() reads (4300) -- was a ValueError 500 on /console/certificates,
  /console/audit and /console/licenses. Now it is treated like any other page number that is
  not one ("abc", "-1"): the first page.
* A sign-in with ``?next=`` holding a CR or LF ("/console/%0D%0ASet-Cookie:...") signed in
  and then failed to write the Location header (werkzeug refuses newlines in headers): a 500.
  Now such a target is ignored like one outside the console: the role's home page.
* The language switch and a refused form (CSRF) redirected to the raw Referer: "//evil.example/x"
  went to another site, and a Referer with a line break was a 500. Now the Referer, like the
  sign-in's ?next=, is followed only to a page of this console on this host (as a path), else
  to the console's home page.
* A license revocation reason holding a control character ("\x01", "\x7f", a line break) was
  stored and shown; now the service refuses it, and the form and the API say so alike.
* A NUL in the query, an unknown path, a wrong method or a body over the limit on a console
  page or a public page was answered with problem+json, which a browser shows as raw JSON. Now
  those pages answer an HTML page (the console's layout and language; both languages on the
  public pages) with the status and the message; /api/... and the machine endpoints keep
  problem+json.

Found by a throwaway probe that sent the same hostile input (long, empty, NUL, control and
non-UTF-8 text, unknown ids of many shapes, wrong methods, CSRF tokens, content types and
uploads) to every console page, the public pages and the PKI endpoints, with every role."""
from __future__ import annotations

import html
import re

import pytest

from seal.license.service import license_status
from store.testing import *  # noqa: F401,F403
from tests.test_console_licenses import _csrf, _signed_in
from tests.test_console_seals_audit import console  # noqa: F401 - the fixture: a region with seals and a license

NOT_A_PAGE = ["²", "1" * 5000]  # isdigit() is True for both; int() refuses both


@pytest.mark.parametrize("page", NOT_A_PAGE, ids=["superscript", "5000-digits"])
@pytest.mark.parametrize(("path", "role", "first_page_shows"), [
    ("/console/certificates", "admin", "某某市人民政府"),  # the organization certificate's subject
    ("/console/audit", "auditor", "cert.issue"),
    ("/console/licenses", "agency", "深圳某某科技有限公司"),  # the license holder
], ids=["certificates", "audit", "licenses"])
def test_a_page_number_int_cannot_read_is_the_first_page(console, path, role, first_page_shows,  # noqa: F811
                                                           page) -> None:
    app, tokens, *_ = console
    client = _signed_in(app, tokens[role])
    resp = client.get(path, query_string={"page": page})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    assert first_page_shows in html
    assert "上一页" not in html  # no "previous page" link: this is page 1


@pytest.mark.parametrize("target", ["/console/%0D%0ASet-Cookie:%20x=1", "/console/seals%0A", "/console/%0Dx"],
                         ids=["crlf", "lf", "cr"])
def test_a_sign_in_target_with_a_line_break_is_ignored(console, target) -> None:  # noqa: F811
    app, tokens, *_ = console
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    resp = client.post(f"/console/login?next={target}", data={"token": tokens["admin"], "csrf": _csrf(page)})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    assert resp.headers["Location"] == "/console/certificates"  # the admin's home page, as for a target elsewhere
    assert "Set-Cookie: x" not in str(resp.headers)
    assert client.get("/console/certificates").status_code == 200  # signed in


def test_a_sign_in_target_in_the_console_is_still_followed(console) -> None:  # noqa: F811
    app, tokens, *_ = console
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    resp = client.post("/console/login?next=/console/seals", data={"token": tokens["admin"], "csrf": _csrf(page)})
    assert resp.status_code == 302 and resp.headers["Location"] == "/console/seals"


# A Referer or a sign-in's ?next= naming another site, or a URL a browser reads as another site:
# each was followed (an open redirect) or, holding a line break, a 500.
ELSEWHERE = ["//evil.example/x", "https://evil.example/", "https://evil.example/console/seals", "/\\evil.example",
             "/%5Cevil", "\\\\evil", "/console/\\evil.example", "http://localhost.evil.example/console/seals",
             "http://localhost@evil.example/console/", "http://localhost//evil.example/",
             "https://localhost/console/seals",  # another scheme: not this request's origin
             "javascript:alert(1)", "/console/seals\r\nSet-Cookie: x=1", "/console/\n", "/console/\x7f"]


def _locations(send, fallback: str) -> dict[str, str]:
    """Each hostile target -> where the redirect went, for those that did not go to ``fallback``."""
    wrong = {}
    for target in ELSEWHERE:
        resp = send(target)
        where = resp.headers.get("Location") if resp.status_code == 302 else resp.status_code
        if where != fallback:
            wrong[target] = where
    return wrong


def test_the_language_switch_never_redirects_elsewhere(console) -> None:  # noqa: F811
    app, *_ = console
    client = app.test_client()
    assert _locations(lambda referer: client.get("/console/lang/en", environ_base={"HTTP_REFERER": referer}),
                      "/console/") == {}


def test_the_language_switchs_next_never_redirects_elsewhere(console) -> None:  # noqa: F811
    app, *_ = console
    client = app.test_client()
    assert _locations(lambda target: client.get("/console/lang/en", query_string={"next": target}),
                      "/console/") == {}


def test_the_language_links_return_to_the_page_they_are_on(console) -> None:  # noqa: F811
    """Browsers send the console no Referer (Referrer-Policy: no-referrer): the links carry the
    page in ?next=, and switching the language on a filtered list stays on it."""
    import re

    app, tokens, *_ = console
    client = _signed_in(app, tokens["admin"])
    page = client.get("/console/licenses", query_string={"status": "valid"}).get_data(as_text=True)
    (link,) = re.findall(r'href="(/console/lang/en[^"]*)"', page)
    resp = client.get(link.replace("&amp;", "&"))
    assert resp.status_code == 302 and resp.headers["Location"] == "/console/licenses?status=valid"


def test_a_refused_form_never_redirects_elsewhere(console) -> None:  # noqa: F811
    app, *_ = console
    client = app.test_client()  # no CSRF token: the form is refused and the browser sent back
    assert _locations(lambda referer: client.post("/console/logout", environ_base={"HTTP_REFERER": referer}),
                      "/console/") == {}


def test_a_sign_in_never_redirects_elsewhere(console) -> None:  # noqa: F811
    app, tokens, *_ = console

    def sign_in(target: str):
        client = app.test_client()
        page = client.get("/console/login").get_data(as_text=True)
        return client.post("/console/login", query_string={"next": target},
                           data={"token": tokens["admin"], "csrf": _csrf(page)})

    assert _locations(sign_in, "/console/certificates") == {}  # the admin's home page


@pytest.mark.parametrize(("referer", "back_to"), [
    ("http://localhost/console/licenses?status=valid", "/console/licenses?status=valid"),
    ("/console/seals", "/console/seals"),
], ids=["same-host-url", "console-path"])
def test_the_language_switch_returns_to_the_page_of_this_console(console, referer, back_to) -> None:  # noqa: F811
    app, tokens, *_ = console
    client = _signed_in(app, tokens["admin"])
    resp = client.get("/console/lang/en", headers={"Referer": referer})
    assert resp.status_code == 302 and resp.headers["Location"] == back_to
    assert "Seals" in client.get(back_to).get_data(as_text=True)  # the nav, now in English


def test_a_sign_in_target_on_this_host_is_followed_as_a_path(console) -> None:  # noqa: F811
    app, tokens, *_ = console
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    resp = client.post("/console/login", query_string={"next": "http://localhost/console/seals?x=1"},
                       data={"token": tokens["admin"], "csrf": _csrf(page)})
    assert resp.status_code == 302 and resp.headers["Location"] == "/console/seals?x=1"


@pytest.mark.parametrize("reason", ["\x01", "注销\x7f", "注销\n原因"], ids=["soh", "del", "lf"])
def test_a_revocation_reason_with_a_control_character_is_refused_by_form_and_api(console, reason) -> None:  # noqa: F811
    """Both went through seal.license.service.revoke_license, which stored the reason as sent."""
    app, tokens, _, license_id, _ = console
    home = app.extensions["eseal"].home
    agency = _signed_in(app, tokens["agency"])
    page = agency.get(f"/console/licenses/{license_id}").get_data(as_text=True)
    form = agency.post(f"/console/licenses/{license_id}/revoke", follow_redirects=True,
                       data={"csrf": _csrf(page), "reason": reason, "confirm": "yes"})
    assert form.status_code == 200 and license_status(home, license_id).status == "valid"
    assert "control characters and line breaks are not allowed in a reason" in form.get_data(as_text=True)
    answer = app.test_client().post(f"/api/v1/licenses/{license_id}/revoke", json={"reason": reason},
                                    headers={"Authorization": f"Bearer {tokens['agency']}"})
    assert answer.status_code == 400 and answer.json["type"] == "https://eseal.example/problems/license-error"
    assert "control characters and line breaks are not allowed in a reason" in answer.json["detail"]
    assert license_status(home, license_id).status == "valid"


LIMIT = 1024 * 1024  # api.config's default max_content_length
TOO_LARGE = {"data": {"x": "a" * LIMIT}}  # a form body over the limit
# (method, path under the area, request arguments, status, the title in Chinese, words of the message)
PAGE_ERRORS = {
    "nul-in-query": ("GET", "{page}?q=%00", {}, 400, "请求无效", "query parameter 'q' contains a NUL character"),
    "unknown-path": ("GET", "{prefix}/no-such-page", {}, 404, "未找到", "The requested URL was not found"),
    "wrong-method": ("DELETE", "{form}", {}, 405, "不支持此请求方法", "The method is not allowed"),
    "too-large": ("POST", "{form}", TOO_LARGE, 413, "请求内容过大", f"request body exceeds the limit of {LIMIT} bytes"),
}
AREAS = {"console": {"prefix": "/console", "page": "/console/certificates", "form": "/console/login"},
         "public": {"prefix": "/verify", "page": "/verify", "form": "/verify"}}


def _shown(resp) -> tuple[str, str]:
    """(the heading, the message) of an HTML error page."""
    page = resp.get_data(as_text=True)
    heading = re.search(r'<h1 id="error-status">(.*?)</h1>', page, flags=re.S)
    detail = re.search(r'<p [^>]*id="error-detail">(.*?)</p>', page, flags=re.S)
    assert heading and detail, page[:500]
    return html.unescape(heading.group(1)), html.unescape(detail.group(1))


@pytest.mark.parametrize("error", PAGE_ERRORS)
@pytest.mark.parametrize("area", AREAS)
def test_a_problem_on_a_page_for_people_is_an_html_page(console, area, error) -> None:  # noqa: F811
    app, *_ = console
    method, path, kwargs, status, title, words = PAGE_ERRORS[error]
    resp = app.test_client().open(path.format(**AREAS[area]), method=method, **kwargs)
    assert resp.status_code == status and resp.mimetype == "text/html", (resp.status_code, resp.mimetype)
    heading, detail = _shown(resp)
    assert heading.startswith(f"{status} {title}") and words in detail, (heading, detail)
    assert resp.headers["Content-Security-Policy"]  # the secure headers of every HTML page
    if status == 405:
        assert "GET" in resp.headers["Allow"]


def test_the_console_error_page_speaks_english_on_request(console) -> None:  # noqa: F811
    app, *_ = console
    client = app.test_client()
    client.get("/console/lang/en")
    heading, detail = _shown(client.get("/console/no-such-page"))
    assert heading == "404 Not found" and "The requested URL was not found" in detail


@pytest.mark.parametrize(("method", "path", "kwargs", "slug"), [
    ("GET", "/api/v1/certificates?q=%00", {}, "invalid-request"),
    ("GET", "/api/v1/no-such-thing", {}, "not-found"),
    ("DELETE", "/api/v1/verify", {}, "method-not-allowed"),
    ("POST", "/api/v1/verify", TOO_LARGE, "payload-too-large"),
    ("DELETE", "/ocsp", {}, "method-not-allowed"),
    ("GET", "/verifyx", {}, "not-found"),  # only /verify and below are the public pages
    ("GET", "/consoles", {}, "not-found"),
], ids=["nul-in-query", "unknown-path", "wrong-method", "too-large", "ocsp-wrong-method", "verifyx", "consoles"])
def test_the_same_problems_elsewhere_stay_problem_json(console, method, path, kwargs, slug) -> None:  # noqa: F811
    app, *_ = console
    resp = app.test_client().open(path, method=method, **kwargs)
    assert resp.mimetype == "application/problem+json", (resp.status_code, resp.get_data(as_text=True)[:200])
    assert resp.json["type"] == f"https://eseal.example/problems/{slug}"
