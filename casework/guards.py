"""Guards on what a citizen may see or change: identity checks, phone-ownership codes, booking velocity.

* :class:`IdentityChecks`: failed status checks are counted per application/case number,
  per conversation and per client address (web chat address, SMS/voice caller number), so
  rotating one of them gets an attacker nowhere; any one at its limit locks the check.
* :class:`PhoneProofs`: a 6-digit one-time code sent by SMS through a
  :class:`CodeSender` (the channels' ``Sender`` shape) proves that the citizen holds the
  phone before a booking is made, shown or cancelled. Codes are stored only as salted
  HMACs, expire, die after a few wrong tries, and are capped per phone, conversation and
  client address. The same class records each booking's origin and reports the
  booking-velocity alert of the staff dashboard.
* :class:`DevSmsSink`: where codes go in the embedded profile without an SMS provider
  (a JSON-lines file, ``DEV_SMS_SINK``, default ``var/dev_sms.jsonl``), never to the
  citizen's screen.

Limits are committed in ``casework/guards.yml``. Everything keyed by a person is hashed
with :func:`common.identity.hash_sender`.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

import yaml
from sqlalchemy import delete, func, select, update

from casework.guard_models import BookingOrigin, IdentityCheck, PhoneCode
from casework.models import Booking, BookingStatus
from common.identity import SENDER_HASH_SALT_ENV, hash_sender
from knowledge.db import SessionBacked, session_scope
from knowledge.models import utcnow
from knowledge.settings import REPO_DIR

log = logging.getLogger(__name__)

LIMITS_FILE = Path(__file__).resolve().parent / "guards.yml"
DEV_SINK_ENV = "DEV_SMS_SINK"
DEFAULT_DEV_SINK = REPO_DIR / "var" / "dev_sms.jsonl"


@dataclass(frozen=True)
class GuardLimits:
    """The committed limits (``casework/guards.yml``); see that file for each one's meaning."""

    check_window_minutes: int = 60
    max_failures_per_sender: int = 5
    max_failures_per_client: int = 10
    max_failures_per_number: int = 5
    code_length: int = 6
    code_ttl_seconds: int = 300
    code_max_attempts: int = 3
    proof_minutes: int = 30
    code_window_minutes: int = 60
    max_codes_per_phone: int = 3
    max_codes_per_session: int = 4
    max_codes_per_client: int = 10
    sms_text: str = "{code}"
    velocity_window_minutes: int = 60
    max_bookings_per_center: int = 40
    max_bookings_per_client: int = 5

    @classmethod
    def load(cls, path: Path = LIMITS_FILE) -> GuardLimits:
        """The limits of the YAML file (``GUARDS_LIMITS`` overrides the path), read once per path."""
        return _read_limits(Path(os.environ.get("GUARDS_LIMITS") or path))

    @classmethod
    def from_file(cls, path: Path) -> GuardLimits:
        """Read ``path``."""
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        ic, pc, va = data.get("identity_check") or {}, data.get("phone_code") or {}, data.get("velocity_alert") or {}
        return cls(
            check_window_minutes=int(ic.get("window_minutes", cls.check_window_minutes)),
            max_failures_per_sender=int(ic.get("max_failures_per_sender", cls.max_failures_per_sender)),
            max_failures_per_client=int(ic.get("max_failures_per_client", cls.max_failures_per_client)),
            max_failures_per_number=int(ic.get("max_failures_per_number", cls.max_failures_per_number)),
            code_length=int(pc.get("length", cls.code_length)),
            code_ttl_seconds=int(pc.get("ttl_seconds", cls.code_ttl_seconds)),
            code_max_attempts=int(pc.get("max_attempts", cls.code_max_attempts)),
            proof_minutes=int(pc.get("proof_minutes", cls.proof_minutes)),
            code_window_minutes=int(pc.get("window_minutes", cls.code_window_minutes)),
            max_codes_per_phone=int(pc.get("max_codes_per_phone", cls.max_codes_per_phone)),
            max_codes_per_session=int(pc.get("max_codes_per_session", cls.max_codes_per_session)),
            max_codes_per_client=int(pc.get("max_codes_per_client", cls.max_codes_per_client)),
            sms_text=str(pc.get("sms_text", cls.sms_text)),
            velocity_window_minutes=int(va.get("window_minutes", cls.velocity_window_minutes)),
            max_bookings_per_center=int(va.get("max_bookings_per_center", cls.max_bookings_per_center)),
            max_bookings_per_client=int(va.get("max_bookings_per_client", cls.max_bookings_per_client)),
        )


@functools.lru_cache(maxsize=8)
def _read_limits(path: Path) -> GuardLimits:
    return GuardLimits.from_file(path)


def subject_hash(number: str) -> str:
    """Pseudonym of an application or case number."""
    return hash_sender("subject:" + number.strip().upper())


