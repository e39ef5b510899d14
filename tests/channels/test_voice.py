"""Hotline IVR: TwiML asserted by XPath, menu and digit mapping, keypad numbers, re-prompts, transfers, SMS."""

from __future__ import annotations

import datetime as dt

import pytest

from channels.state import ChannelState
from channels.voice import render, texts
from channels.voice.adapter import number_value
from channels.voice.hours import AgentHours
from common.identity import hash_sender
from server.app import create_app
from tests.channels.twilio_helpers import (
    AGENT,
    BASE,
    SUNDAY_MORNING,
    TOKEN,
    WORKDAY_MORNING,
    Caller,
    FakeCore,
    FakeSender,
    bot,
    call_form,
    post_signed,
    twiml,
)


@pytest.fixture
def state(tmp_path):
    st = ChannelState(f"sqlite:///{tmp_path / 'channels.db'}")
    yield st
    st.dispose()


@pytest.fixture
def core():
    return FakeCore()


@pytest.fixture
def sender():
    return FakeSender()


@pytest.fixture
def clock():
    return {"now": WORKDAY_MORNING}


@pytest.fixture
def client(monkeypatch, state, core, sender, clock, seeded_url):
    monkeypatch.setenv("KNOWLEDGE_DB_URL", seeded_url)  # the speech hints come from the knowledge base
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("PUBLIC_BASE_URL", BASE)
    monkeypatch.setenv("HOTLINE_AGENT_NUMBER", AGENT)
    for name in ("HOTLINE_AGENT_HOURS", "VOICE_TTS_VOICE", "VOICE_LANGUAGE", "VOICE_SPEECH_LANGUAGE",
                 "VOICE_CORE_TIMEOUT", "VOICE_HINTS"):
        monkeypatch.delenv(name, raising=False)
    app = create_app({"CHANNEL_STATE": state, "CORE_CLIENT": core, "SMS_SENDER": sender,
                      "CHANNEL_CLOCK": lambda: clock["now"]})
    return app.test_client()


@pytest.fixture
def caller(client):
    return Caller(client)


# -- the welcome menu -----------------------------------------------------------------------
def test_speech_hints_follow_the_knowledge_base(monkeypatch, seeded_url, seeded_repo):
    """A service renamed by staff is a hint at the next start, without editing the channel."""
    from knowledge.repository import snapshot
    from server.app import speech_terms

    monkeypatch.setenv("KNOWLEDGE_DB_URL", seeded_url)
    assert "龙舟活动报名" not in speech_terms() and "结婚登记" in speech_terms()
    svc = next(s for s in seeded_repo.list_services() if s.name == "结婚登记")
    seeded_repo.save_service({**snapshot(svc), "name": "龙舟活动报名"}, actor="test")
    terms = speech_terms()
    assert "龙舟活动报名" in terms and "结婚登记" not in terms
    assert "扯证" in terms  # the lexicon's colloquial words stay


def test_a_first_call_chooses_a_language_each_line_in_its_own_voice(caller):
    doc = caller.call(language=None)
    (g,) = doc.xpath("/Response/Gather")
    assert g.get("input") == "dtmf" and g.get("numDigits") == "1" and g.get("actionOnEmptyResult") == "true"
    assert g.get("action") == BASE + "/channels/voice/gather?step=1"
    assert not doc.xpath("/Response/Say")  # barge-in: everything is said inside the Gather
    said = caller.said()
    assert said[0] == texts.GREETING and said[1:] == [line for _, _, line in texts.language_choice()]
    voices = [(s.get("voice"), s.get("language")) for s in g.xpath("Say")]
    assert voices[1:] == [("Polly.Zhiyu", "cmn-CN"), ("Google.yue-HK-Standard-A", "yue-HK"), ("Polly.Joanna", "en-US")]


