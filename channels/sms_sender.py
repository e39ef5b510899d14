"""Outbound SMS through Twilio's REST API, refusing numbers that opted out.

Used for proactive messages (e.g. the IVR's "send me the details by SMS"). Every send
checks the SMS opt-out of the number first; an opted-out or invalid number raises
:class:`SendRefused` and nothing is sent. The Twilio client is built on first use; tests
pass their own ``client`` (any object with ``messages.create``) or a fake :class:`~channels.core.Sender`.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from channels.state import ChannelState
from channels.twilio_common.verify import TwilioSettings
from common.identity import hash_sender, is_mobile, to_e164

log = logging.getLogger(__name__)

OPT_OUT_CHANNEL = "sms"
MAX_BODY_CHARS = 1600  # Twilio's limit for one message resource
SEND_TIMEOUT_S = 5.0  # callers (the IVR) answer Twilio within its 15-second window


class SendRefused(Exception):
    """The message was not sent: the number opted out or cannot receive SMS."""


class TwilioSmsSender:
    """A :class:`~channels.core.Sender` over ``twilio.rest.Client``.

    Args:
        account_sid: ``TWILIO_ACCOUNT_SID``.
        auth_token: ``TWILIO_AUTH_TOKEN``.
        sms_from: ``TWILIO_SMS_FROM``: a sender number, or a messaging service sid (``MG…``).
        state: where opt-outs are recorded.
        client: a ready Twilio client (default: built lazily from the credentials).
    """

    def __init__(self, account_sid: str, auth_token: str, sms_from: str, state: ChannelState,
                 client: Any | None = None):
        if not (account_sid and auth_token and sms_from):
            raise ValueError("TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_SMS_FROM are required")
        self._sid, self._token, self._from = account_sid, auth_token, sms_from
        self._state = state
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The Twilio REST client, built on first use."""
        with self._lock:
            if self._client is None:
                from twilio.http.http_client import TwilioHttpClient
                from twilio.rest import Client

                self._client = Client(self._sid, self._token, http_client=TwilioHttpClient(timeout=SEND_TIMEOUT_S))
            return self._client

    def send(self, to: str, text: str) -> str:
        """Send ``text`` to ``to``; return Twilio's message sid.

        Raises:
            SendRefused: opted-out, invalid or non-mobile number, or empty text.
            twilio.base.exceptions.TwilioException: the API refused or was unreachable.
        """
        e164 = to_e164(to)
        if not e164 or not is_mobile(e164):
            raise SendRefused("not a mobile number")
        who = hash_sender(e164)
        if self._state.is_opted_out(OPT_OUT_CHANNEL, who):
            log.info("sms-sender: refused, number opted out sender=%s", who)
            raise SendRefused("opted out")
        body = text.strip()[:MAX_BODY_CHARS]
        if not body:
            raise SendRefused("empty text")
        kwargs = {"messaging_service_sid": self._from} if self._from.startswith("MG") else {"from_": self._from}
        message = self.client.messages.create(to=e164, body=body, **kwargs)
        log.info("sms-sender: sent sid=%s sender=%s", message.sid, who)
        return str(message.sid)


def sender_from_settings(settings: TwilioSettings, state: ChannelState) -> TwilioSmsSender | None:
    """A sender when ``TWILIO_ACCOUNT_SID`` and ``TWILIO_SMS_FROM`` are configured, else None."""
    if not (settings.account_sid and settings.sms_from):
        return None
    return TwilioSmsSender(settings.account_sid, settings.auth_token, settings.sms_from, state)
