"""The web console: server-rendered pages (Jinja2), Chinese by default, English on request.

Sign-in takes an API token (``store.tokens``); the signed session cookie holds only the
token's id, role and agency — never the secret — and the token is re-checked on every page,
so revoking it ends the session. Forms carry a CSRF token bound to the session. Failed
sign-ins are counted per client address and locked out for a while after a few (per worker).
Pages are thin over ca/, seal/ and store/ service functions, like the REST views. A problem
under /console (api.problems: a NUL in the query, no such page...) is answered as a console page.
"""
from __future__ import annotations

import datetime as _dt
import functools
import hmac
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import select

from api import openapi, problems, secure_headers
from api.context import services
from api.i18n import LANGUAGES, lang, t
from ca import service as ca_service
from ca.crl import REASON_CODES
from ca.errors import CAError
from ca.search import search_certificates
from gm.digits import ascii_whole_number
from store import audit_check, db
from store.models.audit import AuditRecord
from store.models.ca import CERT_STATUSES
from store.models.tokens import ApiToken
from store.text import control_character
from store.tokens import authenticate

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="../templates")

F = TypeVar("F", bound=Callable[..., Any])
SECRET_FILE = "console-secret.key"
REVOKE_REASONS = [r for r in REASON_CODES if r not in ("certificateHold", "removeFromCRL")]
WRITE_ROLES = ("admin", "ra_operator")
_HTML = {200: {"description": "HTML page", "content": {"text/html": {}}}}
_REDIRECT = {302: {"description": "redirect to the next page"}}


def _page(summary: str, **extra: Any) -> Callable[[F], F]:
    """Console pages are documented too; every one may redirect (to sign in, or back after a
    refusal) or answer an HTML error page (:func:`_error_page` for the problems)."""
    responses = {**extra.pop("responses", _HTML), **_REDIRECT}
    for status in (400, 401, 404, 413, 429):
        responses.setdefault(status, {"description": "HTML error page", "content": {"text/html": {}}})
    return openapi.operation(summary=summary, tags=["console"], responses=responses, **extra)


@bp.record_once
def _configure(state: Any) -> None:
    app = state.app
    app.secret_key = _secret(services_home_path(app))
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict")
    app.jinja_env.globals.update(t=t, lang=lang, csrf_token=_csrf_token)


def services_home_path(app: Any) -> Path:
    return Path(app.extensions["eseal"].home.path)


def _secret(home: Path) -> bytes:
    """One secret per home, shared by every worker: made once, atomically, mode 0600."""
    path = home / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_bytes(32))
    return path.read_bytes()


def _error_page(problem: problems.ProblemType, detail: str) -> str:
    """A problem under /console (a NUL in the query, no such page, a wrong method, a body too
    large...) as a page of the console in its language, not problem+json. Without the nav: the
    sign-in is not looked up while answering an error, which may be that the database is down."""
    return render_template("console/error.html", user=None, status=problem.status, title=t(problem.title),
                           detail=detail)


problems.register_pages(bp.url_prefix, _error_page)


@bp.after_app_request
def _secure_headers(response: Response) -> Response:
    for name, value in secure_headers.ALWAYS + (secure_headers.HTML if response.mimetype == "text/html" else ()):
        response.headers.setdefault(name, value)
    return response


def _csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def _check_csrf() -> None:
    sent = request.form.get("csrf", "")
    if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
        flash(t("The form expired; please try again"), "error")
        abort(redirect(_console_target(request.referrer, url_for("console.index"))))


def _signed_in() -> dict[str, Any] | None:
    token_id = session.get("token_id")
    if not token_id:
        return None
    with db.transaction(services().sessions, readonly=True) as s:
        row = s.scalar(select(ApiToken).where(ApiToken.token_id == token_id))
    if row is None or row.revoked_at is not None:
        session.clear()
        return None
    return {"token_id": row.token_id, "role": row.role, "agency": row.agency}


def home_page(role: str) -> str:
    """Where a role lands: agencies work with seals and licenses, the others start at certificates."""
    return url_for("console.seals") if role == "agency" else url_for("console.certificates")


