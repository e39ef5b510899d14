"""The action server with its SMS sender composed in: ``python -m server.action_server`` (same arguments).

The actions send phone-ownership codes through a :class:`channels.core.Sender`; the
actions package may not import the channels, so this entry point builds Twilio's sender
(:class:`channels.sms_sender.TwilioSmsSender`, opt-outs honoured) when
``TWILIO_ACCOUNT_SID`` and ``TWILIO_SMS_FROM`` are set, installs it, and runs
:mod:`actions.serve`. Without those variables the codes go to the development sink
(``DEV_SMS_SINK``, default ``var/dev_sms.jsonl``).
"""

from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)


def install_sms_sender() -> bool:
    """Install Twilio's sender for phone codes when configured; True when installed.

    Raises:
        channels.twilio_common.verify.MissingCredentials: Twilio is half configured.
    """
    import os

    if not os.environ.get("TWILIO_ACCOUNT_SID", "").strip():
        return False
    from actions.stores import install_code_sender
    from channels.sms_sender import sender_from_settings
    from channels.state_redis import make_channel_state
    from channels.twilio_common.verify import TwilioSettings

    sender = sender_from_settings(TwilioSettings.from_env(), make_channel_state())
    if sender is None:
        return False
    install_code_sender(sender)
    return True


def main(argv: list[str] | None = None) -> int:
    """Compose the code sender, then serve the actions until stopped."""
    from actions.serve import main as serve

    install_sms_sender()
    return serve(argv)


if __name__ == "__main__":
    sys.exit(main())
