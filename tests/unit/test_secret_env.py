"""Start-up secret checks: one message naming every missing secret off-loopback, never a default."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from actions.serve import caller_allowed
from bot.serve import CoreConfigError, check, with_api
from common.secret_env import (
    ACTION_SERVER_SECRETS,
    APP_SERVER_SECRETS,
    CORE_SECRETS,
    MissingSecretsError,
    install_secret,
    is_loopback,
    require_secrets,
)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2", "", None])
def test_loopback_hosts_are_recognised(host: str | None) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.5", "::", "bot.example.gov.cn"])
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize("names", [APP_SERVER_SECRETS, ACTION_SERVER_SECRETS, CORE_SECRETS])
def test_off_loopback_one_message_names_every_missing_secret(names: tuple[str, ...]) -> None:
    with pytest.raises(MissingSecretsError) as err:
        require_secrets("x server", names, "0.0.0.0", {names[0]: "set", **{n: " " for n in names[1:2]}})
    message = str(err.value)
    assert "x server cannot start" in message and "0.0.0.0" in message
    assert err.value.missing == list(names[1:]) and all(n in message for n in names[1:])
    assert names[0] not in message.split("set: ", 1)[1]


def test_the_production_profile_needs_the_secrets_even_on_loopback() -> None:
    with pytest.raises(MissingSecretsError, match="DEPLOY_PROFILE=production"):
        require_secrets("app server", APP_SERVER_SECRETS, "127.0.0.1", {"DEPLOY_PROFILE": "production"})
    require_secrets("app server", APP_SERVER_SECRETS, "127.0.0.1", {})  # embedded: generated per install
    require_secrets("app server", APP_SERVER_SECRETS, "0.0.0.0", {n: "v" for n in APP_SERVER_SECRETS})


def test_an_install_secret_is_generated_once_private_and_kept(tmp_path: Path) -> None:
    first = install_secret("SENDER_HASH_SALT", tmp_path)
    assert len(first) >= 40 and first != "citizen-bot"
    path = tmp_path / "sender_hash_salt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert install_secret("SENDER_HASH_SALT", tmp_path) == first
    assert install_secret("SENDER_HASH_SALT", tmp_path / "other") != first
    os.chmod(path, 0o644)
    with pytest.raises(RuntimeError, match="readable by others"):
        install_secret("SENDER_HASH_SALT", tmp_path)


@pytest.mark.parametrize(("path", "offered", "peer", "token", "allowed"), [
    ("/webhook", "t0ken", "10.0.0.9", "t0ken", True),
    ("/webhook", "wrong", "127.0.0.1", "t0ken", False),
    ("/webhook", None, "127.0.0.1", "t0ken", False),
    ("/actions", "", "127.0.0.1", "t0ken", False),
    ("/webhook", None, "127.0.0.1", "", True),  # embedded without a token: loopback callers only
    ("/webhook", None, "10.0.0.9", "", False),
    ("/actions/", None, "192.168.1.4", "", False),
    ("/health", None, "10.0.0.9", "t0ken", True),  # probes
])
def test_the_action_server_serves_only_the_core(path: str, offered: str | None, peer: str, token: str,
                                                allowed: bool) -> None:
    assert caller_allowed(path, offered, peer, token) is allowed


def test_the_core_never_enables_its_http_api_without_a_token() -> None:
    with pytest.raises(CoreConfigError, match="--auth-token"):
        check(["--enable-api", "-i", "127.0.0.1"], {})
    check(["--enable-api", "--auth-token", "t", "-i", "127.0.0.1"], {})
    check(["-i", "127.0.0.1"], {})


def test_the_api_token_in_the_environment_turns_the_http_api_on_behind_it_and_only_then() -> None:
    assert with_api(["-i", "0.0.0.0"], {}) == ["-i", "0.0.0.0"]
    assert with_api(["-i", "0.0.0.0"], {"RASA_API_TOKEN": "  "}) == ["-i", "0.0.0.0"]
    args = with_api(["-i", "0.0.0.0"], {"RASA_API_TOKEN": "-tok"})
    assert args == ["-i", "0.0.0.0", "--enable-api", "--auth-token=-tok"]  # one argument: '-tok' is no option
    check(args, {n: "v" for n in CORE_SECRETS})
    given = ["--enable-api", "--auth-token", "other"]
    assert with_api(given, {"RASA_API_TOKEN": "tok"}) == given  # an explicit API setting is kept


def test_the_core_beyond_loopback_needs_every_token() -> None:
    with pytest.raises(MissingSecretsError) as err:
        check(["-p", "5005"], {})  # rasa's default interface is 0.0.0.0
    assert err.value.missing == list(CORE_SECRETS)
    check(["-i", "0.0.0.0"], {n: "v" for n in CORE_SECRETS})


def test_processes_starting_together_all_read_the_same_install_secret(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = ("import sys; from pathlib import Path; from common.secret_env import install_secret;"
            "print(install_secret('RELAY_TOKEN', Path(sys.argv[1])))")
    repo = Path(__file__).resolve().parents[2]
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=repo, stdout=subprocess.PIPE,
                              text=True) for _ in range(8)]
    values = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert len(values) == 1 and "" not in values
    assert [p.name for p in tmp_path.iterdir()] == ["relay_token"]  # no temp files left behind
