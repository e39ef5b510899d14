"""WeChat official account adapter against a scripted core and the local fake WeChat API.

Callbacks are signed and (in safe mode) encrypted by wechatpy's own crypto exactly as
WeChat's servers do; the API calls the adapter makes go to :mod:`devtools.fake_wechat`,
which speaks WeChat's wire format. The core is scripted here (and real in
``test_wechat_e2e.py``).
"""
# ruff: noqa: F811 - pytest fixtures imported from tests.channels.* are used as arguments

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from channels.core import BotMessage, Button, CoreUnavailable, InboundMessage
from channels.state import ChannelState
from channels.wechat import texts
from channels.wechat.menu import MenuError, load_menu, parse_menu
from channels.wechat.render import MAX_BYTES, compose, nbytes, split
from common.identity import hash_sender
from devtools.fake_wechat import (  # noqa: F401
    AES_KEY,
    APP_ID,
    TOKEN,
    FakeWeChatAPI,
    callback,
    encrypt,
    event_xml,
    fake_wechat,
    message_xml,
    next_msg_id,
    reply_text,
    signed_query,
    text_xml,
    wechat_env,
)
from server.app import create_app

OPENID = "oCitizen_0123456789abcdefghij"
WEBHOOK = "/channels/wechat/webhook"


@dataclass
class ScriptedCore:
    """A core that answers with ``answer(text)`` after ``delay_s``; records what it got (thread-safe)."""

    answer: Callable[[str], Sequence[BotMessage]] = lambda text: [BotMessage(text=f"答：{text}")]
    delay_s: float = 0.0
    down: bool = False
    received: list[InboundMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, msg: InboundMessage, timeout: float | None = None) -> list[BotMessage]:
        with self.lock:
            self.received.append(msg)
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.down:
            raise CoreUnavailable("ConnectionError")
        return list(self.answer(msg.text))

    @property
    def texts(self) -> list[str]:
        with self.lock:
            return [m.text for m in self.received]


@pytest.fixture
def core() -> ScriptedCore:
    return ScriptedCore()


@pytest.fixture
def state(tmp_path: Path) -> Iterator[ChannelState]:
    s = ChannelState(f"sqlite:///{tmp_path / 'channels.db'}")
    yield s
    s.dispose()


def make_client(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], state: ChannelState, core: Any) -> Any:
    for name in ("TWILIO_AUTH_TOKEN", "TELEGRAM_BOT_TOKEN", "WECHAT_ENCODING_AES_KEY", "WECHAT_APP_SECRET",
                 "WECHAT_REPLY_BUDGET"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = create_app({"CHANNEL_STATE": state, "CORE_CLIENT": core, "TESTING": True})
    client = app.test_client()
    client.channel = app.extensions["wechat_channel"]  # type: ignore[attr-defined]
    return client


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, fake_wechat: FakeWeChatAPI, state: ChannelState,
           core: ScriptedCore) -> Iterator[Any]:
    c = make_client(monkeypatch, wechat_env(fake_wechat.url), state, core)
    yield c
    c.channel.shutdown()


@pytest.fixture
def plain_client(monkeypatch: pytest.MonkeyPatch, fake_wechat: FakeWeChatAPI, state: ChannelState,
                 core: ScriptedCore) -> Iterator[Any]:
    c = make_client(monkeypatch, wechat_env(fake_wechat.url, safe_mode=False), state, core)
    yield c
    c.channel.shutdown()


def say(client: Any, content: str, msg_id: int | None = None, openid: str = OPENID) -> str | None:
    return reply_text(callback(client, text_xml(openid, content, msg_id)))


# -- verification ------------------------------------------------------------------------------
def test_the_url_check_echoes_only_a_signed_request(client: Any) -> None:
    ok = client.get(WEBHOOK + "?" + urlencode({**signed_query(), "echostr": "8237465123"}))
    assert ok.status_code == 200 and ok.get_data(as_text=True) == "8237465123"
    forged = {**signed_query(), "echostr": "1"}
    forged["signature"] = "0" * 40
    assert client.get(WEBHOOK + "?" + urlencode(forged)).status_code == 403
    assert client.get(WEBHOOK + "?echostr=1").status_code == 403


def test_a_signed_encrypted_text_is_answered_passively(client: Any, core: ScriptedCore) -> None:
    assert say(client, "办护照要带什么") == "答：办护照要带什么"
    (got,) = core.received
    assert got.channel == "wechat" and got.text == "办护照要带什么"
    assert got.sender_id == "wechat-" + hash_sender(OPENID) and OPENID not in got.sender_id
    assert OPENID not in str(got.metadata)


