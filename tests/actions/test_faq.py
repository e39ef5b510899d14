"""action_answer_faq: answers from the knowledge base, follow-ups, choices, honest misses."""

from __future__ import annotations

from actions.faq import ActionAnswerFaq
from tests.actions.conftest import make_tracker, responses, run, slots_set


def svc_entity(value: str) -> list[dict]:
    return [{"entity": "service", "value": value, "start": 0, "end": 2}]


def test_question_about_a_named_service_is_answered_from_its_faq(stores, dispatcher, domain):
    tracker = make_tracker("扯证要带什么材料", "ask_service_guide", svc_entity("marriage_registration"))
    events = run(ActionAnswerFaq(stores), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_faq_answer"]
    msg = dispatcher.messages[0]
    faq = next(f for f in stores.knowledge.list_faqs(service_id="marriage_registration") if f.answer == msg["answer"])
    assert faq.topic == "materials"
    assert slots_set(events)["service"] == "marriage_registration"
    # SMS and voice get the staff-written short forms; the full answer rides along for "更多".
    assert (msg["sms_answer"], msg["spoken_answer"]) == (faq.sms_text, faq.spoken_text)
    assert msg["custom"] == {"more_text": faq.answer}


def test_follow_up_keeps_the_service_in_context(stores, dispatcher, domain):
    tracker = make_tracker("那要多少钱？", "ask_service_guide", slots={"service": "passport"})
    events = run(ActionAnswerFaq(stores), dispatcher, tracker, domain)
    assert responses(dispatcher)[0] in {"utter_faq_answer", "utter_service_topic"}
    text = str(dispatcher.messages[0].get("answer") or dispatcher.messages[0].get("content"))
    assert "120" in text
    assert slots_set(events)["service"] == "passport"


def test_a_procedure_question_is_not_answered_with_an_faq_on_another_topic(stores, dispatcher, domain):
    tracker = make_tracker("唔该，点样办港澳通行证？", "ask_service_guide", svc_entity("hk_macau_permit"))
    run(ActionAnswerFaq(stores), dispatcher, tracker, domain)
    msg = dispatcher.messages[0]
    if msg["response"] == "utter_faq_answer":
        faq = next(f for f in stores.knowledge.list_faqs(service_id="hk_macau_permit") if f.answer == msg["answer"])
        assert faq.topic == "process"
    else:
        assert msg["response"] == "utter_service_topic" and msg["topic_label"] == "办理流程"


def test_an_unclear_word_with_a_service_in_context_is_not_answered_with_its_guide(stores, dispatcher, domain):
    tracker = make_tracker("跳过", "nlu_fallback", slots={"service": "passport"})
    run(ActionAnswerFaq(stores), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_default"]
    assert stores.casework.unanswered() == []


def test_follow_up_about_place_uses_the_service_record(stores, dispatcher, domain):
    tracker = make_tracker("在边度办？", "ask_service_guide", slots={"service": "id_card"})
    run(ActionAnswerFaq(stores), dispatcher, tracker, domain)
    assert responses(dispatcher)[0] in {"utter_faq_answer", "utter_service_topic"}


def test_bare_service_name_gets_the_guide_summary(stores, dispatcher, domain):
    tracker = make_tracker("护照", "ask_service_guide", svc_entity("passport"))
    run(ActionAnswerFaq(stores), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_service_guide"]
    msg = dispatcher.messages[0]
    assert msg["name"] == "普通护照申领" and msg["materials"] and msg["fees"]
    svc = stores.knowledge.get_service("passport")
    assert msg["sms_summary"] == svc.channel_forms["summary"]["sms"]
    assert msg["spoken_summary"] + msg["spoken_fees"] == (svc.channel_forms["summary"]["spoken"]
                                                         + svc.channel_forms["fees"]["spoken"])
    assert msg["custom"]["more_text"].startswith("【普通护照申领】")


def test_confident_search_hit_without_entity_is_answered(stores, dispatcher, domain):
    tracker = make_tracker("港澳通行证签注点样续", "ask_service_guide")
    events = run(ActionAnswerFaq(stores), dispatcher, tracker, domain)
    assert responses(dispatcher)[0] in {"utter_faq_answer", "utter_service_guide", "utter_service_topic"}
    assert slots_set(events)["service"] == "hk_macau_permit"


def test_nothing_matches_records_the_question_masked_and_offers_a_message_or_a_human(stores, dispatcher, domain):
    tracker = make_tracker("我手机13900001234的宠物狗走丢了点算", "ask_service_guide", sender="citizen-1")
    events = run(ActionAnswerFaq(stores), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_faq_no_answer", "utter_offer_leave_message"]
    offer = slots_set(events)["closed_question"]  # 转人工 / 留言给相关部门 / 不用了: yes takes the person
    assert offer["yes"] == "/request_human" and offer["no"] == "/deny"
    assert [o["payload"] for o in offer["options"]] == ["/request_human", "/leave_message", "/deny"]
    assert slots_set(events)["leave_message_text"] == "我手机13900001234的宠物狗走丢了点算"
    record = stores.casework.unanswered()[0]
    assert "13900001234" not in record.question and "139****1234" in record.question
    assert record.channel == "webchat" and record.sender_hash and record.sender_hash != "citizen-1"


def test_a_letter_the_knowledge_base_cannot_answer_becomes_a_case(stores, dispatcher, domain):
    from casework.cases import CaseDesk

    tracker = make_tracker("我家的宠物狗走丢了，请问有什么部门可以帮忙寻找", "ask_service_guide", channel="mail")
    run(ActionAnswerFaq(stores), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_faq_no_answer", "utter_message_left"]
    case = CaseDesk(stores.casework.factory).get(dispatcher.messages[1]["number"])
    assert case.channel == "mail" and case.kind in ("inquiry", "help")


def test_close_candidates_are_offered_as_buttons_and_the_choice_answers_the_pending_question(
        stores, dispatcher, domain, monkeypatch):
    from actions.services import faq_logic

    monkeypatch.setattr(faq_logic, "decide", lambda hits, **kw: faq_logic.Decision("choose", tuple(hits[:2])))
    tracker = make_tracker("失业了要办什么", "ask_service_guide")
    events = run(ActionAnswerFaq(stores), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_which_service"]
    buttons = dispatcher.messages[0]["buttons"]
    assert len(buttons) == 2 and all(b["payload"].startswith('/ask_service_guide{"service": ') for b in buttons)
    assert slots_set(events)["pending_question"] == "失业了要办什么"
    # a closed question: its options go to the channel as a hint and stay on the conversation
    question = slots_set(events)["closed_question"]
    assert question["expect"] == "choice" and question["yes"] is None
    assert [o["payload"] for o in question["options"]] == [b["payload"] for b in buttons]
    assert [o["key"] for o in question["options"]] == ["1", "2"]
    assert dispatcher.messages[0]["custom"] == {"expect": "choice", "options": question["options"]}

    chosen = make_tracker(buttons[0]["payload"], "ask_service_guide", svc_entity("unemployment_insurance"),
                          slots={"pending_question": "失业了要办什么"})
    dispatcher.messages.clear()
    events = run(ActionAnswerFaq(stores), dispatcher, chosen, domain)
    assert slots_set(events)["service"] == "unemployment_insurance"
    assert slots_set(events)["pending_question"] is None


def test_a_single_plausible_service_is_asked_about_not_offered_as_a_menu(stores, dispatcher, domain):
    tracker = make_tracker("身分证唔见咗点算", "ask_service_guide")
    run(ActionAnswerFaq(stores), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_did_you_mean"]
    msg = dispatcher.messages[0]
    assert msg["service_name"] == "居民身份证申领、换领、补领"
    assert msg["buttons"] == [{"title": "居民身份证申领、换领、补领", "payload": '/ask_service_guide{"service": "id_card"}'}]
    assert msg["custom"]["expect"] == "yes_no"


def test_bare_inform_outside_a_form_is_not_sent_to_the_knowledge_base(stores, dispatcher, domain):
    tracker = make_tracker("13900001234", "inform", [{"entity": "phone", "value": "13900001234"}])
    assert run(ActionAnswerFaq(stores), dispatcher, tracker, domain) == []
    assert responses(dispatcher) == ["utter_how_can_help"]


def test_a_failing_backend_gives_the_apology_not_a_crash(stores, dispatcher, domain, monkeypatch):
    def boom(*_a, **_k):
        raise RuntimeError("database down")

    monkeypatch.setattr(stores.search, "search", boom)
    tracker = make_tracker("护照多少钱", "ask_service_guide")
    assert run(ActionAnswerFaq(stores), dispatcher, tracker, domain) == []
    assert responses(dispatcher) == ["utter_service_unavailable"]


def test_decide_rules():
    from dataclasses import dataclass

    from actions.services.faq_logic import decide, detect_topic

    @dataclass
    class H:
        service_id: str
        faq_id: int | None
        confidence: float

    kw = {"answer_threshold": 0.5, "suggest_threshold": 0.2, "ambiguity_margin": 0.15}
    assert decide([H("a", 1, 0.9), H("b", 2, 0.3)], **kw).kind == "answer"
    assert decide([H("a", 1, 0.6), H("b", 2, 0.55)], **kw).kind == "choose"
    assert decide([H("a", 1, 0.1)], **kw).kind == "none"
    assert decide([], **kw).kind == "none"
    assert (detect_topic("要几多钱"), detect_topic("喺边度办"), detect_topic("要带咩材料")) == ("fees", "place", "materials")


def test_a_bare_guide_menu_payload_asks_which_service(stores, dispatcher, domain):
    tracker = make_tracker("/ask_service_guide", "ask_service_guide")
    events = run(ActionAnswerFaq(stores), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_ask_guide_topic"]
    assert slots_set(events)["pending_question"] is None
    assert stores.casework.unanswered() == []
