"""What the city tells citizens after the fact, queued in the outbox (:mod:`casework.outbox`).

Three notices, worded per channel in ``casework/notices.yml`` (an SMS uses its full form when
it fits one UCS-2 part, else its short form):

* :func:`case_replied` — a department's reply to a case (工单), with how to rate it.
* :func:`application_status_changed` — an application's new status, to an applicant who
  agreed to be notified (:class:`ApplicationContact`). Called by
  ``CaseworkRepository.update_application_status`` inside its transaction, so every path that
  changes a status (the console, a CSV import, the system-of-record sync) notifies, and the
  change and its notice commit together.
* :func:`enqueue_booking_reminders` — the working day before an appointment, with how to cancel
  (run daily by the outbox worker's scheduler).

Every notice has a deterministic idempotency key, so calling twice never sends twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import yaml
from sqlalchemy import Boolean, DateTime, ForeignKey, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from casework.models import Application, Booking
from casework.outbox import Outbox
from common.calendar import is_working_day
from common.status import APPLICATION_STATUS_LABELS, BookingStatus
from knowledge.db import session_scope
from knowledge.models import Base, Service, ServiceCenter, utcnow

log = logging.getLogger(__name__)

WORDING_FILE = Path(__file__).resolve().parent / "notices.yml"
SMS_SINGLE_PART = 70  # UTF-16 code units of one UCS-2 SMS
# Channels without an outbound sender of their own reach the citizen by SMS (the phone they gave).
PHONE_CHANNELS = {"sms": "sms", "voice": "sms", "twilio_voice": "sms", "wechat": "sms"}
NOTICE_CHANNELS = frozenset({"sms", "mail", "telegram", "webchat"})
REMINDER_LOOKAHEAD_DAYS = 15  # longest run of closed days before an appointment (Spring Festival + weekend)


class ApplicationContact(Base):
    """An applicant's consent to status notices and where to send them (address sealed)."""

    __tablename__ = "application_contacts"

    application_number: Mapped[str] = mapped_column(
        ForeignKey("applications.number", ondelete="CASCADE"), primary_key=True)
    consent: Mapped[bool] = mapped_column(Boolean, default=False)
    channel: Mapped[str] = mapped_column(String(16), default="")
    address_sealed: Mapped[str] = mapped_column(Text, default="")
    thread: Mapped[str] = mapped_column(String(300), default="")
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RepliedCase(Protocol):
    """What :func:`case_replied` reads of a case (the case desk's model has these attributes)."""

    number: str
    channel: str


@cache
def wording() -> dict[str, Any]:
    """The notice wording (read once, on first use)."""
    return yaml.safe_load(WORDING_FILE.read_text(encoding="utf-8")) or {}


def delivery_channel(channel: str) -> str:
    """The outbox channel that reaches a citizen who used ``channel``.

    Raises:
        ValueError: no notice can be sent for that channel.
    """
    ch = PHONE_CHANNELS.get(channel, channel)
    if ch not in NOTICE_CHANNELS:
        raise ValueError(f"no notice sender for channel {channel!r}")
    return ch


