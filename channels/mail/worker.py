"""The mailbox worker: watch the citizen mailbox over IMAP, ask the core, reply over SMTP.

Delivery contract — nothing lost, nothing twice:

1. A mail is claimed by its ``Message-ID`` in :class:`~channels.state.ChannelState`
   before anything else; a claim that is done only re-applies the IMAP flags, one that
   is in progress elsewhere is left alone until it goes stale (its worker died).
2. Each question's answer from the core is stored as it arrives (a ChannelState note), so
   a restart resumes without asking the core the same question twice (a complaint must
   not open two cases).
3. The reply is sent over SMTP, then the claim is finished, then the mail is flagged
   ``\\Seen`` + ``CitizenBotHandled`` on the server. A crash before the send repeats the
   work (the core is not asked again); a crash after it only repeats the flagging.

The worker takes new mail only while the core is ready (``channels/pull.py``): while it
is not, it pauses with one log line and leaves the mailbox alone. A mail already taken
when the core goes away is released with the time it was first taken noted (answers
already received stay stored) and retried with backoff; once ``retry_deadline_s`` has
passed it is answered with what the core did answer plus an apology for the rest — still
exactly one reply. SMTP down → the claim is released and the mail stays unflagged for
the next round. A mail that keeps failing, has no usable sender, or cannot be parsed is moved to
the quarantine folder with a log line. Robots (auto-replies, bounces, lists, no-reply
senders) are flagged as handled without a reply.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import smtplib
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from email.utils import parseaddr
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from channels.core import BotMessage, CoreClient, CoreUnavailable, InboundMessage
from channels.mail import texts
from channels.mail.authres import sender_verdict
from channels.mail.parse import ParsedMail, parse_mail, read_message
from channels.mail.render import Answer, RenderedReply, render_notice, render_reply
from channels.mail.verify import MailSettings, automated_reason
from channels.pull import Backoff, CoreGate, PullSettings
from channels.state import ChannelState, Claim
from channels.state_redis import make_channel_state
from common.identity import hash_sender
from common.sealing import Sealer, sealer_from_env

log = logging.getLogger(__name__)

CHANNEL = "mail"
HANDLED_KEYWORD = b"CitizenBotHandled"
SEEN = b"\\Seen"
OPTIONS_KEY = "options"
PROGRESS_KEY = "progress"
TAKEN = "taken"  # notes conversation: mails whose core call failed → when first taken
OPTIONS_TTL_S = 14 * 24 * 3600.0
PROGRESS_TTL_S = 7 * 24 * 3600.0
MAX_ATTEMPTS = 3
IMAP_TIMEOUT_S = 30.0
SMTP_TIMEOUT_S = 30.0
MAX_BACKOFF_S = 60.0
DIGIT = re.compile(r"^\s*(\d{1,2})\s*[.。、)）]?\s*$")


class Outcome:
    """What happened to one mail (for logs, tests and the benchmark)."""

    REPLIED = "replied"
    SKIPPED = "skipped"          # robot: flagged, no reply
    ALREADY = "already"          # answered before a restart: only flagged now
    BUSY = "busy"                # claimed by another worker
    DEFERRED = "deferred"        # core or SMTP down: retried later
    WAITING = "waiting"          # not taken: the core is not ready
    APOLOGISED = "apologised"    # the core stayed away past the deadline: answered with an apology
    QUARANTINED = "quarantined"


@dataclass
class MailResult:
    """The outcome of one mail and, when replied, the reply."""

    outcome: str
    reply: RenderedReply | None = None
    questions: int = 0


def conversation_id(address: str) -> str:
    """The core's sender id for a mail address: ``mail-<hash>``, stable per address."""
    return f"{CHANNEL}-{hash_sender(address.strip().lower())}"


def dedupe_key(message_id: str) -> str:
    """The ChannelState id of a Message-ID (hashed when too long for the column)."""
    if len(message_id) <= 190:
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode("utf-8")).hexdigest()


def _progress_conversation(key: str) -> str:
    return "msg-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _taken_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def digit_choice(text: str, options: list[str] | None) -> str | None:
    """The option payload a bare number reply picks, or None."""
    if not options:
        return None
    match = DIGIT.match(unicodedata.normalize("NFKC", text))
    if not match:
        return None
    n = int(match.group(1))
    return options[n - 1] if 1 <= n <= len(options) else None


