"""SMS adapter: signatures, parsing, rendering within the part budget, keywords, digits, dedupe, core failures."""

from __future__ import annotations

import http.server
import logging
import threading
import time

import pytest

from channels.core import BotMessage, CoreClient, CoreSettings
from channels.sms import render, segments, texts
from channels.sms.parse import Intent, classify, parse_webhook
from channels.state import ChannelState
from common.identity import number_hash
from server.app import create_app
from tests.channels.twilio_helpers import BASE, TOKEN, FakeCore, bot, post_signed, sign, sms_form, texts_of, twiml

PATH = "/channels/sms/webhook"


@pytest.fixture
def twilio_env(monkeypatch):
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("PUBLIC_BASE_URL", BASE + "/")
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_SMS_FROM", "SMS_MAX_PARTS", "SMS_CORE_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def state(tmp_path):
    st = ChannelState(f"sqlite:///{tmp_path / 'channels.db'}")
    yield st
    st.dispose()


@pytest.fixture
def core():
    return FakeCore()


@pytest.fixture
def client(twilio_env, state, core):
    app = create_app({"TESTING": True, "CHANNEL_STATE": state, "CORE_CLIENT": core})
    return app.test_client()


def reply_of(res) -> str:
    bodies = texts_of(twiml(res), "/Response/Message")
    assert len(bodies) == 1
    return bodies[0]


# -- signatures ---------------------------------------------------------------------------
def test_a_signed_message_reaches_the_core_with_a_hashed_sender_and_the_number_in_metadata(client, core):
    core.replies.append([bot("普通护照工本费每本120元。")])
    res = post_signed(client, PATH, sms_form("办护照多少钱"))
    assert reply_of(res) == "普通护照工本费每本120元。"
    (msg,) = core.received
    assert msg.channel == "sms" and msg.text == "办护照多少钱"
    assert msg.sender_id == "sms-" + number_hash("+8613900001234")
    assert "13900001234" not in msg.sender_id
    assert msg.metadata == {"phone": "+8613900001234"}


def test_the_same_number_written_differently_is_one_conversation(client, core):
    core.replies += [[bot("一")], [bot("二")]]
    post_signed(client, PATH, sms_form("你好", sid="SM" + "1" * 32, sender="+86 139 0000 1234"))
    post_signed(client, PATH, sms_form("你好", sid="SM" + "2" * 32, sender="13900001234"))
    assert core.received[0].sender_id == core.received[1].sender_id


@pytest.mark.parametrize("case", ["missing", "wrong_token", "tampered_body", "wrong_url", "request_url"])
def test_unsigned_or_tampered_webhooks_are_refused_and_not_processed(client, core, state, case):
    form = sms_form("办护照多少钱")
    if case == "missing":
        res = post_signed(client, PATH, form, signature="")
    elif case == "wrong_token":
        res = post_signed(client, PATH, form, token="another-token")
    elif case == "tampered_body":
        res = post_signed(client, PATH, {**form, "Body": "退订"}, signature=sign(BASE + PATH, form))
    elif case == "wrong_url":
        res = post_signed(client, PATH, form, base="https://evil.example.com")
    else:  # signed for the internal URL the proxy forwards to, not the public one
        res = post_signed(client, PATH, form, base="http://localhost")
    assert res.status_code == 403
    assert core.received == []
    assert state.begin("sms", form["MessageSid"]).claim.value == "new"  # nothing was claimed before


def test_a_signature_over_the_public_url_passes_behind_a_tls_proxy(client, core):
    # The test client talks plain http to "localhost"; Twilio signed https://bot.example.gov.cn/...
    core.replies.append([bot("好的")])
    res = post_signed(client, PATH, sms_form("你好"), headers={"X-Forwarded-Proto": "https"})
    assert reply_of(res) == "好的"


def test_a_form_without_message_sid_is_a_bad_request(client, core):
    res = post_signed(client, PATH, {"From": "+8613900001234", "Body": "你好"})
    assert res.status_code == 400 and core.received == []


# -- parsing ------------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "intent", "number"), [
    ("退订", Intent.OPT_OUT, None), ("td", Intent.OPT_OUT, None), ("STOP", Intent.OPT_OUT, None),
    ("取消订阅", Intent.OPT_OUT, None), (" ＴＤ。", Intent.OPT_OUT, None),
    ("订阅", Intent.OPT_IN, None), ("start", Intent.OPT_IN, None),
    ("帮助", Intent.HELP, None), ("HELP", Intent.HELP, None), ("？", Intent.HELP, None),
    ("更多", Intent.MORE, None), ("2", Intent.DIGIT, 2), ("１", Intent.DIGIT, 1), ("3。", Intent.DIGIT, 3),
    ("", Intent.EMPTY, None), ("   ", Intent.EMPTY, None),
    ("取消预约", Intent.TEXT, None), ("13900001234", Intent.TEXT, None), ("我要退订短信通知吗", Intent.TEXT, None),
])
def test_keywords_and_bare_digits_are_recognised(body, intent, number):
    assert classify(body) == (intent, number)


