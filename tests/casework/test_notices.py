"""What is queued for citizens: case replies, status changes to consenting applicants, appointment reminders."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.fernet import Fernet

from casework.notices import (
    case_replied,
    delivery_channel,
    enqueue_booking_reminders,
    fits_one_sms,
    reminder_day,
    render,
    set_application_contact,
)
from casework.outbox import NoticeStatus, Outbox, OutboxPolicy
from casework.repository import BookingRequest, CaseworkRepository
from common.calendar import is_working_day
from common.clock import city_today
from common.sealing import Sealer, make_sealer


@dataclass
class FakeCase:
    number: str
    channel: str


@pytest.fixture
def stores(seeded_url: str) -> Iterator[tuple[Outbox, CaseworkRepository]]:
    from knowledge.db import make_engine, session_factory

    engine = make_engine(seeded_url)
    factory = session_factory(engine)
    outbox = Outbox(factory, sealer=Sealer(make_sealer(Fernet.generate_key().decode())),
                    policy=OutboxPolicy())  # no quiet hours here: what is queued, not when
    repo = CaseworkRepository(factory)
    repo.outbox = outbox
    repo.load_sample_applications()
    yield outbox, repo
    engine.dispose()


def test_a_case_reply_is_queued_once_per_reply_with_the_rating_invitation(
        stores: tuple[Outbox, CaseworkRepository]) -> None:
    outbox, _ = stores
    case = FakeCase("TS2612030001", "sms")
    reply = "经核查，该路段路灯已于12月2日修复。"
    assert case_replied(case, reply, recipient="+8613800138000", department="市城市管理局", outbox=outbox) is True
    assert case_replied(case, reply, recipient="+8613800138000", department="市城市管理局", outbox=outbox) is False
    row = outbox.get("case_replied:TS2612030001:1")
    assert row is not None and row.channel == "sms" and row.status == NoticeStatus.pending
    assert "TS2612030001" in row.body and "满意" in row.body and "基本满意" in row.body and "不满意" in row.body
    assert fits_one_sms(row.body)  # a long reply: the short form tells how to read it, in one part
    assert case_replied(case, "已重新处理。", recipient="+8613800138000", department="市城市管理局", reply_no=2, outbox=outbox)


def test_a_short_case_reply_is_sent_whole_by_sms_and_a_mail_reply_joins_the_thread(
        stores: tuple[Outbox, CaseworkRepository]) -> None:
    outbox, _ = stores
    case_replied(FakeCase("TS1", "voice"), "已修复。", recipient="+8613800138000", department="城管", outbox=outbox)
    sms = outbox.get("case_replied:TS1:1")
    assert sms is not None and sms.channel == "sms" and "已修复" in sms.body and fits_one_sms(sms.body)
    case_replied(FakeCase("TS2", "mail"), "您反映的噪音问题已处理。", recipient="a@example.cn",
                 department="市生态环境局", thread="<letter@example.cn>", outbox=outbox)
    mail = outbox.get("case_replied:TS2:1")
    assert mail is not None and mail.thread == "<letter@example.cn>" and "TS2" in mail.subject
    assert "市生态环境局" in mail.body and "噪音问题已处理" in mail.body and "基本满意" in mail.body
    case_replied(FakeCase("TS3", "telegram"), "答复", recipient="4242", department="民政局", outbox=outbox)
    tg = outbox.get("case_replied:TS3:1")
    assert tg is not None and tg.thread == "" and "民政局" in tg.body


def test_every_kind_and_channel_has_its_wording() -> None:
    fields: dict[str, Any] = {"number": "TS2612030001", "reply": "答复", "department": "部门", "service": "普通护照申领",
                              "status": "已办好，可领取", "next_step": "", "date": "12月4日（星期五）", "time": "09:30",
                              "centre": "天河区政务服务中心", "ref": "YY123456"}
    for kind in ("case_replied", "application_status", "booking_reminder"):
        for channel in ("sms", "mail", "telegram", "webchat"):
            subject, body = render(kind, channel, **fields)
            assert body and "{" not in body and (subject if channel == "mail" else not subject)
            if channel == "sms":
                assert fits_one_sms(body), (kind, body)
    assert "取消预约" in render("booking_reminder", "sms", **fields)[1]
    with pytest.raises(ValueError):
        delivery_channel("fax")


def test_a_status_change_notifies_an_applicant_who_consented_in_the_same_transaction(
        stores: tuple[Outbox, CaseworkRepository]) -> None:
    outbox, repo = stores
    set_application_contact(outbox, "202611100012", consent=True, channel="sms", address="+8613800138000")
    app = repo.update_application_status("202611100012", "done", note="已领取", actor="staff:wang",
                                         next_step="已办结")
    rows = [r for r in _rows(outbox) if r.kind == "application_status"]
    assert len(rows) == 1
    assert rows[0].key == f"application_status:202611100012:{len(app.events)}"
    assert "已办结" in rows[0].body and outbox.sealer.unseal(rows[0].recipient_sealed) == "+8613800138000"
    repo.update_application_status("202611100012", "done", note="再次确认", actor="staff:wang")
    assert len([r for r in _rows(outbox) if r.kind == "application_status"]) == 2  # each change, once


def test_no_notice_without_consent_or_after_it_was_withdrawn(stores: tuple[Outbox, CaseworkRepository]) -> None:
    outbox, repo = stores
    repo.update_application_status("202611180037", "done", note="x", actor="staff")
    set_application_contact(outbox, "202611100012", consent=True, channel="mail", address="c@example.cn")
    set_application_contact(outbox, "202611100012", consent=False)
    repo.update_application_status("202611100012", "reviewing", note="x", actor="staff")
    assert _rows(outbox) == []
    with pytest.raises(ValueError):
        set_application_contact(outbox, "202611100012", consent=True, channel="sms", address="")


def test_a_failed_status_change_queues_nothing(stores: tuple[Outbox, CaseworkRepository]) -> None:
    outbox, repo = stores
    set_application_contact(outbox, "202611100012", consent=True, channel="sms", address="+8613800138000")
    with pytest.raises(ValueError):
        repo.update_application_status("202611100012", "no-such-status", note="x", actor="staff")
    assert _rows(outbox) == []


def _rows(outbox: Outbox) -> list[Any]:
    from sqlalchemy import select

    from casework.outbox import OutboxNotice

    with outbox.factory() as s:
        return list(s.scalars(select(OutboxNotice).order_by(OutboxNotice.id)))


@pytest.mark.parametrize(("appointment", "day"), [
    (dt.date(2026, 12, 7), dt.date(2026, 12, 4)),    # Monday → the Friday before
    (dt.date(2026, 12, 4), dt.date(2026, 12, 3)),    # Friday → Thursday
    (dt.date(2026, 10, 8), dt.date(2026, 9, 30)),    # after the National Day holiday → before it
])
def test_the_reminder_goes_out_on_the_working_day_before(appointment: dt.date, day: dt.date) -> None:
    assert reminder_day(appointment) == day


def test_reminders_are_queued_on_their_day_once(stores: tuple[Outbox, CaseworkRepository]) -> None:
    outbox, repo = stores
    monday = repo.book(BookingRequest("passport", "tianhe_center", dt.date(2026, 12, 7), "09:30", "张三",
                                      "+8613800138001"), 4)
    friday = repo.book(BookingRequest("passport", "tianhe_center", dt.date(2026, 12, 4), "10:00", "李四",
                                      "+8613800138002"), 4)
    assert enqueue_booking_reminders(outbox, dt.date(2026, 12, 2)) == 0
    assert enqueue_booking_reminders(outbox, dt.date(2026, 12, 3)) == 1  # Friday's
    assert enqueue_booking_reminders(outbox, dt.date(2026, 12, 3)) == 0
    assert enqueue_booking_reminders(outbox, dt.date(2026, 12, 4)) == 1  # Monday's, on Friday
    rows = _rows(outbox)
    assert [r.key for r in rows] == [f"booking_reminder:{friday.ref}:2026-12-04",
                                     f"booking_reminder:{monday.ref}:2026-12-07"]
    assert "12月7日（星期一）" in rows[1].body and "09:30" in rows[1].body and monday.ref in rows[1].body
    assert "取消预约" in rows[1].body and rows[1].channel == "sms"
    repo.cancel_booking(friday.ref, "+8613800138002")
    assert enqueue_booking_reminders(outbox, dt.date(2026, 12, 3)) == 0


def test_the_worker_scheduler_queues_reminders_at_start(stores: tuple[Outbox, CaseworkRepository]) -> None:
    import time

    from server.outbox_worker import start_scheduler

    outbox, repo = stores
    day = city_today() + dt.timedelta(days=1)
    while not is_working_day(day):
        day += dt.timedelta(days=1)
    booking = repo.book(BookingRequest("passport", "tianhe_center", day, "09:00", "赵六", "+8613800138009"), 4)
    scheduler = start_scheduler(outbox)
    try:
        deadline = time.time() + 10
        while time.time() < deadline and outbox.get(f"booking_reminder:{booking.ref}:{day.isoformat()}") is None:
            time.sleep(0.1)
        jobs = {j.id: j for j in scheduler.get_jobs()}
        assert "booking_reminders" in jobs
        assert jobs["booking_reminders"].next_run_time.strftime("%H:%M") == "10:00"
    finally:
        scheduler.shutdown(wait=False)
    # the first working day after today: its reminder day is today or already past → queued at start
    assert outbox.get(f"booking_reminder:{booking.ref}:{day.isoformat()}") is not None