def phone_hash(phone: str) -> str:
    """Pseudonym of an E.164 phone number."""
    return hash_sender("phone:" + phone.strip())


class _Guard(SessionBacked):
    """A store of the guards' tables under the committed limits.

    Args:
        factory: a sessionmaker (default: the configured database).
        limits: the committed limits (default: read from ``guards.yml``).
    """

    def __init__(self, factory: Any | None = None, limits: GuardLimits | None = None):
        super().__init__(factory)
        self.limits = limits or GuardLimits.load()


class IdentityChecks(_Guard):
    """Failed identity checks per number, conversation and client address."""

    def _failures(self, column: Any, value: str) -> int:
        since = utcnow() - dt.timedelta(minutes=self.limits.check_window_minutes)
        with self.factory() as s:
            return int(s.scalar(select(func.count()).select_from(IdentityCheck).where(
                column == value, IdentityCheck.success.is_(False), IdentityCheck.at >= since)) or 0)

    def remaining(self, *, sender_hash: str, client_hash: str = "", number: str | None = None) -> int:
        """Failures still allowed before the check locks (0 = locked), the smallest over every key."""
        lim = self.limits
        left = [lim.max_failures_per_sender - self._failures(IdentityCheck.sender_hash, sender_hash)]
        if client_hash:
            left.append(lim.max_failures_per_client - self._failures(IdentityCheck.client_hash, client_hash))
        if number:
            left.append(lim.max_failures_per_number - self._failures(IdentityCheck.subject_hash, subject_hash(number)))
        return max(0, min(left))

    def record(self, *, number: str, sender_hash: str, client_hash: str, success: bool) -> None:
        """Remember one check (the number only as its hash)."""
        with session_scope(self.factory) as s:
            s.add(IdentityCheck(subject_hash=subject_hash(number), sender_hash=sender_hash,
                                client_hash=client_hash, success=success))


class CodeSender(Protocol):
    """Sends one SMS (the shape of :class:`channels.core.Sender`)."""

    def send(self, to: str, text: str) -> str:
        """Send ``text`` to the E.164 number ``to``; return the provider's message id."""
        ...


class DevSmsSink:
    """The development SMS sink: each message is appended to a JSON-lines file.

    Used only when no SMS provider is configured (the embedded profile); the README names
    the file. Args: path: the file (default ``DEV_SMS_SINK`` or ``var/dev_sms.jsonl``).
    """

    def __init__(self, path: Path | None = None):
        self.path = path or Path(os.environ.get(DEV_SINK_ENV) or DEFAULT_DEV_SINK)
        self._lock = threading.Lock()

    def send(self, to: str, text: str) -> str:
        """Append the message; return a local id."""
        sid = "dev-" + secrets.token_hex(8)
        line = json.dumps({"at": utcnow().isoformat(), "id": sid, "to": to, "text": text}, ensure_ascii=False)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        return sid