def signed_in(*roles: str) -> Callable[[F], F]:
    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = _signed_in()
            if user is None:
                return redirect(url_for("console.login", next=request.path))
            if roles and user["role"] not in roles:
                flash(t("Your role may not do this"), "error")
                return redirect(home_page(user["role"]))
            return fn(user, *args, **kwargs)
        return wrapper  # type: ignore[return-value]
    return decorate


@bp.get("/style.css")
@_page("Console style sheet", responses={200: {"description": "CSS", "content": {"text/css": {}}}})
def style() -> Response:
    css = (Path(__file__).resolve().parents[1] / "templates" / "console" / "style.css").read_text(encoding="utf-8")
    return Response(css, mimetype="text/css", headers={"Cache-Control": "public, max-age=3600"})


@bp.get("/lang/<code>")
@_page("Switch the console language (zh, en)", responses=_REDIRECT)
def set_language(code: str) -> Response:
    if code in LANGUAGES:
        session["lang"] = code
    # back to the page the link was on: its ?next= (the console sends no Referer: no-referrer)
    return redirect(_console_target(request.args.get("next") or request.referrer, url_for("console.index")))


@bp.route("/login", methods=["GET", "POST"])
@_page("Sign in with an API token (form)")
def login() -> Any:
    if request.method == "POST":
        client, lockout = request.remote_addr or "?", services().console_lockout
        if lockout.retry_after(client) is not None:
            flash(t("Too many failed sign-ins; try again later"), "error")
            return render_template("console/login.html"), 429
        _check_csrf()
        info = authenticate(services().sessions, request.form.get("token", ""))
        if info is None:
            lockout.failed(client)
            flash(t("Invalid or revoked token"), "error")
            return render_template("console/login.html"), 401
        lockout.succeeded(client)
        keep_lang = session.get("lang")
        session.clear()
        session.update(token_id=info.token_id, lang=keep_lang or "zh")
        return redirect(_console_target(request.args.get("next"), home_page(info.role)))
    return render_template("console/login.html")


def _console_target(sent: str | None, fallback: str) -> str:
    """Where a redirect may send the browser when the client named the place (a Referer, a
    sign-in's ``?next=``): a page of this console on this host, as its path and query, else
    ``fallback``. Every redirect to a place the client sent goes through here.

    Accepted: a path under /console/, or an absolute URL of this very request's scheme, host
    and port. Refused: any other site ("https://evil.example/", "//evil.example/x"), a
    backslash (browsers read "/\\evil.example" as "//evil.example"), and control characters (a
    CR or LF cannot go into the Location header: that was a 500)."""
    target = sent or ""
    if target.startswith(request.host_url):
        target = target[len(request.host_url) - 1:]  # keep the path's leading "/"
    if not target.startswith("/console/") or "\\" in target or control_character(target) is not None:
        return fallback
    parts = urlsplit(target)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


@bp.post("/logout")
@_page("Sign out", responses=_REDIRECT)
def logout() -> Response:
    _check_csrf()
    keep_lang = session.get("lang")
    session.clear()
    if keep_lang:
        session["lang"] = keep_lang
    return redirect(url_for("console.login"))


@bp.get("/")
@_page("Console home", responses=_REDIRECT)
def index() -> Response:
    user = _signed_in()
    return redirect(home_page(user["role"]) if user else url_for("console.login"))


def _int(name: str, default: int) -> int:
    """A positive query parameter below 10**9; ``default`` for anything else ("abc", "-1", "²")."""
    value = ascii_whole_number(request.args.get(name, ""), 9)
    return value if value else default


@bp.get("/certificates")
@_page("Certificates with search")
@signed_in("admin", "ra_operator", "auditor")
def certificates(user: dict[str, Any]) -> str:
    status = request.args.get("status") or None
    found = search_certificates(services().home, profile=request.args.get("profile") or None,
                                status=status if status in CERT_STATUSES else None,
                                text=request.args.get("q") or None, page=_int("page", 1), per_page=25,
                                sessions=services().sessions)
    return render_template("console/certificates.html", user=user, found=found, statuses=CERT_STATUSES,
                           args=request.args)


