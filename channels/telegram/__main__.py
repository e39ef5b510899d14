"""``python -m channels.telegram [poll|set-webhook|delete-webhook]``.

``poll`` (default) runs the long-polling worker until SIGTERM or Ctrl-C. In webhook mode
the app server serves the updates; ``set-webhook`` registers ``TELEGRAM_WEBHOOK_URL``
with the secret token, ``delete-webhook`` removes it. Exits with status 2 and one log
line naming every missing variable when Telegram is not configured.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from channels.core import CoreClient, CoreSettings
from channels.pull import PullSettings
from channels.telegram.verify import TelegramSettings, TelegramSettingsError
from common.jsonlog import configure

log = logging.getLogger("channels.telegram")


async def _poll(settings: TelegramSettings, core: CoreSettings, pull: PullSettings) -> None:
    from channels.telegram.adapter import TelegramAdapter, serve_polling

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    adapter = TelegramAdapter(settings, core=CoreClient(core), pull=pull)
    log.info("telegram adapter: long polling %s while the core at %s is ready", settings.api_base_url, core.rasa_url)
    await serve_polling(adapter, stop)
    log.info("telegram adapter stopped")


async def _webhook(settings: TelegramSettings, register: bool) -> None:
    from telegram import Bot

    base = settings.api_base_url
    async with Bot(settings.token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot") as bot:
        if register:
            await bot.set_webhook(settings.webhook_url or "", secret_token=settings.webhook_secret,
                                  allowed_updates=["message", "callback_query"])
            log.info("telegram: webhook registered")
        else:
            await bot.delete_webhook()
            log.info("telegram: webhook deleted")


def main(argv: list[str] | None = None) -> int:
    """Run the chosen command."""
    parser = argparse.ArgumentParser(prog="python -m channels.telegram")
    parser.add_argument("command", nargs="?", default="poll", choices=["poll", "set-webhook", "delete-webhook"])
    args = parser.parse_args(argv)
    # masked, the bot token redacted, httpx's URL-carrying INFO lines off (common.jsonlog)
    configure("telegram", os.environ.get("LOG_LEVEL", "INFO"),
              json_lines=os.environ.get("LOG_FORMAT", "text").lower() == "json")
    try:
        settings = TelegramSettings.from_env()
        core = CoreSettings.from_env()
        pull = PullSettings.load()
    except (TelegramSettingsError, ValueError) as exc:
        log.error("telegram adapter not started: %s", exc)
        return 2
    if args.command == "set-webhook" and not (settings.webhook_url and settings.webhook_secret):
        log.error("telegram: set-webhook needs TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET")
        return 2
    if args.command == "poll":
        asyncio.run(_poll(settings, core, pull))
    else:
        asyncio.run(_webhook(settings, args.command == "set-webhook"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
