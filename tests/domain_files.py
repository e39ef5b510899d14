"""Read the Rasa domain fragments and NLU files with plain YAML (no Rasa import)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO

EXAMPLE_ENTITY_RE = re.compile(r"\[(?P<text>[^\]]+)\](?:\((?P<name>\w+)\)|\{(?P<json>[^}]+)\})")


def domain() -> dict[str, Any]:
    """All fragments of bot/domain merged (lists concatenated, dicts updated)."""
    merged: dict[str, Any] = {}
    for path in sorted((REPO / "bot" / "domain").glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for key, value in data.items():
            if isinstance(value, list):
                merged.setdefault(key, []).extend(value)
            elif isinstance(value, dict):
                merged.setdefault(key, {}).update(value)
            else:
                merged[key] = value
    return merged


def nlu_files() -> list[Path]:
    return sorted(p for p in (REPO / "nlu_data").glob("*.yml"))


def intent_examples(paths: list[Path] | None = None) -> dict[str, list[tuple[str, str]]]:
    """intent -> [(file name, raw example)] over the NLU files."""
    out: dict[str, list[tuple[str, str]]] = {}
    for path in paths or nlu_files():
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in data.get("nlu") or []:
            if "intent" in block:
                for line in str(block.get("examples") or "").splitlines():
                    line = line.strip()
                    if line.startswith("- "):
                        out.setdefault(block["intent"], []).append((path.name, line[2:].strip()))
    return out


def strip_annotations(example: str) -> tuple[str, list[tuple[int, int, str, str | None]]]:
    """Plain text of an annotated example and its entities as (start, end, entity, value)."""
    import json

    text, entities, pos = "", [], 0
    for m in EXAMPLE_ENTITY_RE.finditer(example):
        text += example[pos:m.start()]
        start = len(text)
        text += m.group("text")
        if m.group("name"):
            entities.append((start, len(text), m.group("name"), None))
        else:
            meta = json.loads("{" + m.group("json") + "}")
            entities.append((start, len(text), meta["entity"], meta.get("value")))
        pos = m.end()
    return text + example[pos:], entities
