"""Unanswered-questions inbox: masked, grouped, attach (live at once), draft, dismiss."""

from __future__ import annotations

from console.inbox import group_questions, mask_pii
from knowledge.search import KnowledgeSearch
from tests.staff.conftest import as_user, post


def record(staff, question: str, channel: str = "webchat", reason: str = "no_match", service: str | None = None):
    staff.casework.record_unanswered(question=question, channel=channel, sender_hash="h", reason=reason,
                                     best_service_id=service, best_confidence=0.2)


def test_personal_data_is_masked_even_if_a_channel_forgot():
    text = mask_pii("我手机13912345678，身份证44010619900101123X，邮箱zhang.san@example.com")
    assert "13912345678" not in text and "139****5678" in text
    assert "44010619900101123X" not in text and text.count("*") >= 14
    assert "zhang.san@" not in text and "z***@example.com" in text
    assert mask_pii("预约号 YY123456，日期 2026-11-30") == "预约号 YY123456，日期 2026-11-30"


def test_similar_questions_are_grouped_with_counts_and_first_last_seen(staff):
    for q in ["宠物狗走丢了怎么办", "宠物狗走丢了怎么办？", "我的宠物狗走丢了怎么办", "公积金怎么提取"]:
        record(staff, q)
    groups = group_questions(staff.casework.open_unanswered())
    assert [g.count for g in groups] == [3, 1]
    assert groups[0].question == "宠物狗走丢了怎么办" or "宠物狗走丢" in groups[0].question
    assert groups[0].first_seen <= groups[0].last_seen


def test_inbox_page_shows_groups_masked_with_channels(client, staff):
    record(staff, "我手机13912345678的宠物狗走丢了怎么办", channel="sms")
    record(staff, "我手机13912345678的宠物狗走丢了怎么办", channel="webchat", reason="low_confidence")
    as_user(client, "editor")
    page = client.get("/staff/unanswered").get_data(as_text=True)
    assert "13912345678" not in page and "139****5678" in page
    assert "短信 1" in page and "网页聊天 1" in page and "低置信度回答 1" in page


def test_attach_adds_a_phrasing_that_is_live_at_once(client, staff):
    faq = staff.knowledge.list_faqs(service_id="passport", status="published")[0]
    record(staff, "出国那个本本咋整")
    record(staff, "出国那个本本咋整？")
    ids = ",".join(str(q.id) for q in staff.casework.open_unanswered())
    engine = KnowledgeSearch(repository=staff.knowledge)
    before = engine.search("出国那个本本咋整", k=1)
    assert not before or before[0].faq_id != faq.id
    as_user(client, "editor")
    res = post(client, "/staff/unanswered/attach", {"ids": ids, "faq_id": str(faq.id), "phrasing": "出国那个本本咋整"})
    assert res.status_code == 302
    assert "出国那个本本咋整" in staff.knowledge.get_faq(faq.id).alternatives
    assert engine.search("出国那个本本咋整", k=1)[0].faq_id == faq.id
    assert staff.casework.open_unanswered() == []
    assert staff.knowledge.audit_log(entity_type="unanswered")[0].action == "inbox_attach"


def test_attach_to_unknown_faq_changes_nothing(client, staff):
    record(staff, "某个问题")
    ids = str(staff.casework.open_unanswered()[0].id)
    as_user(client, "editor")
    res = post(client, "/staff/unanswered/attach", {"ids": ids, "faq_id": "999999", "phrasing": "某个问题"},
               follow_redirects=True)
    assert "不存在" in res.get_data(as_text=True)
    assert len(staff.casework.open_unanswered()) == 1


def test_dismiss_removes_the_group_from_the_inbox(client, staff):
    record(staff, "你们是机器人吗")
    ids = str(staff.casework.open_unanswered()[0].id)
    as_user(client, "editor")
    post(client, "/staff/unanswered/dismiss", {"ids": ids})
    assert staff.casework.open_unanswered() == []
    assert "你们是机器人吗" not in client.get("/staff/unanswered").get_data(as_text=True)


def test_start_a_draft_from_a_question(client, staff):
    record(staff, "电动自行车怎么上牌", service="passport")
    qid = staff.casework.open_unanswered()[0].id
    as_user(client, "editor")
    page = client.get("/staff/unanswered").get_data(as_text=True)
    assert "/staff/faqs/new?question=" in page
    form = client.get("/staff/faqs/new", query_string={"question": "电动自行车怎么上牌", "inbox_id": qid})
    assert 'value="电动自行车怎么上牌"' in form.get_data(as_text=True)
    post(client, "/staff/faqs/new", {"question": "电动自行车怎么上牌", "answer": "携带购车发票到车管所办理。",
                                     "topic": "process", "inbox_id": str(qid)})
    assert staff.casework.open_unanswered() == []
    assert any(f.question == "电动自行车怎么上牌" and f.status.value == "draft" for f in staff.knowledge.list_faqs())
