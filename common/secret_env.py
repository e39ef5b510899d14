"""Secrets every deployable needs off-loopback, checked once at start-up.

Each deployable (app server, action server, Rasa core) names the secrets it reads; before
it serves anything it calls :func:`require_secrets`, which fails with ONE message naming
every missing variable whenever the process listens beyond loopback or the deployment says
it is production (``DEPLOY_PROFILE=production``, set by every manifest). There is never a
default for a secret off-loopback. The embedded profile (127.0.0.1 only) may instead keep a
value generated once per install in ``var/`` (:func:`install_secret`), never a public default.

Standard library only; runs on CPython 3.10 and 3.11.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
PROFILE_ENV = "DEPLOY_PROFILE"
VAR_DIR = Path(__file__).resolve().parent.parent / "var"

# The secrets of each deployable (the variables its code reads). Manifests set exactly these.
# RASA_API_TOKEN: the core's HTTP API (bot.serve turns it on with this token); the app server's
# live-agent desk hands conversations back to the bot through it.
APP_SERVER_SECRETS = ("STAFF_SECRET_KEY", "RELAY_TOKEN", "SENDER_HASH_SALT", "TRACKER_PII_KEY", "RASA_API_TOKEN")
ACTION_SERVER_SECRETS = ("ACTION_SERVER_TOKEN", "SENDER_HASH_SALT", "TRACKER_PII_KEY")
CORE_SECRETS = ("RELAY_TOKEN", "ACTION_SERVER_TOKEN", "TRACKER_PII_KEY", "RASA_API_TOKEN")

RELAY_TOKEN_HEADER = "X-Relay-Token"
ACTION_TOKEN_HEADER = "X-Action-Token"


class MissingSecretsError(RuntimeError):
    """A deployable was asked to start off-loopback without every secret it needs."""

    def __init__(self, deployable: str, missing: list[str], reason: str):
        self.missing = missing
        super().__init__(f"{deployable} cannot start: {reason}, so these environment variables must be set: "
                         f"{', '.join(missing)} (see .env.example)")


def is_loopback(host: str | None) -> bool:
    """True when ``host`` is a loopback address (an empty host means the default 127.0.0.1)."""
    host = (host or "127.0.0.1").strip().strip("[]")
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def production(env: Mapping[str, str] | None = None) -> bool:
    """True when the environment declares the production profile (``DEPLOY_PROFILE=production``)."""
    env = os.environ if env is None else env
    return env.get(PROFILE_ENV, "").strip().lower() == "production"


def require_secrets(deployable: str, names: Iterable[str], host: str | None,
                    env: Mapping[str, str] | None = None) -> None:
    """Fail when the process listens beyond loopback (or is production) and a secret is unset.

    Args:
        deployable: the name used in the message ("app server", "action server", "Rasa core").
        names: the variables this deployable reads as secrets.
        host: the address it binds.
        env: the environment (default ``os.environ``).

    Raises:
        MissingSecretsError: naming every missing variable at once.
    """
    env = os.environ if env is None else env
    if is_loopback(host) and not production(env):
        return
    missing = [n for n in names if not env.get(n, "").strip()]
    if missing:
        reason = (f"it listens on {host}" if not is_loopback(host)
                  else f"{PROFILE_ENV}=production")
        raise MissingSecretsError(deployable, missing, reason)


def install_secret(name: str, var_dir: Path | None = None, nbytes: int = 32) -> str:
    """The embedded profile's value of ``name``: kept in ``var/<name>`` (0600), created once per install.

    Raises:
        RuntimeError: the stored file is readable by others or empty.
    """
    path = (var_dir or VAR_DIR) / name.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # written to a private temp file, then linked into place: a process starting at the
        # same moment sees either no file or the whole value, never an empty one
        value = secrets.token_urlsafe(nbytes)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(value + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won; use its value
        else:
            log.info("generated %s for this install in %s (embedded profile)", name, path)
        finally:
            tmp.unlink(missing_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise RuntimeError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
    stored = path.read_text(encoding="ascii").strip()
    if not stored:
        raise RuntimeError(f"{path} is empty; delete it to generate a new value")
    return stored


def token_matches(offered: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented token with the configured one."""
    return hmac.compare_digest((offered or "").encode("utf-8", "surrogatepass"),
                               expected.encode("utf-8", "surrogatepass"))