def test_parse_rejects_forms_without_a_usable_sid_or_sender():
    assert parse_webhook({"MessageSid": "SM1", "From": "+8613900001234"}) is None  # too short
    assert parse_webhook({"MessageSid": "SM" + "a" * 32, "From": ""}) is None
    sms = parse_webhook(sms_form(" 你好 ", sender="not a number"))
    assert sms is not None and sms.phone is None and sms.body == "你好"


# -- rendering ----------------------------------------------------------------------------
def test_buttons_become_numbered_options_under_the_text():
    page = render.compose([bot("请确认预约信息。", [("确认预约", "/affirm"), ("取消", "/deny")])], max_parts=3)
    assert page.text == "请确认预约信息。\n1. 确认预约\n2. 取消\n" + texts.OPTIONS_FOOTER
    assert [b.payload for b in page.options] == ["/affirm", "/deny"]
    assert page.rest == ""


def test_a_long_answer_is_cut_at_a_sentence_boundary_within_the_budget():
    sentences = [f"第{i}句说明办理要求和所需材料。" for i in range(1, 30)]
    body = "".join(sentences)
    page = render.compose([bot(body)], max_parts=2)
    assert segments.parts(page.text) <= 2
    assert page.text.endswith(texts.MORE_HINT_DIGIT)
    head = page.text.removesuffix(texts.MORE_HINT_DIGIT)
    assert head.endswith("。") and body.startswith(head)
    assert head + page.rest == body
    assert len(head) > 100  # uses the budget, not a token first sentence


def test_a_cut_answer_with_options_keeps_the_options_and_asks_for_the_word_more():
    body = "。".join(["这是一段很长的说明文字"] * 40) + "。"
    page = render.compose([bot(body, [("确认", "/affirm"), ("取消", "/deny")])], max_parts=3)
    assert segments.parts(page.text) <= 3
    assert texts.MORE_HINT_WORD in page.text and texts.MORE_HINT_DIGIT not in page.text
    assert page.text.endswith("1. 确认\n2. 取消\n" + texts.OPTIONS_FOOTER)
    assert page.rest


@pytest.mark.parametrize("max_parts", [1, 2, 3, 5])
def test_every_page_of_a_long_emoji_answer_fits_the_budget(max_parts):
    body = "办理须知😀：" + "请携带身份证原件和复印件，到窗口取号办理。" * 25
    page = render.compose([bot(body)], max_parts)
    seen = []
    while True:
        assert segments.parts(page.text) <= max_parts
        seen.append(page.text)
        if not page.rest:
            break
        page = render.paginate(page.rest, (), max_parts, more_by_digit=True)
    joined = "".join(p.removesuffix(texts.MORE_HINT_DIGIT) for p in seen)
    assert joined.replace("\n", "") == body.replace("\n", "")


def test_twiml_is_built_by_the_sdk_and_escapes_markup():
    from lxml import etree

    doc = etree.fromstring(render.twiml("a < b & c").encode())
    assert doc.xpath("/Response/Message/text()") == ["a < b & c"]
    assert etree.fromstring(render.twiml(None).encode()).xpath("count(/Response/*)") == 0


# -- keywords, options, more --------------------------------------------------------------
def test_opt_out_and_back_in_are_recorded_per_hashed_number(client, state, core):
    who = number_hash("+8613900001234")
    assert reply_of(post_signed(client, PATH, sms_form("退订", sid="SM" + "1" * 32))) == texts.OPTED_OUT
    assert state.is_opted_out("sms", who)
    # Another spelling of the same number is the same subscriber.
    assert reply_of(post_signed(client, PATH, sms_form("订阅", sid="SM" + "2" * 32, sender="139 0000 1234"))) \
        == texts.OPTED_IN
    assert not state.is_opted_out("sms", who)
    assert reply_of(post_signed(client, PATH, sms_form("STOP", sid="SM" + "3" * 32))) == texts.OPTED_OUT
    assert state.is_opted_out("sms", who)
    assert core.received == []  # channel keywords never reach the core


def test_help_names_the_hotline_without_asking_the_core(client, core):
    text = reply_of(post_signed(client, PATH, sms_form("帮助")))
    assert texts.HOTLINE in text and "预约" in text
    assert core.received == []


