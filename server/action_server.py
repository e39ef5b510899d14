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


def install_sms_sender(env: dict[str, str] | None = None) -> bool:
    """Install Twilio's sender for phone codes when ``TWILIO_ACCOUNT_SID`` is set; True when installed.

    Raises:
        ValueError: ``TWILIO_AUTH_TOKEN`` or ``TWILIO_SMS_FROM`` is missing beside the account sid.
    """
    import os

    env = dict(os.environ) if env is None else env
    sid = env.get("TWILIO_ACCOUNT_SID", "").strip()
    if not sid:
        return False
    from actions.stores import install_code_sender
    from channels.sms_sender import TwilioSmsSender
    from channels.state_redis import make_channel_state

    missing = [n for n in ("TWILIO_AUTH_TOKEN", "TWILIO_SMS_FROM") if not env.get(n, "").strip()]
    if missing:
        raise ValueError("the action server sends phone codes by SMS: set " + " and ".join(missing))
    install_code_sender(TwilioSmsSender(sid, env["TWILIO_AUTH_TOKEN"].strip(), env["TWILIO_SMS_FROM"].strip(),
                                        make_channel_state()))
    log.info("phone codes go out by SMS through Twilio")
    return True


def main(argv: list[str] | None = None) -> int:
    """Compose the code sender, then serve the actions until stopped."""
    from actions.serve import main as serve

    install_sms_sender()
    return serve(argv)


if __name__ == "__main__":
    sys.exit(main())
