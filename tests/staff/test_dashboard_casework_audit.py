"""Dashboard charts (tracker store + casework), bookings and applications, audit log and CSV, migration."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3

from casework.repository import BookingRequest
from common.clock import CITY_TZ, city_today
from tests.staff.conftest import as_user, post

TRACKER_DDL = ("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, "
               "type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), "
               "action_name VARCHAR(255), data TEXT)")


def write_tracker(path, rows):
    con = sqlite3.connect(path)
    con.execute(TRACKER_DDL)
    con.executemany("INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data) "
                    "VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()


def test_dashboard_without_tracker_data_says_so(client, staff):
    as_user(client, "editor")
    page = client.get("/staff/dashboard").get_data(as_text=True)
    assert "暂无会话数据" in page and 'id="chart-bookings"' in page


def test_dashboard_warns_when_bookings_rely_on_the_fallback_holiday_list(client, staff, monkeypatch):
    as_user(client, "editor")
    monkeypatch.setattr("console.web.dashboard.city_today", lambda: dt.date(2026, 12, 20))
    page = client.get("/staff/dashboard").get_data(as_text=True)
    assert 'id="calendar-notice"' in page and "2027" in page
    monkeypatch.setattr("console.web.dashboard.city_today", lambda: dt.date(2026, 6, 1))
    assert 'id="calendar-notice"' not in client.get("/staff/dashboard").get_data(as_text=True)


def test_dashboard_reads_conversations_per_channel_from_the_tracker_store(client, staff, tmp_path):
    now = dt.datetime.now(CITY_TZ).timestamp()
    user = lambda s, ch, intent="ask_service_guide": (s, "user", now, intent, None,  # noqa: E731
                                                      json.dumps({"event": "user", "input_channel": ch}))
    write_tracker(tmp_path / "tracker.db", [
        user("a", "webchat"), user("a", "webchat"), user("b", "webchat"), user("c", "twilio_voice"),
        user("d", "sms", "nlu_fallback"),
        ("a", "action", now, None, "action_answer_faq", "{}"), ("b", "action", now, None, "action_answer_faq", "{}"),
        ("a", "slot", now, None, None, json.dumps({"event": "slot", "name": "service", "value": "passport"})),
        ("old", "user", now - 40 * 86400, None, None, json.dumps({"input_channel": "telegram"})),
    ])
    staff.casework.record_unanswered(question="某问题", channel="webchat", sender_hash="h", reason="no_match")
    staff.casework.record_rating(score=5, context="booking", service_id="passport", channel="webchat",
                                 sender_hash="h")
    staff.casework.record_rating(score=3, context="status", service_id=None, channel="sms", sender_hash="h")
    staff.casework.create_case(description="路灯不亮", location="天河路", contact_phone="", channel="webchat",
                               sender_hash="h", category="市政设施")
    as_user(client, "editor")
    page = client.get("/staff/dashboard").get_data(as_text=True)
    conv = page.split('id="chart-conversations"')[1].split("</svg>")[0]
    assert "网页聊天（2）" in conv and "语音（1）" in conv and "短信（1）" in conv and "Telegram" not in conv
    assert "普通护照申领" in page.split('id="chart-asked"')[1].split("</svg>")[0]
    answers = page.split('id="chart-answers"')[1].split("</svg>")[0]
    assert "已回答（1）" in answers and "未答上（1）" in answers and "兜底回复（1）" in answers
    assert "市政设施" in page and "4.0 / 5" in page
    assert 'id="answer-rate">33%' in page


def test_unreadable_tracker_store_means_no_data_not_an_error(client, staff, tmp_path):
    (tmp_path / "tracker.db").write_bytes(b"not a database at all" * 100)
    as_user(client, "editor")
    res = client.get("/staff/dashboard")
    assert res.status_code == 200 and "暂无会话数据" in res.get_data(as_text=True)


def book(staff, day: dt.date, phone: str = "+8613912345678"):
    return staff.casework.book(BookingRequest(service_id="passport", center_id=_center(staff), date=day,
                                              slot_start="09:00", name="张三", phone=phone), capacity=4)


def _center(staff) -> str:
    return staff.knowledge.list_centers(service_id="passport")[0].id


def test_bookings_of_a_day_are_listed_and_printable_with_phones_masked(client, staff):
    day = city_today() + dt.timedelta(days=2)
    b = book(staff, day)
    as_user(client, "editor")
    page = client.get("/staff/bookings", query_string={"date": day.isoformat()}).get_data(as_text=True)
    assert b.ref in page and "张三" in page and "13912345678" not in page and "5678" in page
    printed = client.get("/staff/bookings/print", query_string={"date": day.isoformat(), "center": _center(staff)})
    text = printed.get_data(as_text=True)
    assert b.ref in text and "data-print" in text and "staff.js" in text and "13912345678" not in text
    other_day = client.get("/staff/bookings", query_string={"date": (day + dt.timedelta(days=1)).isoformat()})
    assert b.ref not in other_day.get_data(as_text=True)
    dash = client.get("/staff/dashboard").get_data(as_text=True).split('id="chart-bookings"')[1]
    assert "（1）" in dash.split("</svg>")[0]


def test_application_status_update_is_recorded_with_history_and_audit(client, staff):
    number = "202611100012"
    old = staff.casework.get_application(number).status
    assert old != "need_more"
    as_user(client, "reviewer")
    res = post(client, f"/staff/applications/{number}/status",
               {"status": "need_more", "note": "请补充户口簿复印件", "next_step": "携带户口簿到窗口"})
    assert res.status_code == 302
    app = staff.casework.get_application(number)
    assert app.status == "need_more" and app.events[-1].note == "请补充户口簿复印件"
    assert app.events[-1].actor == "reviewer"
    page = client.get(f"/staff/applications/{number}").get_data(as_text=True)
    assert "请补充户口簿复印件" in page and "需补充材料" in page
    entry = staff.knowledge.audit_log(entity_type="application")[0]
    assert entry.before["status"] == old and entry.after["status"] == "need_more"


def test_application_status_needs_a_note(client, staff):
    number = "202611100012"
    before = staff.casework.get_application(number).status
    as_user(client, "reviewer")
    post(client, f"/staff/applications/{number}/status", {"status": "done", "note": ""})
    assert staff.casework.get_application(number).status == before


def test_audit_log_shows_changes_and_exports_csv(client, staff):
    as_user(client, "editor")
    post(client, "/staff/faqs/new", {"question": "审计测试问题", "answer": "答案", "topic": "other"})
    post(client, "/staff/logout")
    as_user(client, "admin")
    page = client.get("/staff/audit", query_string={"actor": "editor"}).get_data(as_text=True)
    assert "login" in page and "create" in page and "审计测试问题" not in page.split("<tbody>")[0]
    res = client.get("/staff/audit/export.csv", query_string={"actor": "editor"})
    assert res.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(res.data.decode("utf-8-sig"))))
    assert {r["action"] for r in rows} >= {"login", "create", "logout"} and {r["actor"] for r in rows} == {"editor"}
    created = next(r for r in rows if r["action"] == "create")
    assert json.loads(created["after"])["question"] == "审计测试问题" and created["before"] == ""
    assert staff.knowledge.audit_log(entity_type="audit_log")[0].action == "export"


def test_admin_creates_an_account_and_the_change_is_audited(client, staff):
    as_user(client, "admin")
    post(client, "/staff/users", {"username": "newbie", "display_name": "新同事", "role": "editor",
                                  "password": "a-good-long-password"})
    user = staff.accounts.by_username("newbie")
    assert user is not None and user.role.value == "editor"
    entry = staff.knowledge.audit_log(entity_type="staff_user", entity_id=str(user.id))[0]
    assert entry.actor == "admin" and "password" not in json.dumps(entry.after)


def test_admin_cannot_demote_themself(client, staff):
    as_user(client, "admin")
    me = staff.accounts.by_username("admin")
    post(client, f"/staff/users/{me.id}", {"role": "editor", "active": "y", "display_name": "x"})
    assert staff.accounts.by_username("admin").role.value == "admin"


def test_migration_matches_the_staff_models(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import console.models  # noqa: F401
    from knowledge.db import make_engine
    from knowledge.models import Base

    engine = make_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []
