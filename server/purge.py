"""The daily purge of every owner's data past its retention period: ``purge_job(settings)``.

Composes the owners' purges (the composition root may import them all): casework
(:func:`casework.purge.purge_casework`) and the channels' dedupe records with their stored
replies (:meth:`channels.state.ChannelState.purge`). Rasa conversations are purged by the
core's own job (``python -m bot.retention``, Rasa venv) from the same ``common/retention.yml``.

``python -m server.purge [--dry-run]`` runs it once and prints the counts as JSON; the worker
process calls :func:`purge_job` on its schedule.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from dataclasses import dataclass

from common.retention import Retention

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PurgeSettings:
    """Where the data lives and how long it is kept.

    Attributes:
        knowledge_db_url: the casework tables (``KNOWLEDGE_DB_URL``).
        channels_db_url: the channel state (``CHANNELS_DB_URL``; None: its default).
        retention: the periods (``common/retention.yml``).
    """

    knowledge_db_url: str
    channels_db_url: str | None
    retention: Retention

    @classmethod
    def from_env(cls) -> PurgeSettings:
        """Read the database URLs from the environment and the committed retention file."""
        import os

        from knowledge.settings import KnowledgeSettings

        return cls(KnowledgeSettings.from_env().db_url, os.environ.get("CHANNELS_DB_URL") or None, Retention.load())


def purge_job(settings: PurgeSettings, *, now: dt.datetime | None = None, dry_run: bool = False) -> dict[str, int]:
    """Purge (or with ``dry_run`` count) everything past its retention period; one log line with the counts."""
    from casework.purge import purge_casework
    from channels.state import ChannelState
    from knowledge.db import make_engine, session_factory

    engine = make_engine(settings.knowledge_db_url)
    try:
        counts = purge_casework(session_factory(engine), settings.retention, now=now, dry_run=dry_run)
    finally:
        engine.dispose()
    state = ChannelState(settings.channels_db_url)
    try:
        counts["channel_replies"] = state.purge(dt.timedelta(days=settings.retention.channel_replies_days),
                                                dry_run=dry_run)
    finally:
        state.dispose()
    log.info("purge%s: %s", " (dry run)" if dry_run else "", json.dumps(counts, sort_keys=True))
    return counts


def main(argv: list[str] | None = None) -> int:
    """Run the purge once."""
    parser = argparse.ArgumentParser(prog="python -m server.purge", description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="count only, change nothing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(json.dumps({"dry_run": args.dry_run, **purge_job(PurgeSettings.from_env(), dry_run=args.dry_run)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
