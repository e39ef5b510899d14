"""The seed content covers the catalog completely and is marked as sample data."""

from __future__ import annotations

from collections import Counter

import pytest
import yaml

from knowledge.settings import SEED_DIR
from knowledge.transfer import read_yaml, seed_paths
from tests.conftest import SHARED

CATALOG = SHARED / "catalog.yml"
GUANGZHOU_DISTRICTS = {"越秀区", "海珠区", "荔湾区", "天河区", "白云区", "黄埔区", "番禺区", "花都区",
                       "南沙区", "从化区", "增城区"}


@pytest.fixture(scope="module")
def records():
    out = []
    for path in seed_paths():
        out.extend(read_yaml(path))
    return out


def test_seed_is_marked_as_sample_content():
    assert "sample" in (SEED_DIR / "README.md").read_text(encoding="utf-8").lower()
    assert "样例数据" in (SEED_DIR / "centers.yml").read_text(encoding="utf-8")


@pytest.mark.skipif(not CATALOG.exists(), reason="../shared/catalog.yml is absent")
def test_every_catalog_id_is_a_complete_service(records):
    catalog = {s["id"]: s for s in yaml.safe_load(CATALOG.read_text(encoding="utf-8"))["services"]}
    services = {r.data["id"]: r.data for r in records if r.kind == "service"}
    assert set(services) == set(catalog)
    for sid, entry in catalog.items():
        svc = services[sid]
        assert (svc["name"], svc["category"], svc["audience"]) == (entry["name"], entry["category"], entry["audience"])
        for field in ("department", "summary", "eligibility", "locations", "time_limit", "fees", "online_url"):
            assert str(svc.get(field) or "").strip(), f"{sid}.{field} is empty"
        for field in ("materials", "steps", "legal_basis", "keywords"):
            assert svc.get(field), f"{sid}.{field} is empty"
        assert "forms" in svc


def test_at_least_150_published_faqs_covering_every_topic(records):
    faqs = [r.data for r in records if r.kind == "faq"]
    assert len(faqs) >= 150 and all(f.get("status") == "published" for f in faqs)
    per_service = Counter(f["service_id"] for f in faqs)
    assert len(per_service) == 40 and min(per_service.values()) >= 4
    for sid in per_service:
        topics = {f["topic"] for f in faqs if f["service_id"] == sid}
        assert {"materials", "fees", "time", "place", "eligibility"} <= topics, sid


def test_at_least_12_centres_across_guangzhou_districts(records):
    centers = [r.data for r in records if r.kind == "center"]
    assert len(centers) >= 12
    assert {c["district"] for c in centers} >= GUANGZHOU_DISTRICTS


def test_seed_loads_without_errors(seeded_repo):
    assert len(seeded_repo.list_services()) == 40
    assert len(seeded_repo.live_faqs()) >= 150
