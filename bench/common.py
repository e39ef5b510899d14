"""Helpers shared by the benchmarks: scratch databases, percentiles, report writing."""

from __future__ import annotations

import datetime as dt
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import yaml

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def load_questions(name: str) -> list[dict[str, Any]]:
    """Questions of ``bench/data/<name>.yml``."""
    return yaml.safe_load((BENCH_DIR / "data" / f"{name}.yml").read_text(encoding="utf-8"))["questions"]


def scratch_seeded_repo(tmpdir: str | None = None) -> Any:
    """A repository on a fresh SQLite database holding the seed content."""
    from knowledge.db import make_engine, session_factory
    from knowledge.migrate import upgrade
    from knowledge.repository import KnowledgeRepository
    from knowledge.transfer import import_paths, seed_paths

    path = Path(tmpdir or tempfile.mkdtemp(prefix="bench-")) / "kb.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    repo = KnowledgeRepository(session_factory(make_engine(url)))
    import_paths(repo, seed_paths(), actor="bench")
    return repo


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0-100), nearest-rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def machine_line() -> str:
    """Where and when a figure was measured."""
    return (f"{dt.date.today().isoformat()}, {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}")