def _tampered(query: dict[str, str], body: str) -> tuple[dict[str, str], str]:
    start = body.index("<Encrypt><![CDATA[") + len("<Encrypt><![CDATA[")
    flipped = "A" if body[start + 5] != "A" else "B"
    return query, body[:start + 5] + flipped + body[start + 6:]


@pytest.mark.parametrize("forge", ["bad_signature", "no_signature", "tampered_body", "bad_msg_signature",
                                   "plaintext_in_safe_mode", "stale_timestamp", "other_app"])
def test_forged_or_unsigned_callbacks_get_403_and_nothing_is_processed(client: Any, core: ScriptedCore,
                                                                       state: ChannelState, forge: str) -> None:
    xml = text_xml(OPENID, "我要投诉")
    query = signed_query(openid=OPENID)
    if forge == "stale_timestamp":
        query = signed_query(openid=OPENID, timestamp=int(time.time()) - 3600)
    query, body = encrypt(xml, query)
    if forge == "bad_signature":
        query["signature"] = "f" * 40
    elif forge == "no_signature":
        query = {k: v for k, v in query.items() if k not in ("signature", "msg_signature")}
    elif forge == "tampered_body":
        query, body = _tampered(query, body)
    elif forge == "bad_msg_signature":
        query["msg_signature"] = "0" * 40
    elif forge == "plaintext_in_safe_mode":
        query, body = signed_query(openid=OPENID), xml
    elif forge == "other_app":  # encrypted for another AppID with the same token and key
        query, body = encrypt(xml, signed_query(openid=OPENID), app_id="wx9999999999999999")
    res = client.post(WEBHOOK + "?" + urlencode(query), data=body.encode(), content_type="text/xml")
    assert res.status_code == 403
    assert core.received == []
    with state.engine.connect() as conn:
        from sqlalchemy import text

        assert conn.execute(text("SELECT COUNT(*) FROM channel_processed")).scalar_one() == 0


def test_plaintext_mode_accepts_signed_plain_xml_and_refuses_encrypted(plain_client: Any, core: ScriptedCore) -> None:
    assert reply_text(callback(plain_client, text_xml(OPENID, "社保卡怎么补办"), safe_mode=False),
                      safe_mode=False) == "答：社保卡怎么补办"
    res = callback(plain_client, text_xml(OPENID, "再问一次"), safe_mode=True)
    assert res.status_code == 403
    assert core.texts == ["社保卡怎么补办"]


def test_a_body_that_is_not_a_message_is_refused_without_a_crash(plain_client: Any, core: ScriptedCore) -> None:
    res = callback(plain_client, "<xml><nothing/></xml>", safe_mode=False)
    assert res.status_code == 400
    res = callback(plain_client, "not xml at all", safe_mode=False)
    assert res.status_code == 400
    assert core.received == []


# -- the asynchronous path and retries -----------------------------------------------------------
def test_a_slow_core_gets_success_at_once_and_the_answer_arrives_through_the_api_once(
        monkeypatch: pytest.MonkeyPatch, fake_wechat: FakeWeChatAPI, state: ChannelState) -> None:
    core = ScriptedCore(delay_s=1.5)
    client = make_client(monkeypatch, wechat_env(fake_wechat.url, WECHAT_REPLY_BUDGET="0.3"), state, core)
    try:
        t0 = time.monotonic()
        assert say(client, "结婚登记要带什么") is None  # "success"
        assert time.monotonic() - t0 < 1.2
        assert fake_wechat.wait_for_texts(OPENID) == ["答：结婚登记要带什么"]
        client.channel.shutdown()
        assert fake_wechat.texts_to(OPENID) == ["答：结婚登记要带什么"]
        assert fake_wechat.token_fetches == 1
    finally:
        client.channel.shutdown()


def test_wechat_retries_of_one_msgid_are_answered_once(client: Any, core: ScriptedCore) -> None:
    msg_id = next_msg_id()
    replies = [say(client, "居住证怎么办", msg_id=msg_id) for _ in range(3)]  # WeChat's three tries
    assert replies == ["答：居住证怎么办"] * 3
    assert core.texts == ["居住证怎么办"]


