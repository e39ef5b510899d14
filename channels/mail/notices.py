"""Mail notices from the outbox: a reply in the citizen's own thread, copied to the Sent folder.

The Message-ID is derived from the notice's idempotency key, so "did it leave?" is answered
by the bot mailbox's Sent folder (IMAP ``SEARCH HEADER Message-ID``): the copy is saved right
after SMTP accepted the mail. A worker killed between that acceptance and the copy sends the
mail again with the same Message-ID, which mail clients show as one message. Replies carry
``In-Reply-To``/``References`` of the citizen's letter and ``Auto-Submitted: auto-replied`` so
the citizen's auto-responders do not answer them. A mail SMTP accepted counts as sent even when
the copy to Sent fails (logged); the copy is only the record a restarted worker reads. Opted-out addresses are refused.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from channels.mail.verify import MailSettings
from channels.mail.worker import CHANNEL, IMAP_TIMEOUT_S, SmtpSender
from channels.outbound import Notice, NoticeRefused, notice_digest
from channels.state import ChannelState
from common.identity import hash_sender

log = logging.getLogger(__name__)

SENT_FOLDER_ENV = "MAIL_SENT_FOLDER"
DEFAULT_SENT_FOLDER = "Sent"


def notice_message_id(key: str, smtp_from: str) -> str:
    """The Message-ID of the notice with ``key`` (stable across retries and workers)."""
    domain = parseaddr(smtp_from)[1].rpartition("@")[2] or "localhost"
    return f"<notice.{notice_digest(key)}@{domain}>"


class MailNoticeSender:
    """A notice sender over SMTP, with the Sent folder (IMAP) as the record of what left.

    Args:
        settings: the mailbox settings (``MAIL_*``).
        state: where opt-outs are recorded.
        sent_folder: the bot mailbox's Sent folder (``MAIL_SENT_FOLDER``, default ``Sent``; created when missing).
        smtp: the SMTP sender (default :class:`~channels.mail.worker.SmtpSender`).
    """

    def __init__(self, settings: MailSettings, state: ChannelState, sent_folder: str | None = None,
                 smtp: SmtpSender | None = None, env: Mapping[str, str] | None = None):
        env = os.environ if env is None else env
        self.settings = settings
        self.state = state
        self.sent_folder = sent_folder or env.get(SENT_FOLDER_ENV, "").strip() or DEFAULT_SENT_FOLDER
        self.smtp = smtp or SmtpSender(settings)

    def _imap(self) -> IMAPClient:
        s = self.settings
        client = IMAPClient(s.imap_host, port=s.imap_port, ssl=s.imap_ssl, timeout=IMAP_TIMEOUT_S)
        client.login(s.imap_user, s.imap_password)
        if not client.folder_exists(self.sent_folder):
            client.create_folder(self.sent_folder)
        return client

    def build(self, notice: Notice) -> EmailMessage:
        """The mail of ``notice``."""
        msg = EmailMessage()
        msg["From"] = self.settings.smtp_from
        msg["To"] = notice.to
        msg["Subject"] = notice.subject
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = notice_message_id(notice.key, self.settings.smtp_from)
        if notice.thread:
            msg["In-Reply-To"] = notice.thread
            msg["References"] = notice.thread
        msg["Auto-Submitted"] = "auto-replied"
        msg.set_content(notice.text, charset="utf-8")
        return msg

    def send_notice(self, notice: Notice) -> str:
        """Send the notice over SMTP, then save it in Sent; return its Message-ID.

        Raises:
            NoticeRefused: no usable address, or the address opted out.
        """
        address = parseaddr(notice.to)[1].strip().lower()
        if "@" not in address:
            raise NoticeRefused("not a mail address")
        if self.state.is_opted_out(CHANNEL, hash_sender(address)):
            raise NoticeRefused("opted out")
        msg = self.build(notice)
        self.smtp.send(msg)
        try:  # SMTP accepted it: it is sent; the copy in Sent is the record a restart reads
            client = self._imap()
            try:
                client.append(self.sent_folder, msg.as_bytes(), flags=[b"\\Seen"])
            finally:
                client.logout()
        except (OSError, IMAPClientError) as exc:
            log.warning("mail-notice: sent but not copied to %s (%s)", self.sent_folder, type(exc).__name__)
        log.info("mail-notice: sent message_id=%s to=%s", msg["Message-ID"], hash_sender(address))
        return str(msg["Message-ID"])

    def find_notice(self, notice: Notice, since: dt.datetime) -> str | None:
        """The Message-ID when the Sent folder holds this notice, else None."""
        message_id = notice_message_id(notice.key, self.settings.smtp_from)
        client = self._imap()
        try:
            client.select_folder(self.sent_folder, readonly=True)
            found = client.search(["HEADER", "Message-ID", message_id])
        finally:
            client.logout()
        return message_id if found else None