def fits_one_sms(text: str) -> bool:
    """Whether ``text`` fits one UCS-2 SMS part (70 UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2 <= SMS_SINGLE_PART


def render(kind: str, channel: str, **fields: Any) -> tuple[str, str]:
    """``(subject, body)`` of a notice for ``channel`` (subject empty except for mail)."""
    forms = wording()[kind]
    if channel == "sms" and "sms" in forms:
        full = forms["sms"]["full"].format(**fields).strip()
        return "", full if fits_one_sms(full) else forms["sms"]["short"].format(**fields).strip()
    if channel == "mail" and "mail" in forms:
        return forms["mail"]["subject"].format(**fields), forms["mail"]["body"].format(**fields).strip()
    return "", forms["default"]["text"].format(**fields).strip()


def format_date(day: dt.date) -> str:
    """A date as notices write it (e.g. 12月4日（星期五）)."""
    w = wording()
    return str(w["date_format"].format(month=day.month, day=day.day, weekday=w["weekdays"][day.weekday()]))


# ------------------------------------------------------------------------- case replies
def case_replied(case: RepliedCase, reply_text: str, *, recipient: str, department: str, thread: str = "",
                 reply_no: int = 1, outbox: Outbox | None = None, session: Session | None = None) -> bool:
    """Queue a department's reply to the citizen who raised ``case``, on the channel they used.

    The notice carries the reply and the invitation to rate it (满意 / 基本满意 / 不满意): the
    citizen sends the case number to the bot, sees the reply and rates it there.

    Args:
        case: the case (its ``number`` and the ``channel`` it came in on; voice and WeChat
            cases are answered by SMS to the phone they gave).
        reply_text: the department's answer as staff wrote it.
        recipient: the raw reply address (phone number, mail address, Telegram chat id or web
            chat session id); the case desk unseals the case's contact for this call.
        department: the answering department's name, as the citizen reads it.
        thread: mail cases: the Message-ID of the citizen's letter (the reply joins its thread).
        reply_no: 1 for the first reply, 2 after a reopen, …: the idempotency key is
            ``case_replied:<number>:<reply_no>``, so a repeated click never sends twice.
        outbox: the outbox (default: the configured database).
        session: queue inside the caller's transaction (recommended: with the status change).

    Returns:
        True when queued now, False when this reply was queued before.

    Raises:
        ValueError: the channel has no notice sender, or the recipient is empty.
    """
    channel = delivery_channel(case.channel)
    subject, body = render("case_replied", channel, number=case.number, reply=reply_text.strip(),
                           department=department)
    return (outbox or Outbox()).enqueue(key=f"case_replied:{case.number}:{reply_no}", kind="case_replied",
                                        channel=channel, recipient=recipient, body=body, subject=subject,
                                        thread=thread if channel == "mail" else "", session=session)


# ------------------------------------------------------------------ application status
def set_application_contact(outbox: Outbox, number: str, *, consent: bool, channel: str = "", address: str = "",
                            thread: str = "") -> None:
    """Record whether (and where) the applicant of ``number`` wants status notices.

    Raises:
        ValueError: consent without a usable channel and address.
    """
    if consent:
        channel = delivery_channel(channel)
        if not address:
            raise ValueError("consent needs a reply address")
    with session_scope(outbox.factory) as s:
        row = s.get(ApplicationContact, number) or ApplicationContact(application_number=number)
        row.consent, row.channel, row.thread = consent, channel if consent else "", thread if consent else ""
        row.address_sealed = outbox.sealer.seal(address) if consent else ""
        row.changed_at = utcnow()
        s.add(row)


def application_status_changed(s: Session, app: Application, *, outbox: Outbox | None = None) -> bool:
    """Queue the status notice of ``app`` (already changed in session ``s``) when its applicant consented.

    The key is ``application_status:<number>:<history length>``: one notice per change.
    """
    contact = s.get(ApplicationContact, app.number)
    if contact is None or not contact.consent or not contact.address_sealed:
        return False
    outbox = outbox or Outbox()
    service = s.get(Service, app.service_id)
    subject, body = render("application_status", contact.channel, number=app.number,
                           service=service.name if service else "", status=APPLICATION_STATUS_LABELS[app.status],
                           next_step=app.next_step or "")
    return outbox.enqueue(key=f"application_status:{app.number}:{len(app.events)}", kind="application_status",
                          channel=contact.channel, recipient=outbox.sealer.unseal(contact.address_sealed), body=body,
                          subject=subject, thread=contact.thread, session=s)


# ------------------------------------------------------------------- booking reminders
def reminder_day(appointment: dt.date) -> dt.date:
    """The working day before ``appointment`` (the day its reminder goes out)."""
    day = appointment - dt.timedelta(days=1)
    while not is_working_day(day):
        day -= dt.timedelta(days=1)
    return day


def enqueue_booking_reminders(outbox: Outbox, today: dt.date) -> int:
    """Queue the reminders due ``today``; returns how many were queued now.

    Due: active bookings after today whose reminder day is today or has passed (a worker that
    was down catches up the same day or the next). Sent by SMS to the booking's phone; the key
    ``booking_reminder:<ref>:<date>`` makes the job safe to run any number of times.
    """
    queued = 0
    with session_scope(outbox.factory) as s:
        rows = s.execute(select(Booking, Service.name, ServiceCenter.name)
                         .join(Service, Service.id == Booking.service_id)
                         .join(ServiceCenter, ServiceCenter.id == Booking.center_id)
                         .where(Booking.status == BookingStatus.active, Booking.date > today,
                                Booking.date <= today + dt.timedelta(days=REMINDER_LOOKAHEAD_DAYS))
                         .order_by(Booking.date, Booking.slot_start)).all()
        for booking, service, centre in rows:
            if reminder_day(booking.date) > today:
                continue
            subject, body = render("booking_reminder", "sms", date=format_date(booking.date),
                                   time=booking.slot_start, centre=centre, service=service, ref=booking.ref)
            if outbox.enqueue(key=f"booking_reminder:{booking.ref}:{booking.date.isoformat()}",
                              kind="booking_reminder", channel="sms", recipient=booking.phone, body=body,
                              subject=subject, session=s):
                queued += 1
    if queued:
        log.info("notices: %d appointment reminder(s) queued for %s", queued, today.isoformat())
    return queued
