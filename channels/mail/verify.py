"""Mailbox settings (fail closed) and the RFC 3834 checks that keep two robots from looping.

Settings (all from the environment; secrets have no default):

* ``MAIL_IMAP_HOST``, ``MAIL_IMAP_USER``, ``MAIL_IMAP_PASSWORD`` (required),
  ``MAIL_IMAP_PORT`` (993 with SSL, else 143), ``MAIL_IMAP_SSL`` (default true),
  ``MAIL_IMAP_FOLDER`` (INBOX), ``MAIL_QUARANTINE_FOLDER`` (Quarantine).
* ``MAIL_SMTP_HOST``, ``MAIL_SMTP_FROM`` (required), ``MAIL_SMTP_PORT`` (587, or 465 with
  ``MAIL_SMTP_SSL``), ``MAIL_SMTP_STARTTLS`` (default true), ``MAIL_SMTP_USER`` and
  ``MAIL_SMTP_PASSWORD`` (both or neither).
* Tunables: ``MAIL_MAX_BYTES`` (10 MiB), ``MAIL_MAX_QUESTIONS`` (5), ``MAIL_POLL_S`` (30,
  the polling fallback and the IDLE re-check period), ``MAIL_CLAIM_STALE_S`` (300: a
  claim of a worker that died is taken over after this long).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from email.utils import parseaddr

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
NO_REPLY_LOCAL = re.compile(r"^(no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer[-_]daemon|postmaster|bounces?|"
                            r"notifications?|auto[-_]?reply)([-+_.].*)?$", re.IGNORECASE)


class MailSettingsError(ValueError):
    """The mailbox settings are missing or unusable; the message names every variable."""


@dataclass(frozen=True)
class MailSettings:
    """Where the citizen mailbox is and how replies are sent."""

    imap_host: str
    imap_port: int
    imap_user: str
    imap_password: str
    imap_ssl: bool
    folder: str
    quarantine_folder: str
    smtp_host: str
    smtp_port: int
    smtp_from: str
    smtp_user: str | None
    smtp_password: str | None
    smtp_starttls: bool
    smtp_ssl: bool
    max_bytes: int = DEFAULT_MAX_BYTES
    trusted_authserv_ids: tuple[str, ...] = ()
    max_questions: int = 5
    poll_s: float = 30.0
    claim_stale_s: float = 300.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MailSettings:
        """Read and check every ``MAIL_*`` variable.

        Raises:
            MailSettingsError: naming every missing or unusable variable.
        """
        env = os.environ if env is None else env
        problems: list[str] = []

        def get(name: str) -> str:
            return (env.get(name) or "").strip()

        def required(name: str) -> str:
            value = get(name)
            if not value:
                problems.append(f"{name} is not set")
            return value

        def flag(name: str, default: bool) -> bool:
            raw = get(name).lower()
            if not raw:
                return default
            if raw in TRUE or raw in FALSE:
                return raw in TRUE
            problems.append(f"{name} must be true or false, got {raw!r}")
            return default

        def number(name: str, default: float, low: float, high: float) -> float:
            raw = get(name)
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                value = low - 1
            if not low <= value <= high:
                problems.append(f"{name} must be a number in [{low:g}, {high:g}], got {raw!r}")
                return default
            return value

        imap_host, imap_user = required("MAIL_IMAP_HOST"), required("MAIL_IMAP_USER")
        imap_password = env.get("MAIL_IMAP_PASSWORD") or ""
        if not imap_password:
            problems.append("MAIL_IMAP_PASSWORD is not set")
        imap_ssl = flag("MAIL_IMAP_SSL", True)
        imap_port = int(number("MAIL_IMAP_PORT", 993 if imap_ssl else 143, 1, 65535))
        smtp_host, smtp_from = required("MAIL_SMTP_HOST"), required("MAIL_SMTP_FROM")
        if smtp_from and "@" not in parseaddr(smtp_from)[1]:
            problems.append(f"MAIL_SMTP_FROM must be a mail address, got {smtp_from!r}")
        smtp_ssl = flag("MAIL_SMTP_SSL", False)
        smtp_starttls = flag("MAIL_SMTP_STARTTLS", not smtp_ssl)
        smtp_port = int(number("MAIL_SMTP_PORT", 465 if smtp_ssl else 587, 1, 65535))
        smtp_user, smtp_password = get("MAIL_SMTP_USER") or None, env.get("MAIL_SMTP_PASSWORD") or None
        if bool(smtp_user) != bool(smtp_password):
            problems.append("MAIL_SMTP_USER and MAIL_SMTP_PASSWORD must be set together")
        settings = dict(
            max_bytes=int(number("MAIL_MAX_BYTES", DEFAULT_MAX_BYTES, 1024, 200 * 1024 * 1024)),
            max_questions=int(number("MAIL_MAX_QUESTIONS", 5, 1, 20)),
            poll_s=number("MAIL_POLL_S", 30.0, 0.2, 1740.0),
            claim_stale_s=number("MAIL_CLAIM_STALE_S", 300.0, 1.0, 86400.0),
        )
        trusted = tuple(t.strip() for t in get("MAIL_TRUSTED_AUTHSERV_ID").split(",") if t.strip())
        if not trusted and get("DEPLOY_PROFILE").lower() == "production":
            problems.append("MAIL_TRUSTED_AUTHSERV_ID is not set (the receiving server's authserv-id: "
                            "forged senders must not get replies)")
        settings["trusted_authserv_ids"] = trusted  # type: ignore[assignment]
        if problems:
            raise MailSettingsError("mailbox settings: " + "; ".join(problems))
        return cls(imap_host=imap_host, imap_port=imap_port, imap_user=imap_user, imap_password=imap_password,
                   imap_ssl=imap_ssl, folder=get("MAIL_IMAP_FOLDER") or "INBOX",
                   quarantine_folder=get("MAIL_QUARANTINE_FOLDER") or "Quarantine",
                   smtp_host=smtp_host, smtp_port=smtp_port, smtp_from=smtp_from, smtp_user=smtp_user,
                   smtp_password=smtp_password, smtp_starttls=smtp_starttls, smtp_ssl=smtp_ssl,
                   **settings)  # type: ignore[arg-type]


def missing_reason(env: Mapping[str, str] | None = None) -> str | None:
    """Why the mailbox worker cannot start (one line), or None when the settings are complete."""
    try:
        MailSettings.from_env(env)
    except MailSettingsError as exc:
        return str(exc)
    return None


def automated_reason(msg: Message, own_addresses: tuple[str, ...] = ()) -> str | None:
    """Why ``msg`` must not be answered (RFC 3834 and common practice), or None for a person's mail.

    Auto-replies (``Auto-Submitted`` other than ``no``, ``X-Autoreply``, Exchange's
    ``X-Auto-Response-Suppress`` on auto-generated mail), bounces (null ``Return-Path``,
    ``multipart/report``, MAILER-DAEMON), bulk and list mail (``Precedence``, ``List-*``) and
    no-reply senders are never answered, nor is mail from our own address.

    Args:
        msg: the parsed message (headers are enough).
        own_addresses: our own mailbox addresses, lower case.
    """
    auto = str(msg.get("Auto-Submitted", "")).strip().lower()
    if auto and auto.split(";")[0].strip() != "no":
        return "auto-submitted"
    if msg.get("X-Autoreply") or msg.get("X-Autorespond") or msg.get("X-Auto-Response"):
        return "auto-reply header"
    if str(msg.get("Precedence", "")).strip().lower() in {"bulk", "list", "junk", "auto_reply"}:
        return "precedence"
    if any(msg.get(h) for h in ("List-Id", "List-Unsubscribe", "List-Post", "Mailing-List")):
        return "mailing list"
    return_path = msg.get("Return-Path")
    if return_path is not None and str(return_path).strip() in {"<>", ""}:
        return "null return path"
    if msg.get_content_type() == "multipart/report":
        return "delivery or disposition report"
    address = parseaddr(str(msg.get("From", "")))[1].strip().lower()
    if "@" not in address:
        return None  # not a robot: malformed, the worker quarantines it
    local = address.split("@", 1)[0]
    if NO_REPLY_LOCAL.match(local):
        return "no-reply sender"
    if address in own_addresses:
        return "own address"
    return None
