"""The retention policy: how many days each kind of stored personal data is kept (``retention.yml``).

Read by the purge of every owner (casework, channel state) and by the tracker retention of
the Rasa core; one committed file, so the policy is reviewed in one place. Runs on 3.10 and 3.11.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RETENTION_FILE = Path(__file__).resolve().parent / "retention.yml"


@dataclass(frozen=True)
class Retention:
    """Retention periods in days (each must be positive)."""

    channel_replies_days: float
    bookings_after_date_days: float
    closed_cases_minimise_days: float
    verification_attempts_days: float
    unanswered_questions_days: float
    tracker_conversations_days: float

    @classmethod
    def load(cls, path: Path | None = None) -> Retention:
        """Read ``path`` (default ``RETENTION_FILE`` from the environment, else ``common/retention.yml``).

        Raises:
            ValueError: a period is missing, not a number or not positive.
        """
        import yaml

        path = path or Path(os.environ.get("RETENTION_FILE") or RETENTION_FILE)
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        values: dict[str, float] = {}
        problems: list[str] = []
        for f in dataclasses.fields(cls):
            raw: Any = data.get(f.name)
            try:
                values[f.name] = float(raw)
            except (TypeError, ValueError):
                problems.append(f"{f.name} is missing or not a number")
                continue
            if values[f.name] <= 0:
                problems.append(f"{f.name} must be positive")
        if problems:
            raise ValueError(f"{path}: " + "; ".join(problems))
        return cls(**values)
