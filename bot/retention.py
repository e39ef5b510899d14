"""Delete conversations older than the retention period from the tracker store.

Run in the Rasa venv::

    .venv-rasa/bin/python -m bot.retention --endpoints endpoints.yml [--days N]

``--days`` defaults to ``TRACKER_RETENTION_DAYS``, else to ``tracker_conversations_days`` of
the committed retention policy (``common/retention.yml``, shared with the other purges). The tracker
store must be :class:`bot.tracker_store.MaskingSQLTrackerStore`. ``scripts/run_prod.py``
runs it at start-up and daily; in a cluster it is a CronJob (``deploy/k8s``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import List, Optional

log = logging.getLogger("bot.retention")


def main(argv: Optional[List[str]] = None) -> int:
    """Parse arguments, delete stale conversations, print how many; exit code 2 on bad setup."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", default="endpoints.yml")
    parser.add_argument("--days", type=float, default=None,
                        help="retention period in days (default: TRACKER_RETENTION_DAYS, else common/retention.yml)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    days = args.days
    if days is None:
        raw = os.environ.get("TRACKER_RETENTION_DAYS", "").strip()
        if not raw:  # the committed policy (common/retention.yml)
            from common.retention import Retention

            raw = str(Retention.load().tracker_conversations_days)
        try:
            days = float(raw)
        except ValueError:
            log.error("TRACKER_RETENTION_DAYS must be a number of days, got %r", raw)
            return 2
    if days <= 0:
        log.error("the retention period must be a positive number of days")
        return 2

    from rasa.core.utils import read_endpoints_from_path

    from bot.tracker_store import MaskingSQLTrackerStore

    endpoints = read_endpoints_from_path(args.endpoints)
    config = endpoints.tracker_store
    if config is None or config.type != "bot.tracker_store.MaskingSQLTrackerStore":
        log.error("%s does not configure bot.tracker_store.MaskingSQLTrackerStore", args.endpoints)
        return 2
    store = MaskingSQLTrackerStore(host=config.url, **config.kwargs)
    try:
        deleted = store.delete_conversations_older_than(days)
    finally:
        store.engine.dispose()
    log.info("retention: deleted %d conversation(s) older than %g day(s)", deleted, days)
    print(deleted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
