"""One sealing rule: round trip, key rotation, wrong key refused, the embedded key file."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from common.sealing import Sealer, make_sealer, sealer_from_env


def test_round_trip_and_empty() -> None:
    sealer = Sealer(make_sealer(Fernet.generate_key().decode()))
    token = sealer.seal("+8613912345678")
    assert "1391234" not in token
    assert sealer.unseal(token) == "+8613912345678"
    assert sealer.seal("") == "" and sealer.unseal("") == ""


def test_rotation_keeps_old_values_readable() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = Sealer(make_sealer(old)).seal("chat-42")
    assert Sealer(make_sealer(f"{new},{old}")).unseal(token) == "chat-42"
    with pytest.raises(ValueError, match="cannot be opened"):
        Sealer(make_sealer(new)).unseal(token)


def test_env_key_wins_else_key_file_is_created_once(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    token = sealer_from_env({"TRACKER_PII_KEY": key}, tmp_path / "unused.key").seal("a")
    assert not (tmp_path / "unused.key").exists()
    assert Sealer(make_sealer(key)).unseal(token) == "a"
    first = sealer_from_env({}, tmp_path / "k.key").seal("b")
    assert (tmp_path / "k.key").stat().st_mode & 0o777 == 0o600
    assert sealer_from_env({}, tmp_path / "k.key").unseal(first) == "b"


def test_bad_key_is_refused_with_how_to_make_one() -> None:
    with pytest.raises(ValueError, match="generate one"):
        make_sealer("not-a-key")
