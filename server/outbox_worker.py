"""The outbox worker: hands each queued notice to its channel's sender (``python -m server.outbox_worker``).

Wired here, in the composition root, because it is the one place that knows both the outbox
(:mod:`casework.outbox`) and the channels' senders (:mod:`channels.outbound`). Each round it
claims due notices with a lease and, for each one:

1. when an earlier attempt may have reached the provider, asks the sender whether the notice
   already left (``find_notice``) and records it as sent if so — no second send;
2. holds it when the channel is in its quiet hours (SMS 21:00–08:00 city time);
3. sends it only with at least ``send_timeout_s`` left on its lease, then records the outcome:
   sent, refused (opt-out: never retried) or failed (retried with backoff).

A scheduler (APScheduler, city time) queues the appointment reminders every day at
``reminders.at`` (``casework/outbox.yml``) and once at start-up (the job is idempotent).

Settings: the knowledge base's ``KNOWLEDGE_DB_URL``, ``CHANNELS_DB_URL`` (opt-outs, attempt
records), ``TRACKER_PII_KEY`` (sealed recipients); per channel, the sender starts when its
settings are complete: SMS ``TWILIO_ACCOUNT_SID`` + ``TWILIO_AUTH_TOKEN`` + ``TWILIO_SMS_FROM``
(``TWILIO_API_BASE_URL`` points the client at another Messages endpoint, e.g. a local
stand-in), mail ``MAIL_*`` (+ ``MAIL_SENT_FOLDER``), Telegram ``TELEGRAM_BOT_TOKEN``; web chat
always. ``OUTBOX_POLL_S`` (default 2), ``OUTBOX_BATCH`` (10), ``OUTBOX_WORKER_ID`` (host-pid),
``OUTBOX_REMINDERS`` (``false`` turns the reminder job off), ``OUTBOX_LEASE_S``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import signal
import socket
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from casework.notices import enqueue_booking_reminders
from casework.outbox import ClaimedNotice, Outbox
from channels.outbound import Notice, NoticeRefused, NoticeSender
from channels.state import ChannelState
from common.clock import CITY_TZ, city_today
from knowledge.models import utcnow

log = logging.getLogger(__name__)

_URL_RE = re.compile(r"^https?://[^\s?#]+$")


class Outcome:
    """What happened to one claimed notice."""

    SENT = "sent"
    RECONCILED = "reconciled"  # an earlier attempt had delivered it: recorded, not sent again
    HELD = "held"
    REFUSED = "refused"
    FAILED = "failed"
    NO_SENDER = "no_sender"
    LOST_LEASE = "lost_lease"


@dataclass(frozen=True)
class WorkerSettings:
    """How the worker polls."""

    worker_id: str
    poll_s: float = 2.0
    batch: int = 10
    reminders: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerSettings:
        """Read ``OUTBOX_WORKER_ID``, ``OUTBOX_POLL_S``, ``OUTBOX_BATCH``, ``OUTBOX_REMINDERS``.

        Raises:
            ValueError: naming every unusable value.
        """
        env = os.environ if env is None else env
        problems: list[str] = []
        try:
            poll = float(env.get("OUTBOX_POLL_S") or 2.0)
            if not 0.05 <= poll <= 300:
                raise ValueError
        except ValueError:
            problems.append("OUTBOX_POLL_S must be a number of seconds in [0.05, 300]")
            poll = 2.0
        try:
            batch = int(env.get("OUTBOX_BATCH") or 10)
            if not 1 <= batch <= 500:
                raise ValueError
        except ValueError:
            problems.append("OUTBOX_BATCH must be an integer in [1, 500]")
            batch = 10
        if problems:
            raise ValueError("; ".join(problems))
        worker_id = (env.get("OUTBOX_WORKER_ID") or f"{socket.gethostname()}-{os.getpid()}")[:64]
        reminders = (env.get("OUTBOX_REMINDERS") or "true").strip().lower() not in ("0", "false", "no", "off")
        return cls(worker_id=worker_id, poll_s=poll, batch=batch, reminders=reminders)


class OutboxWorker:
    """Claims notices and hands them to the channels' senders.

    Args:
        outbox: the outbox.
        senders: one sender per channel name (``sms``, ``mail``, ``telegram``, ``webchat``).
        settings: polling settings.
    """

    def __init__(self, outbox: Outbox, senders: Mapping[str, NoticeSender], settings: WorkerSettings):
        self.outbox = outbox
        self.senders = dict(senders)
        self.settings = settings
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask :meth:`run_forever` to return after the current notice."""
        self._stop.set()

    def run_once(self) -> dict[str, int]:
        """Claim one batch and process it; returns outcomes counted."""
        counts: dict[str, int] = {}
        for claimed in self.outbox.claim(self.settings.worker_id, self.settings.batch):
            outcome = self.process(claimed)
            counts[outcome] = counts.get(outcome, 0) + 1
        return counts

    def run_forever(self) -> None:
        """Process notices until :meth:`stop`; sleeps ``poll_s`` when nothing was due."""
        log.info("outbox worker %s: channels %s", self.settings.worker_id, ", ".join(sorted(self.senders)) or "none")
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except Exception:  # the database went away: log, wait, try again
                log.exception("outbox worker: round failed")
                worked = {}
            if not worked:
                self._stop.wait(self.settings.poll_s)

    def process(self, claimed: ClaimedNotice) -> str:
        """Deliver one claimed notice (see the module docstring for the order of checks)."""
        outbox, policy = self.outbox, self.outbox.policy
        sender = self.senders.get(claimed.channel)
        if sender is None:
            outbox.mark_failed(claimed, f"no sender configured for channel {claimed.channel}")
            return Outcome.NO_SENDER
        try:
            notice = Notice(key=claimed.key, to=outbox.recipient(claimed), text=claimed.body,
                            subject=claimed.subject, thread=claimed.thread)
        except ValueError as exc:  # sealed with a key no longer configured
            outbox.mark_failed(claimed, str(exc))
            return Outcome.FAILED
        try:
            if claimed.reconcile_since is not None:
                ref = sender.find_notice(notice, claimed.reconcile_since)
                if ref:
                    log.info("outbox: id=%s channel=%s already delivered by an earlier attempt, not sent again",
                             claimed.id, claimed.channel)
                    return Outcome.RECONCILED if outbox.mark_sent(claimed, ref) else Outcome.LOST_LEASE
            until = policy.held_until(claimed.channel, utcnow())
            if until is not None:
                outbox.hold(claimed, until)
                return Outcome.HELD
            if (claimed.claimed_until - utcnow()).total_seconds() < policy.send_timeout_s:
                outbox.hold(claimed, utcnow())  # too little lease left to send safely: next round
                return Outcome.LOST_LEASE
            ref = sender.send_notice(notice)
        except NoticeRefused as exc:
            outbox.refused(claimed, str(exc))
            return Outcome.REFUSED
        except Exception as exc:  # any failure of the provider: retried with backoff
            outbox.mark_failed(claimed, f"{type(exc).__name__}: {exc}"[:300])
            return Outcome.FAILED
        return Outcome.SENT if outbox.mark_sent(claimed, ref) else Outcome.LOST_LEASE


