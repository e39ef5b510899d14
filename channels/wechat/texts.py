"""The WeChat adapter's own wording, read from ``texts.yml`` beside this module on first use."""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

TEXTS_FILE = Path(__file__).with_name("texts.yml")
KEYS = frozenset({"options_footer", "option_word", "option_out_of_range", "empty_text", "voice_not_recognised",
                  "image_received",
                  "location_received", "link_received", "unsupported", "menu_unknown", "unavailable", "no_reply"})


@functools.cache
def _load() -> dict[str, str]:
    data = yaml.safe_load(TEXTS_FILE.read_text(encoding="utf-8")) or {}
    missing = KEYS - set(data)
    if missing:
        raise ValueError(f"{TEXTS_FILE.name} lacks {sorted(missing)}")
    return {k: str(v) for k, v in data.items()}


def text(key: str, **values: object) -> str:
    """The wording ``key`` of ``texts.yml``, with ``{placeholders}`` filled from ``values``.

    Raises:
        KeyError: ``key`` is not one of :data:`KEYS`.
    """
    if key not in KEYS:
        raise KeyError(key)
    template = _load()[key]
    return template.format(**values) if values else template
