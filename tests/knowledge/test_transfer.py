"""Import / export: all-or-nothing, errors with file and line, dry run, round trip."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from knowledge.transfer import ImportFailed, dump_yaml, export_bundle, import_paths, read_yaml

GOOD = """
services:
  - id: passport
    name: 普通护照申领
    category: 出入境
    audience: citizen
    department: 出入境管理支队
    summary: 申请普通护照
    eligibility: 中国公民
    materials: [居民身份证]
    steps: [预约, 提交]
    locations: 出入境大厅
    time_limit: 7个工作日
    fees: 120元
    faqs:
      - topic: fees
        question: 办护照要多少钱
        alternatives: [护照几多钱]
        answer: 每本120元。
centers:
  - id: hall_a
    name: 出入境大厅
    district: 天河区
    address: 广州市天河区某路1号
    opening_hours: {weekdays: ["09:00-12:00"]}
    services: [passport]
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_import_creates_everything_and_reimport_changes_nothing(repo, tmp_path):
    path = write(tmp_path, "good.yml", GOOD)
    report = import_paths(repo, [path], actor="tester")
    assert report.created == {"service": 1, "faq": 1, "center": 1}
    faq = repo.list_faqs()[0]
    assert faq.status.value == "published" and faq.owner_department == "出入境管理支队"
    revision = repo.revision()
    again = import_paths(repo, [path], actor="tester")
    assert again.unchanged == {"service": 1, "faq": 1, "center": 1}
    assert repo.revision() == revision


def test_bad_rows_are_reported_with_line_numbers_and_nothing_is_written(repo, tmp_path):
    bad = GOOD.replace("fees: 120元", "fees: 120元\n    audience: martian").replace(
        "        answer: 每本120元。", "        answer: ''")
    path = write(tmp_path, "bad.yml", bad)
    with pytest.raises(ImportFailed) as exc:
        import_paths(repo, [path], actor="tester")
    errors = exc.value.errors
    assert any(e.startswith("bad.yml:3:") and "audience" in e for e in errors), errors
    assert any(e.startswith("bad.yml:17:") and "answer" in e for e in errors), errors
    assert repo.list_services() == [] and repo.list_faqs() == [] and repo.revision() == 0


def test_one_bad_file_rejects_all_files(repo, tmp_path):
    good = write(tmp_path, "a.yml", GOOD)
    broken = write(tmp_path, "b.yml", "services: [\n  - id: x\n")
    with pytest.raises(ImportFailed) as exc:
        import_paths(repo, [good, broken], actor="tester")
    assert exc.value.errors[0].startswith("b.yml:") and "YAML" in exc.value.errors[0]
    assert repo.list_services() == []


def test_non_utf8_file_is_a_clear_error(repo, tmp_path):
    path = tmp_path / "gbk.yml"
    path.write_bytes("services: []\n# 中文".encode("gbk"))
    with pytest.raises(ImportFailed) as exc:
        read_yaml(path)
    assert "UTF-8" in exc.value.errors[0]


def test_duplicate_rows_in_one_import_are_rejected(repo, tmp_path):
    path = write(tmp_path, "dup.yml", GOOD.replace("centers:", "faqs:\n  - service_id: passport\n"
                 "    owner_department: 出入境管理支队\n    question: 办护照要多少钱\n    answer: x\ncenters:"))
    with pytest.raises(ImportFailed) as exc:
        import_paths(repo, [path], actor="tester")
    assert any("重复" in e for e in exc.value.errors)


def test_dry_run_reports_and_writes_nothing(repo, tmp_path):
    report = import_paths(repo, [write(tmp_path, "good.yml", GOOD)], actor="tester", dry_run=True)
    assert report.dry_run and report.created["faq"] == 1
    assert repo.list_services() == [] and repo.revision() == 0


def test_export_then_import_is_a_no_op(seeded_repo, tmp_path):
    path = tmp_path / "export.yml"
    path.write_text(dump_yaml(export_bundle(seeded_repo)), encoding="utf-8")
    report = import_paths(seeded_repo, [path], actor="tester")
    assert sum(report.created.values()) == 0 and sum(report.updated.values()) == 0
    assert report.unchanged["service"] == 40


def test_export_carries_edits_into_a_fresh_database(seeded_repo, repo, tmp_path):
    faq = seeded_repo.list_faqs()[0]
    seeded_repo.update_faq(faq.id, {"answer": "已更新的答复。"}, actor="editor")
    path = tmp_path / "export.yml"
    path.write_text(dump_yaml(export_bundle(seeded_repo)), encoding="utf-8")
    import_paths(repo, [path], actor="tester")
    assert any(f.answer == "已更新的答复。" for f in repo.list_faqs())
