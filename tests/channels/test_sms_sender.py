"""Outbound SMS: opt-outs are respected and the Twilio request carries the right fields.

The Twilio client is replaced through the sender's constructor by a recorder with the same
``messages.create`` shape; no SDK internals are patched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from channels.sms_sender import SendRefused, TwilioSmsSender, sender_from_settings
from channels.state import ChannelState
from channels.twilio_common.verify import MissingCredentials, TwilioSettings
from common.identity import hash_sender


@dataclass
class RecordingMessages:
    calls: list[dict[str, Any]] = field(default_factory=list)

    def create(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return SimpleNamespace(sid=f"SM{len(self.calls):032d}")


@pytest.fixture
def state(tmp_path):
    st = ChannelState(f"sqlite:///{tmp_path / 'channels.db'}")
    yield st
    st.dispose()


@pytest.fixture
def messages():
    return RecordingMessages()


def make_sender(state, messages, sms_from="+8610690000000"):
    return TwilioSmsSender("AC" + "1" * 32, "token", sms_from, state, client=SimpleNamespace(messages=messages))


def test_a_message_is_sent_to_the_normalised_number(state, messages):
    sid = make_sender(state, messages).send("139 0000 1234", " 详细内容 ")
    assert sid.startswith("SM")
    assert messages.calls == [{"to": "+8613900001234", "body": "详细内容", "from_": "+8610690000000"}]


def test_a_messaging_service_sid_is_used_as_such(state, messages):
    make_sender(state, messages, sms_from="MG" + "2" * 32).send("+8613900001234", "内容")
    assert messages.calls[0]["messaging_service_sid"] == "MG" + "2" * 32 and "from_" not in messages.calls[0]


def test_an_opted_out_number_is_never_sent_to_until_it_opts_back_in(state, messages):
    sender = make_sender(state, messages)
    state.set_opt_out("sms", hash_sender("+8613900001234"), True)
    with pytest.raises(SendRefused):
        sender.send("13900001234", "通知")
    assert messages.calls == []
    state.set_opt_out("sms", hash_sender("+8613900001234"), False)
    sender.send("13900001234", "通知")
    assert len(messages.calls) == 1


@pytest.mark.parametrize("to", ["", "12345", "+862083331234", "not a number"])
def test_numbers_that_cannot_receive_sms_are_refused(state, messages, to):
    with pytest.raises(SendRefused):
        make_sender(state, messages).send(to, "通知")
    assert messages.calls == []


def test_settings_name_every_missing_variable_and_the_sender_needs_sid_and_from(state):
    with pytest.raises(MissingCredentials, match=r"TWILIO_AUTH_TOKEN.*PUBLIC_BASE_URL"):
        TwilioSettings.from_env({})
    with pytest.raises(MissingCredentials, match="PUBLIC_BASE_URL"):
        TwilioSettings.from_env({"TWILIO_AUTH_TOKEN": "t", "PUBLIC_BASE_URL": "bot.example.gov.cn"})
    settings = TwilioSettings.from_env({"TWILIO_AUTH_TOKEN": "t", "PUBLIC_BASE_URL": "https://bot.example.gov.cn/"})
    assert settings.public_base_url == "https://bot.example.gov.cn"
    assert sender_from_settings(settings, state) is None
    full = TwilioSettings.from_env({"TWILIO_AUTH_TOKEN": "t", "PUBLIC_BASE_URL": "https://b.example",
                                    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_SMS_FROM": "+8610690000000"})
    assert isinstance(sender_from_settings(full, state), TwilioSmsSender)
