"""Issue 13's console items: real client addresses behind the proxy, server-side logout, rollback only
to approved content, formula-safe CSV exports and the security headers."""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from knowledge.models import FaqStatus
from knowledge.tabular import spreadsheet_safe
from tests.conftest import faq_data
from tests.staff.conftest import PASSWORD, USERS, as_user, login, post


@pytest.fixture
def proxied(seeded_url: str, tmp_path) -> Iterator[FlaskClient]:
    """The app server behind one trusted reverse proxy (``TRUSTED_PROXIES=127.0.0.1``), all requests from it."""
    from console.web.deps import accounts
    from server import create_app

    app = create_app({"TESTING": True, "KNOWLEDGE_DB_URL": seeded_url, "SECRET_KEY": secrets.token_hex(32),
                      "TRACKER_DB_URL": f"sqlite:///{tmp_path / 'tracker.db'}", "TRUSTED_PROXIES": "127.0.0.1"})
    with app.app_context():
        acc = accounts()
    for name, role in USERS.items():
        acc.create(name, PASSWORD, role, actor="test",
                   **({"department_id": "urban_construction"} if role == "handler" else {}))
    client = app.test_client()
    client.environ_base.update({"wsgi.url_scheme": "https", "REMOTE_ADDR": "127.0.0.1"})  # nginx
    yield client


def _from(client: FlaskClient, forwarded_for: str) -> None:
    client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded_for


def test_failed_logins_behind_the_proxy_lock_out_the_client_not_every_colleague(proxied: FlaskClient) -> None:
    _from(proxied, "203.0.113.5")
    for name in ["a1x", "b2x", "c3x", "d4x", "e5x"]:
        assert login(proxied, name, "wrong-password-123").status_code == 401
    assert login(proxied, "admin").status_code == 429  # this client waits
    # a forged X-Forwarded-For does not get the attacker out: the proxy appends the real address
    _from(proxied, "9.9.9.9, 203.0.113.5")
    assert login(proxied, "admin").status_code == 429
    _from(proxied, "198.51.100.7")  # a colleague behind the same proxy
    assert login(proxied, "reviewer").status_code == 302


def test_failed_logins_are_also_counted_per_account_across_addresses(proxied: FlaskClient) -> None:
    for n in range(5):
        _from(proxied, f"203.0.113.{n + 10}")
        assert login(proxied, "editor", "wrong-password-123").status_code == 401
    _from(proxied, "203.0.113.99")
    assert login(proxied, "editor").status_code == 429


def test_logout_revokes_the_session_on_the_server_so_a_copied_cookie_is_dead(client, staff) -> None:
    as_user(client, "editor")
    stolen = client.get_cookie("session")
    assert stolen is not None
    assert post(client, "/staff/logout").status_code == 302
    thief = staff.app.test_client()
    thief.environ_base["wsgi.url_scheme"] = "https"
    thief.set_cookie("session", stolen.value, domain=stolen.domain or "localhost", path="/", secure=True)
    assert thief.get("/staff/dashboard").status_code == 302  # back to the login form
    assert login(client, "editor").status_code == 302  # the owner simply signs in again


def test_a_published_faq_cannot_be_rolled_back_to_a_draft_nobody_approved(client, staff) -> None:
    wf = staff.workflow
    draft = wf.create_draft(faq_data(status="draft", question="办护照几钱呀", answer="未经审核的草稿答案。",
                                     sms_text="普通护照每本120元。", spoken_text="普通护照每本一百二十元。"),
                            actor="editor")
    draft_version = draft.version
    wf.edit(draft.id, {"answer": "审核过的正式答案：普通护照每本120元。"}, actor="editor")
    wf.submit(draft.id, actor="editor")
    published = wf.approve(draft.id, actor="reviewer")
    assert published.status == FaqStatus.published
    as_user(client, "reviewer2")
    res = post(client, f"/staff/faqs/{draft.id}/rollback/{draft_version}", follow_redirects=True)
    assert "从未审核发布" in res.get_data(as_text=True)
    live = staff.knowledge.get_faq(draft.id)
    assert live.answer == "审核过的正式答案：普通护照每本120元。" and live.version == published.version
    # going back to approved content still works
    staff.knowledge.update_faq(draft.id, {"answer": "错误内容"}, actor="editor")
    assert post(client, f"/staff/faqs/{draft.id}/rollback/{published.version}").status_code == 302
    assert staff.knowledge.get_faq(draft.id).answer == "审核过的正式答案：普通护照每本120元。"


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_every_formula_prefix_is_neutralised(text: str) -> None:
    assert spreadsheet_safe(text) == "'" + text
    assert spreadsheet_safe("普通文本") == "普通文本" and spreadsheet_safe(12) == 12


def test_the_audit_export_neutralises_a_formula_typed_as_a_user_name(client) -> None:
    client.environ_base["REMOTE_ADDR"] = "10.9.9.9"
    assert login(client, "=HYPERLINK(\"http://evil\")", "wrong-password-123").status_code == 401
    as_user(client, "admin")
    body = client.get("/staff/audit/export.csv").get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(body)))
    cells = [c for row in rows[1:] for c in row]
    assert any(c.startswith("'=HYPERLINK") for c in cells)
    assert not any(c[:1] in ("=", "+", "-", "@", "\t", "\r") for c in cells)


def test_console_pages_carry_the_security_headers(client) -> None:
    for res in (client.get("/staff/login"), as_user(client, "admin").get("/staff/dashboard")):
        csp = res.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";")[0]
        assert res.headers["X-Frame-Options"] == "DENY"
        assert res.headers["X-Content-Type-Options"] == "nosniff"
        assert res.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in client.get("/staff/login").headers  # plain http: no HSTS
    secure = client.get("/staff/login", base_url="https://localhost")
    assert "max-age=" in secure.headers["Strict-Transport-Security"]


def test_no_console_template_has_inline_script_or_handlers() -> None:
    import re
    from pathlib import Path

    templates = Path(__file__).resolve().parents[2] / "console" / "templates"
    offenders = [str(p) for p in templates.rglob("*.html")
                 if re.search(r"<script(?![^>]*\bsrc=)|\son[a-z]+=|<style", p.read_text(encoding="utf-8"))]
    assert offenders == []
