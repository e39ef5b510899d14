"""A throw-away Redis server for tests (Debian's redis-server, 127.0.0.1, a free port)."""

from __future__ import annotations

import contextlib
import os
import pwd
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.prod.helpers import binary


def redis_unavailable_reason() -> str | None:
    """Why no Redis can be started here, or None."""
    if binary("redis-server") is None:
        return "redis-server not found (apt-get install redis-server)"
    try:
        import redis  # noqa: F401
    except ImportError:
        return "the redis client is not installed in the app venv"
    return None


@contextlib.contextmanager
def redis_server(root: Path, password: str | None = None) -> Iterator[str]:
    """Run redis-server with its data in ``root`` (``password``: ``--requirepass``); yield its URL (db 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root.mkdir(parents=True, exist_ok=True)
    user = None
    if os.geteuid() == 0:
        user = "redis"
        pw = pwd.getpwnam(user)
        os.chown(root, pw.pw_uid, pw.pw_gid)
        for parent in list(root.parents)[:4]:  # pytest's temp dirs are 0700: let redis traverse them
            os.chmod(parent, os.stat(parent).st_mode | 0o005)
    proc = subprocess.Popen([str(binary("redis-server")), "--bind", "127.0.0.1", "--port", str(port),
                             "--dir", str(root), "--save", "", "--appendonly", "no", "--logfile", "",
                             *(["--requirepass", password] if password else [])],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, user=user,
                            group=pwd.getpwnam(user).pw_gid if user else None,
                            extra_groups=[] if user else None, cwd="/")
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    err = proc.stderr.read() if proc.poll() is not None and proc.stderr else b""
                    raise RuntimeError(f"redis-server did not start: {err!r}") from None
                time.sleep(0.1)
        yield f"redis://:{password}@127.0.0.1:{port}/0" if password else f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