def test_a_call_is_greeted_with_the_recording_notice_and_the_keypad_menu(caller):
    doc = caller.call()  # 1: 普通话
    gather = doc.xpath("/Response/Gather")
    assert len(gather) == 1 and not doc.xpath("/Response/Say")
    g = gather[0]
    assert g.get("input") == "dtmf speech" and g.get("language") == "cmn-Hans-CN"
    assert g.get("numDigits") == "1" and g.get("actionOnEmptyResult") == "true" and g.get("method") == "POST"
    assert g.get("action") == BASE + "/channels/voice/gather?step=2"
    hints = g.get("hints").split(",")
    # menu words, the knowledge base's service names cut into spoken words, the lexicon's colloquial terms
    assert {"办事指南", "人工服务", "结婚登记", "营业执照", "普通护照申领", "扯证", "办护照"} <= set(hints)
    assert caller.said() == [texts.RECORDING_NOTICE, texts.MENU]
    assert doc.xpath("count(//Say[@voice='Polly.Zhiyu' and @language='cmn-CN'])") == 2
    for word in ("1", "办事指南", "2", "预约办理", "3", "查询办理进度", "9", "重听", "0", "人工服务", "8"):
        assert word in texts.MENU
    # the next call from the same number skips the choice
    again = Caller(caller.client, call_sid="CA" + "5" * 32, caller=caller.caller)
    again.call(language=None)
    assert again.said() == [texts.GREETING, texts.RECORDING_NOTICE, texts.MENU]


@pytest.mark.parametrize(("digit", "payload"), [("2", "/book_appointment"), ("3", "/check_application_status")])
def test_menu_keys_become_messages_to_the_core(caller, core, digit, payload):
    caller.call()
    core.replies.append([bot("请问您要预约办理哪项业务？")])
    caller.answer(digit)
    (msg,) = core.received
    assert msg.text == payload and msg.channel == "voice"
    assert msg.sender_id == "voice-" + hash_sender(caller.call_sid)
    assert msg.metadata == {"phone": "+8613900001234"}
    assert caller.said() == ["请问您要预约办理哪项业务？", texts.AFTER_ANSWER]


def test_key_1_asks_for_the_question_and_speech_goes_to_the_core_as_text(caller, core):
    caller.call()
    assert caller.said() and caller.answer("1") is not None
    assert caller.said() == [texts.GUIDE_PROMPT] and core.received == []
    core.replies.append([bot("普通护照工本费每本120元。")])
    caller.answer(speech="办护照要多少钱")
    assert core.received[0].text == "办护照要多少钱"
    assert caller.said()[0] == "普通护照工本费每本120元。"


def test_key_9_repeats_the_menu_and_an_unknown_key_says_so(caller, core):
    caller.call()
    caller.answer("9")
    assert caller.said() == [texts.MENU]
    caller.answer("7")
    assert caller.said() == [texts.NO_MATCH, texts.MENU]
    assert core.received == []


# -- spoken answers, options ------------------------------------------------------------------
def test_buttons_become_spoken_options_and_a_key_sends_the_payload(caller, core):
    caller.call()
    core.replies.append([bot("请确认预约信息。确认预约吗？", [("确认预约", "/affirm"), ("取消", "/deny")])])
    doc = caller.answer("2")
    assert caller.said() == ["请确认预约信息。", "确认预约吗？", "确认预约，请按1。", "取消，请按2。"]
    assert doc.xpath("/Response/Gather/@numDigits") == ["1"]
    core.replies.append([bot("预约成功。")])
    caller.answer("2")
    assert core.received[-1].text == "/deny"


def test_spoken_text_has_no_urls_or_emoji_and_long_sentences_are_split():
    text = ("办理护照请登录 https://www.gdzwfw.gov.cn/ 预约😀。\n1. 身份证原件，户口簿原件，近期彩色照片一张，"
            "以及其他需要补充的相关证明材料和复印件，请一并带齐\n【收费】每本120元")
    said = render.sentences(text)
    joined = "".join(said)
    assert "http" not in joined and "gdzwfw" not in joined and "😀" not in joined and "【" not in joined
    assert all(len(s) <= render.MAX_SENTENCE_CHARS for s in said)
    assert said[-1] == "收费，每本120元。"
    assert "身份证原件" in joined and "1." not in joined


APPLICATION_NO = {"expect": "digits", "length": 12}
LAST4 = {"expect": "digits", "length": 4, "allow_x": True}