def test_retries_during_a_slow_answer_get_success_and_one_api_message(
        monkeypatch: pytest.MonkeyPatch, fake_wechat: FakeWeChatAPI, state: ChannelState) -> None:
    core = ScriptedCore(delay_s=1.5)
    client = make_client(monkeypatch, wechat_env(fake_wechat.url, WECHAT_REPLY_BUDGET="0.2"), state, core)
    try:
        msg_id = next_msg_id()
        xml = text_xml(OPENID, "我想查办件进度", msg_id)
        results = [reply_text(callback(client, xml)) for _ in range(3)]
        assert results == [None, None, None]
        client.channel.shutdown()
        assert fake_wechat.texts_to(OPENID) == ["答：我想查办件进度"]
        assert reply_text(callback(client, xml)) is None  # a late retry after delivery: still nothing new
        client.channel.shutdown()
        assert core.texts == ["我想查办件进度"]
        assert fake_wechat.texts_to(OPENID) == ["答：我想查办件进度"]
    finally:
        client.channel.shutdown()


def test_a_long_answer_goes_out_as_several_api_messages_within_the_byte_limit(
        client: Any, core: ScriptedCore, fake_wechat: FakeWeChatAPI) -> None:
    sentence = "办理居住证需要提供身份证、租房合同或房产证明以及近期一寸照片。"
    core.answer = lambda text: [BotMessage(text=sentence * 80)]
    assert say(client, "居住证要什么材料") is None
    client.channel.shutdown()
    got = fake_wechat.texts_to(OPENID)
    assert len(got) >= 3
    assert all(nbytes(p) <= MAX_BYTES and p.endswith("。") for p in got)
    assert "".join(got) == sentence * 80


def test_a_core_outage_gets_an_apology_and_the_message_can_be_retried(client: Any, core: ScriptedCore) -> None:
    core.down = True
    msg_id = next_msg_id()
    assert say(client, "护照", msg_id=msg_id) == texts.text("unavailable")
    core.down = False
    assert say(client, "护照", msg_id=msg_id) == "答：护照"  # claim released: the retry is processed


def test_without_an_app_secret_a_late_answer_gets_the_apology(monkeypatch: pytest.MonkeyPatch,
                                                              fake_wechat: FakeWeChatAPI,
                                                              state: ChannelState) -> None:
    core = ScriptedCore(delay_s=1.0)
    env = wechat_env(fake_wechat.url, WECHAT_REPLY_BUDGET="0.2")
    env.pop("WECHAT_APP_SECRET")
    client = make_client(monkeypatch, env, state, core)
    try:
        assert say(client, "护照") == texts.text("unavailable")
        client.channel.shutdown()
        assert fake_wechat.messages == [] and fake_wechat.token_fetches == 0
    finally:
        client.channel.shutdown()


# -- message types -------------------------------------------------------------------------------
def test_voice_with_recognition_is_text_and_without_it_a_request_to_type(client: Any, core: ScriptedCore) -> None:
    heard = message_xml(OPENID, "voice", MediaId="m1", Format="amr", Recognition="社保卡怎么补办")
    assert reply_text(callback(client, heard)) == "答：社保卡怎么补办"
    unheard = message_xml(OPENID, "voice", MediaId="m2", Format="amr")
    assert reply_text(callback(client, unheard)) == texts.text("voice_not_recognised")
    assert core.texts == ["社保卡怎么补办"]


@pytest.mark.parametrize(("msg_type", "fields", "key"), [
    ("image", {"PicUrl": "http://mmbiz.example/1.jpg", "MediaId": "m3"}, "image_received"),
    ("location", {"Location_X": "23.134521", "Location_Y": "113.358803", "Scale": "20", "Label": "天河区"},
     "location_received"),
    ("link", {"Title": "通知", "Description": "d", "Url": "https://example.gov.cn/a"}, "link_received"),
    ("video", {"MediaId": "m4", "ThumbMediaId": "t4"}, "unsupported"),
])
def test_media_are_acknowledged_without_the_core(client: Any, core: ScriptedCore, msg_type: str,
                                                 fields: dict[str, str], key: str) -> None:
    assert reply_text(callback(client, message_xml(OPENID, msg_type, **fields))) == texts.text(key)
    assert core.received == []


def test_subscribe_asks_the_core_for_the_greeting(client: Any, core: ScriptedCore) -> None:
    core.answer = lambda text: [BotMessage(text="您好，欢迎关注")] if text == "/greet" else []
    assert reply_text(callback(client, event_xml(OPENID, "subscribe"))) == "您好，欢迎关注"
    assert core.texts == ["/greet"]