@bp.get("/certificates/<serial>")
@_page("One certificate, with the revoke dialog")
@signed_in("admin", "ra_operator", "auditor")
def certificate(user: dict[str, Any], serial: str) -> Any:
    try:
        row = ca_service.certificate_status(services().home, serial, sessions=services().sessions)
    except CAError as exc:
        flash(str(exc), "error")
        return render_template("console/base.html", user=user), 404
    return render_template("console/certificate.html", user=user, cert=row, reasons=REVOKE_REASONS,
                           can_write=user["role"] in WRITE_ROLES)


@bp.post("/certificates/<serial>/revoke")
@_page("Revoke a certificate (form)", responses=_REDIRECT)
@signed_in(*WRITE_ROLES)
def revoke(user: dict[str, Any], serial: str) -> Response:
    _check_csrf()
    back = redirect(url_for("console.certificate", serial=serial))
    if request.form.get("confirm") != "yes":
        flash(t("I understand that revocation is final"), "error")
        return back
    reason = request.form.get("reason", "unspecified")
    invalidity = None
    if request.form.get("invalidity_date"):
        try:
            invalidity = _dt.datetime.fromisoformat(request.form["invalidity_date"]).replace(tzinfo=_dt.timezone.utc)
        except ValueError:
            flash(f"invalidity date {request.form['invalidity_date']!r} is not a date (YYYY-MM-DD)", "error")
            return back
    try:
        ca_service.revoke(services().home, serial, reason, invalidity, actor=_actor(user), sessions=services().sessions)
    except CAError as exc:
        flash(str(exc), "error")
        return back
    flash(f"{t('Certificate revoked')}: {serial} ({reason})", "ok")
    return back


@bp.get("/seals")
@_page("Seals with their pictures")
@signed_in("admin", "ra_operator", "agency", "auditor")
def seals(user: dict[str, Any]) -> str:
    from seal.service import list_seals

    agency = user["agency"] if user["role"] == "agency" else None
    return render_template("console/seals.html", user=user,
                           seals=list_seals(services().home, agency=agency, sessions=services().sessions))


@bp.get("/seals/<es_id>/picture")
@_page("A seal's picture (as stored in the seal)",
       responses={200: {"description": "image", "content": {"image/png": {}, "image/jpeg": {}, "image/svg+xml": {}}}})
@signed_in("admin", "ra_operator", "agency", "auditor")
def seal_picture(user: dict[str, Any], es_id: str) -> Response:
    from seal.errors import SealError
    from seal.service import get_seal
    from seal.structures import parse_seal

    try:
        info = get_seal(services().home, es_id, sessions=services().sessions)
    except SealError:
        abort(404)
    if user["role"] == "agency" and info.agency != user["agency"]:
        abort(404)
    picture = parse_seal(info.der).picture
    kind = picture.type.lower()
    mime = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "svg": "image/svg+xml"}.get(kind)
    if mime is None:
        abort(404)
    return Response(picture.data, mimetype=mime, headers={"Cache-Control": "private, max-age=300"})


@bp.get("/audit")
@_page("The audit log, its latest recorded verification and a check of what came after it")
@signed_in("admin", "auditor")
def audit_log(user: dict[str, Any]) -> str:
    # A full verification reads the whole history: it is an act ("Verify now"), recorded in
    # the chain. A view checks only what was appended after the latest one (O(new records)).
    status = audit_check.since_last(services().sessions)
    with db.transaction(services().sessions, readonly=True) as s:
        page = _int("page", 1)
        records = list(s.scalars(select(AuditRecord).order_by(AuditRecord.seq.desc())
                                 .offset((page - 1) * 50).limit(50)))
        s.expunge_all()
    return render_template("console/audit.html", user=user, status=status, records=records, page=page)


@bp.post("/audit/verify")
@_page("Verify the audit log in full now and record the verification (form)", responses=_REDIRECT)
@signed_in("admin", "auditor")
def audit_verify(user: dict[str, Any]) -> Response:
    from api.blueprints.audit import recorded_verification

    _check_csrf()
    check = recorded_verification(_actor(user))
    flash(t("Verification recorded: no findings") if check["ok"] else t("Verification recorded: TAMPERED"),
          "ok" if check["ok"] else "error")
    return redirect(url_for("console.audit_log"))


LICENSE_WRITE_ROLES = ("admin", "ra_operator", "agency")