@pytest.mark.parametrize(("hint", "number"), [
    ({"expect": "digits", "length": 4, "allow_x": True}, {"length": 4, "prefix": "", "allow_x": True}),
    ({"expect": "phone", "length": 11}, {"length": 11, "prefix": "", "allow_x": False}),
    ({"expect": "digits", "length": 6, "prefix": "YY"}, {"length": 6, "prefix": "YY", "allow_x": False}),
    ({"expect": "yes_no", "options": [{"title": "是", "payload": "/affirm"}]}, None),
    (None, None),
])
def test_keypad_number_entry_follows_the_hint_whatever_the_wording(hint, number):
    # the wording names no number; another wording names one but carries no hint: only the hint counts
    for text in ("请按键输入。", "请输入手机号后四位、预约号或编号。"):
        messages = [bot(text)] + ([bot(custom=hint)] if hint else [])
        ans = render.prepare(messages)
        got = None if ans.number is None else {"length": ans.number.length, "prefix": ans.number.prefix,
                                                "allow_x": ans.number.allow_x}
        assert got == number


@pytest.mark.parametrize(("number", "digits", "value"), [
    ({"length": 12}, "202611100012", "202611100012"), ({"length": 4, "allow_x": True}, "001*", "001X"),
    ({"length": 6, "prefix": "YY"}, "123456", "YY123456"), ({"length": 6, "prefix": "YY"}, "12345", "12345"),
    ({"length": 11}, "13900001234", "13900001234"), (None, "*", ""),
])
def test_typed_numbers_map_to_what_the_core_expects(number, digits, value):
    assert number_value(number, digits) == value


def test_a_closed_question_is_read_out_with_the_keys_of_its_hint(caller, core):
    caller.call()
    rating = {"expect": "choice", "options": [
        {"title": "非常满意", "payload": '/rate{"rating": "5"}', "key": "5"},
        {"title": "一般", "payload": '/rate{"rating": "3"}', "key": "3"},
        {"title": "跳过", "payload": "/deny", "key": ""}]}
    core.replies.append([bot("请为本次服务打个分：", [("非常满意", '/rate{"rating": "5"}'), ("一般", '/rate{"rating": "3"}'),
                                                 ("跳过", "/deny")]), bot(custom=rating)])
    caller.answer(speech="查进度")
    assert caller.said()[-2:] == [texts.OPTION.format(title="非常满意", digit="5"),
                                  texts.OPTION.format(title="一般", digit="3")]
    core.replies.append([bot("感谢您的评价")])
    caller.answer("5")
    assert core.received[-1].text == '/rate{"rating": "5"}'


# -- keypad numbers ---------------------------------------------------------------------------
def test_an_application_number_is_typed_read_back_digit_by_digit_and_confirmed(caller, core):
    caller.call()
    core.replies.append([bot("请提供办件编号（受理回执上的12位数字），投诉建议请提供TS开头的受理编号。"),
                         bot(custom=APPLICATION_NO)])
    doc = caller.answer("3")
    assert caller.said()[-1] == texts.NUMBER_ENTRY
    g = doc.xpath("/Response/Gather")[0]
    assert g.get("input") == "dtmf" and g.get("finishOnKey") == "#" and g.get("numDigits") is None
    caller.answer("202611100012")
    assert caller.said() == [texts.READBACK.format(digits="二 零 二 六 一 一 一 零 零 零 一 二")]
    assert len(core.received) == 1  # nothing sent before the confirmation
    caller.answer("2")  # re-enter
    assert caller.said() == [texts.REENTER]
    assert caller.doc.xpath("/Response/Gather/@input") == ["dtmf"]
    caller.answer("202611100013")
    core.replies.append([bot("为保护您的信息，请输入申请人手机号码或身份证号码的后四位。"), bot(custom=LAST4)])
    caller.answer("1")
    assert core.received[-1].text == "202611100013"
    caller.answer("001*")
    assert caller.said() == [texts.READBACK.format(digits="零 零 一 叉")]
    core.replies.append([bot("您的护照办件，当前状态是可领取。")])
    caller.answer("1")
    assert core.received[-1].text == "001X"


