"""The held-out NLU set, minus anything that also appears in the training data."""

from __future__ import annotations

from typing import Any

from devtools.supervisor import REPO


def load_examples(paths: list[Any]) -> dict[str, list[str]]:
    """Intent → raw annotated examples over Rasa YAML files."""
    import yaml

    out: dict[str, list[str]] = {}
    for path in paths:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in data.get("nlu") or []:
            if "intent" in block:
                rows = [ln.strip()[2:].strip() for ln in str(block.get("examples") or "").splitlines()
                        if ln.strip().startswith("- ")]
                out.setdefault(block["intent"], []).extend(rows)
    return out


def plain(example: str) -> str:
    """An annotated example's text, normalised (for comparisons)."""
    import re

    from common.textnorm import normalize

    return normalize(re.sub(r"\[([^\]]+)\](?:\(\w+\)|\{[^}]+\})", r"\1", example))


def training_examples() -> dict[str, list[str]]:
    """The NLU training examples per intent (``nlu_data/*.yml``)."""
    return load_examples(sorted((REPO / "nlu_data").glob("*.yml")))


def unseen_heldout() -> dict[str, list[str]]:
    """Held-out examples whose text never occurs in training (short greetings often do)."""
    seen = {plain(e) for rows in training_examples().values() for e in rows}
    held = load_examples([REPO / "bench" / "data" / "nlu_heldout.yml"])
    return {intent: [e for e in rows if plain(e) not in seen] for intent, rows in held.items()}
