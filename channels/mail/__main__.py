"""``python -m channels.mail``: run the mailbox worker until SIGTERM or Ctrl-C.

Exits with status 2 and one log line naming every missing variable when the mailbox is
not configured; the rest of the services keep running.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

from channels.core import CoreClient, CoreSettings
from channels.mail.verify import MailSettings, MailSettingsError
from channels.mail.worker import MailWorker
from channels.pull import PullSettings

log = logging.getLogger("channels.mail")


def main() -> int:
    """Start the worker (or explain why not)."""
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = MailSettings.from_env()
        core = CoreSettings.from_env()
        pull = PullSettings.load()
    except (MailSettingsError, ValueError) as exc:
        log.error("mailbox adapter not started: %s", exc)
        return 2

    worker = MailWorker(settings, core=CoreClient(core), pull=pull)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    signal.signal(signal.SIGINT, lambda *_: worker.stop())
    log.info("mailbox adapter: %s@%s:%d folder %s → core %s", hash_prefix(settings.imap_user), settings.imap_host,
             settings.imap_port, settings.folder, core.rasa_url)
    worker.run_forever()
    log.info("mailbox adapter stopped")
    return 0


def hash_prefix(user: str) -> str:
    """The mailbox login without its local part (logs)."""
    return "***" + user[user.find("@"):] if "@" in user else "***"


if __name__ == "__main__":
    sys.exit(main())
