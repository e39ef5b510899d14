"""Sealing personal data at rest: one Fernet key rule for the tracker store and casework.

Phone numbers, chat ids and mail addresses a service must reach again (a case's reply
address, an outbox recipient, a one-time code's phone) are stored *sealed*: encrypted with
Fernet (AES-128-CBC + HMAC-SHA256). The key is ``TRACKER_PII_KEY`` (one key, or several
comma-separated for rotation: the first seals, all unseal); the embedded profile keeps it in
``var/tracker_pii.key``, created on first use. Runs on CPython 3.10 and 3.11.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

logger = logging.getLogger(__name__)

PII_KEY_ENV = "TRACKER_PII_KEY"
DEFAULT_KEY_FILE = Path("var/tracker_pii.key")


def load_key_file(path: Path) -> str:
    """Read the key in ``path``; create it (mode 0600) with a fresh key when absent."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first
            return path.read_text(encoding="ascii").strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(Fernet.generate_key().decode("ascii") + "\n")
        logger.info("created a new PII sealing key in %s", path)
    return path.read_text(encoding="ascii").strip()


def make_sealer(key_spec: str) -> MultiFernet:
    """A Fernet sealer from one key or several comma-separated keys (first one seals)."""
    keys = [k.strip() for k in key_spec.split(",") if k.strip()]
    if not keys:
        raise ValueError("no PII sealing key given")
    try:
        return MultiFernet([Fernet(k.encode("ascii")) for k in keys])
    except (ValueError, TypeError) as exc:
        raise ValueError("the PII sealing key is not a valid Fernet key "
                         "(generate one with: python -c 'from cryptography.fernet import Fernet;"
                         "print(Fernet.generate_key().decode())')") from exc


class Sealer:
    """Seals and unseals short text values (phone numbers, addresses, chat ids).

    Args:
        fernet: the key ring from :func:`make_sealer`.
    """

    def __init__(self, fernet: MultiFernet):
        self._fernet = fernet

    def seal(self, value: str) -> str:
        """The sealed (encrypted, ASCII) form of ``value``; empty stays empty."""
        if not value:
            return ""
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def unseal(self, token: str) -> str:
        """The original value of ``token``; empty stays empty.

        Raises:
            ValueError: the token was sealed with a key that is no longer configured, or is not a token.
        """
        if not token:
            return ""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise ValueError("sealed value cannot be opened with the configured key") from exc


def sealer_from_env(env: Mapping[str, str] | None = None, key_file: Path = DEFAULT_KEY_FILE) -> Sealer:
    """The sealer of this deployment: ``TRACKER_PII_KEY`` when set, else the embedded key file."""
    env = os.environ if env is None else env
    spec = env.get(PII_KEY_ENV, "").strip()
    return Sealer(make_sealer(spec or load_key_file(key_file)))