def test_a_bare_digit_selects_the_option_of_the_last_message(client, core):
    slots = [("上午9:00", '/inform{"time": "09:00"}'), ("下午14:00", '/inform{"time": "14:00"}')]
    core.replies += [[bot("请选择时段：", slots)], [bot("请告诉我办事人的姓名。")]]
    post_signed(client, PATH, sms_form("明天", sid="SM" + "1" * 32))
    post_signed(client, PATH, sms_form("２", sid="SM" + "2" * 32))
    assert core.received[1].text == '/inform{"time": "14:00"}'
    # The last reply had no options any more: a digit is now plain text for the core.
    core.replies.append([bot("好的")])
    post_signed(client, PATH, sms_form("2", sid="SM" + "3" * 32))
    assert core.received[2].text == "2"


def test_a_digit_outside_the_options_asks_again_without_the_core(client, core):
    core.replies.append([bot("请选择：", [("确认", "/affirm"), ("取消", "/deny")])])
    post_signed(client, PATH, sms_form("预约", sid="SM" + "1" * 32))
    text = reply_of(post_signed(client, PATH, sms_form("7", sid="SM" + "2" * 32)))
    assert text == texts.OPTION_OUT_OF_RANGE.format(keys="1、2")
    assert len(core.received) == 1


def test_one_or_more_fetches_the_rest_of_a_cut_answer(client, core, monkeypatch):
    body = "".join(f"第{i}条：请携带身份证原件到窗口办理。" for i in range(1, 40))
    core.replies.append([bot(body)])
    first = reply_of(post_signed(client, PATH, sms_form("护照怎么办", sid="SM" + "1" * 32)))
    assert first.endswith(texts.MORE_HINT_DIGIT)
    second = reply_of(post_signed(client, PATH, sms_form("1", sid="SM" + "2" * 32)))
    third = reply_of(post_signed(client, PATH, sms_form("更多", sid="SM" + "3" * 32)))
    pages, n = [first, second, third], 4
    while pages[-1].endswith(texts.MORE_HINT_DIGIT):
        pages.append(reply_of(post_signed(client, PATH, sms_form("更多", sid=f"SM{n:032d}"))))
        n += 1
    assert "".join(p.removesuffix(texts.MORE_HINT_DIGIT) for p in pages) == body
    assert len(core.received) == 1
    assert reply_of(post_signed(client, PATH, sms_form("更多", sid=f"SM{n:032d}"))) == texts.NO_MORE


def test_an_empty_message_gets_a_hint(client, core):
    assert reply_of(post_signed(client, PATH, sms_form("  "))) == texts.EMPTY_BODY
    assert core.received == []


# -- idempotency and failures ------------------------------------------------------------
def test_a_duplicated_webhook_is_processed_once_and_gets_the_same_reply(client, core):
    core.replies += [[bot("第一次的回答")], [bot("不应出现")]]
    first = post_signed(client, PATH, sms_form("办护照多少钱"))
    second = post_signed(client, PATH, sms_form("办护照多少钱"))
    assert reply_of(first) == reply_of(second) == "第一次的回答"
    assert len(core.received) == 1


def test_a_core_that_is_down_gets_an_apology_and_the_retry_is_processed(client, core):
    core.down = True
    text = reply_of(post_signed(client, PATH, sms_form("办护照多少钱")))
    assert text == texts.UNAVAILABLE.format(hotline=texts.HOTLINE)
    core.down = False
    core.replies.append([bot("普通护照工本费每本120元。")])
    assert reply_of(post_signed(client, PATH, sms_form("办护照多少钱"))) == "普通护照工本费每本120元。"
    assert len(core.received) == 2


class _SlowCore(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(1.5)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'[{"text": "too late"}]')

    def log_message(self, *args: object) -> None:
        pass


def test_a_slow_core_is_cut_off_by_the_sms_timeout(twilio_env, state, monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowCore)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("SMS_CORE_TIMEOUT", "0.3")
        core = CoreClient(CoreSettings(rasa_url=f"http://127.0.0.1:{server.server_port}", timeout=10,
                                       relay_token=None))
        client = create_app({"CHANNEL_STATE": state, "CORE_CLIENT": core}).test_client()
        started = time.monotonic()
        text = reply_of(post_signed(client, PATH, sms_form("办护照多少钱")))
        assert time.monotonic() - started < 1.2
        assert text == texts.UNAVAILABLE.format(hotline=texts.HOTLINE)
        assert state.begin("sms", sms_form("")["MessageSid"]).claim.value == "new"  # claim released
    finally:
        server.shutdown()
        server.server_close()


