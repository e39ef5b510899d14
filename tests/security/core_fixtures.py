"""Fixtures of the core attacker test: the real core closed as in production, and a tally of attempts.

Import them into a test module (``from tests.security.core_fixtures import closed_core, tally``);
there is deliberately no ``tests/security/conftest.py`` (the citizen attacker tests live beside).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devtools.live import LiveCore, ci_model, load_sample_applications, rasa_available, start_live_core

REPORT = Path(__file__).resolve().parent / "REPORT_core.md"


@dataclass
class Tally:
    """Attempts per attack and how many got through (a 2xx answer or data in the body)."""

    rows: dict[str, list[int]] = field(default_factory=dict)

    def record(self, attack: str, got_through: bool) -> None:
        """Count one attempt of ``attack``."""
        made, through = self.rows.get(attack, [0, 0])
        self.rows[attack] = [made + 1, through + int(got_through)]

    @property
    def attempts(self) -> int:
        """All attempts made."""
        return sum(m for m, _ in self.rows.values())

    @property
    def through(self) -> int:
        """All attempts that got through."""
        return sum(t for _, t in self.rows.values())

    def markdown(self) -> str:
        """The table of the report."""
        lines = ["| attack | attempts | got through |", "|---|---:|---:|"]
        lines += [f"| {name} | {made} | {through} |" for name, (made, through) in self.rows.items()]
        lines.append(f"| **total** | **{self.attempts}** | **{self.through}** |")
        return "\n".join(lines)


@pytest.fixture(scope="module")
def closed_core(seeded_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCore]:
    """The real Rasa core and action server with every token set, as the deployables run them."""
    reason = rasa_available()
    if reason:
        pytest.skip(reason)
    workdir = tmp_path_factory.mktemp("closed_core")
    shutil.copy(seeded_template, workdir / "kb.db")
    db_url = f"sqlite:///{workdir / 'kb.db'}"
    load_sample_applications(db_url)
    core = start_live_core(workdir, db_url, ci_model(), closed=True)
    yield core
    core.stop()


@pytest.fixture(scope="module")
def tally() -> Iterator[Tally]:
    """Collects every attempt of the module; prints the figures and writes ``REPORT_core.md`` at the end."""
    t = Tally()
    yield t
    if not t.rows:
        return
    print(f"\ncore attacker: {t.attempts} attempts, {t.through} got through")
    print(t.markdown())
    REPORT.write_text(
        "# Scripted attacker against the core, the relays and the action server\n\n"
        "Command: `.venv-app/bin/python -m pytest tests/security/test_attacker_core.py -q -s`\n"
        "(the real Rasa core with the light CI model and the real action server, every token set as in\n"
        "production; each attempt goes straight to a port, as a caller inside the network would).\n\n"
        f"{t.markdown()}\n", encoding="utf-8")


def body_leaks(res: Any, *needles: str) -> bool:
    """True when the response body carries any of ``needles`` (data that must not come out)."""
    text = res.text if hasattr(res, "text") else str(res)
    return any(n and n in text for n in needles)
