"""FAQ curation through the console: review by a second person, proposals, history, rollback, expiry, live at once."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from common.clock import city_today
from knowledge.models import FaqStatus
from knowledge.search import KnowledgeSearch
from tests.staff.conftest import as_user, login, post

NEW_Q = "宠物犬办理养犬登记证要带什么"
NEW_A = "办理养犬登记需携带犬只免疫证明、养犬人身份证和犬只照片，到居住地派出所办理。"
SHORT = {"sms_text": "带犬只免疫证明、身份证和犬只照片，到居住地派出所办理。",
         "spoken_text": "请带犬只免疫证明、身份证和犬只照片，到居住地派出所办理。"}


def new_faq(client, question: str = NEW_Q, answer: str = NEW_A, **extra) -> int:
    res = post(client, "/staff/faqs/new", {"question": question, "answer": answer, "topic": "materials",
                                           "alternatives": "养狗要办什么证\n狗证怎么办", "service_id": "", **SHORT,
                                           **extra})
    assert res.status_code == 302, res.get_data(as_text=True)[:2000]
    return int(re.search(r"/staff/faqs/(\d+)", res.headers["Location"]).group(1))


def switch(client, username: str):
    post(client, "/staff/logout")
    return as_user(client, username)


def test_editor_draft_needs_a_second_person_then_is_live_in_search_at_once(client, staff):
    engine = KnowledgeSearch(repository=staff.knowledge)  # built before the change: no restart needed
    assert all(h.title != NEW_Q for h in engine.search("养狗要办什么证", k=5))
    as_user(client, "editor")
    faq_id = new_faq(client)
    assert staff.knowledge.get_faq(faq_id).status == FaqStatus.draft
    assert post(client, f"/staff/faqs/{faq_id}/submit").status_code == 302
    assert staff.knowledge.get_faq(faq_id).status == FaqStatus.submitted
    assert all(h.faq_id != faq_id for h in engine.search("养狗要办什么证", k=5))  # not live before approval

    switch(client, "reviewer")
    assert NEW_Q in client.get("/staff/review").get_data(as_text=True)
    res = post(client, f"/staff/faqs/{faq_id}/approve", follow_redirects=True)
    assert "已批准并发布" in res.get_data(as_text=True)
    assert staff.knowledge.get_faq(faq_id).status == FaqStatus.published
    hits = engine.search("养狗要办什么证", k=3)
    assert hits and hits[0].faq_id == faq_id
    api = client.get("/api/v1/knowledge/search", query_string={"q": "狗证怎么办", "k": 3}).get_json()
    assert api["hits"][0]["faq_id"] == faq_id


def test_published_faq_reaches_the_action_server_answer(client, staff, seeded_url):
    pytest.importorskip("rasa_sdk")
    from rasa_sdk.executor import CollectingDispatcher

    from actions.faq import ActionAnswerFaq
    from actions.settings import ActionSettings
    from actions.stores import Stores
    from tests.actions.conftest import make_tracker, run

    stores = Stores(knowledge=staff.knowledge, search=KnowledgeSearch(repository=staff.knowledge),
                    casework=staff.casework, settings=ActionSettings.load())
    as_user(client, "editor")
    faq_id = new_faq(client)
    post(client, f"/staff/faqs/{faq_id}/submit")
    switch(client, "reviewer")
    post(client, f"/staff/faqs/{faq_id}/approve")
    dispatcher = CollectingDispatcher()
    run(ActionAnswerFaq(stores), dispatcher, make_tracker("养狗要办什么证", "ask_service_guide"), {})
    assert dispatcher.messages[0]["response"] == "utter_faq_answer"
    assert dispatcher.messages[0]["answer"] == NEW_A


def test_author_cannot_approve_own_submission_even_as_reviewer(client, staff):
    as_user(client, "reviewer")
    faq_id = new_faq(client)
    post(client, f"/staff/faqs/{faq_id}/submit")
    page = post(client, f"/staff/faqs/{faq_id}/approve", follow_redirects=True).get_data(as_text=True)
    assert "不能审核自己" in page
    assert staff.knowledge.get_faq(faq_id).status == FaqStatus.submitted
    switch(client, "reviewer2")
    post(client, f"/staff/faqs/{faq_id}/approve")
    assert staff.knowledge.get_faq(faq_id).status == FaqStatus.published


def test_editing_a_submission_makes_the_editor_an_author(client, staff):
    as_user(client, "editor")
    faq_id = new_faq(client)
    switch(client, "reviewer")
    post(client, f"/staff/faqs/{faq_id}/edit",
         {"question": NEW_Q, "answer": NEW_A + "（已核实）", "topic": "materials", **SHORT})
    post(client, f"/staff/faqs/{faq_id}/submit")
    assert "reviewer" in staff.workflow.authors(faq_id)
    post(client, f"/staff/faqs/{faq_id}/approve")
    assert staff.knowledge.get_faq(faq_id).status == FaqStatus.submitted
    switch(client, "admin")
    post(client, f"/staff/faqs/{faq_id}/approve")
    assert staff.knowledge.get_faq(faq_id).status == FaqStatus.published


def test_reject_needs_a_comment_and_sends_the_draft_back(client, staff):
    as_user(client, "editor")
    faq_id = new_faq(client)
    post(client, f"/staff/faqs/{faq_id}/submit")
    switch(client, "reviewer")
    post(client, f"/staff/faqs/{faq_id}/reject", {"comment": " "})
    assert staff.knowledge.get_faq(faq_id).status == FaqStatus.submitted
    post(client, f"/staff/faqs/{faq_id}/reject", {"comment": "请补充办理地点"})
    assert staff.knowledge.get_faq(faq_id).status == FaqStatus.draft
    switch(client, "editor")
    assert "请补充办理地点" in client.get(f"/staff/faqs/{faq_id}").get_data(as_text=True)


def test_edit_of_a_published_faq_waits_for_review_while_the_old_answer_is_served(client, staff):
    faq = staff.knowledge.list_faqs(service_id="passport", status="published")[0]
    old_answer = faq.answer
    as_user(client, "editor")
    res = post(client, f"/staff/faqs/{faq.id}/edit", {
        "question": faq.question, "answer": "新的护照答案：请先网上预约。", "topic": faq.topic,
        "alternatives": "\n".join(faq.alternatives), "service_id": faq.service_id,
        "owner_department": faq.owner_department, "effective_from": str(faq.effective_from or ""),
        "sms_text": faq.sms_text, "spoken_text": faq.spoken_text})
    assert res.status_code == 302
    assert staff.knowledge.get_faq(faq.id).answer == old_answer  # still served as before
    post(client, f"/staff/faqs/{faq.id}/submit")
    detail = client.get(f"/staff/faqs/{faq.id}").get_data(as_text=True)
    assert "<ins>" in detail and "待审核的变更" in detail
    switch(client, "reviewer")
    post(client, f"/staff/faqs/{faq.id}/approve")
    after = staff.knowledge.get_faq(faq.id)
    assert after.answer == "新的护照答案：请先网上预约。" and after.status == FaqStatus.published
    assert staff.workflow.open_proposal(faq.id) is None


def test_history_shows_a_readable_diff_and_rollback_restores_the_old_answer(client, staff):
    faq = staff.knowledge.list_faqs(service_id="passport", status="published")[0]
    old_answer, old_version = faq.answer, faq.version
    staff.knowledge.update_faq(faq.id, {"answer": old_answer + "错误内容"}, actor="editor")
    as_user(client, "reviewer")
    history = client.get(f"/staff/faqs/{faq.id}/history").get_data(as_text=True)
    assert "<ins>错误内容</ins>" in history and "回滚到此版" in history
    assert post(client, f"/staff/faqs/{faq.id}/rollback/{old_version}").status_code == 302
    restored = staff.knowledge.get_faq(faq.id)
    assert restored.answer == old_answer and restored.version == old_version + 2
    assert staff.knowledge.audit_log(entity_type="faq", entity_id=str(faq.id))[0].note == f"rollback to v{old_version}"


def test_rollback_to_unknown_version_is_404(client, staff):
    as_user(client, "reviewer")
    assert post(client, "/staff/faqs/1/rollback/999").status_code == 404


def test_archive_stops_serving_at_once(client, staff):
    faq = staff.knowledge.list_faqs(service_id="passport", status="published")[0]
    as_user(client, "reviewer")
    post(client, f"/staff/faqs/{faq.id}/archive")
    assert faq.id not in {f.id for f in staff.knowledge.live_faqs()}


def test_expired_entries_are_not_served_and_soon_expiring_ones_are_listed(client, staff):
    today = city_today()
    faqs = staff.knowledge.list_faqs(status="published")
    soon, later, gone = faqs[0], faqs[1], faqs[2]
    staff.knowledge.update_faq(soon.id, {"expires_on": today + dt.timedelta(days=10)}, actor="t")
    staff.knowledge.update_faq(later.id, {"expires_on": today + dt.timedelta(days=40)}, actor="t")
    staff.knowledge.update_faq(gone.id, {"effective_from": today - dt.timedelta(days=30),
                                         "expires_on": today - dt.timedelta(days=1)}, actor="t")
    live = {f.id for f in staff.knowledge.live_faqs()}
    assert soon.id in live and gone.id not in live
    search = KnowledgeSearch(repository=staff.knowledge)
    assert all(h.faq_id != gone.id for h in search.search(gone.question, k=10))
    as_user(client, "editor")
    page = client.get("/staff/expiring").get_data(as_text=True)
    assert soon.question in page and later.question not in page and gone.question not in page
    listed = client.get("/staff/faqs", query_string={"expiring": "1"}).get_data(as_text=True)
    assert f"/staff/faqs/{soon.id}\"" in listed and f"/staff/faqs/{later.id}\"" not in listed


def test_list_filters_by_status_category_audience_and_text(client, staff):
    as_user(client, "editor")
    faq_id = new_faq(client)
    drafts = client.get("/staff/faqs", query_string={"status": "draft"}).get_data(as_text=True)
    assert NEW_Q in drafts and "（共 1 条）" in drafts
    passport = client.get("/staff/faqs", query_string={"category": "出入境", "q": "护照"}).get_data(as_text=True)
    assert "护照" in passport and NEW_Q not in passport
    enterprise = client.get("/staff/faqs", query_string={"audience": "enterprise"}).get_data(as_text=True)
    assert "结婚" not in enterprise
    assert f"/staff/faqs/{faq_id}\"" in client.get("/staff/faqs", query_string={"q": "养犬"}).get_data(as_text=True)


def test_invalid_faq_is_refused_with_the_field_named(client, staff):
    as_user(client, "editor")
    res = post(client, "/staff/faqs/new", {"question": "日期错误的问题", "answer": "答案", "topic": "other",
                                           "effective_from": "2026-12-10", "expires_on": "2026-12-01"},
               follow_redirects=True)
    assert "失效日期" in res.get_data(as_text=True)
    assert not [f for f in staff.knowledge.list_faqs() if f.question == "日期错误的问题"]


def test_faq_links_to_a_service_and_the_service_lists_it(client, staff):
    as_user(client, "editor")
    faq_id = new_faq(client, question="护照加急怎么办理", answer="可申请加急，3个工作日出证。", service_id="passport")
    assert staff.knowledge.get_faq(faq_id).service_id == "passport"
    assert "护照加急怎么办理" in client.get("/staff/services/passport").get_data(as_text=True)


def test_service_edit_is_live_audited_and_can_be_rolled_back(client, staff):
    svc = staff.knowledge.get_service("passport")
    as_user(client, "reviewer")
    form = client.get("/staff/services/passport/edit").get_data(as_text=True)
    assert svc.name in form
    data = {"id": "passport", "name": svc.name, "category": svc.category, "audience": svc.audience.value,
            "department": svc.department, "summary": svc.summary, "keywords": "\n".join(svc.keywords),
            "eligibility": svc.eligibility, "materials": "\n".join(svc.materials), "steps": "\n".join(svc.steps),
            "locations": svc.locations, "time_limit": svc.time_limit, "fees": "每本 120 元（新标准）",
            "online_url": svc.online_url, "forms": "\n".join(f"{f['name']} | {f['url']}" for f in svc.forms),
            "legal_basis": "\n".join(svc.legal_basis)}
    assert post(client, "/staff/services/passport/edit", data).status_code == 302
    assert staff.knowledge.get_service("passport").fees == "每本 120 元（新标准）"
    post(client, f"/staff/services/passport/rollback/{svc.version}")
    assert staff.knowledge.get_service("passport").fees == svc.fees


def test_editor_cannot_edit_services_but_can_read_them(client):
    as_user(client, "editor")
    assert client.get("/staff/services/passport").status_code == 200
    assert client.get("/staff/services/passport/edit").status_code == 403


def test_login_then_unknown_faq_is_404(client):
    login(client, "editor")
    assert client.get("/staff/faqs/999999").status_code == 404


def test_approve_is_refused_while_the_short_forms_are_missing_or_too_long(client, staff):
    as_user(client, "editor")
    faq_id = new_faq(client, question="短信版缺失的问题", sms_text="", spoken_text="（括号）" + "很长的语音" * 20)
    post(client, f"/staff/faqs/{faq_id}/submit")
    switch(client, "reviewer")
    page = post(client, f"/staff/faqs/{faq_id}/approve", follow_redirects=True).get_data(as_text=True)
    assert "不能发布" in page and "缺少短信版" in page and "语音版不要用括号" in page
    assert "待审核" in client.get(f"/staff/faqs/{faq_id}").get_data(as_text=True)
    switch(client, "editor")
    post(client, f"/staff/faqs/{faq_id}/edit", {"question": "短信版缺失的问题", "answer": NEW_A, "topic": "materials",
                                               "service_id": "", **SHORT})
    post(client, f"/staff/faqs/{faq_id}/submit")
    switch(client, "reviewer")
    page = post(client, f"/staff/faqs/{faq_id}/approve", follow_redirects=True).get_data(as_text=True)
    assert "已发布" in page


def test_preview_shows_the_short_forms_with_their_measures(client, staff):
    as_user(client, "editor")
    res = post(client, "/staff/faqs/preview", {"question": "问", "answer": NEW_A, "sms_text": "长" * 60,
                                               "spoken_text": SHORT["spoken_text"]})
    page = res.get_data(as_text=True)
    assert 'id="preview-sms-short"' in page and "60 / 55 字" in page and "超过 55 字" in page
    assert "符合热线朗读的要求" in page


def test_service_form_carries_the_short_forms_and_the_online_route(client, staff):
    """Saving the guide as the browser posts it keeps every section's short forms; edits land."""
    svc = staff.knowledge.get_service("passport")
    assert svc.channel_forms  # seeded
    as_user(client, "reviewer")
    page = client.get("/staff/services/passport/edit").get_data(as_text=True)
    posted = {name: html.unescape(value) for name, value in
              re.findall(r'<textarea name="(cf_\w+)"[^>]*>(.*?)</textarea>', page, flags=re.S)}
    assert len(posted) == 14 and posted["cf_fees_sms"] == svc.channel_forms["fees"]["sms"]
    posted["cf_fees_sms"] = "护照每本120元。"
    data = {"id": "passport", "name": svc.name, "category": svc.category, "audience": svc.audience.value,
            "department": svc.department, "summary": svc.summary, "keywords": "\n".join(svc.keywords),
            "eligibility": svc.eligibility, "materials": "\n".join(svc.materials), "steps": "\n".join(svc.steps),
            "locations": svc.locations, "time_limit": svc.time_limit, "fees": svc.fees, "online_url": svc.online_url,
            "forms": "\n".join(f"{f['name']} | {f['url']}" for f in svc.forms),
            "legal_basis": "\n".join(svc.legal_basis), "online_route": svc.online_route, **posted}
    if svc.online_only:
        data["online_only"] = "y"
    assert post(client, "/staff/services/passport/edit", data).status_code == 302
    after = staff.knowledge.get_service("passport")
    assert after.channel_forms["fees"]["sms"] == "护照每本120元。"
    assert {k: v for k, v in after.channel_forms.items() if k != "fees"} == \
        {k: v for k, v in svc.channel_forms.items() if k != "fees"}
    assert (after.online_only, after.online_route) == (svc.online_only, svc.online_route)
    posted["cf_fees_spoken"] = "（括号）"
    page = post(client, "/staff/services/passport/edit", {**data, **posted}, follow_redirects=True)
    assert "语音版不要用括号" in page.get_data(as_text=True)
