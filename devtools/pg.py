"""A throw-away PostgreSQL server for tests (Debian's binaries, 127.0.0.1, a free port).

PostgreSQL refuses to run as root, so as root the data directory is handed to the
``postgres`` system user and the server runs as that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

from devtools.supervisor import free_port


def _bindir() -> Path | None:
    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(cand, "initdb").exists() and Path(cand, "postgres").exists():
            return Path(cand)
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def postgres_unavailable_reason() -> str | None:
    """Why no throw-away server can be started here, or None when it can."""
    if _bindir() is None:
        return "PostgreSQL server binaries not found (apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed"
    return None


class PostgresServer:
    """One PostgreSQL cluster in ``root``; ``start()``, ``url(db)``, ``stop()``."""

    def __init__(self, root: Path):
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.bindir = _bindir()
        self.proc: subprocess.Popen[bytes] | None = None

    def _as_owner(self, cmd: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd

    def start(self) -> None:
        """Initialise the cluster (once) and start the server on its port."""
        assert self.bindir is not None
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chmod(self.root, 0o755)
            for parent in list(self.root.parents)[:3]:
                os.chmod(parent, os.stat(parent).st_mode | 0o005)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        subprocess.run(self._as_owner([str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                                       "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8"]),
                       check=True, capture_output=True, timeout=120)
        self.proc = subprocess.Popen(
            self._as_owner([str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                            "-h", "127.0.0.1", "-k", str(self.root), "-c", "fsync=off"]),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("PostgreSQL did not start within 30 s")
        import psycopg

        for _ in range(50):
            try:
                with psycopg.connect(self.url("postgres").replace("+psycopg", ""), autocommit=True):
                    return
            except psycopg.OperationalError:
                time.sleep(0.2)
        raise RuntimeError("PostgreSQL accepted no connection")

    def create_database(self, name: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(self.url("postgres").replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def url(self, db: str) -> str:
        """SQLAlchemy URL of database ``db``."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{db}"

    def stop(self) -> None:
        """Stop the server."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
