"""Casework commands: ``python -m casework purge [--dry-run]`` (retention, ``common/retention.yml``)."""

from __future__ import annotations

import argparse
import json
import sys

from common.retention import Retention


def main(argv: list[str] | None = None) -> int:
    """Run the command; print what was (or would be) purged as JSON."""
    parser = argparse.ArgumentParser(prog="python -m casework")
    sub = parser.add_subparsers(dest="command", required=True)
    purge = sub.add_parser("purge", help="apply the retention periods to the casework tables")
    purge.add_argument("--dry-run", action="store_true", help="count only, change nothing")
    args = parser.parse_args(argv)

    from casework.purge import purge_casework
    from knowledge.db import get_engine, session_factory
    from knowledge.settings import KnowledgeSettings

    factory = session_factory(get_engine(KnowledgeSettings.from_env().db_url))
    counts = purge_casework(factory, Retention.load(), dry_run=args.dry_run)
    print(json.dumps({"dry_run": args.dry_run, **counts}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