# -------------------------------------------------------------------------------- wiring
def build_senders(env: Mapping[str, str] | None = None, state: ChannelState | None = None) -> dict[str, Any]:
    """The senders whose settings are complete (web chat always); one log line per channel skipped."""
    from channels.state_redis import make_channel_state
    from channels.webchat.notices import WebchatNoticeBox

    env = os.environ if env is None else env
    state = state or make_channel_state()
    senders: dict[str, Any] = {"webchat": WebchatNoticeBox(state)}

    sid, token, sms_from = (env.get(k, "").strip() for k in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN",
                                                             "TWILIO_SMS_FROM"))
    if sid and token and sms_from:
        from channels.sms.notices import SmsNoticeSender
        from channels.sms_sender import TwilioSmsSender

        sms = TwilioSmsSender(sid, token, sms_from, state)
        base = env.get("TWILIO_API_BASE_URL", "").strip().rstrip("/")
        if base:
            if not _URL_RE.match(base):
                raise ValueError(f"TWILIO_API_BASE_URL must be an http(s) URL, got {base!r}")
            sms.client.api.base_url = base
        senders["sms"] = SmsNoticeSender(sms)
    else:
        log.info("outbox: SMS notices not sent — TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_SMS_FROM are needed")

    from channels.mail.verify import MailSettings, MailSettingsError

    try:
        mail = MailSettings.from_env(env)
    except MailSettingsError as exc:
        log.info("outbox: mail notices not sent — %s", exc)
    else:
        from channels.mail.notices import MailNoticeSender

        senders["mail"] = MailNoticeSender(mail, state, env=env)

    from channels.telegram.verify import TelegramSettings, TelegramSettingsError

    try:
        telegram = TelegramSettings.from_env(env)
    except TelegramSettingsError as exc:
        log.info("outbox: Telegram notices not sent — %s", exc)
    else:
        from channels.telegram.notices import TelegramNoticeSender

        senders["telegram"] = TelegramNoticeSender(telegram, state)
    return senders