# -- silence, re-prompts ----------------------------------------------------------------------
def test_silence_is_reprompted_twice_then_a_human_is_offered_then_the_call_ends(caller, core):
    caller.call()
    caller.answer()
    assert caller.said() == [texts.NO_INPUT, texts.MENU]
    caller.answer()
    assert caller.said() == [texts.NO_INPUT, texts.MENU]
    caller.answer()
    assert caller.said() == [texts.NO_INPUT, texts.OFFER_HUMAN]
    doc = caller.answer()
    assert caller.said() == [texts.NO_INPUT, texts.GOODBYE]
    assert doc.xpath("count(/Response/Hangup)") == 1 and not doc.xpath("//Gather")
    assert core.received == []


def test_an_answer_resets_the_reprompt_count(caller, core):
    caller.call()
    caller.answer()
    caller.answer()
    core.replies.append([bot("请问您要预约办理哪项业务？")])
    caller.answer("2")
    caller.answer()
    assert caller.said() == [texts.NO_INPUT, "请问您要预约办理哪项业务？", texts.AFTER_ANSWER]


# -- transfers ----------------------------------------------------------------------------------
def test_key_0_records_the_handoff_in_the_core_announces_it_and_dials_the_agent(caller, core):
    caller.call()
    core.replies.append([bot("好的，马上为您转接人工服务，请稍候。"), bot(custom={"handoff": True})])
    doc = caller.answer("0")
    assert core.received[0].text == texts.HANDOFF_PAYLOAD
    assert doc.xpath("/Response/Say/text()") == ["好的，马上为您转接人工服务，请稍候。"]
    assert doc.xpath("/Response/Dial/text()") == [AGENT]
    assert doc.xpath("/Response/Say/following-sibling::Dial")  # announced first
    assert doc.xpath("/Response/Dial/@action")[0].startswith(BASE + "/channels/voice/dial-done?step=")


def test_a_handoff_from_the_core_transfers_even_when_asked_in_words(caller, core):
    caller.call()
    core.replies.append([bot("好的，马上为您转接人工服务，请稍候。"), bot(custom={"handoff": True})])
    doc = caller.answer(speech="我要转人工")
    assert doc.xpath("/Response/Dial/text()") == [AGENT]


def test_outside_agent_hours_the_caller_hears_when_to_call_back(caller, core, clock):
    clock["now"] = SUNDAY_MORNING
    caller.call()
    core.replies.append([bot("好的，马上为您转接人工服务，请稍候。"), bot(custom={"handoff": True})])
    doc = caller.answer("0")
    assert not doc.xpath("//Dial")
    said = caller.said()
    assert said[0] == texts.AFTER_HOURS.format(start="8点30分", end="18点")
    assert said[1:] == [texts.MENU]


def test_a_transfer_still_happens_when_the_core_is_down(caller, core):
    caller.call()
    core.down = True
    doc = caller.answer("0")
    assert doc.xpath("/Response/Say/text()") == [texts.TRANSFER]
    assert doc.xpath("/Response/Dial/text()") == [AGENT]


@pytest.mark.parametrize(("status", "hangs_up"), [("completed", True), ("no-answer", False), ("busy", False)])
def test_after_the_transfer_the_call_ends_or_returns_to_the_menu(caller, core, status, hangs_up):
    caller.call()
    core.replies.append([bot("好的", ), bot(custom={"handoff": True})])
    caller.answer("0")
    doc = caller.answer(element="Dial", DialCallStatus=status)
    assert bool(doc.xpath("/Response/Hangup")) is hangs_up
    if not hangs_up:
        assert caller.said() == [texts.AGENT_BUSY, texts.MENU]


def test_agent_hours_follow_working_days_in_shanghai():
    hours = AgentHours.parse("08:30-18:00")
    assert hours.is_open(WORKDAY_MORNING)
    assert not hours.is_open(SUNDAY_MORNING)
    assert not hours.is_open(WORKDAY_MORNING.replace(hour=8, minute=29))
    assert not hours.is_open(WORKDAY_MORNING.replace(hour=18, minute=0))
    # 01:00 UTC is 09:00 in Shanghai.
    assert hours.is_open(dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC))
    assert not hours.is_open(dt.datetime(2026, 10, 1, 10, 0, tzinfo=WORKDAY_MORNING.tzinfo))  # National Day
    with pytest.raises(ValueError):
        AgentHours.parse("18:00-08:30")


