"""The real conversation core for end-to-end tests and benchmarks: Rasa server + action server.

The tests' ``live_core`` fixture (session scope, ``tests/conftest.py``) trains the light CI
model when it is missing or stale (``scripts/train.sh`` with ``bot/config_ci.yml``, under a file lock so parallel test
sessions never train twice), copies the seeded knowledge database, and starts the
action server and the Rasa server on free loopback ports. Loading the model once per
session keeps the suite fast. Skipped, with the reason, when the Rasa venv is absent.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import requests

from devtools.supervisor import APP_PY, RASA_BIN, REPO, Service, free_port, rasa_command, start, wait_http

__all__ = ["APP_PY", "RASA_BIN", "REPO", "LiveCore", "ci_model", "free_port", "load_sample_applications",
           "rasa_available", "start_live_core"]

CI_CONFIG = "bot/config_ci.yml"
START_TIMEOUT_S = 240


def ci_model() -> Path:
    """Train (if needed) and return the newest CI model, serialising trainers with a lock."""
    (REPO / "models").mkdir(exist_ok=True)
    with open(REPO / "models" / ".train.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        env = {**os.environ, "RASA_CONFIG": CI_CONFIG, "RASA_TELEMETRY_ENABLED": "false"}
        out = subprocess.run(["bash", "scripts/train.sh"], cwd=REPO, env=env, capture_output=True, text=True,
                             timeout=1200)
        if out.returncode != 0:
            raise RuntimeError(f"training failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
        models = sorted((REPO / "models").glob("config_ci-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1]


@dataclass
class LiveCore:
    """A running core: Rasa on ``rasa_url``, actions on ``actions_url``, data in ``db_url``."""

    rasa_url: str
    actions_url: str
    db_url: str
    model: Path
    workdir: Path
    env: dict[str, str]
    processes: dict[str, Service] = field(default_factory=dict)
    endpoints: Path | None = None
    api_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    closed: bool = False

    def start_actions(self) -> None:
        """(Re)start the action server on its port (closed: ``actions.serve`` checking the core's token)."""
        port = self.actions_url.rsplit(":", 1)[1].split("/")[0]
        module = "actions.serve" if self.closed else "rasa_sdk"
        p = start("actions", [str(APP_PY), "-m", module, "--actions", "actions", "--port", port],
                  self.env, self.workdir)
        self.processes["actions"] = p
        wait_http(f"{self.actions_url}/health", p, START_TIMEOUT_S)

    def start_rasa(self) -> None:
        """(Re)start the Rasa server with the model and the test endpoints (HTTP API behind ``api_token``)."""
        port = self.rasa_url.rsplit(":", 1)[1]
        cmd = rasa_command(port, self.model, str(self.endpoints), api_token=self.api_token)
        p = start("rasa", cmd, self.env, self.workdir)
        self.processes["rasa"] = p
        wait_http(f"{self.rasa_url}/status?token={self.api_token}", p, START_TIMEOUT_S)

    def api(self, path: str, timeout: float = 30) -> requests.Response:
        """GET a path of Rasa's HTTP API with the token (e.g. ``/conversations/<id>/tracker``)."""
        return requests.get(f"{self.rasa_url}{path}", params={"token": self.api_token}, timeout=timeout)

    def tracker(self, sender: str) -> dict:
        """The conversation's tracker from the HTTP API."""
        return self.api(f"/conversations/{sender}/tracker").json()

    def stop(self) -> None:
        """Stop every process."""
        for p in self.processes.values():
            p.stop()

    def say(self, sender: str, text: str, channel: str = "webchat", metadata: dict | None = None) -> list[dict]:
        """Send one message through a relay channel and return the bot's messages."""
        token = self.env.get("RELAY_TOKEN")
        res = requests.post(f"{self.rasa_url}/webhooks/{channel}/webhook",
                            json={"sender": sender, "message": text, "metadata": metadata or {}}, timeout=60,
                            headers={"X-Relay-Token": token} if token else None)
        res.raise_for_status()
        return res.json()


    def sent_sms(self) -> list[dict]:
        """The SMS the action server sent (phone codes) to its development sink, oldest first."""
        import json

        sink = Path(self.env["DEV_SMS_SINK"])
        if not sink.exists():
            return []
        return [json.loads(line) for line in sink.read_text(encoding="utf-8").splitlines() if line.strip()]

    def last_code(self, phone: str) -> str | None:
        """The latest phone code sent to ``phone`` (11 digits or E.164), None when none was sent."""
        import re

        e164 = phone if phone.startswith("+") else "+86" + phone
        for sms in reversed(self.sent_sms()):
            if sms.get("to") == e164:
                match = re.search(r"\d{6}", sms.get("text", ""))
                return match.group(0) if match else None
        return None


def load_sample_applications(db_url: str) -> None:
    """Add the demo applications (knowledge/seed/applications.yml), as ``make setup`` does."""
    from casework.repository import CaseworkRepository
    from knowledge.db import make_engine, session_factory

    engine = make_engine(db_url)
    try:
        CaseworkRepository(session_factory(engine)).load_sample_applications()
    finally:
        engine.dispose()


def rasa_available() -> str | None:
    """Why the live core cannot run here, or None when it can."""
    if not RASA_BIN.exists():
        return "the Rasa venv (.venv-rasa) is missing: run `make setup`"
    if not APP_PY.exists():
        return "the app venv (.venv-app) is missing: run `make setup`"
    return None


def start_live_core(workdir: Path, db_url: str, model: Path, log_level: str = "INFO",
                    tracker_store: dict | None = None, closed: bool = False) -> LiveCore:
    """Start the action server and a Rasa server on free loopback ports for ``db_url`` and ``model``.

    Used by the ``live_core`` fixture and the benchmarks. ``tracker_store`` is the
    endpoints file's ``tracker_store`` section (default: Rasa's in-memory store). With
    ``closed`` every token is set as in production (``RELAY_TOKEN``, ``ACTION_SERVER_TOKEN``,
    the API token; the security tests); otherwise the relays serve loopback callers without
    one. Stops what it started when a server does not come up.
    """
    import yaml

    rasa_port, actions_port = free_port(), free_port()
    actions_url = f"http://127.0.0.1:{actions_port}"
    endpoints = workdir / "endpoints.yml"
    config: dict = {"action_endpoint": {"url": f"{actions_url}/webhook"}}
    tokens: dict[str, str] = {}
    if closed:
        tokens = {"RELAY_TOKEN": secrets.token_urlsafe(24), "ACTION_SERVER_TOKEN": secrets.token_urlsafe(24)}
        config["action_endpoint"]["headers"] = {"X-Action-Token": tokens["ACTION_SERVER_TOKEN"]}
    if tracker_store:
        config["tracker_store"] = tracker_store
    endpoints.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    env = {**os.environ, "KNOWLEDGE_DB_URL": db_url, "RASA_TELEMETRY_ENABLED": "false", "SANIC_HOST": "127.0.0.1",
           "PYTHONPATH": str(REPO), "LOG_LEVEL": log_level, "CHANNELS_DB_URL": f"sqlite:///{workdir / 'channels.db'}",
           "DEV_SMS_SINK": str(workdir / "dev_sms.jsonl")}  # phone codes: read by the tests, never shown
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_SMS_FROM"):
        env.pop(name, None)  # codes go to the sink, never to a real provider
    env.pop("RELAY_TOKEN", None)
    env.pop("ACTION_SERVER_TOKEN", None)
    env.update(tokens)
    core = LiveCore(rasa_url=f"http://127.0.0.1:{rasa_port}", actions_url=actions_url, db_url=db_url,
                    model=model, workdir=workdir, env=env, endpoints=endpoints, closed=closed)
    try:
        core.start_actions()
        core.start_rasa()
    except Exception:
        core.stop()
        raise
    return core
