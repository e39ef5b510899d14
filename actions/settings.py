"""Typed settings of the action server: tunables from actions/config/settings.yml."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

CONFIG_FILE = Path(__file__).resolve().parent / "config" / "settings.yml"


@dataclass(frozen=True)
class ActionSettings:
    """What the actions may tune without code changes."""

    hotline: str = "12345"
    horizon_days: int = 30
    slot_minutes: int = 30
    min_lead_minutes: int = 30
    max_offered_slots: int = 6
    answer_threshold: float = 0.5
    suggest_threshold: float = 0.2
    ambiguity_margin: float = 0.15
    low_confidence: float = 0.65

    @classmethod
    def load(cls, path: Path | None = None) -> ActionSettings:
        """Read the YAML file (``ACTIONS_SETTINGS`` overrides the path)."""
        path = path or Path(os.environ.get("ACTIONS_SETTINGS") or CONFIG_FILE)
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        booking, faq = data.get("booking", {}), data.get("faq", {})
        return cls(
            hotline=str(data.get("hotline", cls.hotline)),
            horizon_days=int(booking.get("horizon_days", cls.horizon_days)),
            slot_minutes=int(booking.get("slot_minutes", cls.slot_minutes)),
            min_lead_minutes=int(booking.get("min_lead_minutes", cls.min_lead_minutes)),
            max_offered_slots=int(booking.get("max_offered_slots", cls.max_offered_slots)),
            answer_threshold=float(faq.get("answer_threshold", cls.answer_threshold)),
            suggest_threshold=float(faq.get("suggest_threshold", cls.suggest_threshold)),
            ambiguity_margin=float(faq.get("ambiguity_margin", cls.ambiguity_margin)),
            low_confidence=float(faq.get("low_confidence", cls.low_confidence)),
        )


@lru_cache(maxsize=1)
def get_settings() -> ActionSettings:
    """Process-wide settings, read once on first use."""
    return ActionSettings.load()
