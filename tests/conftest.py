"""Shared fixtures: throw-away databases per test, seeded from one session-wide template."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")  # Debian's chromium, driven by Playwright
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]
SHARED = REPO.parent / "shared"

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")


def migrated_url(path: Path) -> str:
    """Create a migrated SQLite database at ``path`` and return its URL."""
    from knowledge.migrate import upgrade

    url = f"sqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """An empty, migrated SQLite database for one test."""
    return migrated_url(tmp_path / "kb.db")


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file holding the full seed content, built once per session."""
    from knowledge.db import make_engine, session_factory
    from knowledge.repository import KnowledgeRepository
    from knowledge.transfer import import_paths, seed_paths

    path = tmp_path_factory.mktemp("seed") / "seeded.db"
    url = migrated_url(path)
    engine = make_engine(url)
    import_paths(KnowledgeRepository(session_factory(engine)), seed_paths(), actor="seed")
    engine.dispose()
    return path


@pytest.fixture
def seeded_url(seeded_template: Path, tmp_path: Path) -> str:
    """A private copy of the seeded database for one test."""
    path = tmp_path / "seeded.db"
    shutil.copy(seeded_template, path)
    return f"sqlite:///{path}"


def _repo_for(url: str) -> Iterator[Any]:
    from knowledge.db import make_engine, session_factory
    from knowledge.repository import KnowledgeRepository

    engine = make_engine(url)
    yield KnowledgeRepository(session_factory(engine))
    engine.dispose()


@pytest.fixture
def repo(db_url: str) -> Iterator[Any]:
    """A repository on an empty database."""
    yield from _repo_for(db_url)


@pytest.fixture
def seeded_repo(seeded_url: str) -> Iterator[Any]:
    """A repository on a private copy of the seeded database."""
    yield from _repo_for(seeded_url)


@pytest.fixture
def seeded_search(seeded_repo: Any) -> Any:
    """Search over the seeded database."""
    from knowledge.search import KnowledgeSearch
    from knowledge.settings import KnowledgeSettings

    return KnowledgeSearch(repository=seeded_repo, settings=KnowledgeSettings.from_env())


def service_data(**overrides: Any) -> dict[str, Any]:
    """A valid service record for tests."""
    data: dict[str, Any] = {
        "id": "passport", "name": "普通护照申领", "category": "出入境", "audience": "citizen",
        "department": "广州市公安局出入境管理支队", "summary": "中国公民因私出国申请普通护照。",
        "keywords": ["办护照", "护照"], "eligibility": "中国公民", "materials": ["居民身份证"],
        "steps": ["预约", "现场提交"], "locations": "各出入境办证大厅", "time_limit": "7个工作日",
        "fees": "120元", "online_url": "https://www.gdzwfw.gov.cn/",
        "forms": [{"name": "申请表", "url": "https://www.gdzwfw.gov.cn/"}], "legal_basis": ["《护照法》"],
    }
    data.update(overrides)
    return data


def faq_data(**overrides: Any) -> dict[str, Any]:
    """A valid, published FAQ record for tests."""
    data: dict[str, Any] = {
        "service_id": "passport", "topic": "fees", "question": "办护照要多少钱",
        "alternatives": ["护照工本费几多钱"], "answer": "普通护照每本120元。", "status": "published",
    }
    data.update(overrides)
    return data




# The real Rasa core and action server for end-to-end tests (devtools/live.py).
@pytest.fixture(scope="session")
def live_core(seeded_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A running Rasa core and action server on a private copy of the seeded database."""
    from devtools.live import ci_model, load_sample_applications, rasa_available, start_live_core

    reason = rasa_available()
    if reason:
        pytest.skip(reason)
    workdir = tmp_path_factory.mktemp("live_core")
    shutil.copy(seeded_template, workdir / "kb.db")
    db_url = f"sqlite:///{workdir / 'kb.db'}"
    load_sample_applications(db_url)
    core = start_live_core(workdir, db_url, ci_model())
    yield core
    core.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Debian chromium through Playwright; skipped with the reason when either is missing."""
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        yield b
        b.close()
