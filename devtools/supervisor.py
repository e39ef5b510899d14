"""The one process supervisor of `make run`, `make run-prod`, the tests and the benchmarks.

A :class:`Service` is one started process in its own process group (so stopping it stops
its children), optionally logging to a file and running as another system user. The
helpers wait for a port or an HTTP answer while watching the process, and
:func:`supervise` keeps a set of services running until one exits or the user presses
Ctrl-C, then stops them all.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import random
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
APP_PY = REPO / ".venv-app" / "bin" / "python"
RASA_BIN = REPO / ".venv-rasa" / "bin" / "rasa"
RASA_PY = REPO / ".venv-rasa" / "bin" / "python"

log = logging.getLogger(__name__)


_LOW_PORTS = (20000, 32000)
_given: set[int] = set()
_given_lock = threading.Lock()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now and that this process has not given out before.

    The port is drawn from below the kernel's ephemeral range (32768-60999 by default), not by
    ``bind(0)``: a port from the ephemeral range can be taken by any outgoing connection in the
    seconds between choosing it and the server binding it (a production-stack start chooses ten
    ports up front and takes about a minute), which made a Rasa server fail with "address
    already in use".
    """
    low, high = _LOW_PORTS
    with _given_lock:
        for _ in range(200):
            port = random.randrange(low, high)
            if port in _given:
                continue
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _given.add(port)
            return port
    raise RuntimeError(f"no free TCP port between {low} and {high}")


@dataclass
class Service:
    """One supervised process.

    Attributes:
        name: short name for logs and error messages.
        cmd: the command line.
        env: its environment (None: this process's environment).
        log_path: file its output is appended to (None: inherit our stdout/stderr).
        user: run as this system user (when we are root).
        stop_signal: signal that asks it to stop.
        signal_group: signal the whole process group (PostgreSQL wants the postmaster only).
        cwd: working directory (default: the repository, or ``/`` when run as ``user``).
    """

    name: str
    cmd: list[str]
    env: dict[str, str] | None = None
    log_path: Path | None = None
    user: str | None = None
    stop_signal: int = signal.SIGTERM
    signal_group: bool = True
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> Service:
        """Start in its own process group; returns itself."""
        cwd = self.cwd or (Path("/") if self.user else REPO)
        account = pwd.getpwnam(self.user) if self.user else None
        if self.log_path is None:
            self.proc = subprocess.Popen(self.cmd, cwd=cwd, env=self.env, start_new_session=True)
            return self
        with open(self.log_path, "ab") as fh:
            if account is not None:
                os.chown(self.log_path, account.pw_uid, -1)
            self.proc = subprocess.Popen(self.cmd, cwd=cwd, env=self.env, stdout=fh, stderr=subprocess.STDOUT,
                                         start_new_session=True, user=self.user,
                                         group=account.pw_gid if account else None,
                                         extra_groups=[] if account else None)
        return self

    def alive(self) -> bool:
        """Whether the process is running."""
        return self.proc is not None and self.proc.poll() is None

    def exit_code(self) -> int | None:
        """Its exit code, or None while it runs (or before it started)."""
        return None if self.proc is None else self.proc.poll()

    def stop(self, sig: int | None = None, timeout: float = 20) -> None:
        """Signal the process (group); SIGKILL after ``timeout`` seconds."""
        if not self.alive():
            return
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            if self.signal_group or sig == signal.SIGKILL:
                os.killpg(self.proc.pid, sig or self.stop_signal)
            else:
                os.kill(self.proc.pid, sig or self.stop_signal)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL (a crash, for fault tests)."""
        self.stop(signal.SIGKILL)

    def tail(self, n: int = 4000) -> str:
        """The end of its log, for failure messages."""
        if self.log_path is None:
            return ""
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def rasa_command(port: int | str, model: Path | str, endpoints: Path | str, *, api_token: str | None = None,
                 interface: str = "127.0.0.1", extra: Iterable[str] = ()) -> list[str]:
    """``rasa run`` through its start-up check (``python -m bot.serve``).

    The HTTP API is enabled only with ``api_token`` (``--enable-api --auth-token``), never without.
    """
    cmd = [str(RASA_PY), "-m", "bot.serve", "-i", interface, "-p", str(port), "--model", str(model),
           "--credentials", "bot/credentials.yml", "--endpoints", str(endpoints), *extra]
    if api_token:
        # one argument: a token_urlsafe token may start with "-", which argparse would take for an option
        cmd[3:3] = ["--enable-api", f"--auth-token={api_token}"]
    return cmd


def start(name: str, cmd: list[str], env: dict[str, str], logdir: Path) -> Service:
    """Start ``cmd`` from the repository with output to ``logdir/<name>.log``."""
    return Service(name, cmd, env, logdir / f"{name}.log").start()


def _died(service: Service | None) -> str | None:
    if service is None or service.proc is None or service.proc.poll() is None:
        return None
    tail = service.tail()
    return f"{service.name} exited with code {service.proc.returncode}" + (f":\n{tail}" if tail else "")


def wait_port(port: int, service: Service | None, timeout: float) -> None:
    """Wait until something listens on 127.0.0.1:``port``, failing early when ``service`` dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reason := _died(service):
            raise RuntimeError(reason)
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.2)
    name = service.name if service else "the service"
    raise RuntimeError(f"{name} did not listen on port {port} within {timeout:.0f} s")


def wait_http(url: str, service: Service | None, timeout: float) -> None:
    """Wait until ``url`` answers 200, failing early when ``service`` dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reason := _died(service):
            raise RuntimeError(reason)
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    name = service.name if service else "the service"
    tail = service.tail() if service else ""
    raise RuntimeError(f"{name} did not answer {url} within {timeout:.0f} s" + (f":\n{tail}" if tail else ""))


def stop_on_signals() -> threading.Event:
    """An event that SIGINT (Ctrl-C) or SIGTERM (a service manager) sets; installs the handlers."""
    stop = threading.Event()

    def _set(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _set)
    signal.signal(signal.SIGTERM, _set)
    return stop


def supervise(services: Iterable[Service], *, grace_s: float = 15) -> int:
    """Start ``services`` and keep them running until one exits or SIGINT/SIGTERM; then stop all.

    Args:
        services: the services to start (in order).
        grace_s: how long the others get to stop before SIGKILL.

    Returns:
        0 after Ctrl-C, else the exit code of the service that ended (1 when it was 0).
    """
    running = list(services)
    for s in running:
        log.info("starting %s: %s", s.name, " ".join(s.cmd[1:4]))
        s.start()
    stop = stop_on_signals()
    code = 0
    while not stop.is_set():
        for s in running:
            ended = s.exit_code()
            if ended is not None:
                log.error("%s exited with code %s; stopping the others", s.name, ended)
                code = ended or 1
                stop.set()
                break
        stop.wait(0.5)
    for s in running:
        if s.alive():
            assert s.proc is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(s.proc.pid, s.stop_signal)
    deadline = time.time() + grace_s
    for s in running:
        if s.proc is None:
            continue
        try:
            s.proc.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(s.proc.pid, signal.SIGKILL)
    log.info("all services stopped")
    return code