class SmtpSender:
    """Sends reply mails with :mod:`smtplib` (a new connection per reply; replies are rare)."""

    def __init__(self, settings: MailSettings):
        self.settings = settings

    def send(self, message: EmailMessage) -> None:
        """Send ``message`` to its ``To`` address.

        Raises:
            smtplib.SMTPException, OSError: on any delivery failure.
        """
        s = self.settings
        smtp_cls: Any = smtplib.SMTP_SSL if s.smtp_ssl else smtplib.SMTP
        with smtp_cls(s.smtp_host, s.smtp_port, timeout=SMTP_TIMEOUT_S) as smtp:
            if s.smtp_starttls and not s.smtp_ssl:
                smtp.starttls()
            if s.smtp_user and s.smtp_password:
                smtp.login(s.smtp_user, s.smtp_password)
            smtp.send_message(message, from_addr=parseaddr(s.smtp_from)[1])


class MailWorker:
    """Processes the citizen mailbox; one instance per process.

    Args:
        settings: the mailbox settings.
        core: the core client (default: from the environment).
        state: channel state (default: ``CHANNELS_DB_URL``), with ``claim_stale_s`` takeover.
        sender: the SMTP sender (default :class:`SmtpSender`).
        pull: how the worker waits for the core (default: ``channels/pull.yml`` and the environment).
    """

    def __init__(self, settings: MailSettings, core: CoreClient | None = None, state: ChannelState | None = None,
                 sender: SmtpSender | None = None, pull: PullSettings | None = None):
        self.settings = settings
        self.core = core or CoreClient()
        self.state = state or make_channel_state(stale_after=settings.claim_stale_s)
        self.sender = sender or SmtpSender(settings)
        self.own = tuple(a for a in {parseaddr(settings.smtp_from)[1].lower(), settings.imap_user.lower()} if "@" in a)
        self._failures: dict[str, int] = {}
        self.pull = pull if pull is not None else PullSettings.load()
        self.gate = CoreGate(self.core, CHANNEL, self.pull)
        self._backoff: dict[str, Backoff] = {}
        self._retry_at: dict[str, float] = {}  # key → wall clock of the next attempt
        self._seen: set[str] = set()
        self._stop = threading.Event()
        self.on_result: Callable[[str, MailResult], None] | None = None
        if not settings.trusted_authserv_ids:
            log.warning("mail: MAIL_TRUSTED_AUTHSERV_ID is not set: senders are not authenticated "
                        "(forged From addresses would get replies; required in the production profile)")
        self._sealer: Sealer | None = None

    # -- connection ------------------------------------------------------------------------
    def connect(self) -> IMAPClient:
        """Log in and select the watched folder."""
        s = self.settings
        client = IMAPClient(s.imap_host, port=s.imap_port, ssl=s.imap_ssl, timeout=IMAP_TIMEOUT_S)
        client.login(s.imap_user, s.imap_password)
        client.select_folder(s.folder)
        return client

    def stop(self) -> None:
        """Ask :meth:`run_forever` to return after the current step."""
        self._stop.set()

    def run_forever(self) -> None:
        """Process the mailbox until :meth:`stop`: IDLE when the server has it, else poll every ``poll_s``.

        New mail is taken only while the core is ready; while it is not, the worker only
        answers taken mail whose deadline has passed and re-checks every ``ready_poll_s``.
        """
        backoff = 1.0
        while not self._stop.is_set():
            client: IMAPClient | None = None
            try:
                client = self.connect()
                idle = b"IDLE" in client.capabilities()
                log.info("mail: watching %s (%s)", self.settings.folder, "IDLE" if idle else "polling")
                backoff = 1.0
                while not self._stop.is_set():
                    was_paused = self.gate.paused
                    ready = self.gate.check()
                    if ready and was_paused:
                        self._retry_at.clear()  # the core is back: retry taken mail at once
                    if ready or self._deadline_due():
                        self.process_pending(client, intake=ready)
                    if ready:
                        self._wait(client, idle, self._next_retry_in())
                    else:
                        self._stop.wait(self.pull.ready_poll_s)
                        client.noop()
            except (TimeoutError, IMAPClientError, OSError) as exc:
                log.warning("mail: IMAP connection problem (%s); reconnecting in %.0f s", type(exc).__name__, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            finally:
                if client is not None:
                    with contextlib.suppress(Exception):  # the connection may already be gone
                        client.logout()

    def _deadline_due(self) -> bool:
        """True when a taken mail has waited for the core past the deadline."""
        now = time.time()
        return any(now >= float(v.get("taken_at", now)) + self.pull.retry_deadline_s
                   for v in self.state.list_notes(CHANNEL, TAKEN).values())

    def _next_retry_in(self) -> float:
        """Seconds until the next taken mail is due for another attempt (``poll_s`` when none)."""
        if not self._retry_at:
            return self.settings.poll_s
        return max(0.05, min(self.settings.poll_s, min(self._retry_at.values()) - time.time()))

    def _wait(self, client: IMAPClient, idle: bool, timeout: float | None = None) -> None:
        timeout = self.settings.poll_s if timeout is None else timeout
        if not idle:
            self._stop.wait(timeout)
            client.noop()
            return
        client.idle()
        try:
            deadline = time.monotonic() + timeout
            while not self._stop.is_set() and time.monotonic() < deadline:
                responses = client.idle_check(timeout=min(1.0, timeout))
                if any(b"EXISTS" in r or b"RECENT" in r for r in responses):
                    break
        finally:
            client.idle_done()

    # -- one round -------------------------------------------------------------------------
    def process_pending(self, client: IMAPClient, intake: bool = True) -> dict[int, MailResult]:
        """Handle every mail in the folder that is not flagged handled yet.

        Args:
            client: the logged-in IMAP connection.
            intake: the core is ready; False only answers taken mail past its deadline.
        """
        uids = client.search(["NOT", "DELETED", "NOT", "KEYWORD", HANDLED_KEYWORD.decode()])
        results: dict[int, MailResult] = {}
        self._seen = set()
        for uid in sorted(uids):
            if self._stop.is_set():
                return results
            results[uid] = self.process_uid(client, uid, intake)
        for key in set(self._retry_at) - self._seen:  # answered elsewhere or gone from the mailbox
            self._retry_at.pop(key, None)
            self._backoff.pop(key, None)
        return results

    def process_uid(self, client: IMAPClient, uid: int, intake: bool = True) -> MailResult:
        """Handle one mail; never raises for problems of the mail itself."""
        fetched = client.fetch([uid], ["RFC822.SIZE", "BODY.PEEK[HEADER]"]).get(uid)
        if not fetched:
            return MailResult(Outcome.BUSY)  # expunged meanwhile
        size = int(fetched.get(b"RFC822.SIZE", 0))
        header_bytes = fetched.get(b"BODY[HEADER]", b"") or b""
        headers = BytesHeaderParser().parsebytes(header_bytes)
        raw_mid = str(headers.get("Message-ID", "") or "").strip()
        message_id = raw_mid if re.fullmatch(r"<[^<>\s]{1,250}>", raw_mid) else \
            "<sha256-" + hashlib.sha256(header_bytes).hexdigest()[:32] + "@citizen-bot.invalid>"
        key = dedupe_key(message_id)
        self._seen.add(key)
        taken = self.state.get_note(CHANNEL, TAKEN, _taken_key(key))
        overdue = taken is not None and time.time() >= float(taken["taken_at"]) + self.pull.retry_deadline_s
        if not overdue and (not intake or time.time() < self._retry_at.get(key, 0.0)):
            return MailResult(Outcome.WAITING if not intake else Outcome.DEFERRED)
        claim = self.state.begin(CHANNEL, key)
        if claim.claim is Claim.DONE:
            self._flag_handled(client, uid)
            return self._done(key, MailResult(Outcome.ALREADY))
        if claim.claim is Claim.IN_PROGRESS:
            return MailResult(Outcome.BUSY)
        try:
            result = self._handle(client, uid, key, message_id, size, headers)
        except Exception:  # one bad mail must never stop the mailbox
            attempts = self._failures.get(key, 0) + 1
            self._failures[key] = attempts
            log.exception("mail: failed to handle message_id=%s (attempt %d)", message_id, attempts)
            if attempts >= MAX_ATTEMPTS:
                self._quarantine(client, uid, key, message_id, "repeated failures")
                return self._done(key, MailResult(Outcome.QUARANTINED))
            self.state.release(CHANNEL, key)
            return MailResult(Outcome.DEFERRED)
        return self._done(key, result)

    def _done(self, key: str, result: MailResult) -> MailResult:
        if result.outcome != Outcome.DEFERRED:
            self._failures.pop(key, None)
        if result.outcome not in (Outcome.DEFERRED, Outcome.BUSY):
            self._backoff.pop(key, None)
            self._retry_at.pop(key, None)
            self.state.delete_note(CHANNEL, TAKEN, _taken_key(key))
        if self.on_result is not None:
            self.on_result(key, result)
        return result

    def _handle(self, client: IMAPClient, uid: int, key: str, message_id: str, size: int,
                headers: Message) -> MailResult:
        robot = automated_reason(headers, self.own)
        if robot:
            log.info("mail: not answering message_id=%s: %s", message_id, robot)
            self.state.finish(CHANNEL, key, None)
            self._flag_handled(client, uid)
            return MailResult(Outcome.SKIPPED)

        if self.settings.trusted_authserv_ids:  # a forged sender gets no reply: its text never goes out
            authentic, why = sender_verdict(headers, self.settings.trusted_authserv_ids)
            if not authentic:
                self._quarantine(client, uid, key, message_id, f"sender not authenticated ({why})")
                return MailResult(Outcome.QUARANTINED)

        if size > self.settings.max_bytes:
            parsed = parse_mail(b"", headers)
            if not parsed.from_address:
                self._quarantine(client, uid, key, message_id, "oversized without a sender")
                return MailResult(Outcome.QUARANTINED)
            notice = texts.OVERSIZED_MAIL.format(limit_mb=max(1, self.settings.max_bytes // (1024 * 1024)))
            return self._reply(client, uid, key, message_id, parsed,
                               render_notice(parsed, self.settings.smtp_from, notice), 0)

        raw = client.fetch([uid], ["BODY.PEEK[]"]).get(uid, {}).get(b"BODY[]", b"") or b""
        try:
            parsed = parse_mail(raw, read_message(raw))
        except Exception:  # malformed beyond what the lenient parser survives
            log.warning("mail: cannot parse message_id=%s", message_id, exc_info=True)
            self._quarantine(client, uid, key, message_id, "unparseable")
            return MailResult(Outcome.QUARANTINED)
        if not parsed.from_address:
            self._quarantine(client, uid, key, message_id, "no usable sender address")
            return MailResult(Outcome.QUARANTINED)
        parsed = _with_message_id(parsed, message_id)

        questions, total = parsed.questions(self.settings.max_questions)
        if not questions:
            rendered = render_notice(parsed, self.settings.smtp_from, texts.EMPTY_MAIL)
            return self._reply(client, uid, key, message_id, parsed, rendered, 0)

        conversation = conversation_id(parsed.from_address)
        # Where a later notice (a case's reply) reaches the writer: the address, sealed (the core never
        # sees it in clear), and this letter's thread.
        if self._sealer is None:
            self._sealer = sealer_from_env()
        reply = {"reply_to_sealed": self._sealer.seal(parsed.from_address), "thread": parsed.message_id}
        answers = self._ask_core(key, message_id, conversation, questions, reply)
        apologised = False
        if len(answers) < len(questions):
            if not self._past_deadline(key, message_id):
                self.state.release(CHANNEL, key)
                return MailResult(Outcome.DEFERRED, questions=len(questions))
            apologised = True
            answers += [Answer(question=q, messages=(BotMessage(text=texts.CORE_UNAVAILABLE),))
                        for q in questions[len(answers):]]
        rendered = render_reply(parsed, answers, self.settings.smtp_from, total_questions=total,
                                limit=self.settings.max_questions)
        result = self._reply(client, uid, key, message_id, parsed, rendered, len(questions))
        if apologised and result.outcome == Outcome.REPLIED:
            result = MailResult(Outcome.APOLOGISED, result.reply, result.questions)
        if result.outcome == Outcome.REPLIED:
            if rendered.options:
                self.state.put_note(CHANNEL, conversation, OPTIONS_KEY, list(rendered.options), ttl_s=OPTIONS_TTL_S)
            else:
                self.state.delete_note(CHANNEL, conversation, OPTIONS_KEY)
        return result

    def _past_deadline(self, key: str, message_id: str) -> bool:
        """Note when the mail was first taken; True once it has waited past the deadline, else schedule a retry."""
        now = time.time()
        note = self.state.get_note(CHANNEL, TAKEN, _taken_key(key))
        if note is None:
            note = {"taken_at": now}
            self.state.put_note(CHANNEL, TAKEN, _taken_key(key), note, ttl_s=PROGRESS_TTL_S)
        backoff = self._backoff.setdefault(key, Backoff(self.pull, float(note["taken_at"])))
        pause = backoff.next_pause()
        if pause is None:
            log.warning("mail: core still unavailable %.0f s after message_id=%s was taken; apologising",
                        now - float(note["taken_at"]), message_id)
            return True
        self._retry_at[key] = now + pause
        return False

    def _ask_core(self, key: str, message_id: str, conversation: str, questions: list[str],
                  metadata: dict[str, str] | None = None) -> list[Answer]:
        """Each question to the core in turn, resuming from answers stored before a restart.

        Returns the answers so far: fewer than ``questions`` when the core became unavailable.
        """
        progress_conv = _progress_conversation(key)
        stored = self.state.get_note(CHANNEL, progress_conv, PROGRESS_KEY) or []
        answers = [Answer(question=a["q"], messages=tuple(BotMessage.from_rasa(m) for m in a["m"])) for a in stored]
        options = self.state.get_note(CHANNEL, conversation, OPTIONS_KEY)
        for index in range(len(answers), len(questions)):
            question = questions[index]
            text = digit_choice(question, options) or question
            inbound = InboundMessage(channel=CHANNEL, sender_id=conversation, text=text,
                                     message_id=f"{message_id}#{index + 1}", metadata=dict(metadata or {}))
            started = time.monotonic()
            try:
                raw = self.core.send_raw(inbound)
            except CoreUnavailable as exc:
                log.warning("mail: core unavailable (%s) sender=%s message_id=%s question=%d/%d",
                            exc, hash_sender(conversation), message_id, index + 1, len(questions))
                return answers
            log.info("mail: sender=%s message_id=%s question=%d/%d chars=%d replies=%d in %.0f ms",
                     hash_sender(conversation), message_id, index + 1, len(questions), len(text), len(raw),
                     (time.monotonic() - started) * 1000)
            stored.append({"q": question, "m": raw})
            self.state.put_note(CHANNEL, progress_conv, PROGRESS_KEY, stored, ttl_s=PROGRESS_TTL_S)
            answers.append(Answer(question=question, messages=tuple(BotMessage.from_rasa(m) for m in raw)))
        return answers

    def _reply(self, client: IMAPClient, uid: int, key: str, message_id: str, parsed: ParsedMail,
               rendered: RenderedReply, questions: int) -> MailResult:
        try:
            self.sender.send(rendered.message)
        except (smtplib.SMTPException, OSError) as exc:
            log.warning("mail: SMTP send failed (%s) message_id=%s; will retry", type(exc).__name__, message_id)
            self.state.release(CHANNEL, key)
            return MailResult(Outcome.DEFERRED, questions=questions)
        self.state.finish(CHANNEL, key, rendered.text)
        self.state.delete_note(CHANNEL, _progress_conversation(key), PROGRESS_KEY)
        self._flag_handled(client, uid)
        log.info("mail: replied sender=%s message_id=%s questions=%d attachments=%d",
                 hash_sender(conversation_id(parsed.from_address)), message_id, questions, len(parsed.attachments))
        return MailResult(Outcome.REPLIED, rendered, questions)

    def _flag_handled(self, client: IMAPClient, uid: int) -> None:
        client.add_flags([uid], [SEEN, HANDLED_KEYWORD], silent=True)

    def _quarantine(self, client: IMAPClient, uid: int, key: str, message_id: str, reason: str) -> None:
        folder = self.settings.quarantine_folder
        if not client.folder_exists(folder):
            client.create_folder(folder)
        client.add_flags([uid], [HANDLED_KEYWORD], silent=True)
        if b"MOVE" in client.capabilities():
            client.move([uid], folder)
        else:
            client.copy([uid], folder)
            client.delete_messages([uid])
            if b"UIDPLUS" in client.capabilities():
                client.uid_expunge([uid])
        self.state.finish(CHANNEL, key, None)
        log.warning("mail: quarantined message_id=%s to %s: %s", message_id, folder, reason)


def _with_message_id(parsed: ParsedMail, message_id: str) -> ParsedMail:
    return parsed if parsed.message_id == message_id else replace(parsed, message_id=message_id)