def _actor(user: dict[str, Any]) -> str:
    return f"console:{user['role']}:{user['token_id']}"


def _license_for(user: dict[str, Any], license_id: str) -> Any:
    """The license, or None when it does not exist or belongs to another agency (same answer)."""
    from seal.license.errors import LicenseError
    from seal.license.service import get_license

    try:
        info = get_license(services().home, license_id, sessions=services().sessions)
    except LicenseError:
        return None
    if user["role"] == "agency" and info.agency != user["agency"]:
        return None
    return info


@bp.get("/licenses")
@_page("E-licenses with status, filtered and paginated")
@signed_in("admin", "ra_operator", "agency", "auditor")
def licenses(user: dict[str, Any]) -> str:
    from api.blueprints.licenses import LICENSE_STATUSES
    from seal.license.service import list_licenses

    status = request.args.get("status") or None
    page = _int("page", 1)
    found = list_licenses(services().home, agency=user["agency"] if user["role"] == "agency" else None,
                          type_code=(request.args.get("type") or "")[:40] or None,
                          holder_id=(request.args.get("holder") or "")[:64] or None,
                          status=status if status in LICENSE_STATUSES else None, offset=(page - 1) * 25, limit=25,
                          sessions=services().sessions)
    items = [st.to_dict() for st in found]
    type_names = {code: _field_labels(code).get("", code) for code in {item["type"] for item in items}}
    return render_template("console/licenses.html", user=user, items=items, type_names=type_names,
                           total=found.total, page=page, has_next=page * 25 < found.total, statuses=LICENSE_STATUSES,
                           args=request.args)


def _field_labels(type_code: str) -> dict[str, str]:
    """Field name -> label in the console's language ("" -> the type's name); {} for a type since removed."""
    from seal.license.errors import LicenseError
    from seal.license.types import get_type

    try:
        kind = get_type(type_code, services().home)
    except LicenseError:
        return {}
    zh = lang() == "zh"
    return {"": kind.name_zh if zh else kind.name_en,
            **{f.name: f.label_zh if zh else f.label_en for f in kind.fields}}


@bp.get("/licenses/<license_id>")
@_page("One e-license, with the revoke dialog when the role allows")
@signed_in("admin", "ra_operator", "agency", "auditor")
def license_detail(user: dict[str, Any], license_id: str) -> Any:
    info = _license_for(user, license_id)
    if info is None:
        flash(f"{t('Not found')}: {license_id}", "error")
        return render_template("console/base.html", user=user), 404
    return render_template("console/license.html", user=user, lic=info, labels=_field_labels(info.status.type_code),
                           type_name=_field_labels(info.status.type_code).get("", info.status.type_code),
                           can_revoke=user["role"] in LICENSE_WRITE_ROLES and info.status.status != "revoked")


@bp.post("/licenses/<license_id>/revoke")
@_page("Revoke an e-license (form)", responses=_REDIRECT)
@signed_in(*LICENSE_WRITE_ROLES)
def license_revoke(user: dict[str, Any], license_id: str) -> Response:
    from seal.license.errors import LicenseError
    from seal.license.service import revoke_license

    _check_csrf()
    back = redirect(url_for("console.license_detail", license_id=license_id))
    if _license_for(user, license_id) is None:
        flash(f"{t('Not found')}: {license_id}", "error")
        return redirect(url_for("console.licenses"))
    reason = request.form.get("reason", "").strip()
    if request.form.get("confirm") != "yes" or not reason:
        flash(t("Give a reason and confirm: revocation is final"), "error")
        return back
    try:
        revoke_license(services().home, license_id, reason, actor=_actor(user), sessions=services().sessions)
    except LicenseError as exc:
        flash(str(exc), "error")
        return back
    flash(f"{t('License revoked')}: {license_id} ({reason})", "ok")
    return back


@bp.get("/trust-lists")
@_page("Trust-list status: this region's TL, the imported LOTL and TLs, their services")
@signed_in("admin", "ra_operator", "agency", "auditor")
def trust_lists(user: dict[str, Any]) -> str:
    from verify.trustlist.service import trust_status

    return render_template("console/trustlists.html", user=user,
                           status=trust_status(services().home, sessions=services().sessions))