def test_agent_hours_use_the_bookings_holiday_file_after_the_library_ends():
    """2027-01-01 is a Friday that only common/holidays.yml (not chinese-calendar) closes."""
    hours = AgentHours.parse("08:30-18:00")
    shanghai = WORKDAY_MORNING.tzinfo
    assert not hours.is_open(dt.datetime(2027, 1, 1, 10, 0, tzinfo=shanghai))
    assert hours.is_open(dt.datetime(2027, 1, 4, 10, 0, tzinfo=shanghai))  # the Monday after


# -- SMS of the full answer ----------------------------------------------------------------------
LONG_ANSWER = ("【普通护照申领】需要准备：居民身份证原件，近期免冠彩色照片。办理时限：7个工作日。"
               "收费：每本120元。网上预约：https://www.gdzwfw.gov.cn/")


def test_after_an_answer_the_full_text_can_be_sent_by_sms(caller, core, sender):
    caller.call()
    caller.answer("1")
    core.replies.append([bot(LONG_ANSWER)])
    caller.answer(speech="护照怎么办")
    said = caller.said()
    # 1 repeats and 2, 3, 8, 9 are the main menu's keys: the SMS is on the first free key
    assert said[-2:] == [texts.SMS_OFFER.format(digit="4"), texts.AFTER_ANSWER]
    assert not any("http" in s for s in said)
    caller.answer("4")
    assert sender.sent == [("+8613900001234", LONG_ANSWER)]
    assert caller.said() == [texts.SMS_SENT, texts.NEXT_PROMPT]
    assert len(core.received) == 1  # "1" was not sent to the core


def test_with_options_the_sms_key_is_the_first_key_after_them(caller, core, sender):
    caller.call()
    caller.answer("1")
    rating = bot("请为本次服务打分：", [("满意", '/rate{"score": 5}'), ("不满意", "/rate")])
    core.replies.append([bot(LONG_ANSWER), rating])
    caller.answer(speech="护照怎么办")
    said = caller.said()
    assert said[-3:] == ["满意，请按1。", "不满意，请按2。", texts.SMS_OFFER.format(digit="3")]
    caller.answer("3")
    assert sender.sent == [("+8613900001234", LONG_ANSWER)]  # the answer, not the rating question
    assert len(core.received) == 1


def test_no_sms_is_offered_to_a_number_that_opted_out(caller, core, sender, state):
    state.set_opt_out("sms", hash_sender("+8613900001234"), True)
    caller.call()
    caller.answer("1")
    core.replies.append([bot(LONG_ANSWER)])
    caller.answer(speech="护照怎么办")
    assert not any("短信" in s for s in caller.said())
    core.replies.append([bot("好的")])
    caller.answer("1")
    assert sender.sent == []


def test_no_sms_is_offered_to_a_landline_caller(client, core, sender):
    caller = Caller(client, caller="+862083331234")
    caller.call()
    caller.answer("1")
    core.replies.append([bot(LONG_ANSWER)])
    caller.answer(speech="护照怎么办")
    assert not any("短信" in s for s in caller.said())


# -- verification, idempotency, failures ---------------------------------------------------------
@pytest.mark.parametrize("case", ["missing", "other_step", "tampered"])
def test_unsigned_or_tampered_voice_webhooks_are_refused(client, core, case):
    caller = Caller(client)
    caller.call()
    path = caller.next_action()
    form = call_form(Digits="2")
    from tests.channels.twilio_helpers import sign

    if case == "missing":
        res = post_signed(client, path, form, signature="")
    elif case == "other_step":  # the signature covers the query string
        res = post_signed(client, path, form, signature=sign(BASE + path.replace("step=2", "step=3"), form))
    else:
        res = post_signed(client, path, {**form, "Digits": "0"}, signature=sign(BASE + path, form))
    assert res.status_code == 403
    assert core.received == []


