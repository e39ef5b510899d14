"""Fill-in wording of the actions, read from ``actions/config/wording.yml`` on first use.

The domain (``bot/domain``) holds every message; the actions only fill its variables, and
the few Chinese values they fill in (a status history line, "该业务" …) come from this file,
never from Python literals. ``ACTIONS_WORDING`` points to another file.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import lru_cache
from pathlib import Path

import yaml

from common.clock import CITY_TZ

WORDING_FILE = Path(__file__).resolve().parent / "config" / "wording.yml"
KEYS = ("status_history_line", "timestamp", "default_next_step", "unnamed_service", "general_service",
        "no_online_service", "place_in_letter", "case_unassigned", "due_date")


@lru_cache(maxsize=1)
def wording() -> dict[str, str]:
    """Every fill-in by key (read once).

    Raises:
        ValueError: the file lacks a key.
    """
    path = Path(os.environ.get("ACTIONS_WORDING") or WORDING_FILE)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    missing = [k for k in KEYS if not isinstance(data.get(k), str)]
    if missing:
        raise ValueError(f"{path}: missing wording {missing}")
    return {k: data[k] for k in KEYS}


def word(key: str) -> str:
    """One fill-in, e.g. ``word("unnamed_service")``."""
    return wording()[key]


def timestamp(value: object) -> str:
    """A stored timestamp (aware, naive UTC or ISO text) as the city's local ``11月10日 10:05``."""
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    local = moment.astimezone(CITY_TZ)
    return word("timestamp").format(month=local.month, day=local.day, time=f"{local:%H:%M}")


def history_line(at: object, status: str, note: str) -> str:
    """One line of a status history: when, the status label, the note."""
    return word("status_history_line").format(when=timestamp(at), status=status, note=note)
