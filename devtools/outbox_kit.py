"""Run the real outbox worker as a process against local stand-ins (kill tests and bench/outbox_kill.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
SMS_FROM = "+15005550006"


def write_config(path: Path, *, lease_s: float, send_timeout_s: float, backoff_first_s: float = 0.2) -> Path:
    """An outbox YAML with short leases and no quiet hours (tests run at any hour)."""
    path.write_text(yaml.safe_dump({
        "lease_s": lease_s, "send_timeout_s": send_timeout_s,
        "backoff": {"first_s": backoff_first_s, "factor": 2, "max_s": 2}, "max_attempts": 50,
        "quiet_hours": {}, "reminders": {"at": "10:00"},
    }), encoding="utf-8")
    return path


def worker_env(*, db_url: str, channels_url: str, pii_key: str, config: Path, twilio: Any = None,
               telegram: Any = None, poll_s: float = 0.1) -> dict[str, str]:
    """The environment of a worker process: this database, these stand-ins, nothing else configured."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MAIL_", "TELEGRAM_", "TWILIO_", "OUTBOX_", "CHANNELS_REDIS"))}
    env.update({"KNOWLEDGE_DB_URL": db_url, "CHANNELS_DB_URL": channels_url, "TRACKER_PII_KEY": pii_key,
                "OUTBOX_CONFIG": str(config), "OUTBOX_POLL_S": str(poll_s), "OUTBOX_REMINDERS": "false",
                "PYTHONUNBUFFERED": "1"})
    if twilio is not None:
        env.update({"TWILIO_ACCOUNT_SID": twilio.account_sid, "TWILIO_AUTH_TOKEN": twilio.auth_token,
                    "TWILIO_SMS_FROM": SMS_FROM, "TWILIO_API_BASE_URL": twilio.url})
    if telegram is not None:
        env.update({"TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_BASE_URL": telegram.url})
    return env


def start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """``python -m server.outbox_worker`` with ``env``, its output appended to ``log_path``."""
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "server.outbox_worker"], cwd=REPO, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