def test_without_a_token_the_twilio_routes_are_absent_and_one_line_says_why(monkeypatch, caplog, state):
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("PUBLIC_BASE_URL", BASE)
    with caplog.at_level(logging.WARNING, logger="channels.registry"):
        app = create_app({"CHANNEL_STATE": state, "CORE_CLIENT": FakeCore()})
    rules = {r.rule for r in app.url_map.iter_rules()}
    assert PATH not in rules and "/channels/voice/webhook" not in rules
    lines = [r.getMessage() for r in caplog.records if "TWILIO_AUTH_TOKEN" in r.getMessage()]
    assert len(lines) == 1 and "not started" in lines[0]
    assert app.test_client().post(PATH, data=sms_form("你好")).status_code == 404



def test_a_message_still_in_progress_elsewhere_gets_an_empty_reply(client, core, state):
    form = sms_form("办护照多少钱")
    state.begin("sms", form["MessageSid"])  # another worker holds it
    doc = twiml(post_signed(client, PATH, form))
    assert doc.xpath("count(/Response/*)") == 0
    assert core.received == []


def test_a_cut_answer_keeps_the_question_of_its_options():
    guide = "。".join(["这是办事指南里很长的一段说明"] * 30) + "。"
    page = render.compose([bot(guide), bot("请为本次服务打个分（可跳过）：", [("满意", "/r"), ("跳过", "/deny")])],
                          max_parts=3)
    assert segments.parts(page.text) <= 3
    assert page.text.endswith("请为本次服务打个分（可跳过）：\n1. 满意\n2. 跳过\n" + texts.OPTIONS_FOOTER)
    assert "打个分" not in page.rest and page.rest


RATING_BUTTONS = [("非常满意", '/rate{"rating": "5"}'), ("满意", '/rate{"rating": "4"}'), ("一般", '/rate{"rating": "3"}'),
                  ("不满意", '/rate{"rating": "2"}'), ("非常不满意", '/rate{"rating": "1"}'), ("跳过", "/deny")]
RATING_HINT = {"expect": "choice", "options": [
    {"title": t, "payload": p, "key": p.split('"')[-2] if p.startswith("/rate") else ""} for t, p in RATING_BUTTONS]}


def test_the_rating_is_numbered_by_score_so_5_is_very_satisfied(client, core):
    core.replies += [[bot("请为本次服务打个分（5分最满意，可跳过）：", RATING_BUTTONS), bot(custom=RATING_HINT)],
                     [bot("感谢您的评价")]]
    text = reply_of(post_signed(client, PATH, sms_form("查进度", sid="SM" + "1" * 32)))
    assert "5. 非常满意\n4. 满意\n3. 一般\n2. 不满意\n1. 非常不满意\n" + texts.OPTIONS_FOOTER in text
    assert texts.OPTION_WORD.format(title="跳过") in text and "6." not in text
    post_signed(client, PATH, sms_form("5", sid="SM" + "2" * 32))
    assert core.received[-1].text == '/rate{"rating": "5"}'


def test_without_a_hint_buttons_are_numbered_in_order():
    page = render.compose([bot("请选择：", [("确认", "/affirm"), ("取消", "/deny")])], 3)
    assert [(b.key, b.payload) for b in page.options] == [("1", "/affirm"), ("2", "/deny")]
def test_short_answer_with_full_text_offers_more():
    """A short form carrying ``more_text`` fits one part with the hint; "更多" then sends the full text."""
    full = "完整回答。" * 40
    short = BotMessage(text="带身份证到区政务服务中心办理，当场办结。", custom={"more_text": full})
    page = render.compose([short], max_parts=3)
    assert page.text.endswith(texts.MORE_HINT_WORD) and segments.parts(page.text) == 1
    assert page.rest == full
    rating = bot("请为本次服务打个分（可跳过）：", [("满意", "/r"), ("跳过", "/deny")])
    page = render.compose([short, rating], max_parts=3)
    assert texts.MORE_HINT_WORD in page.text and page.rest == full and len(page.options) == 2
    assert render.compose([BotMessage(text="没有全文的回答。")], max_parts=3).rest == ""


def test_the_question_after_the_options_comes_after_them():
    slots = bot("12月3日还可以预约的时段有：", [("上午9:00", '/inform{"time": "09:00"}'), ("下午2:00", '/inform{"time": "14:00"}')])
    page = render.compose([slots, bot("也可以直接回复其他时间，例如“下午3点”。")], max_parts=3)
    assert page.text.index("1. 上午9:00") < page.text.index("2. 下午2:00") < page.text.index("也可以直接回复其他时间")
    assert page.text.startswith("12月3日还可以预约的时段有：")