def test_unsubscribe_stops_customer_service_messages_until_the_citizen_returns(
        client: Any, core: ScriptedCore, state: ChannelState, fake_wechat: FakeWeChatAPI) -> None:
    from channels.wechat.api import SendRefused

    assert callback(client, event_xml(OPENID, "unsubscribe")).get_data(as_text=True) == "success"
    assert state.is_opted_out("wechat", hash_sender(OPENID))
    sender = client.channel.sender
    with pytest.raises(SendRefused):
        sender.send(OPENID, "您的预约明天到期")
    assert fake_wechat.messages == [] and core.received == []
    callback(client, event_xml(OPENID, "subscribe", created=int(time.time()) + 1))
    assert not state.is_opted_out("wechat", hash_sender(OPENID))
    sender.send(OPENID, "您的预约明天到期")
    assert fake_wechat.texts_to(OPENID) == ["您的预约明天到期"]


@pytest.mark.parametrize(("key", "payload"), [("GUIDE", "/ask_service_guide"), ("BOOK", "/book_appointment"),
                                              ("STATUS", "/check_application_status"), ("COMPLAIN", "/complain"),
                                              ("HUMAN", "/request_human")])
def test_menu_clicks_send_their_intents_to_the_core(client: Any, core: ScriptedCore, key: str, payload: str) -> None:
    assert reply_text(callback(client, event_xml(OPENID, "CLICK", key))) == f"答：{payload}"
    assert core.texts == [payload]


def test_an_unknown_menu_key_and_silent_events_do_not_reach_the_core(client: Any, core: ScriptedCore) -> None:
    assert reply_text(callback(client, event_xml(OPENID, "CLICK", "OLD_KEY"))) == texts.text("menu_unknown")
    assert callback(client, event_xml(OPENID, "VIEW", "https://example.gov.cn")).get_data(as_text=True) == "success"
    assert callback(client, event_xml(OPENID, "TEMPLATESENDJOBFINISH")).get_data(as_text=True) == "success"
    assert core.received == []


def test_buttons_become_numbered_options_and_a_bare_digit_picks_one(client: Any, core: ScriptedCore) -> None:
    def answer(text: str) -> list[BotMessage]:
        if text == "预约":
            return [BotMessage(text="请确认预约信息。", buttons=(Button("确认", "/affirm"), Button("取消", "/deny")))]
        return [BotMessage(text=f"收到 {text}")]

    core.answer = answer
    shown = say(client, "预约")
    assert shown == "请确认预约信息。\n1. 确认\n2. 取消\n" + texts.text("options_footer")
    assert "<" not in shown
    assert say(client, "7") == texts.text("option_out_of_range", keys="1、2")
    assert say(client, "２。") == "收到 /deny"
    assert say(client, "1") == "收到 1"  # the options were used up: a digit is text again
    assert core.texts == ["预约", "/deny", "1"]


