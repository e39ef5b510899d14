"""SMS notices from the outbox: Twilio REST through :class:`~channels.sms_sender.TwilioSmsSender`.

Opt-outs (退订/TD, recorded by the SMS adapter) refuse the notice. Whether a notice already
left is asked of Twilio itself: the account's messages to the number (newest first), one whose
body is the notice's and that was created since the first attempt began. Two different notices
with the same text to the same number inside one retry window would be taken for one.
"""

from __future__ import annotations

import datetime as dt
import logging
from email.utils import parsedate_to_datetime
from typing import Any

from channels.outbound import Notice, NoticeRefused
from channels.sms_sender import MAX_BODY_CHARS, SendRefused, TwilioSmsSender
from common.identity import to_e164

log = logging.getLogger(__name__)

LOOKUP_PAGE = 50  # messages to the number examined when reconciling
CLOCK_SKEW = dt.timedelta(minutes=2)  # Twilio's clock against ours


class SmsNoticeSender:
    """A notice sender over Twilio's Messages API.

    Args:
        sms: the project's SMS sender (checks opt-outs, builds the Twilio client lazily).
    """

    def __init__(self, sms: TwilioSmsSender):
        self.sms = sms

    def send_notice(self, notice: Notice) -> str:
        """Send the notice; return Twilio's message sid.

        Raises:
            NoticeRefused: opted out, not a mobile number, or Twilio's 21610 (the number replied STOP).
        """
        from twilio.base.exceptions import TwilioRestException

        try:
            return self.sms.send(notice.to, notice.text)
        except SendRefused as exc:
            raise NoticeRefused(str(exc)) from exc
        except TwilioRestException as exc:
            if exc.code in (21610, 21211, 21614):  # unsubscribed, invalid, not a mobile number
                raise NoticeRefused(f"twilio {exc.code}") from exc
            raise

    def find_notice(self, notice: Notice, since: dt.datetime) -> str | None:
        """Twilio's sid of this notice when an earlier attempt delivered it, else None."""
        e164 = to_e164(notice.to)
        if not e164:
            return None
        body = notice.text.strip()[:MAX_BODY_CHARS]
        earliest = since - CLOCK_SKEW
        for message in self.sms.client.messages.list(to=e164, limit=LOOKUP_PAGE):
            created = _created(message)
            if message.body == body and (created is None or created >= earliest):
                log.info("sms-notice: found an earlier attempt sid=%s", message.sid)
                return str(message.sid)
        return None


def _created(message: Any) -> dt.datetime | None:
    value = message.date_created
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    if isinstance(value, str) and value:
        return parsedate_to_datetime(value)
    return None
