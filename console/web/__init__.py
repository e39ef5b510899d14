"""The staff console under ``/staff/``: one blueprint per area, Chinese UI.

:func:`init_staff` adds it to an app (the app server calls it from ``create_app``):
Flask-Login sessions, Flask-WTF CSRF on every state-changing staff request,
Flask-Limiter on the login form, secure cookie flags and the blueprints.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask, flash, redirect, render_template, request, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from markupsafe import Markup
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from common.clock import CITY_TZ
from console.web.security import PERMISSIONS, ROLE_LABELS, make_login_manager
from console.web.settings import resolve_secret_key, security_config

STAFF_PREFIX = "/staff"
PUBLIC_ENDPOINTS = frozenset({"staff_auth.login", "staff_auth.static"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
STATUS_LABELS = {"draft": "草稿", "submitted": "待审核", "published": "已发布", "archived": "已归档",
                 "rejected": "已退回", "applied": "已生效", "withdrawn": "已撤回"}


# Scripts and style sheets only from the console's own static files (no inline script, no
# inline <style>; inline style attributes of the server-drawn charts stay allowed), no framing.
STAFF_SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; "
                                "style-src-attr 'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
                                "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _blueprints() -> list[Any]:
    from console.web import (
        agents,
        audit,
        auth,
        cases,
        casework,
        dashboard,
        faqs,
        inbox,
        routing,
        services,
        transfer,
        users,
    )

    return [auth.bp, faqs.bp, services.bp, inbox.bp, transfer.bp, audit.bp, users.bp, dashboard.bp, casework.bp,
            routing.bp, agents.bp, cases.bp]


def _login_key() -> str:
    """Rate-limit key of the account being tried (case-insensitive)."""
    return "account:" + (request.form.get("username") or "").strip().lower()[:64]


def init_staff(app: Flask) -> None:
    """Add the staff console to ``app``.

    Raises:
        StaffConfigError: no usable session secret (see :mod:`console.web.settings`).
    """
    # Flask ships insecure defaults for these keys, so they are set, not defaulted.
    app.config.update(security_config())
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = resolve_secret_key()
    if app.config.get("KNOWLEDGE_DB_URL") and "knowledge_repository" not in app.extensions:
        from knowledge.db import get_engine, session_factory
        from knowledge.repository import KnowledgeRepository

        # The JSON API (and its search) must read the very database the console writes.
        app.extensions["knowledge_repository"] = KnowledgeRepository(
            session_factory(get_engine(app.config["KNOWLEDGE_DB_URL"])))

    make_login_manager().init_app(app)
    csrf = CSRFProtect(app)
    limiter = Limiter(get_remote_address, app=app, default_limits=[], storage_uri=app.config["RATELIMIT_STORAGE_URI"])
    app.extensions["staff_limiter"] = limiter
    for bp in _blueprints():
        app.register_blueprint(bp)

    # 5 tries a minute per client address and, separately, per account name.
    login_limit = app.config["STAFF_LOGIN_LIMIT"]
    view: Any = app.view_functions["staff_auth.login"]
    view = limiter.limit(login_limit, methods=["POST"], key_func=_login_key, scope="staff-login-account")(view)
    view = limiter.limit(login_limit, methods=["POST"], scope="staff-login-ip")(view)
    app.view_functions["staff_auth.login"] = view

    @app.before_request
    def guard_staff() -> Response | None:
        endpoint = request.endpoint or ""
        if not request.path.startswith(STAFF_PREFIX + "/") and request.path != STAFF_PREFIX:
            return None
        if request.method not in SAFE_METHODS:
            csrf.protect()  # every form of the console carries a token
        if endpoint in PUBLIC_ENDPOINTS or current_user.is_authenticated:
            return None
        # Defence in depth: every view also requires a permission (see security.requires).
        return redirect(url_for("staff_auth.login", next=request.full_path if request.method == "GET" else None))

    @app.after_request
    def staff_security_headers(response: Response) -> Response:
        if request.path.startswith(STAFF_PREFIX):
            response.headers.update(STAFF_SECURITY_HEADERS)
            if request.is_secure:  # behind the TLS proxy (ProxyFix reads X-Forwarded-Proto)
                response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        return response

    @app.context_processor
    def staff_context() -> dict[str, Any]:
        if not request.path.startswith(STAFF_PREFIX):
            return {}
        return {"role_labels": ROLE_LABELS, "status_labels": STATUS_LABELS, "permissions": PERMISSIONS}

    app.add_template_filter(_city_time, "citytime")
    app.add_template_filter(_nl2br, "nl2br")

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> tuple[str, int]:
        return render_template("staff/error.html", code=400, message="表单已过期或来源无效，请刷新页面后重试。"), 400

    @app.errorhandler(429)
    def too_many(exc: HTTPException) -> Any:
        if request.path.startswith(STAFF_PREFIX):
            return render_template("staff/login.html", form=None, throttled=True), 429
        return exc

    for code, message in ((403, "您的角色无权进行此操作。"), (404, "页面或记录不存在。")):
        app.register_error_handler(code, _staff_error(code, message))


def _staff_error(code: int, message: str) -> Any:
    def handler(exc: HTTPException) -> Any:
        if request.path.startswith(STAFF_PREFIX):
            return render_template("staff/error.html", code=code, message=message), code
        return exc

    return handler


def _city_time(value: dt.datetime | dt.date | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (UTC) timestamp shown in city time."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(CITY_TZ).strftime(fmt)
    return value.isoformat()


def _nl2br(value: str) -> Markup:
    """Escaped text with line breaks kept."""
    return Markup("<br>").join(Markup.escape(value or "").split("\n"))


def flash_errors(errors: list[str]) -> None:
    """Show validation messages on the next page."""
    for e in errors:
        flash(e, "error")


__all__ = ["STAFF_PREFIX", "flash_errors", "init_staff", "redirect"]
