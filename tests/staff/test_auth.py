"""Sign-in, CSRF, throttling, cookies, session invalidation, secret key and the create-admin command."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from console.web.settings import StaffConfigError, resolve_secret_key
from tests.conftest import REPO
from tests.staff.conftest import PASSWORD, as_user, login, post, token

MAIN_PAGES = ["/staff/", "/staff/faqs", "/staff/services", "/staff/unanswered", "/staff/audit", "/staff/dashboard",
              "/staff/review", "/staff/expiring", "/staff/bookings", "/staff/applications", "/staff/transfer",
              "/staff/users", "/staff/faqs/1", "/staff/faqs/1/history", "/staff/faqs/1/preview",
              "/staff/services/passport", "/staff/audit/export.csv", "/staff/transfer/export.csv"]


@pytest.mark.parametrize("path", MAIN_PAGES)
def test_anonymous_visitors_are_sent_to_the_login_page(client, path):
    res = client.get(path)
    assert res.status_code == 302
    assert res.headers["Location"].startswith("/staff/login")


def test_login_page_is_chinese_and_carries_a_csrf_token(client):
    page = client.get("/staff/login").get_data(as_text=True)
    assert "员工登录" in page and 'name="csrf_token"' in page


def test_successful_login_is_audited_and_lands_on_the_dashboard(client, staff):
    res = login(client, "editor")
    assert res.status_code == 302 and res.headers["Location"] == "/staff/dashboard"
    assert client.get("/staff/dashboard").status_code == 200
    entry = staff.knowledge.audit_log(entity_type="staff_user")[0]
    assert (entry.actor, entry.action) == ("editor", "login")


def test_wrong_password_is_refused_and_audited(client, staff):
    res = login(client, "editor", "wrong-password-123")
    assert res.status_code == 401 and "用户名或密码不正确" in res.get_data(as_text=True)
    assert client.get("/staff/dashboard").status_code == 302
    assert staff.knowledge.audit_log(entity_type="staff_user")[0].action == "login_failed"


def test_login_without_csrf_token_is_rejected(client):
    res = client.post("/staff/login", data={"username": "editor", "password": PASSWORD})
    assert res.status_code == 400
    assert client.get("/staff/dashboard").status_code == 302


def test_state_changing_staff_request_without_csrf_token_is_rejected(client, staff):
    as_user(client, "editor")
    res = client.post("/staff/faqs/new", data={"question": "测试问题", "answer": "测试答案", "topic": "other"})
    assert res.status_code == 400 and "表单已过期" in res.get_data(as_text=True)
    assert not [f for f in staff.knowledge.list_faqs() if f.question == "测试问题"]


def test_login_is_limited_to_five_tries_a_minute_per_account(client):
    for n in range(5):
        client.environ_base["REMOTE_ADDR"] = f"10.0.0.{n + 1}"  # a different address each time
        assert login(client, "editor", "wrong-password-123").status_code == 401
    client.environ_base["REMOTE_ADDR"] = "10.0.0.99"
    res = login(client, "editor")  # even the right password waits
    assert res.status_code == 429 and "尝试次数过多" in res.get_data(as_text=True)
    assert login(client, "reviewer").status_code == 302  # other accounts are unaffected


def test_login_is_limited_to_five_tries_a_minute_per_address(client):
    client.environ_base["REMOTE_ADDR"] = "10.1.1.1"
    for name in ["a1x", "b2x", "c3x", "d4x", "e5x"]:
        assert login(client, name, "wrong-password-123").status_code == 401
    assert login(client, "admin").status_code == 429


def test_session_cookie_is_secure_httponly_and_samesite(client):
    res = login(client, "editor")
    cookie = next(v for k, v in res.headers.items() if k == "Set-Cookie" and v.startswith("session="))
    flags = {p.strip().lower() for p in cookie.split(";")}
    assert "secure" in flags and "httponly" in flags and "samesite=lax" in flags


def test_logout_ends_the_session(client):
    as_user(client, "editor")
    assert post(client, "/staff/logout").status_code == 302
    assert client.get("/staff/dashboard").status_code == 302


def test_deactivating_an_account_ends_its_sessions(client, staff):
    as_user(client, "editor")
    user = staff.accounts.by_username("editor")
    staff.accounts.update(user.id, actor="admin", active=False)
    assert client.get("/staff/dashboard").status_code == 302
    assert login(client, "editor").status_code == 401


def test_changing_ones_password_keeps_this_session_and_needs_the_current_one(client, staff):
    as_user(client, "editor")
    bad = post(client, "/staff/account", {"current": "nope-nope-nope", "new": "another-long-pass-1",
                                          "confirm": "another-long-pass-1"})
    assert "当前密码不正确" in bad.get_data(as_text=True)
    ok = post(client, "/staff/account", {"current": PASSWORD, "new": "another-long-pass-1",
                                         "confirm": "another-long-pass-1"})
    assert ok.status_code == 302
    assert client.get("/staff/dashboard").status_code == 200
    assert staff.accounts.authenticate("editor", "another-long-pass-1") is not None


def test_next_parameter_cannot_redirect_off_site(client):
    res = client.post("/staff/login?next=https://evil.example/", data={
        "username": "editor", "password": PASSWORD, "csrf_token": token(client)})
    assert res.headers["Location"] == "/staff/dashboard"


def test_next_parameter_returns_to_the_staff_page_asked_for(client):
    res = client.post("/staff/login?next=/staff/faqs", data={
        "username": "editor", "password": PASSWORD, "csrf_token": token(client)})
    assert res.headers["Location"] == "/staff/faqs"


def test_passwords_are_stored_hashed(staff):
    user = staff.accounts.by_username("editor")
    assert PASSWORD not in user.password_hash and user.password_hash.startswith(("scrypt:", "pbkdf2:"))


# ----------------------------------------------------------------- secret key
def test_secret_key_from_env_must_be_long_enough(tmp_path):
    with pytest.raises(StaffConfigError):
        resolve_secret_key({"STAFF_SECRET_KEY": "short"}, tmp_path)
    assert resolve_secret_key({"STAFF_SECRET_KEY": "k" * 40}, tmp_path) == "k" * 40


def test_secret_key_is_required_off_loopback(tmp_path):
    with pytest.raises(StaffConfigError, match="STAFF_SECRET_KEY"):
        resolve_secret_key({"APP_HOST": "0.0.0.0"}, tmp_path)
    assert not (tmp_path / "staff_secret_key").exists()


def test_embedded_profile_generates_a_private_key_once(tmp_path):
    first = resolve_secret_key({}, tmp_path)
    path = tmp_path / "staff_secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32 and resolve_secret_key({}, tmp_path) == first
    other = tmp_path / "other"
    assert resolve_secret_key({}, other) != first  # random, not a built-in default


def test_key_file_readable_by_others_is_refused(tmp_path):
    resolve_secret_key({}, tmp_path)
    os.chmod(tmp_path / "staff_secret_key", 0o644)
    with pytest.raises(StaffConfigError, match="chmod 600"):
        resolve_secret_key({}, tmp_path)


# ------------------------------------------------------------------------ CLI
def _cli(args: list[str], db_url: str, stdin: bytes = b"", env: dict[str, str] | None = None):
    full_env = {k: v for k, v in os.environ.items() if k != "STAFF_ADMIN_PASSWORD"}
    full_env.update({"KNOWLEDGE_DB_URL": db_url, **(env or {})})
    return subprocess.run([sys.executable, "-m", "knowledge", *args], cwd=REPO, env=full_env, input=stdin,
                          capture_output=True, timeout=120, check=False)


def test_create_admin_reads_the_password_from_stdin(db_url):
    from console.accounts import AccountRepository
    from knowledge.db import make_engine, session_factory

    out = _cli(["create-admin", "--username", "root_admin"], db_url, stdin=b"a-long-admin-pass\n")
    assert out.returncode == 0, out.stderr.decode()
    accounts = AccountRepository(session_factory(make_engine(db_url)))
    user = accounts.authenticate("root_admin", "a-long-admin-pass")
    assert user is not None and user.role.value == "admin"


def test_create_admin_reads_the_password_from_env_and_refuses_weak_ones(db_url):
    ok = _cli(["create-admin", "--username", "ops"], db_url, env={"STAFF_ADMIN_PASSWORD": "env-provided-pass"})
    assert ok.returncode == 0, ok.stderr.decode()
    weak = _cli(["create-admin", "--username", "weak"], db_url, stdin=b"short\n")
    assert weak.returncode == 1 and "10" in weak.stderr.decode()
    dup = _cli(["create-admin", "--username", "ops"], db_url, stdin=b"another-long-pass\n")
    assert dup.returncode == 1 and "已存在" in dup.stderr.decode()


def test_a_fresh_database_has_no_account_to_log_in_with(db_url):
    from console.accounts import AccountRepository
    from knowledge.db import make_engine, session_factory

    assert AccountRepository(session_factory(make_engine(db_url))).count() == 0
