"""The real conversation core for end-to-end tests: Rasa server + action server, started once.

``live_core`` (session scope) trains the light CI model when it is missing or stale
(``scripts/train.sh`` with ``bot/config_ci.yml``, under a file lock so parallel test
sessions never train twice), copies the seeded knowledge database, and starts the
action server and the Rasa server on free loopback ports. Loading the model once per
session keeps the suite fast. Skipped, with the reason, when the Rasa venv is absent.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parent.parent
RASA_BIN = REPO / ".venv-rasa" / "bin" / "rasa"
APP_PY = REPO / ".venv-app" / "bin" / "python"
CI_CONFIG = "bot/config_ci.yml"
START_TIMEOUT_S = 240


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
class Process:
    """A started server process and its log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self, n: int = 4000) -> str:
        """The end of its log, for failure messages."""
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        """Stop the process group (SIGKILL after ``timeout``)."""
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def start(name: str, cmd: list[str], env: dict[str, str], logdir: Path) -> Process:
    """Start ``cmd`` in its own process group with output to ``logdir/<name>.log``."""
    log = logdir / f"{name}.log"
    fh = open(log, "ab")  # noqa: SIM115 - the child keeps it open
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    fh.close()
    return Process(name, proc, log)


def wait_http(url: str, proc: Process, timeout: float = START_TIMEOUT_S) -> None:
    """Wait until ``url`` answers 200, failing early when the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.proc.returncode}:\n{proc.tail()}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"{proc.name} did not answer {url} within {timeout:.0f} s:\n{proc.tail()}")


@dataclass
class LiveCore:
    """A running core: Rasa on ``rasa_url``, actions on ``actions_url``, data in ``db_url``."""

    rasa_url: str
    actions_url: str
    db_url: str
    model: Path
    workdir: Path
    env: dict[str, str]
    processes: dict[str, Process] = field(default_factory=dict)
    endpoints: Path | None = None

    def start_actions(self) -> None:
        """(Re)start the action server on its port."""
        port = self.actions_url.rsplit(":", 1)[1].split("/")[0]
        p = start("actions", [str(APP_PY), "-m", "rasa_sdk", "--actions", "actions", "--port", port],
                  self.env, self.workdir)
        self.processes["actions"] = p
        wait_http(f"{self.actions_url}/health", p)

    def start_rasa(self) -> None:
        """(Re)start the Rasa server with the model and the test endpoints."""
        port = self.rasa_url.rsplit(":", 1)[1]
        cmd = [str(RASA_BIN), "run", "--enable-api", "-i", "127.0.0.1", "-p", port, "--model", str(self.model),
               "--credentials", "bot/credentials.yml", "--endpoints", str(self.endpoints)]
        p = start("rasa", cmd, self.env, self.workdir)
        self.processes["rasa"] = p
        wait_http(f"{self.rasa_url}/status", p)

    def stop(self) -> None:
        """Stop every process."""
        for p in self.processes.values():
            p.stop()

    def say(self, sender: str, text: str, channel: str = "webchat", metadata: dict | None = None) -> list[dict]:
        """Send one message through a relay channel and return the bot's messages."""
        res = requests.post(f"{self.rasa_url}/webhooks/{channel}/webhook",
                            json={"sender": sender, "message": text, "metadata": metadata or {}}, timeout=60)
        res.raise_for_status()
        return res.json()


def load_sample_applications(db_url: str) -> None:
    """Add the demo applications (knowledge/seed/applications.yml), as ``make setup`` does."""
    from knowledge.casework import CaseworkRepository
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
                    tracker_store: dict | None = None) -> LiveCore:
    """Start the action server and a Rasa server on free loopback ports for ``db_url`` and ``model``.

    Used by the ``live_core`` fixture and the benchmarks. ``tracker_store`` is the
    endpoints file's ``tracker_store`` section (default: Rasa's in-memory store). Stops
    what it started when a server does not come up.
    """
    import yaml

    rasa_port, actions_port = free_port(), free_port()
    actions_url = f"http://127.0.0.1:{actions_port}"
    endpoints = workdir / "endpoints.yml"
    config: dict = {"action_endpoint": {"url": f"{actions_url}/webhook"}}
    if tracker_store:
        config["tracker_store"] = tracker_store
    endpoints.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    env = {**os.environ, "KNOWLEDGE_DB_URL": db_url, "RASA_TELEMETRY_ENABLED": "false", "SANIC_HOST": "127.0.0.1",
           "PYTHONPATH": str(REPO), "LOG_LEVEL": log_level, "CHANNELS_DB_URL": f"sqlite:///{workdir / 'channels.db'}"}
    env.pop("RELAY_TOKEN", None)
    core = LiveCore(rasa_url=f"http://127.0.0.1:{rasa_port}", actions_url=actions_url, db_url=db_url,
                    model=model, workdir=workdir, env=env, endpoints=endpoints)
    try:
        core.start_actions()
        core.start_rasa()
    except Exception:
        core.stop()
        raise
    return core


@pytest.fixture(scope="session")
def live_core(seeded_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCore]:
    """A running Rasa core and action server on a private copy of the seeded database."""
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
