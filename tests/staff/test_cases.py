"""The case desk in the console: who sees which cases, and each action through its form."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from casework.cases import CaseDesk
from casework.models import Case
from knowledge.db import session_scope
from knowledge.models import AuditEntry
from tests.staff.conftest import as_user, post


@pytest.fixture
def desk(staff) -> tuple[CaseDesk, list[Any], list[Any]]:
    """The app's case desk with recording hooks (as the composition root wires them)."""
    replies: list[Any] = []
    routes: list[Any] = []
    desk = CaseDesk(staff.casework.factory, notify=lambda case, text: replies.append((case.number, text)),
                    on_route=lambda *args: routes.append(args))
    staff.app.extensions["case_desk"] = desk
    return desk, replies, routes


def new_case(desk: CaseDesk, text: str = "小区门口路灯坏了一个月，晚上很黑", **kw: Any) -> Case:
    return desk.open_case(description=text, location="天河区某路", kind=kw.pop("kind", "complaint"), channel="sms",
                          sender_hash="h", contact_phone="+8613900001234", reply_to="+8613900001234", **kw)


def test_dispatcher_sees_every_case_and_routes_one(client, desk):
    cases, _, routes = desk
    a = new_case(cases, suggested_department="urban_construction", suggested_confidence=0.7)
    b = new_case(cases, "河道里有人倒垃圾，气味很大")
    cases.assign(b.number, "environment", actor="admin")
    as_user(client, "dispatcher")
    page = client.get("/staff/cases").get_data(as_text=True)
    assert a.number in page and b.number in page and "建议：城乡建设" in page
    detail = client.get(f"/staff/cases/{a.number}").get_data(as_text=True)
    assert "置信度 70%" in detail and 'id="assign-form"' in detail
    res = post(client, f"/staff/cases/{a.number}/assign", {"department": "transport", "note": "道路照明"})
    assert res.status_code == 302 and cases.get(a.number).department_id == "transport"
    assert routes[-1] == (a.description, "urban_construction", "transport", "dispatcher", a.number)
    assert cases.events(a.number)[-1].actor == "dispatcher"


def test_handler_sees_and_works_only_their_department(client, desk):
    cases, replies, _ = desk
    mine = new_case(cases)
    theirs = new_case(cases, "工厂排放黑烟")
    cases.assign(mine.number, "urban_construction", actor="dispatcher")
    cases.assign(theirs.number, "environment", actor="dispatcher")
    cases.add_template("已派人维修", "您反映的路灯问题已安排维修。", actor="admin")
    as_user(client, "handler")
    page = client.get("/staff/cases").get_data(as_text=True)
    assert mine.number in page and theirs.number not in page
    assert client.get(f"/staff/cases/{theirs.number}").status_code == 404
    assert post(client, f"/staff/cases/{theirs.number}/reply", {"text": "不是我的"}).status_code == 404
    assert post(client, f"/staff/cases/{mine.number}/assign", {"department": "health"}).status_code == 403
    template = cases.templates()[0]
    prefilled = client.get(f"/staff/cases/{mine.number}?template={template.id}").get_data(as_text=True)
    assert "您反映的路灯问题已安排维修。</textarea>" in prefilled
    assert post(client, f"/staff/cases/{mine.number}/start").status_code == 302
    res = post(client, f"/staff/cases/{mine.number}/reply", {"text": "您反映的路灯问题已安排维修，三日内修复。"})
    assert res.status_code == 302 and cases.get(mine.number).status == "replied"
    assert replies == [(mine.number, "您反映的路灯问题已安排维修，三日内修复。")]
    assert cases.replies(mine.number)[0].actor == "handler"


