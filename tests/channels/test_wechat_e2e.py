"""WeChat end to end: the real Rasa core and action server (``live_core``) behind the real app server.

Only WeChat is simulated: callbacks are signed and encrypted by wechatpy's crypto as
WeChat's servers do it, and answers the core gives too late for a passive reply arrive at
the local fake API. The last test books over WeChat and finds and cancels the booking
over SMS (signed Twilio webhooks), through the one action server every channel shares.
"""
# ruff: noqa: F811 - pytest fixtures imported from tests.channels.* are used as arguments

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from channels.state import ChannelState
from devtools.fake_wechat import (  # noqa: F401
    FakeWeChatAPI,
    callback,
    event_xml,
    fake_wechat,
    reply_text,
    text_xml,
    wechat_env,
)
from server.app import create_app

pytestmark = [pytest.mark.rasa, pytest.mark.slow]


class WeChatCitizen:
    """One follower of the account writing to it; collects passive replies and customer-service messages."""

    def __init__(self, client: Any, api: FakeWeChatAPI, openid: str):
        self.client, self.api, self.openid = client, api, openid

    def _answer(self, res: Any) -> str:
        before = len(self.api.texts_to(self.openid))
        passive = reply_text(res)
        if passive is not None:
            return passive
        got = self.api.wait_for_texts(self.openid, before + 1, timeout=60)  # the core was slower than the budget
        return "\n".join(got[before:])

    def say(self, text: str) -> str:
        return self._answer(callback(self.client, text_xml(self.openid, text)))

    def event(self, event: str, key: str | None = None) -> str:
        return self._answer(callback(self.client, event_xml(self.openid, event, key)))


@pytest.fixture
def wechat_client(live_core: Any, fake_wechat: FakeWeChatAPI, monkeypatch: pytest.MonkeyPatch,
                  tmp_path: Path) -> Iterator[Any]:
    for name, value in wechat_env(fake_wechat.url, WECHAT_CORE_TIMEOUT="60").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RASA_URL", live_core.rasa_url)
    for name in ("RELAY_TOKEN", "WECHAT_REPLY_BUDGET", "TWILIO_AUTH_TOKEN", "TELEGRAM_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    state = ChannelState(f"sqlite:///{tmp_path / 'wechat.db'}")
    app = create_app({"CHANNEL_STATE": state})
    yield app.test_client()
    app.extensions["wechat_channel"].shutdown()
    state.dispose()


def test_a_follower_is_greeted_and_the_menu_and_questions_are_answered(wechat_client: Any,
                                                                       fake_wechat: FakeWeChatAPI) -> None:
    citizen = WeChatCitizen(wechat_client, fake_wechat, "oE2E_greeting_0000000000001")
    greeting = citizen.event("subscribe")
    assert "市民服务助手" in greeting and "菜单" in greeting  # the domain's `channel: wechat` variation
    guide = citizen.event("CLICK", "GUIDE")
    assert "办事指南" in guide
    answer = citizen.say("办护照要带什么材料")
    assert "护照" in answer and "身份证" in answer
    assert "<" not in answer


def book_over_wechat(citizen: WeChatCitizen, phone: str, live_core: Any) -> str:
    """Book a passport appointment, answering numbered options with digits; returns the reference.

    WeChat does not prove the phone: the SMS code is read from the core's development sink.
    """
    answers = {"验证码": "", "服务中心": "天河", "哪一天": "下周三", "几点": "上午十点", "姓名": "陈示例", "手机": phone}
    reply = citizen.say("我想预约办护照")
    steps = [reply]
    for _ in range(12):
        if "预约成功" in reply:
            break
        key = next((k for k in answers if k in reply), None)
        if re.search(r"^1\. ", reply, re.M) and (key is None or "确认预约" in reply):
            reply = citizen.say("1")
        else:
            assert key, f"unexpected question: {reply!r}\nso far: {steps}"
            answer = answers.pop(key)
            reply = citizen.say(answer if key != "验证码" else live_core.last_code(phone))
        steps.append(reply)
    assert "预约成功" in reply, steps
    ref = re.search(r"YY\d{6}", reply)
    assert ref, reply
    return ref.group(0)


def test_booked_on_wechat_found_and_cancelled_over_sms(wechat_client: Any, fake_wechat: FakeWeChatAPI,
                                                       live_core: Any, monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    phone = "13800007799"
    ref = book_over_wechat(WeChatCitizen(wechat_client, fake_wechat, "oE2E_booking_00000000000002"), phone, live_core)

    from tests.channels.test_twilio_e2e import Texter
    from tests.channels.twilio_helpers import BASE, TOKEN

    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("PUBLIC_BASE_URL", BASE)
    state = ChannelState(f"sqlite:///{tmp_path / 'sms.db'}")
    app = create_app({"CHANNEL_STATE": state})
    try:
        sms = Texter(app.test_client(), "+86" + phone)
        sms.send("查一下我的预约")
        sms.send(ref)
        found = sms.send(phone)
        assert ref in found and "天河" in found, found
        replies = [sms.send("我要取消预约")]
        for answer in (ref, phone):
            if "已为您取消预约" in replies[-1]:
                break
            replies.append(sms.send(answer))
        assert "已为您取消预约" in replies[-1] and ref in replies[-1], replies
    finally:
        app.extensions["wechat_channel"].shutdown()
        state.dispose()
