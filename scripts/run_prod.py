"""Start the production profile on one machine (``make run-prod``) and keep it running.

PostgreSQL and Redis (Debian packages) with their data in ``var/prod/``, Alembic
migrations and the seed on start-up, two Rasa servers sharing the masked PostgreSQL
tracker store and the Redis lock store, two action servers, the app server, and nginx
in front as the load balancer; all on 127.0.0.1. See ``devtools/prod_stack.py`` for the
topology and ``deploy/`` for the cluster equivalents.

Ports (environment): ``PROD_PUBLIC_PORT`` 8000 (nginx → app), ``PROD_CORE_PORT`` 5005
(nginx → Rasa), ``PROD_ACTIONS_PORT`` 5055 (nginx → actions), ``PROD_APP_PORT`` 8001,
``PROD_RASA_PORTS`` "5006,5007", ``PROD_ACTION_PORTS`` "5056,5057",
``PROD_PG_PORT`` 5433, ``PROD_REDIS_PORT`` 6380. ``TRACKER_PII_KEY`` (else a key kept in
``var/prod/tracker_pii.key``), ``TRACKER_RETENTION_DAYS`` (retention runs at start-up
and daily). A Rasa, action or app server that dies is restarted (logged); Ctrl-C stops all.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository: devtools, channels

from devtools.prod_stack import REPO, Ports, ProdStack, missing_binaries
from devtools.supervisor import stop_on_signals

log = logging.getLogger("run_prod")
RESTARTABLE = ("rasa-", "actions-", "app")


def _ports() -> Ports:
    def many(name: str, default: str) -> tuple[int, ...]:
        return tuple(int(p) for p in os.environ.get(name, default).split(",") if p.strip())

    return Ports(public=int(os.environ.get("PROD_PUBLIC_PORT", "8000")),
                 core=int(os.environ.get("PROD_CORE_PORT", "5005")),
                 actions=int(os.environ.get("PROD_ACTIONS_PORT", "5055")),
                 app=int(os.environ.get("PROD_APP_PORT", "8001")),
                 rasa=many("PROD_RASA_PORTS", "5006,5007"),
                 action_servers=many("PROD_ACTION_PORTS", "5056,5057"),
                 postgres=int(os.environ.get("PROD_PG_PORT", "5433")),
                 redis=int(os.environ.get("PROD_REDIS_PORT", "6380")))


def _model() -> Path | None:
    if subprocess.run(["bash", str(REPO / "scripts" / "train.sh")], cwd=REPO).returncode != 0:
        return None
    config_name = Path(os.environ.get("RASA_CONFIG", "bot/config.yml")).stem
    models = sorted((REPO / "models").glob(f"{config_name}-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


def main() -> int:
    """Start the stack, restart crashed bot processes, stop everything on Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s run_prod: %(message)s")
    reason = missing_binaries()
    if reason:
        log.error("cannot start the production profile: %s", reason)
        return 2
    model = _model()
    if model is None:
        log.error("no trained model (training failed or produced nothing); see above")
        return 2
    stack = ProdStack(root=REPO / "var" / "prod", model=model, ports=_ports())
    stop = stop_on_signals()
    try:
        log.info("starting PostgreSQL, Redis, migrations, nginx, 2 action servers, 2 Rasa servers, app server")
        stack.start()
        log.info("up: %s (public, nginx → app)  %s (core, nginx → Rasa)  logs in %s",
                 stack.public_url, stack.core_url, stack.root / "logs")
        last_retention = time.monotonic()
        while not stop.is_set():
            for name, svc in list(stack.services.items()):
                if not svc.alive() and name.startswith(RESTARTABLE) and not stop.is_set():
                    log.error("%s exited (code %s); restarting it", name, svc.proc.returncode if svc.proc else "?")
                    svc.start()
                elif not svc.alive() and name in ("postgres", "redis", "nginx"):
                    log.error("%s exited; stopping everything (see %s)", name, svc.log_path)
                    return 1
            if time.monotonic() - last_retention > 86400:
                log.info("retention: %s conversation(s) deleted", stack.retention() or "0")
                last_retention = time.monotonic()
            stop.wait(1)
        return 0
    except RuntimeError as exc:
        log.error("start-up failed: %s", exc)
        return 1
    finally:
        stack.stop()
        log.info("all services stopped")


if __name__ == "__main__":
    sys.exit(main())
