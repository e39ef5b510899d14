"""Outbound notices: the interface every channel's notice sender implements.

The outbox (casework) knows nothing of channels and the channels know nothing of the outbox;
the outbox worker in the composition root (``server/outbox_worker.py``) hands each claimed
notice to the :class:`NoticeSender` of its channel. A sender must respect opt-outs and must be
able to tell whether a notice already left (:meth:`NoticeSender.find_notice`), so a worker
killed between the send and its record never sends the notice twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Protocol


class NoticeRefused(Exception):
    """The notice must not be sent, now or later: the recipient opted out or cannot receive it."""


@dataclass(frozen=True)
class Notice:
    """One notice as a channel sees it.

    Attributes:
        key: the outbox's idempotency key (stable across retries).
        to: the raw address (phone number, mail address, chat id, web chat session id).
        text: the body as the channel shows it.
        subject: mail only.
        thread: mail only: the Message-ID the notice replies to.
    """

    key: str
    to: str
    text: str
    subject: str = ""
    thread: str = ""


class NoticeSender(Protocol):
    """Sends notices on one channel."""

    def send_notice(self, notice: Notice) -> str:
        """Send ``notice``; return the provider's message id.

        Raises:
            NoticeRefused: opted out, unreachable or invalid address (never retried).
            Exception: anything else is a failed attempt (retried with backoff).
        """
        ...

    def find_notice(self, notice: Notice, since: dt.datetime) -> str | None:
        """The provider's id of ``notice`` when an attempt since ``since`` already delivered it, else None."""
        ...


def notice_digest(key: str, length: int = 32) -> str:
    """A short, stable hex digest of a notice key (for Message-IDs and record keys)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:length]
