"""``python -m channels.wechat menu [--dry-run]``: publish the custom menu of ``menu.yml``.

Needs ``WECHAT_TOKEN``, ``WECHAT_APP_ID`` and ``WECHAT_APP_SECRET`` (and the channel
state, ``CHANNELS_DB_URL``, where the shared access token lives). ``--dry-run`` prints the
menu-create body without calling WeChat. Exits with status 2 and one log line naming
every problem when the settings or the menu file are unusable, 1 when WeChat refuses.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from channels.wechat.menu import MenuError, load_menu
from channels.wechat.verify import WeChatSettings, WeChatSettingsError

log = logging.getLogger("channels.wechat")


def main(argv: list[str] | None = None) -> int:
    """Run the chosen command."""
    parser = argparse.ArgumentParser(prog="python -m channels.wechat")
    parser.add_argument("command", choices=["menu"])
    parser.add_argument("--dry-run", action="store_true", help="print the menu-create body, call nothing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        menu = load_menu()
    except MenuError as exc:
        log.error("wechat: menu not published: %s", exc)
        return 2
    if args.dry_run:
        print(json.dumps(menu.body, ensure_ascii=False, indent=2))
        return 0
    try:
        settings = WeChatSettings.from_env()
    except WeChatSettingsError as exc:
        log.error("wechat: menu not published: %s", exc)
        return 2
    if not settings.app_secret:
        log.error("wechat: menu not published: WECHAT_APP_SECRET is not set")
        return 2
    from channels.state_redis import make_channel_state
    from channels.wechat.api import WeChatApi, WeChatApiError

    state = make_channel_state()
    try:
        WeChatApi(settings, state).create_menu(menu.body)
    except WeChatApiError as exc:
        log.error("wechat: WeChat refused the menu: %s", exc)
        return 1
    finally:
        state.dispose()
    log.info("wechat: menu published (%d buttons, %d click keys)", len(menu.body["button"]), len(menu.payloads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