def reminder_job(outbox: Outbox) -> int:
    """Queue today's appointment reminders (safe to run any number of times)."""
    try:
        return enqueue_booking_reminders(outbox, city_today())
    except Exception:
        log.exception("outbox: reminder job failed")
        return 0


def start_scheduler(outbox: Outbox, env: Mapping[str, str] | None = None) -> Any:
    """A background scheduler (city time) for the worker's periodic jobs.

    * :func:`reminder_job` daily at ``reminders.at`` and once at start-up;
    * the application-status sync (:func:`casework.sources.sync_job`) every
      ``APPLICATION_SOURCE_SYNC_MINUTES`` (default 10) when ``APPLICATION_SOURCE_URL`` names a
      system of record (the embedded table needs no sync);
    * the retention purge (:func:`server.purge.purge_job`) nightly at 03:30 unless ``PURGE_NIGHTLY`` is
      ``false``.
    """
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger

    at = outbox.policy.reminder_at
    scheduler = BackgroundScheduler(timezone=CITY_TZ)
    scheduler.add_job(reminder_job, CronTrigger(hour=at.hour, minute=at.minute, timezone=CITY_TZ), args=[outbox],
                      id="booking_reminders", coalesce=True, misfire_grace_time=6 * 3600, max_instances=1)
    scheduler.add_job(reminder_job, "date", run_date=dt.datetime.now(CITY_TZ), args=[outbox],
                      id="booking_reminders_at_start")
    env = os.environ if env is None else env
    if (env.get("APPLICATION_SOURCE_URL") or "").strip():
        from casework.sources import SourceSettings, sync_job

        source = SourceSettings.from_env(dict(env))  # a bad setting stops the worker at start-up
        minutes = max(1, int(env.get("APPLICATION_SOURCE_SYNC_MINUTES") or 10))
        scheduler.add_job(sync_job, "interval", minutes=minutes, args=[source], id="application_source_sync",
                          coalesce=True, max_instances=1, next_run_time=dt.datetime.now(CITY_TZ))
        log.info("outbox: application statuses synced every %d minutes", minutes)
    if (env.get("PURGE_NIGHTLY") or "true").strip().lower() not in ("0", "false", "no", "off"):
        from server.purge import PurgeSettings, purge_job

        scheduler.add_job(purge_job, CronTrigger(hour=3, minute=30, timezone=CITY_TZ), args=[PurgeSettings.from_env()],
                          id="retention_purge", coalesce=True, misfire_grace_time=6 * 3600, max_instances=1)
    scheduler.start()
    log.info("outbox: appointment reminders daily at %s city time", at.strftime("%H:%M"))
    return scheduler


def main() -> int:
    """Run the worker until SIGTERM/SIGINT; 2 on unusable settings."""
    from server.logging_setup import configure_logging

    configure_logging("outbox")
    try:
        settings = WorkerSettings.from_env()
        outbox = Outbox()
        outbox.policy  # noqa: B018 - read the YAML now: a bad file stops the worker at start-up
        senders = build_senders()
    except ValueError as exc:
        print(f"outbox worker: {exc}", file=sys.stderr)
        return 2
    worker = OutboxWorker(outbox, senders, settings)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: worker.stop())
    scheduler = start_scheduler(outbox) if settings.reminders else None
    try:
        worker.run_forever()
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
    log.info("outbox worker %s: stopped", settings.worker_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