def test_a_retried_turn_is_processed_once_and_answered_the_same(client, core):
    caller = Caller(client)
    caller.call()
    path = caller.next_action()
    core.replies += [[bot("请问您要预约办理哪项业务？")], [bot("不应出现")]]
    first = post_signed(client, path, call_form(Digits="2"))
    second = post_signed(client, path, call_form(Digits="2"))
    assert first.get_data() == second.get_data()
    assert len(core.received) == 1


def test_a_core_that_is_down_gets_an_apology_and_the_turn_can_be_retried(client, core):
    caller = Caller(client)
    caller.call()
    path = caller.next_action()
    core.down = True
    doc = twiml(post_signed(client, path, call_form(Digits="2")))
    assert doc.xpath("//Gather/Say/text()") == [texts.UNAVAILABLE, texts.NEXT_PROMPT]
    core.down = False
    core.replies.append([bot("请问您要预约办理哪项业务？")])
    doc = twiml(post_signed(client, path, call_form(Digits="2")))
    assert doc.xpath("//Say/text()") == ["请问您要预约办理哪项业务？", texts.AFTER_ANSWER]


def test_a_webhook_without_call_sid_is_a_bad_request(client):
    assert post_signed(client, "/channels/voice/webhook", {"From": "+8613900001234"}).status_code == 400


def test_a_turn_still_in_progress_elsewhere_waits_and_asks_again(client, core, state):
    caller = Caller(client)
    caller.call()
    path = caller.next_action()
    state.begin("voice", "CA" + "0" * 31 + "1" + ":gather:2")  # another worker holds this turn
    doc = twiml(post_signed(client, path, call_form(Digits="2")))
    assert doc.xpath("/Response/Pause/@length") == ["2"]
    assert doc.xpath("/Response/Redirect/text()") == [BASE + path]
    assert core.received == []


def test_a_line_that_was_only_a_link_is_not_spoken_as_a_bare_label():
    from channels.voice.render import clean_for_speech

    spoken = clean_for_speech("收费：每本120元。\n网上办理：https://s.nia.gov.cn/\n详见 www.gz.gov.cn 说明")
    assert "网上办理" not in spoken and "120元" in spoken and "http" not in spoken and "详见" in spoken


def test_speech_hints_without_a_knowledge_base_keep_the_lexicon_and_log_why(monkeypatch, tmp_path, caplog):
    from server.app import speech_terms

    monkeypatch.setenv("KNOWLEDGE_DB_URL", f"sqlite:///{tmp_path / 'empty.db'}")  # no tables: not migrated
    terms = speech_terms()
    assert "扯证" in terms and "普通护照申领" not in terms
    assert any("speech hints without the service names" in r.getMessage() for r in caplog.records)


# -- issue 15: after-answer menu, speech confidence, languages ------------------------------------
FAQ = "办理普通护照需要带居民身份证原件和近期免冠彩色照片，每本120元，7个工作日办结。"


def test_after_an_answer_the_main_menu_keys_work_and_1_repeats(caller, core):
    caller.call()
    caller.answer("1")
    core.replies.append([bot(FAQ)])
    caller.answer(speech="办护照要带什么")
    assert caller.said()[-1] == texts.AFTER_ANSWER
    caller.answer("1")  # repeat: the answer again, the core is not asked
    assert caller.said()[0].startswith("办理普通护照") and len(core.received) == 1
    core.replies.append([bot("请提供受理编号。", custom={"expect": "digits", "length": 12})])
    caller.answer("3")  # 查询办理进度, straight from the answer
    assert core.received[-1].text == "/check_application_status"
    assert caller.said()[-1] == texts.NUMBER_ENTRY


def test_an_invalid_key_after_an_answer_repeats_the_short_menu_not_the_answer(caller, core):
    caller.call()
    caller.answer("1")
    core.replies.append([bot(FAQ)])
    caller.answer(speech="办护照要带什么")
    caller.answer("7")
    assert caller.said() == [texts.NO_MATCH, texts.SMS_OFFER.format(digit="4"), texts.AFTER_ANSWER]
    caller.answer("*")
    assert caller.said() == [texts.MENU]


