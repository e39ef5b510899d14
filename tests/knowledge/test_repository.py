"""Repository: audited writes, versions, revision counter, validation, live rules."""

from __future__ import annotations

import datetime as dt

import pytest

from knowledge.models import FaqStatus
from knowledge.repository import NotFound
from knowledge.validation import ValidationError
from tests.conftest import faq_data, service_data


def test_create_service_is_audited_and_bumps_revision(repo):
    assert repo.revision() == 0
    repo.save_service(service_data(), actor="alice")
    assert repo.revision() == 1
    entry = repo.audit_log(entity_type="service")[0]
    assert (entry.actor, entry.action, entry.entity_id) == ("alice", "create", "passport")
    assert entry.before is None and entry.after["name"] == "普通护照申领"


def test_update_service_records_before_and_after_and_version(repo):
    repo.save_service(service_data(), actor="alice")
    svc = repo.save_service(service_data(fees="每本120元"), actor="bob")
    assert svc.version == 2
    entry = repo.audit_log(entity_type="service", entity_id="passport")[0]
    assert entry.action == "update" and entry.actor == "bob"
    assert entry.before["fees"] == "120元" and entry.after["fees"] == "每本120元"


def test_saving_unchanged_service_writes_nothing(repo):
    repo.save_service(service_data(), actor="alice")
    repo.save_service(service_data(), actor="alice")
    assert repo.revision() == 1
    assert len(repo.audit_log()) == 1


@pytest.mark.parametrize(
    ("override", "fragment"),
    [({"id": "Bad Id"}, "id"), ({"name": ""}, "name"), ({"audience": "alien"}, "audience"),
     ({"materials": []}, "materials"), ({"forms": "x"}, "forms")],
)
def test_invalid_service_is_rejected_with_field_name(repo, override, fragment):
    with pytest.raises(ValidationError) as exc:
        repo.save_service(service_data(**override), actor="alice")
    assert any(fragment in e for e in exc.value.errors)
    assert repo.revision() == 0


def test_faq_lifecycle_update_alternative_delete(repo):
    repo.save_service(service_data(), actor="alice")
    faq = repo.create_faq(faq_data(status="draft"), actor="alice")
    assert faq.status == FaqStatus.draft and faq.version == 1
    faq = repo.update_faq(faq.id, {"status": "published"}, actor="bob")
    assert faq.status == FaqStatus.published and faq.version == 2 and faq.updated_by == "bob"
    faq = repo.add_faq_alternative(faq.id, "护照收费标准", actor="carol")
    assert "护照收费标准" in faq.alternatives and faq.version == 3
    assert repo.add_faq_alternative(faq.id, "护照收费标准", actor="carol").version == 3  # no duplicate
    repo.delete_faq(faq.id, actor="dave")
    with pytest.raises(NotFound):
        repo.get_faq(faq.id)
    actions = [e.action for e in repo.audit_log(entity_type="faq")]
    assert actions == ["delete", "update", "update", "create"]


def test_faq_linked_to_unknown_service_is_rejected(repo):
    with pytest.raises(ValidationError) as exc:
        repo.create_faq(faq_data(service_id="no_such_service"), actor="alice")
    assert "no_such_service" in exc.value.errors[0]


def test_faq_expiry_before_effective_date_is_rejected(repo):
    repo.save_service(service_data(), actor="a")
    with pytest.raises(ValidationError):
        repo.create_faq(faq_data(effective_from="2026-05-01", expires_on="2026-04-01"), actor="a")


def test_live_rules_follow_status_and_dates(repo):
    repo.save_service(service_data(), actor="a")
    today = dt.date(2026, 6, 1)
    live = repo.create_faq(faq_data(question="q1"), actor="a")
    repo.create_faq(faq_data(question="q2", status="draft"), actor="a")
    repo.create_faq(faq_data(question="q3", expires_on="2026-05-31"), actor="a")
    repo.create_faq(faq_data(question="q4", effective_from="2026-06-02"), actor="a")
    assert [f.id for f in repo.list_faqs(live_on=today)] == [live.id]


def test_centre_offers_all_or_listed_services(repo):
    repo.save_service(service_data(), actor="a")
    repo.save_service(service_data(id="id_card", name="居民身份证"), actor="a")
    hours = {"weekdays": ["09:00-12:00"], "saturday": [], "sunday": []}
    base = {"district": "天河区", "address": "广州市天河区某路1号", "opening_hours": hours}
    repo.save_center({"id": "hall_all", "name": "综合大厅", "services": "all", **base}, actor="a")
    repo.save_center({"id": "hall_pp", "name": "出入境大厅", "services": ["passport"], **base}, actor="a")
    assert [c.id for c in repo.list_centers(service_id="passport")] == ["hall_all", "hall_pp"]
    assert [c.id for c in repo.list_centers(service_id="id_card")] == ["hall_all"]
    with pytest.raises(ValidationError):
        repo.save_center({"id": "bad", "name": "x", "services": ["nope"], **base}, actor="a")
    with pytest.raises(ValidationError):
        repo.save_center({"id": "bad", "name": "x", **base, "opening_hours": {"weekdays": ["9-12"]}}, actor="a")


def test_delete_service_keeps_its_faqs_unlinked(repo):
    repo.save_service(service_data(), actor="a")
    faq = repo.create_faq(faq_data(), actor="a")
    repo.delete_service("passport", actor="a")
    assert repo.get_faq(faq.id).service_id is None
    with pytest.raises(NotFound):
        repo.get_service("passport")


def test_has_service_answers_from_one_lookup(seeded_repo):
    assert seeded_repo.has_service("passport") is True
    assert seeded_repo.has_service("no_such_service") is False