class CodeRefused(Exception):
    """No code was sent: a cap was reached (``reason``: ``phone``, ``session`` or ``client``)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class CodeResult(Enum):
    """What an entered code did."""

    PROVED = "proved"
    WRONG = "wrong"      # wrong, tries left on the same code
    DEAD = "dead"        # wrong and no tries left, or expired, or none sent: a new code is needed


@dataclass(frozen=True)
class Check:
    """The result of :meth:`PhoneProofs.check` with the tries left on the code."""

    result: CodeResult
    remaining: int = 0


@dataclass(frozen=True)
class VelocityAlert:
    """Bookings in the last window above the threshold for one centre or one client address."""

    kind: str          # "center" or "client"
    key: str           # centre id or hashed client address
    count: int
    threshold: int
    window_minutes: int


class PhoneProofs(_Guard):
    """One-time codes proving a phone for one conversation, and the booking-velocity records."""

    def _count(self, column: Any, value: str) -> int:
        since = utcnow() - dt.timedelta(minutes=self.limits.code_window_minutes)
        with self.factory() as s:
            return int(s.scalar(select(func.count()).select_from(PhoneCode).where(
                column == value, PhoneCode.created_at >= since)) or 0)

    def _live(self, s: Any, phone: str, session_hash: str) -> PhoneCode | None:
        return s.scalar(select(PhoneCode).where(
            PhoneCode.phone_hash == phone_hash(phone), PhoneCode.session_hash == session_hash,
            PhoneCode.proved_at.is_(None), PhoneCode.expires_at > utcnow(),
            PhoneCode.attempts < self.limits.code_max_attempts).order_by(PhoneCode.id.desc()).limit(1))

    def pending(self, phone: str, session_hash: str) -> bool:
        """Whether a code sent to ``phone`` for this conversation can still be entered."""
        with self.factory() as s:
            return self._live(s, phone, session_hash) is not None

    def issue(self, phone: str, session_hash: str, client_hash: str, sender: CodeSender) -> None:
        """Send a fresh code to ``phone`` for this conversation.

        Raises:
            CodeRefused: a cap per phone, conversation or client address is reached.
            Exception: whatever the sender raises (nothing is stored then).
        """
        lim = self.limits
        if self._count(PhoneCode.phone_hash, phone_hash(phone)) >= lim.max_codes_per_phone:
            raise CodeRefused("phone")
        if self._count(PhoneCode.session_hash, session_hash) >= lim.max_codes_per_session:
            raise CodeRefused("session")
        if client_hash and self._count(PhoneCode.client_hash, client_hash) >= lim.max_codes_per_client:
            raise CodeRefused("client")
        code = f"{secrets.randbelow(10 ** lim.code_length):0{lim.code_length}d}"
        salt = secrets.token_hex(16)
        with session_scope(self.factory) as s:
            row = PhoneCode(phone_hash=phone_hash(phone), session_hash=session_hash, client_hash=client_hash,
                            salt=salt, code_hash=_code_hash(salt, code),
                            expires_at=utcnow() + dt.timedelta(seconds=lim.code_ttl_seconds))
            s.add(row)
            s.flush()
            row_id = row.id
        text = lim.sms_text.format(code=code, minutes=max(1, lim.code_ttl_seconds // 60))
        try:
            sender.send(phone, text)
        except Exception:
            with session_scope(self.factory) as s:
                s.execute(delete(PhoneCode).where(PhoneCode.id == row_id))
            raise
        log.info("phone code sent phone=%s session=%s", phone_hash(phone), session_hash)

    def check(self, phone: str, session_hash: str, code: str) -> Check:
        """Check an entered code against the live code of this phone and conversation."""
        with session_scope(self.factory) as s:
            row = self._live(s, phone, session_hash)
            if row is None:
                return Check(CodeResult.DEAD)
            if hmac.compare_digest(row.code_hash, _code_hash(row.salt, code)):
                row.proved_at = utcnow()
                return Check(CodeResult.PROVED)
            left = self.limits.code_max_attempts - row.attempts - 1
            s.execute(update(PhoneCode).where(PhoneCode.id == row.id).values(attempts=PhoneCode.attempts + 1))
        return Check(CodeResult.WRONG, left) if left > 0 else Check(CodeResult.DEAD)

    def is_proved(self, phone: str, session_hash: str) -> bool:
        """Whether this conversation proved ``phone`` within the last ``proof_minutes``."""
        since = utcnow() - dt.timedelta(minutes=self.limits.proof_minutes)
        with self.factory() as s:
            return s.scalar(select(func.count()).select_from(PhoneCode).where(
                PhoneCode.phone_hash == phone_hash(phone), PhoneCode.session_hash == session_hash,
                PhoneCode.proved_at >= since)) != 0

    def record_booking(self, *, booking_ref: str, center_id: str, client_hash: str, channel: str) -> None:
        """Remember where a new booking came from (for the velocity alert)."""
        with session_scope(self.factory) as s:
            s.add(BookingOrigin(booking_ref=booking_ref, center_id=center_id, client_hash=client_hash,
                                channel=channel))

    def velocity_alerts(self) -> list[VelocityAlert]:
        """Centres and client addresses with more bookings in the last window than allowed."""
        lim = self.limits
        since = utcnow() - dt.timedelta(minutes=lim.velocity_window_minutes)
        alerts: list[VelocityAlert] = []
        with self.factory() as s:
            per_center = s.execute(select(Booking.center_id, func.count()).where(
                Booking.created_at >= since, Booking.status != BookingStatus.cancelled)
                .group_by(Booking.center_id).having(func.count() > lim.max_bookings_per_center))
            alerts += [VelocityAlert("center", c, int(n), lim.max_bookings_per_center, lim.velocity_window_minutes)
                       for c, n in per_center]
            per_client = s.execute(select(BookingOrigin.client_hash, func.count()).where(
                BookingOrigin.at >= since, BookingOrigin.client_hash != "")
                .group_by(BookingOrigin.client_hash).having(func.count() > lim.max_bookings_per_client))
            alerts += [VelocityAlert("client", c, int(n), lim.max_bookings_per_client, lim.velocity_window_minutes)
                       for c, n in per_client]
        return sorted(alerts, key=lambda a: -a.count)


def _code_hash(salt: str, code: str) -> str:
    # keyed with the deployment's hash salt too, so a copy of the table alone cannot be brute-forced
    key = (os.environ.get(SENDER_HASH_SALT_ENV) or "") + salt
    return hmac.new(key.encode(), code.encode(), hashlib.sha256).hexdigest()