def test_low_confidence_speech_is_confirmed_before_it_is_used(caller, core):
    caller.call()
    caller.answer(speech="结婚登记要带什么", confidence=0.45)
    assert core.received == []
    assert caller.said() == [texts.CONFIRM_SPEECH.format(text="结婚登记要带什么")]
    assert caller.doc.xpath("//Gather/@numDigits") == ["1"]
    core.replies.append([bot("结婚登记需要双方的身份证和户口簿。")])
    caller.answer("1")
    assert [m.text for m in core.received] == ["结婚登记要带什么"]
    assert caller.said()[0] == "结婚登记需要双方的身份证和户口簿。"


def test_a_rejected_guess_asks_again_and_very_low_confidence_falls_back_to_the_keypad(caller, core):
    caller.call()
    caller.answer(speech="结婚登记", confidence=0.5)
    caller.answer("2")
    assert caller.said() == [texts.SPEECH_RETRY, texts.MENU]
    caller.answer(speech="嗯嗯", confidence=0.1)
    assert caller.said() == [texts.NOT_HEARD, texts.MENU]
    assert core.received == []


def test_a_number_heard_with_low_confidence_is_never_used_but_typed(caller, core):
    caller.call()
    caller.answer("1")
    caller.answer(speech="我的受理编号是202611100012", confidence=0.55)
    assert core.received == []  # neither acted on nor read back
    assert caller.said() == [texts.NOT_HEARD, texts.NUMBER_BY_KEYPAD]
    assert caller.doc.xpath("//Gather/@input") == ["dtmf"]
    caller.answer("202611100012#")
    assert "二 零 二 六" in caller.said()[0]
    core.replies.append([bot("查到了。")])
    caller.answer("1")
    assert [m.text for m in core.received] == ["202611100012"]
    # with high confidence the same sentence goes to the core as said
    core.replies.append([bot("好的。")])
    caller.answer(speech="我的受理编号是202611100012", confidence=0.92)
    assert core.received[-1].text == "我的受理编号是202611100012"


def test_cantonese_callers_get_cantonese_prompts_voice_and_recognition(client, core):
    caller = Caller(client, call_sid="CA" + "6" * 32, caller="+8613900005678")
    caller.call(language="2")
    yue = texts.for_language("yue")
    (g,) = caller.doc.xpath("/Response/Gather")
    assert g.get("language") == "yue-Hant-HK"
    assert {s.get("voice") for s in g.xpath("Say")} == {"Google.yue-HK-Standard-A"}
    assert caller.said() == [yue.recording_notice, yue.menu]
    core.replies.append([bot("在这儿办理，啥材料都要带齐。")])
    caller.answer(speech="辦護照要帶乜嘢", confidence=0.8)
    msg = core.received[-1]
    assert msg.text == "辦護照要帶乜嘢" and msg.metadata["language"] == "yue"
    # Mandarin-only words get their spoken Cantonese forms (texts.yml yue_spoken), in HK characters
    assert caller.said() == ["在呢度辦理，乜嘢材料都要帶齊。", yue.after_answer]
    # remembered: the next call from this number is greeted in Cantonese without the choice
    again = Caller(client, call_sid="CA" + "7" * 32, caller="+8613900005678")
    again.call(language=None)
    assert again.said() == [yue.greeting, yue.recording_notice, yue.menu]


def test_english_callers_hear_what_the_line_does_and_can_switch_or_reach_an_agent(client, core):
    caller = Caller(client, call_sid="CA" + "8" * 32, caller="+8613900009999")
    caller.call(language="3")
    en = texts.for_language("en")
    assert caller.said() == [en.recording_notice, en.menu] and "12345" in en.menu
    (g,) = caller.doc.xpath("/Response/Gather")
    assert g.get("input") == "dtmf" and {s.get("language") for s in g.xpath("Say")} == {"en-US"}
    caller.answer("1")  # switch to Mandarin
    assert caller.said() == [texts.MENU]
    assert core.received == []


def test_silence_at_the_language_choice_is_mandarin(caller):
    caller.call(language=None)
    caller.answer()
    assert caller.said() == [texts.RECORDING_NOTICE, texts.MENU]
