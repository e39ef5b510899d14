"""Start every local service of the embedded profile and stop them all on Ctrl-C.

Services: the app server (knowledge API, web chat, staff console, channel webhooks)
and the outbox worker (notices to citizens) always; the Rasa server and the action server when
the Rasa venv and a trained model exist. Ports: APP_PORT (8000), RASA_PORT (5005), ACTIONS_PORT
(5055); host 127.0.0.1 unless BIND_HOST says otherwise.

The core is closed even here: the relays and the action server check ``RELAY_TOKEN`` and
``ACTION_SERVER_TOKEN`` (generated per run and passed to every service when unset; beyond
loopback they must be given), Rasa's HTTP API answers only with ``RASA_API_TOKEN`` (the live-agent desk
resumes conversations through it) and there is no stock REST channel.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the repository: devtools, channels

from devtools.supervisor import Service, rasa_command, supervise  # noqa: E402

log = logging.getLogger("run_local")


def _services() -> list[tuple[str, list[str]]]:
    host = os.environ.get("BIND_HOST", "127.0.0.1")
    app_py = str(REPO / ".venv-app" / "bin" / "python")
    out = [("app", [app_py, "-m", "server"])]
    out.append(("outbox", [app_py, "-m", "server.outbox_worker"]))  # notices to citizens (casework/outbox.py)
    out.extend(_channel_workers(app_py))
    os.environ.setdefault("APP_HOST", host)
    rasa = REPO / ".venv-rasa" / "bin" / "rasa"
    config_name = Path(os.environ.get("RASA_CONFIG", "bot/config.yml")).stem
    if not rasa.exists():
        log.info("rasa: skipped — .venv-rasa is missing (run `make setup`)")
        return out
    # Train when the model is missing or stale (the script returns at once when it is current).
    if subprocess.run(["bash", str(REPO / "scripts" / "train.sh")], cwd=REPO).returncode != 0:
        log.error("rasa: skipped — training failed (see above); the app server runs without the bot")
        return out
    models = sorted((REPO / "models").glob(f"{config_name}-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        log.info("rasa: skipped — no trained model in models/ (run `make train`)")
    else:
        # rasa_sdk binds SANIC_HOST (default 0.0.0.0): keep it on the configured host.
        os.environ.setdefault("SANIC_HOST", host)
        out.append(("actions", [app_py, "-m", "actions.serve", "--actions", "actions",
                                "--port", os.environ.get("ACTIONS_PORT", "5055")]))
        # The HTTP API only with its token: the live-agent desk resumes paused conversations through it.
        out.append(("rasa", rasa_command(os.environ.get("RASA_PORT", "5005"), models[-1], "endpoints.yml",
                                         interface=host, api_token=os.environ.get("RASA_API_TOKEN") or None)))
    return out


def _channel_workers(app_py: str) -> list[tuple[str, list[str]]]:
    """The mailbox and Telegram workers whose settings are complete; one log line for each one skipped."""
    from channels.mail.verify import missing_reason as mail_missing  # stdlib-only modules
    from channels.telegram.verify import missing_reason as telegram_missing

    out: list[tuple[str, list[str]]] = []
    reason = mail_missing()
    if reason:
        log.info("mail worker: skipped — %s", reason)
    else:
        out.append(("mail", [app_py, "-m", "channels.mail"]))
    reason = telegram_missing()
    if reason:
        log.info("telegram worker: skipped — %s", reason)
    elif os.environ.get("TELEGRAM_MODE", "polling").strip().lower() == "webhook":
        log.info("telegram worker: skipped — TELEGRAM_MODE=webhook (the app server serves /channels/telegram/webhook)")
    else:
        out.append(("telegram", [app_py, "-m", "channels.telegram"]))
    return out


def main() -> int:
    """Run the services until one exits or Ctrl-C; then stop the rest."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s run_local: %(message)s")
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    os.environ.setdefault("ACTIONS_PORT", "5055")  # endpoints.yml refers to it
    os.environ.setdefault("TRACKER_SQLITE_PATH", str(REPO / "var" / "tracker.db"))  # and to this
    (REPO / "var").mkdir(exist_ok=True)  # the tracker store's SQLite file lives there
    loopback = os.environ.get("BIND_HOST", "127.0.0.1").strip() in ("127.0.0.1", "localhost", "::1")
    for name in ("RELAY_TOKEN", "ACTION_SERVER_TOKEN", "RASA_API_TOKEN"):  # shared by this run's services only
        if loopback and not os.environ.get(name, "").strip():  # beyond loopback they must be given
            os.environ[name] = secrets.token_urlsafe(32)
    services = [Service(name, cmd) for name, cmd in _services()]
    base = f"http://{os.environ.get('APP_HOST')}:{os.environ.get('APP_PORT', '8000')}"
    log.info("app server: %s/  web chat: %s/chat/  staff console: %s/staff/  (Ctrl-C stops everything)",
             base, base, base)
    if any(s.name == "rasa" for s in services):
        log.info("the bot answers once the Rasa server has loaded its model (about a minute); "
                 "the mail and Telegram workers take no messages until then")
    return supervise(services)

if __name__ == "__main__":
    sys.exit(main())
