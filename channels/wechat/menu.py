"""The official account's custom menu from ``menu.yml``: validation, the menu-create body, click key → payload.

WeChat's rules (checked here so a bad file fails before it reaches the API): 1–3
top-level buttons with names up to 16 bytes; a top-level button either has 1–5
``sub_button`` entries (names up to 60 bytes) or is itself a ``click`` (``key`` up to 128
bytes) or ``view`` (``url`` up to 1024 bytes) button. Every ``click`` button carries the
``payload`` the core receives (``/<intent>``), which stays on our side: only ``key`` is
published.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MENU_FILE = Path(__file__).with_name("menu.yml")
MAX_TOP, MAX_SUB = 3, 5
MAX_TOP_NAME_BYTES, MAX_SUB_NAME_BYTES = 16, 60
MAX_KEY_BYTES, MAX_URL_BYTES = 128, 1024
PAYLOAD_RE = re.compile(r"/[a-z][a-z0-9_]*(\{.*\})?")


class MenuError(ValueError):
    """The menu file breaks WeChat's rules or ours; the message names every problem."""


@dataclass(frozen=True)
class Menu:
    """A validated menu.

    Attributes:
        body: the JSON body of ``POST /cgi-bin/menu/create``.
        payloads: click key → the payload sent to the core.
    """

    body: dict[str, Any]
    payloads: Mapping[str, str]

    def payload_for(self, key: str) -> str | None:
        """The core payload of a click key, or None for a key this menu does not have."""
        return self.payloads.get(key)


def _nbytes(value: str) -> int:
    return len(value.encode("utf-8"))


def _button(raw: Any, where: str, top: bool, problems: list[str], payloads: dict[str, str]) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: not a mapping")
        return {}
    name = str(raw.get("name") or "").strip()
    limit = MAX_TOP_NAME_BYTES if top else MAX_SUB_NAME_BYTES
    if not name or _nbytes(name) > limit:
        problems.append(f"{where}: name must be 1-{limit} bytes, got {name!r}")
    out: dict[str, Any] = {"name": name}
    subs = raw.get("sub_button")
    if subs is not None:
        if not top:
            problems.append(f"{where}: sub-buttons cannot have sub-buttons")
        elif not isinstance(subs, list) or not 1 <= len(subs) <= MAX_SUB:
            problems.append(f"{where}: sub_button must list 1-{MAX_SUB} buttons")
        else:
            out["sub_button"] = [_button(s, f"{where}.sub_button[{i}]", False, problems, payloads)
                                 for i, s in enumerate(subs)]
        return out
    if raw.get("url"):
        url = str(raw["url"]).strip()
        if not re.match(r"https?://\S+$", url) or _nbytes(url) > MAX_URL_BYTES:
            problems.append(f"{where}: url must be an http(s) URL of at most {MAX_URL_BYTES} bytes")
        out.update(type="view", url=url)
        return out
    key, payload = str(raw.get("key") or "").strip(), str(raw.get("payload") or "").strip()
    if not key or _nbytes(key) > MAX_KEY_BYTES:
        problems.append(f"{where}: key must be 1-{MAX_KEY_BYTES} bytes")
    elif key in payloads:
        problems.append(f"{where}: key {key!r} is used twice")
    if not PAYLOAD_RE.fullmatch(payload):
        problems.append(f"{where}: payload must be an intent payload like /book_appointment, got {payload!r}")
    payloads[key] = payload
    out.update(type="click", key=key)
    return out


def parse_menu(data: Any) -> Menu:
    """Validate a loaded menu file.

    Raises:
        MenuError: naming every problem.
    """
    problems: list[str] = []
    payloads: dict[str, str] = {}
    buttons = data.get("button") if isinstance(data, Mapping) else None
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_TOP:
        raise MenuError(f"menu: `button` must list 1-{MAX_TOP} buttons")
    body = {"button": [_button(b, f"button[{i}]", True, problems, payloads) for i, b in enumerate(buttons)]}
    if problems:
        raise MenuError("menu: " + "; ".join(problems))
    return Menu(body=body, payloads=payloads)


@functools.cache
def load_menu(path: Path = MENU_FILE) -> Menu:
    """The menu of ``path`` (default the committed ``menu.yml``), validated and cached.

    Raises:
        MenuError: the file breaks the rules.
    """
    return parse_menu(yaml.safe_load(path.read_text(encoding="utf-8")))
