"""Run Alembic migrations programmatically (no alembic.ini needed)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from knowledge.settings import PACKAGE_DIR, get_settings


def alembic_config(db_url: str | None = None) -> Config:
    """An Alembic Config pointing at ``knowledge/migrations`` and ``db_url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(PACKAGE_DIR / "migrations"))
    cfg.set_main_option("sqlalchemy.url", (db_url or get_settings().db_url).replace("%", "%%"))
    return cfg


def upgrade(db_url: str | None = None, revision: str = "head") -> None:
    """Bring the database at ``db_url`` up to ``revision``."""
    command.upgrade(alembic_config(db_url), revision)


def current(db_url: str | None = None) -> str | None:
    """The revision the database is at, or None when it is not under migration control."""
    from alembic.runtime.migration import MigrationContext

    from knowledge.db import get_engine

    with get_engine(db_url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