def test_logs_carry_the_hashed_openid_never_the_openid(client: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    say(client, "护照")
    callback(client, event_xml(OPENID, "unsubscribe"))
    assert hash_sender(OPENID) in caplog.text
    assert OPENID not in caplog.text


def test_the_channel_is_off_with_one_log_line_without_its_variables(monkeypatch: pytest.MonkeyPatch,
                                                                    state: ChannelState,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    for name in ("WECHAT_TOKEN", "WECHAT_APP_ID"):
        monkeypatch.delenv(name, raising=False)
    caplog.set_level(logging.INFO)
    app = create_app({"CHANNEL_STATE": state, "TESTING": True})
    lines = [r.getMessage() for r in caplog.records if "wechat" in r.getMessage().lower()]
    assert len(lines) == 1 and "WECHAT_TOKEN" in lines[0] and "WECHAT_APP_ID" in lines[0]
    assert "wechat_channel" not in app.extensions
    assert app.test_client().post(WEBHOOK).status_code == 404


# -- rendering -----------------------------------------------------------------------------------
def test_split_respects_the_byte_limit_and_prefers_sentence_ends() -> None:
    text = ("第一段说明办理条件。" * 60) + "\n" + ("第二段说明所需材料，包括身份证、户口簿。" * 60)
    parts = split(text)
    assert all(nbytes(p) <= MAX_BYTES for p in parts) and len(parts) >= 3
    assert all(p[-1] in "。\n" for p in parts[:-1])
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")
    emoji = "😀" * 1000  # 4 bytes each: never cut inside a character
    assert all(nbytes(p) <= MAX_BYTES for p in split(emoji)) and "".join(split(emoji)) == emoji


def test_long_answers_keep_the_options_whole_in_the_last_message() -> None:
    long = "请核对以下信息。" * 300
    answer = compose([BotMessage(text=long), BotMessage(text="是否确认？", buttons=(Button("是", "/affirm"),
                                                                               Button("否", "/deny")))])
    assert all(nbytes(p) <= MAX_BYTES for p in answer.parts)
    assert answer.parts[-1].endswith("是否确认？\n1. 是\n2. 否\n" + texts.text("options_footer"))
    assert [b.payload for b in answer.options] == ["/affirm", "/deny"]
    image = compose([BotMessage(text="地图如下", image="https://example.gov.cn/map.png")])
    assert image.parts == ("地图如下\nhttps://example.gov.cn/map.png",)


# -- access token and menu -----------------------------------------------------------------------
def test_concurrent_workers_of_two_processes_fetch_the_token_once_and_refresh_a_revoked_one_once(
        tmp_path: Path, fake_wechat: FakeWeChatAPI) -> None:
    from channels.wechat.api import WeChatApi
    from channels.wechat.verify import WeChatSettings

    settings = WeChatSettings.from_env(wechat_env(fake_wechat.url))
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    states = [ChannelState(url), ChannelState(url)]  # two app-server processes, one database
    for s in states:
        assert s.engine  # tables created at start-up, before the traffic
    apis = [WeChatApi(settings, s) for s in states]
    fake_wechat.token_delay_s = 0.5
    errors: list[BaseException] = []

    def burst(tag: str) -> None:
        def send(i: int) -> None:
            try:
                apis[i % 2].send_text(f"o{tag}{i}", f"{tag} {i}")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)

    try:
        burst("a")
        assert errors == [] and fake_wechat.token_fetches == 1 and len(fake_wechat.messages) == 8
        fake_wechat.invalidate_tokens()
        burst("b")
        assert errors == [] and fake_wechat.token_fetches == 2 and len(fake_wechat.messages) == 16
        assert fake_wechat.rejected  # the revoked token was really refused before the refresh
    finally:
        for s in states:
            s.dispose()


def test_the_menu_command_publishes_the_committed_menu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                       fake_wechat: FakeWeChatAPI) -> None:
    from channels.wechat.__main__ import main

    for name, value in wechat_env(fake_wechat.url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CHANNELS_DB_URL", f"sqlite:///{tmp_path / 'menu.db'}")
    monkeypatch.delenv("CHANNELS_REDIS_URL", raising=False)
    assert main(["menu"]) == 0
    assert fake_wechat.menus == [load_menu().body]
    keys = {b.get("key") for top in fake_wechat.menus[0]["button"] for b in [top, *top.get("sub_button", [])]}
    assert {"GUIDE", "BOOK", "STATUS", "COMPLAIN", "HUMAN"} <= keys
    assert fake_wechat.token_fetches == 1
    monkeypatch.setenv("WECHAT_APP_SECRET", "wrong-secret")  # a fresh deployment with a wrong secret
    monkeypatch.setenv("CHANNELS_DB_URL", f"sqlite:///{tmp_path / 'other.db'}")
    assert main(["menu"]) == 1
    assert len(fake_wechat.menus) == 1


def test_every_menu_payload_is_an_intent_of_the_domain() -> None:
    from tests.domain_files import domain

    intents = {i if isinstance(i, str) else next(iter(i)) for i in domain()["intents"]}
    assert {p.lstrip("/") for p in load_menu().payloads.values()} <= intents


@pytest.mark.parametrize("data", [
    {"button": []},
    {"button": [{"name": "一", "key": "A", "payload": "/greet"}] * 4},
    {"button": [{"name": "名字太长超过十六字节", "key": "A", "payload": "/greet"}]},
    {"button": [{"name": "办事", "key": "A", "payload": "随便说点什么"}]},
    {"button": [{"name": "办事", "key": "A", "payload": "/greet"}, {"name": "再办", "key": "A", "payload": "/greet"}]},
    {"button": [{"name": "更多", "sub_button": [{"name": str(i), "key": f"K{i}", "payload": "/greet"}
                                              for i in range(6)]}]},
])
def test_a_menu_that_breaks_wechat_rules_is_refused_before_publishing(data: dict[str, Any]) -> None:
    with pytest.raises(MenuError):
        parse_menu(data)
