"""The action server's SMS sender for phone codes is composed in server/action_server.py."""

from __future__ import annotations

import pytest

from actions import stores
from casework.guards import DevSmsSink
from channels.sms_sender import TwilioSmsSender
from server.action_server import install_sms_sender


@pytest.fixture(autouse=True)
def _no_installed_sender(monkeypatch):
    monkeypatch.setattr(stores, "_installed", [])
    monkeypatch.delenv("TWILIO_ACCOUNT_SID", raising=False)


def test_without_twilio_codes_go_to_the_development_sink(tmp_path, monkeypatch):
    monkeypatch.setenv("DEV_SMS_SINK", str(tmp_path / "sms.jsonl"))
    assert install_sms_sender({}) is False
    sink = stores.default_code_sender()
    assert isinstance(sink, DevSmsSink)
    sink.send("+8613900001234", "验证码 123456")
    assert "123456" in (tmp_path / "sms.jsonl").read_text(encoding="utf-8")
    assert (tmp_path / "sms.jsonl").stat().st_mode & 0o077 == 0  # readable by its owner only


def test_with_twilio_the_composed_sender_is_twilios(monkeypatch, tmp_path):
    monkeypatch.setenv("CHANNELS_DB_URL", f"sqlite:///{tmp_path / 'channels.db'}")
    env = {"TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "t" * 32, "TWILIO_SMS_FROM": "+8610000000000"}
    assert install_sms_sender(env) is True
    assert isinstance(stores.default_code_sender(), TwilioSmsSender)


def test_half_configured_twilio_fails_at_start_up_naming_what_is_missing():
    with pytest.raises(ValueError, match="TWILIO_SMS_FROM"):
        install_sms_sender({"TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "t" * 32})


def test_twilio_credentials_without_the_composed_sender_fail_closed(monkeypatch):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "1" * 32)
    with pytest.raises(RuntimeError, match=r"server\.action_server"):
        stores.default_code_sender().send("+8613900001234", "x")