def test_handler_returns_a_case_with_a_reason(client, desk):
    cases, _, _ = desk
    case = new_case(cases)
    cases.assign(case.number, "urban_construction", actor="dispatcher")
    as_user(client, "handler")
    post(client, f"/staff/cases/{case.number}/transfer", {"transfer-reason": ""})
    assert cases.get(case.number).status == "assigned"  # a reason is required
    res = post(client, f"/staff/cases/{case.number}/transfer", {"transfer-reason": "属于交通部门职责"})
    assert res.status_code == 302 and res.headers["Location"].endswith("/staff/cases")
    assert cases.get(case.number).status == "transferred"
    assert client.get(f"/staff/cases/{case.number}").status_code == 404  # no longer theirs


def test_contact_is_shown_only_on_request_and_audited(client, desk, staff):
    cases, _, _ = desk
    case = new_case(cases)
    as_user(client, "dispatcher")
    page = client.get(f"/staff/cases/{case.number}").get_data(as_text=True)
    assert "+8613900001234" not in page and "尾号 1234" in page
    shown = post(client, f"/staff/cases/{case.number}/contact").get_data(as_text=True)
    assert "+8613900001234" in shown
    with staff.casework.factory() as s:
        audit = s.query(AuditEntry).filter_by(entity_type="case_contact").all()
    assert [(a.actor, a.entity_id, a.action) for a in audit] == [("dispatcher", case.number, "reveal")]


def test_overdue_cases_stand_out_and_filters_work(client, desk):
    cases, _, _ = desk
    late, fresh = new_case(cases, kind="inquiry"), new_case(cases, kind="suggestion")
    with session_scope(cases.factory) as s:
        s.get(Case, late.number).due_at = dt.datetime(2020, 1, 6, tzinfo=dt.UTC)
    as_user(client, "dispatcher")
    page = client.get("/staff/cases").get_data(as_text=True)
    row = page[page.index(late.number) - 200:page.index(late.number)]
    assert 'class="overdue"' in row and "超期" in page
    only_late = client.get("/staff/cases?overdue=1").get_data(as_text=True)
    assert late.number in only_late and fresh.number not in only_late
    by_kind = client.get("/staff/cases?kind=suggestion").get_data(as_text=True)
    assert fresh.number in by_kind and late.number not in by_kind


def test_close_reopen_and_templates(client, desk):
    cases, _, _ = desk
    case = new_case(cases)
    as_user(client, "dispatcher")
    post(client, f"/staff/cases/{case.number}/close", {"close-note": ""})
    assert cases.get(case.number).status == "received"  # unanswered: a note is required
    post(client, f"/staff/cases/{case.number}/close", {"close-note": "重复工单"})
    assert cases.get(case.number).status == "closed"
    post(client, f"/staff/cases/{case.number}/reopen", {"reopen-reason": "市民再次反映"})
    assert cases.get(case.number).status == "reopened"
    post(client, "/staff/cases/templates", {"title": "通用答复", "body": "感谢您的来信。"})
    assert [t.title for t in cases.templates()] == ["通用答复"]
    post(client, "/staff/logout")
    as_user(client, "handler")
    assert post(client, f"/staff/cases/templates/{cases.templates()[0].id}/retire").status_code == 404


def test_users_page_requires_a_department_for_handlers(client, staff):
    as_user(client, "admin")
    post(client, "/staff/users", {"username": "handler3", "role": "handler", "department": "",
                                  "password": "another-good-passw0rd"})
    assert staff.accounts.by_username("handler3") is None
    post(client, "/staff/users", {"username": "handler3", "role": "handler", "department": "health",
                                  "password": "another-good-passw0rd"})
    assert staff.accounts.by_username("handler3").department_id == "health"
    assert "卫生健康" in client.get("/staff/users").get_data(as_text=True)


def test_dashboard_shows_case_figures(client, desk):
    cases, _, _ = desk
    case = new_case(cases)
    cases.assign(case.number, "health", actor="dispatcher")
    cases.reply(case.number, "已处理", actor="handler")
    cases.rate(case.number, "mostly")
    as_user(client, "dispatcher")
    page = client.get("/staff/dashboard").get_data(as_text=True)
    assert 'id="on-time-rate">100%' in page and "卫生健康" in page and "基本满意" in page
