"""Security settings of the staff console: the session secret and cookie flags.

``STAFF_SECRET_KEY`` signs the session cookies. It has no default: when it is absent
and the app server listens on loopback only (the embedded profile, ``APP_HOST`` =
127.0.0.1), a random key is generated once and kept in ``var/staff_secret_key`` with
0600 permissions so restarts keep staff signed in; on any other address the console
refuses to start without it.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from knowledge.settings import REPO_DIR

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MIN_SECRET_CHARS = 32
SECRET_FILE_NAME = "staff_secret_key"


class StaffConfigError(RuntimeError):
    """The console cannot start safely with this configuration."""


def _truthy(value: str | None, default: bool) -> bool:
    if value is None or not value.strip():
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def resolve_secret_key(env: Mapping[str, str] | None = None, var_dir: Path | None = None) -> str:
    """The session-signing key: ``STAFF_SECRET_KEY``, or the embedded profile's generated one.

    Raises:
        StaffConfigError: the key is too short, the server is not loopback-only and no key
            is set, or the stored key file is readable by others.
    """
    env = os.environ if env is None else env
    key = env.get("STAFF_SECRET_KEY", "")
    if key:
        if len(key) < MIN_SECRET_CHARS:
            raise StaffConfigError(f"STAFF_SECRET_KEY must be at least {MIN_SECRET_CHARS} characters")
        return key
    host = (env.get("APP_HOST") or env.get("BIND_HOST") or "127.0.0.1").strip()
    if host not in LOOPBACK_HOSTS:
        raise StaffConfigError(f"STAFF_SECRET_KEY is required: the app server listens on {host}, "
                               "not loopback only")
    path = (var_dir or REPO_DIR / "var") / SECRET_FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise StaffConfigError(f"{path} is readable by others (mode {mode:o}); chmod 600 it") from None
        stored = path.read_text(encoding="ascii").strip()
        if len(stored) < MIN_SECRET_CHARS:
            raise StaffConfigError(f"{path} holds no usable key; delete it to generate a new one") from None
        return stored
    generated = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(generated + "\n")
    log.info("generated the staff console's session key in %s (embedded profile)", path)
    return generated


def security_config(env: Mapping[str, str] | None = None) -> dict[str, object]:
    """Flask settings for the console's session cookies, login throttling and CSRF."""
    env = os.environ if env is None else env
    return {
        "SESSION_COOKIE_SECURE": _truthy(env.get("STAFF_COOKIE_SECURE"), True),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LIFETIME": 8 * 3600,
        "REMEMBER_COOKIE_SECURE": True,
        "REMEMBER_COOKIE_HTTPONLY": True,
        # CSRF is checked by the console for its own routes only (JSON API and webhooks have none).
        "WTF_CSRF_CHECK_DEFAULT": False,
        "WTF_CSRF_TIME_LIMIT": 8 * 3600,
        "RATELIMIT_STORAGE_URI": env.get("STAFF_RATELIMIT_STORAGE_URI") or "memory://",
        "RATELIMIT_HEADERS_ENABLED": False,
        "STAFF_LOGIN_LIMIT": "5 per minute",
    }
