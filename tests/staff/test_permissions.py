"""Every staff route requires sign-in and a permission; each role gets exactly what the matrix says."""

from __future__ import annotations

import pytest

from console.web.security import PERMISSIONS
from tests.staff.conftest import USERS, as_user, token

APP_NO = "202611100012"
CASE_NO = "TS2612010001"  # not stored: allowed roles get 404, the others 403
# (method, rule, concrete path, permission) for every route of the console.
ROUTES = [
    ("GET", "/staff/", "/staff/", "view"),
    ("GET", "/staff/account", "/staff/account", "view"),
    ("POST", "/staff/account", "/staff/account", "view"),
    ("POST", "/staff/logout", "/staff/logout", "view"),
    ("GET", "/staff/dashboard", "/staff/dashboard", "view"),
    ("GET", "/staff/faqs", "/staff/faqs", "view"),
    ("GET", "/staff/faqs/new", "/staff/faqs/new", "faq.edit"),
    ("POST", "/staff/faqs/new", "/staff/faqs/new", "faq.edit"),
    ("POST", "/staff/faqs/preview", "/staff/faqs/preview", "view"),
    ("GET", "/staff/faqs/<int:faq_id>", "/staff/faqs/1", "view"),
    ("GET", "/staff/faqs/<int:faq_id>/edit", "/staff/faqs/1/edit", "faq.edit"),
    ("POST", "/staff/faqs/<int:faq_id>/edit", "/staff/faqs/1/edit", "faq.edit"),
    ("POST", "/staff/faqs/<int:faq_id>/submit", "/staff/faqs/1/submit", "faq.edit"),
    ("POST", "/staff/faqs/<int:faq_id>/withdraw", "/staff/faqs/1/withdraw", "faq.edit"),
    ("POST", "/staff/faqs/<int:faq_id>/approve", "/staff/faqs/1/approve", "faq.review"),
    ("POST", "/staff/faqs/<int:faq_id>/reject", "/staff/faqs/1/reject", "faq.review"),
    ("POST", "/staff/faqs/<int:faq_id>/archive", "/staff/faqs/1/archive", "faq.manage"),
    ("POST", "/staff/faqs/<int:faq_id>/restore", "/staff/faqs/1/restore", "faq.manage"),
    ("GET", "/staff/faqs/<int:faq_id>/history", "/staff/faqs/1/history", "view"),
    ("POST", "/staff/faqs/<int:faq_id>/rollback/<int:version>", "/staff/faqs/1/rollback/1", "faq.manage"),
    ("GET", "/staff/faqs/<int:faq_id>/preview", "/staff/faqs/1/preview", "view"),
    ("GET", "/staff/review", "/staff/review", "view"),
    ("GET", "/staff/expiring", "/staff/expiring", "view"),
    ("GET", "/staff/services", "/staff/services", "view"),
    ("GET", "/staff/services/new", "/staff/services/new", "service.edit"),
    ("POST", "/staff/services/new", "/staff/services/new", "service.edit"),
    ("GET", "/staff/services/<service_id>", "/staff/services/passport", "view"),
    ("GET", "/staff/services/<service_id>/edit", "/staff/services/passport/edit", "service.edit"),
    ("POST", "/staff/services/<service_id>/edit", "/staff/services/passport/edit", "service.edit"),
    ("GET", "/staff/services/<service_id>/history", "/staff/services/passport/history", "view"),
    ("POST", "/staff/services/<service_id>/rollback/<int:version>", "/staff/services/passport/rollback/1",
     "service.edit"),
    ("GET", "/staff/unanswered", "/staff/unanswered", "view"),
    ("POST", "/staff/unanswered/attach", "/staff/unanswered/attach", "inbox.triage"),
    ("POST", "/staff/unanswered/dismiss", "/staff/unanswered/dismiss", "inbox.triage"),
    ("GET", "/staff/transfer", "/staff/transfer", "view"),
    ("POST", "/staff/transfer/import", "/staff/transfer/import", "transfer.import"),
    ("GET", "/staff/transfer/export.<fmt>", "/staff/transfer/export.csv", "transfer.export"),
    ("GET", "/staff/audit", "/staff/audit", "audit.view"),
    ("GET", "/staff/audit/export.csv", "/staff/audit/export.csv", "audit.view"),
    ("GET", "/staff/users", "/staff/users", "users.manage"),
    ("POST", "/staff/users", "/staff/users", "users.manage"),
    ("GET", "/staff/users/<int:user_id>", "/staff/users/1", "users.manage"),
    ("POST", "/staff/users/<int:user_id>", "/staff/users/1", "users.manage"),
    ("GET", "/staff/bookings", "/staff/bookings", "view"),
    ("GET", "/staff/bookings/print", "/staff/bookings/print", "view"),
    ("GET", "/staff/applications", "/staff/applications", "view"),
    ("GET", "/staff/applications/<number>", f"/staff/applications/{APP_NO}", "view"),
    ("POST", "/staff/applications/<number>/status", f"/staff/applications/{APP_NO}/status", "casework.update"),
    ("GET", "/staff/routing", "/staff/routing", "routing.manage"),
    ("POST", "/staff/routing/retrain", "/staff/routing/retrain", "routing.manage"),
    ("GET", "/staff/agents/", "/staff/agents/", "agent.desk"),
    ("GET", "/staff/agents/queue.json", "/staff/agents/queue.json", "agent.desk"),
    ("GET", "/staff/agents/<int:session_id>", "/staff/agents/1", "agent.desk"),
    ("GET", "/staff/agents/<int:session_id>/messages.json", "/staff/agents/1/messages.json", "agent.desk"),
    ("POST", "/staff/agents/<int:session_id>/take", "/staff/agents/1/take", "agent.desk"),
    ("POST", "/staff/agents/<int:session_id>/reveal", "/staff/agents/1/reveal", "agent.desk"),
    ("POST", "/staff/agents/<int:session_id>/reply", "/staff/agents/1/reply", "agent.desk"),
    ("POST", "/staff/agents/<int:session_id>/transfer", "/staff/agents/1/transfer", "agent.desk"),
    ("POST", "/staff/agents/<int:session_id>/end", "/staff/agents/1/end", "agent.desk"),
    ("GET", "/staff/cases", "/staff/cases", "cases.view"),
    ("GET", "/staff/cases/<number>", f"/staff/cases/{CASE_NO}", "cases.view"),
    ("POST", "/staff/cases/<number>/contact", f"/staff/cases/{CASE_NO}/contact", "cases.work"),
    ("POST", "/staff/cases/<number>/assign", f"/staff/cases/{CASE_NO}/assign", "cases.route"),
    ("POST", "/staff/cases/<number>/start", f"/staff/cases/{CASE_NO}/start", "cases.work"),
    ("POST", "/staff/cases/<number>/transfer", f"/staff/cases/{CASE_NO}/transfer", "cases.work"),
    ("POST", "/staff/cases/<number>/reply", f"/staff/cases/{CASE_NO}/reply", "cases.work"),
    ("POST", "/staff/cases/<number>/close", f"/staff/cases/{CASE_NO}/close", "cases.work"),
    ("POST", "/staff/cases/<number>/reopen", f"/staff/cases/{CASE_NO}/reopen", "cases.work"),
    ("GET", "/staff/cases/templates", "/staff/cases/templates", "cases.templates"),
    ("POST", "/staff/cases/templates", "/staff/cases/templates", "cases.templates"),
    ("POST", "/staff/cases/templates/<int:template_id>/retire", "/staff/cases/templates/1/retire", "cases.templates"),
]
PUBLIC = {("GET", "/staff/login"), ("POST", "/staff/login"), ("GET", "/staff/static/<path:filename>")}


