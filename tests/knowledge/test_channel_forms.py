"""Short SMS and spoken forms: the rules, the lint over the seed, import/export, venues."""

from __future__ import annotations

import datetime as dt

import pytest

from channels.sms import segments, texts
from knowledge import channel_forms as cf
from knowledge.tabular import (
    FAQ_COLUMNS,
    SERVICE_COLUMNS,
    faq_rows,
    read_csv,
    read_xlsx,
    service_rows,
    write_csv,
    write_xlsx,
)
from knowledge.transfer import ImportFailed, import_records, lint_records, read_yaml, seed_paths

GOOD_FORMS = {s: {"sms": "带身份证到区政务服务中心办理，当场办结。", "spoken": "带身份证到区政务服务中心办理，当场办结。"}
              for s in cf.GUIDE_SECTIONS}


def test_budget_matches_the_sms_channel():
    assert cf.UCS2_PART == segments.UCS2_PART
    assert cf.SMS_MORE_HINT == texts.MORE_HINT_WORD
    longest = "办" * cf.SMS_MAX_UNITS
    assert not cf.sms_problems(longest)
    assert segments.parts(longest + texts.MORE_HINT_WORD) == 1
    assert cf.sms_problems(longest + "办")


@pytest.mark.parametrize("text", [
    "请登录粤商通App办理。", "请访问 www.gdzwfw.gov.cn 办理。", "请拨打12345咨询。", "带《出生医学证明》办理。",
    "材料（原件）带齐。", "第一句。第二句。第三句。", "办" * 70 + "。",
])
def test_unspeakable_forms_fail(text):
    assert cf.spoken_problems(text)


def test_speakable_form_passes_and_is_timed():
    text = "请带身份证到窗口办理。咨询请拨打1 2 3 4 5。"
    assert cf.spoken_problems(text) == []
    assert cf.spoken_seconds(text) == pytest.approx(len("请带身份证到窗口办理咨询请拨打12345") / cf.CHARS_PER_SECOND)


def seed_records():
    return [r for p in seed_paths() for r in read_yaml(p)]


def test_seed_lint_is_clean():
    assert lint_records(seed_records()) == []


def test_seed_faqs_have_owner_and_expiry():
    faqs = [r.data for r in seed_records() if r.kind == "faq"]
    assert len(faqs) == 240
    assert all(f.get("owner_department") and isinstance(f.get("expires_on"), dt.date) for f in faqs)


def faq(**over):
    data = {"service_id": None, "question": "问题", "answer": "回答。", "status": "published",
            "owner_department": "某局", "expires_on": "2027-12-31", "sms_text": "短信版。", "spoken_text": "语音版。"}
    return {**data, **over}


def test_lint_fails_published_entries_only():
    from knowledge.transfer import Record

    bad = [Record("faq", faq(question="甲", sms_text="长" * 60), "x:1"),
           Record("faq", faq(question="乙", spoken_text=""), "x:2"),
           Record("faq", faq(question="丙", expires_on=None), "x:3")]
    problems = lint_records(bad)
    assert [p.split(":")[1] for p in problems] == ["1", "2", "3"]
    assert lint_records([Record("faq", faq(status="draft", sms_text="", spoken_text=""), "x:4")]) == []


def test_service_lint_names_the_section():
    forms = {**GOOD_FORMS, "fees": {"sms": "不收费。", "spoken": "详见（附件）。"}}
    assert cf.service_problems(forms) == ["fees：语音版不要用括号"]
    assert any("steps" in p for p in cf.service_problems({k: v for k, v in GOOD_FORMS.items() if k != "steps"}))


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_tabular_round_trip_carries_the_forms(seeded_repo, fmt):
    services, faqs = seeded_repo.list_services(), seeded_repo.list_faqs()
    if fmt == "csv":
        svc_recs = read_csv(write_csv(SERVICE_COLUMNS, service_rows(services)), "s.csv")
        faq_recs = read_csv(write_csv(FAQ_COLUMNS, faq_rows(faqs)), "f.csv")
    else:
        book = write_xlsx({"services": (SERVICE_COLUMNS, service_rows(services)), "faqs": (FAQ_COLUMNS, faq_rows(faqs))})
        recs = read_xlsx(book, "kb.xlsx")
        svc_recs = [r for r in recs if r.kind == "service"]
        faq_recs = [r for r in recs if r.kind == "faq"]
    by_id = {s.id: s for s in services}
    for rec in svc_recs:
        assert rec.data.get("channel_forms", {}) == by_id[rec.data["id"]].channel_forms
    annual = next(r for r in svc_recs if r.data["id"] == "business_annual_report")
    assert str(annual.data["online_only"]).lower() == "true"
    faq_by_id = {str(f.id): f for f in faqs}
    for rec in faq_recs:
        f = faq_by_id[str(rec.data["id"])]
        assert (rec.data.get("sms_text", ""), rec.data.get("spoken_text", "")) == (f.sms_text, f.spoken_text)
    report = import_records(seeded_repo, svc_recs + faq_recs, actor="t")
    assert report.created == {"service": 0, "faq": 0, "center": 0}
    assert report.updated == {"service": 0, "faq": 0, "center": 0}


def test_import_rejects_an_unknown_section(seeded_repo):
    from knowledge.repository import snapshot
    from knowledge.transfer import Record

    svc = {k: v for k, v in snapshot(seeded_repo.get_service("passport")).items()
           if k not in ("created_at", "updated_at", "version")}
    svc["channel_forms"] = {"prices": {"sms": "x", "spoken": "y"}}
    with pytest.raises(ImportFailed, match="prices"):
        import_records(seeded_repo, [Record("service", svc, "s:1")], actor="t")


def test_venues_are_explicit_and_typed(seeded_repo):
    centers = seeded_repo.list_centers()
    assert not any(c.all_services for c in centers)
    assert {c.type for c in seeded_repo.booking_venues("marriage_registration")} == {"marriage_registry"}
    assert {c.type for c in seeded_repo.booking_venues("id_card")} == {"police_hukou"}
    assert {c.type for c in seeded_repo.booking_venues("residence_permit")} <= {"migrant_service", "street_center"}
    assert seeded_repo.booking_venues("business_annual_report") == []
    assert all(c.public_phone == "12345" for c in centers if not c.phone)
