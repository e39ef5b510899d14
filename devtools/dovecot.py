"""A throw-away Dovecot IMAP server for tests (Debian's ``dovecot-imapd``, 127.0.0.1, a free port).

Dovecot's mail processes refuse to run as root, so the whole server (master, login,
auth and imap processes) runs as one unprivileged system user (``dovecot`` as root,
the current user otherwise) with a private config, ``base_dir`` and Maildir tree in a
temporary directory. Users come from a ``passwd-file`` with plain-text passwords; the
listener is plain IMAP (no TLS) on loopback with clear-text authentication allowed.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from devtools.supervisor import free_port

DOVECOT = "/usr/sbin/dovecot"
IMAP_BINARY = "/usr/lib/dovecot/imap"
SERVICE_USER = "dovecot"

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = test-dovecot-{port}
login_greeting = {greeting}
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
mail_max_keyword_length = 60
imap_idle_notify_interval = 1 secs
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service auth {{
  user = {user}
}}
service auth-worker {{
  user = {user}
}}
service anvil {{
  chroot =
}}
service imap {{
  process_limit = 32
}}
protocol imap {{
  mail_max_userip_connections = 64
{protocol_extra}
}}
"""


def dovecot_unavailable_reason() -> str | None:
    """Why no throw-away Dovecot can be started here, or None when it can."""
    if not (os.path.exists(DOVECOT) and os.path.exists(IMAP_BINARY)):
        return "Dovecot IMAP binaries not found (apt-get install -y dovecot-imapd)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            return f"running as root and there is no {SERVICE_USER!r} user to run Dovecot as"
    if shutil.which("runuser") is None and os.geteuid() == 0:
        return "runuser (util-linux) is needed to start Dovecot as a non-root user"
    return None


class DovecotServer:
    """One Dovecot instance rooted in ``root``: ``start()``, ``add_user()``, ``stop()``.

    Attributes:
        host: always 127.0.0.1.
        port: the plain IMAP port.
    """

    def __init__(self, root: Path, users: dict[str, str], *, capabilities: str | None = None):
        self.root = root
        self.host = "127.0.0.1"
        self.port = free_port()
        self.users = dict(users)
        # A unique greeting proves the server that answers is this instance, not a dying one.
        self.greeting = f"citizen-test-{secrets.token_hex(6)}"
        self.proc: subprocess.Popen[bytes] | None = None
        # e.g. "IMAP4rev1 MOVE UIDPLUS" to play a server without IDLE
        self.protocol_extra = f"  imap_capability = {capabilities}" if capabilities else ""
        if os.geteuid() == 0:
            pw = pwd.getpwnam(SERVICE_USER)
            self.uid, self.gid, self.user = pw.pw_uid, pw.pw_gid, SERVICE_USER
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
            self.user = pwd.getpwuid(self.uid).pw_name
        import grp

        self.group = grp.getgrgid(self.gid).gr_name

    def _as_user(self, cmd: list[str]) -> list[str]:
        return ["runuser", "-u", self.user, "--", *cmd] if os.geteuid() == 0 else cmd

    def _write_users(self) -> None:
        lines = [f"{name}:{{PLAIN}}{password}::::::" for name, password in self.users.items()]
        (self.root / "users").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def start(self) -> None:
        """Write the config, start Dovecot in the foreground and wait for its greeting."""
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._write_users()
        conf = self.root / "dovecot.conf"
        conf.write_text(CONFIG.format(root=self.root, port=self.port, user=self.user, group=self.group,
                                      uid=self.uid, gid=self.gid, protocol_extra=self.protocol_extra,
                                      greeting=self.greeting),
                        encoding="utf-8")
        if os.geteuid() == 0:
            for parent in list(self.root.parents)[:3]:
                os.chmod(parent, os.stat(parent).st_mode | 0o005)
            for path in [self.root, *self.root.rglob("*")]:
                os.chown(path, self.uid, self.gid)
        self.proc = subprocess.Popen(self._as_user([DOVECOT, "-F", "-c", str(conf)]),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"dovecot exited with {self.proc.returncode}: {err[-2000:]} {self.log()[-2000:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as s:
                    if self.greeting.encode() in s.recv(300):
                        return
                time.sleep(0.1)
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("dovecot did not accept connections within 20 s: " + self.log()[-2000:])

    def log(self) -> str:
        """The server's log so far (for failure messages)."""
        path = self.root / "dovecot.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop the server and wait for it."""
        if self.proc is None:
            return
        # The whole process group: master, login, auth and imap processes.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        deadline = time.time() + 5
        while time.time() < deadline:  # children may outlive the master for a moment
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
