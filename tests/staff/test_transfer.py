"""Import (CSV / XLSX / YAML; dry run; per-row errors; all or nothing) and export through the console."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest

from common.textnorm import normalize
from knowledge.tabular import FAQ_COLUMNS, read_csv, read_xlsx
from tests.conftest import SHARED
from tests.staff.conftest import as_user, post

GOOD_CSV = ("question,answer,service_id,topic,status,alternatives\n"
            "护照丢了怎么补办,携带身份证到出入境大厅申请补发。,passport,process,published,\"护照掉了\n护照遗失\"\n"
            "港澳通行证多久能拿到,一般7个工作日。,,time,draft,\n")
BAD_CSV = ("question,answer,service_id,topic\n"
           "好的问题,好的答案,passport,other\n"
           ",没有问题的答案,passport,other\n"
           "坏服务,答案,no_such_service,other\n")


def upload(client, name: str, data: bytes, dry_run: bool):
    form = {"file": (io.BytesIO(data), name)}
    if dry_run:
        form["dry_run"] = "y"
    return post(client, "/staff/transfer/import", form, content_type="multipart/form-data")


def count(staff) -> int:
    return len(staff.knowledge.list_faqs())


def test_dry_run_shows_what_would_change_and_writes_nothing(client, staff):
    before = count(staff)
    as_user(client, "admin")
    res = upload(client, "faqs.csv", GOOD_CSV.encode(), dry_run=True)
    page = res.get_data(as_text=True)
    assert res.status_code == 200 and "预演结果（未写入）" in page
    assert "faqs.csv:2" in page and "faqs.csv:4" in page  # a two-line cell: the next row starts on line 4
    assert count(staff) == before


def test_import_writes_everything_and_is_audited(client, staff):
    before = count(staff)
    as_user(client, "admin")
    res = upload(client, "faqs.csv", GOOD_CSV.encode(), dry_run=False)
    assert res.status_code == 200 and "导入完成" in res.get_data(as_text=True)
    assert count(staff) == before + 2
    new = next(f for f in staff.knowledge.list_faqs() if f.question == "护照丢了怎么补办")
    assert new.alternatives == ["护照掉了", "护照遗失"] and new.status.value == "published"
    assert staff.knowledge.audit_log(entity_type="bundle")[0].actor == "admin"


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(client, staff):
    before = count(staff)
    as_user(client, "admin")
    res = upload(client, "bad.csv", BAD_CSV.encode(), dry_run=False)
    page = res.get_data(as_text=True)
    assert res.status_code == 422 and "未写入任何内容" in page
    assert "bad.csv:3" in page and "question" in page and "bad.csv:4" in page and "no_such_service" in page
    assert "bad.csv:2:" not in page
    assert count(staff) == before


def test_gbk_csv_from_spreadsheet_software_is_read():
    records = read_csv("question,answer\n问题,答案\n".encode("gb18030"), "gbk.csv")
    assert records[0].data == {"question": "问题", "answer": "答案"}


def test_unknown_header_is_refused():
    with pytest.raises(Exception, match="无法识别表头"):
        read_csv(b"foo,bar\n1,2\n", "x.csv")


def test_xlsx_export_reimports_with_no_change(client, staff):
    as_user(client, "admin")
    res = client.get("/staff/transfer/export.xlsx")
    assert res.status_code == 200 and res.data[:2] == b"PK"
    records = read_xlsx(res.data, "kb.xlsx")
    assert {r.kind for r in records} == {"service", "faq"}
    page = upload(client, "kb.xlsx", res.data, dry_run=True).get_data(as_text=True)
    assert "预演结果" in page
    summary = page.split('id="import-summary"')[1].split("</table>")[0]
    cells = [c.split("</td>")[0] for c in summary.split("<td>")[1:]]
    assert cells[1:3] == ["0", "0"] and cells[5:7] == ["0", "0"]  # services and FAQs: nothing new, nothing changed


def test_csv_export_has_the_columns_and_guards_formulas(client, staff):
    staff.knowledge.create_faq({"question": "=危险公式", "answer": "-答案", "status": "draft"}, actor="t")
    as_user(client, "editor")
    res = client.get("/staff/transfer/export.csv", query_string={"kind": "faqs"})
    rows = list(csv.reader(io.StringIO(res.data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == FAQ_COLUMNS
    assert any(r[3] == "'=危险公式" for r in rows[1:])
    back = read_csv(res.data, "faqs.csv")
    assert any(r.data.get("question") == "=危险公式" and r.data.get("answer") == "-答案" for r in back)


def test_yaml_export_and_import_round_trip(client, staff):
    as_user(client, "admin")
    data = client.get("/staff/transfer/export.yml").data
    page = upload(client, "kb.yml", data, dry_run=True).get_data(as_text=True)
    assert "预演结果" in page and "kb.yml" in page


def test_editor_may_export_but_not_import(client):
    as_user(client, "editor")
    assert client.get("/staff/transfer/export.csv").status_code == 200
    assert upload(client, "faqs.csv", GOOD_CSV.encode(), dry_run=True).status_code == 403


def test_import_larger_than_the_app_body_limit_is_accepted(client, staff):
    rows = "".join(f"问题{n}{'长' * 200},答案{n}{'长' * 400}\n" for n in range(1000))
    data = ("question,answer\n" + rows).encode()
    assert len(data) > 1024 * 1024
    as_user(client, "admin")
    res = upload(client, "big.csv", data, dry_run=True)
    assert res.status_code == 200 and "预演结果" in res.get_data(as_text=True)


@pytest.mark.shared_data
def test_the_2081_entry_government_faq_file_imports_in_seconds(client, staff):
    path = SHARED / "data" / "msgabench_gov" / "gov_faq.jsonl"
    if not path.exists():
        pytest.skip("../shared/data/msgabench_gov is absent")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["question", "answer", "owner_department", "status", "topic"])
    for r in rows:
        writer.writerow([r["question"], r["answer"], r.get("department") or "", "published", "other"])
    data = buf.getvalue().encode()
    as_user(client, "admin")
    t0 = time.perf_counter()
    strict = upload(client, "gov_faq.csv", data, dry_run=False)
    strict_s = time.perf_counter() - t0
    assert strict.status_code == 422 and "gov_faq.csv:" in strict.get_data(as_text=True)  # duplicates named
    assert count(staff) == 240
    seen, unique = set(), []
    for r in rows:  # keep the first of each duplicate and drop empty answers, as staff would
        key = (normalize(r["question"]), r.get("department") or "")
        if key not in seen and r["answer"].strip():
            seen.add(key)
            unique.append(r)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["question", "answer", "owner_department", "status", "topic"])
    for r in unique:
        writer.writerow([r["question"], r["answer"], r.get("department") or "", "published", "other"])
    t0 = time.perf_counter()
    res = upload(client, "gov_faq.csv", buf.getvalue().encode(), dry_run=False)
    took = time.perf_counter() - t0
    assert res.status_code == 200, res.get_data(as_text=True)[:2000]
    assert count(staff) > 240 + 2000
    assert took < 30 and strict_s < 30, (took, strict_s)