def test_the_matrix_covers_every_staff_route(staff):
    served = {(m, r.rule) for r in staff.app.url_map.iter_rules() if r.rule.startswith("/staff")
              for m in r.methods - {"HEAD", "OPTIONS"}}
    assert served == {(m, rule) for m, rule, _, _ in ROUTES} | PUBLIC


def test_every_staff_view_declares_a_permission(staff):
    for rule in staff.app.url_map.iter_rules():
        if rule.rule.startswith("/staff") and rule.endpoint not in ("staff_auth.login", "staff_auth.static"):
            view = staff.app.view_functions[rule.endpoint]
            assert getattr(view, "required_permission", None) in PERMISSIONS, rule.endpoint


@pytest.mark.parametrize(("method", "rule", "path", "permission"), ROUTES, ids=[f"{m} {r}" for m, r, _, _ in ROUTES])
def test_anonymous_request_never_reaches_a_view(client, method, rule, path, permission):
    if method == "GET":
        res = client.get(path)
        assert res.status_code == 302 and res.headers["Location"].startswith("/staff/login")
    else:
        res = client.post(path, data={"csrf_token": token(client)})
        assert res.status_code == 302 and res.headers["Location"].startswith("/staff/login")


@pytest.mark.parametrize("username", ["editor", "reviewer", "admin", "dispatcher", "handler", "agent"])
def test_each_role_may_do_exactly_what_it_is_allowed(client, username):
    as_user(client, username)
    role = USERS[username]
    csrf = token(client, "/staff/dashboard")
    mismatches = []
    for method, _rule, path, permission in ROUTES:
        if path == "/staff/logout":
            continue  # would end the session under test (covered in test_auth)
        allowed = role in {r.value for r in PERMISSIONS[permission]}
        res = client.get(path) if method == "GET" else client.post(path, data={"csrf_token": csrf})
        if allowed == (res.status_code == 403):
            mismatches.append(f"{method} {path}: {res.status_code} (allowed={allowed})")
    assert mismatches == []


def test_forbidden_page_is_explained_in_chinese(client):
    as_user(client, "editor")
    res = client.get("/staff/audit")
    assert res.status_code == 403 and "无权" in res.get_data(as_text=True)
