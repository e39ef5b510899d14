"""The staff console's import path (CSV and XLSX upload parsing + strict import) on the 2,081 government FAQs.

Same data and de-duplication as ``bench/gov_faq_import.py`` (which measures the YAML /
record path); this one measures what an administrator's upload costs: building the
file, parsing it as the console does (``knowledge.tabular``) and importing it all or
nothing, plus a dry run. Data is read from ../shared/data and never copied.

Run: ``.venv-app/bin/python -m bench.staff_import``
"""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

from bench.common import SHARED_DATA, scratch_seeded_repo

COLUMNS = ["question", "answer", "owner_department", "status", "topic"]


def _unique(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from common.textnorm import normalize

    seen: set[tuple[str, str]] = set()
    out = []
    for r in rows:
        key = (normalize(r["question"]), r.get("department") or "")
        if key not in seen and r["answer"].strip():
            seen.add(key)
            out.append(r)
    return out


def _table(rows: list[dict[str, Any]]) -> list[list[str]]:
    return [[r["question"], r["answer"], r.get("department") or "", "published", "other"] for r in rows]


def run() -> dict[str, Any] | None:
    """Run the benchmark; None when ../shared/data is absent."""
    path = SHARED_DATA / "msgabench_gov" / "gov_faq.jsonl"
    if not path.exists():
        return None
    from knowledge.tabular import read_csv, read_xlsx, write_xlsx
    from knowledge.transfer import ImportFailed, import_records

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    out: dict[str, Any] = {"rows": len(rows)}
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(COLUMNS)
    writer.writerows(_table(rows))
    strict_csv = buf.getvalue().encode("utf-8")
    repo = scratch_seeded_repo()
    t0 = time.perf_counter()
    try:
        import_records(repo, read_csv(strict_csv, "gov_faq.csv"), actor="bench")
        out["strict_errors"] = 0
    except ImportFailed as exc:
        out["strict_errors"] = len(exc.errors)
    out["strict_csv_s"] = time.perf_counter() - t0

    unique = _unique(rows)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(COLUMNS)
    writer.writerows(_table(unique))
    clean_csv = buf.getvalue().encode("utf-8")
    xlsx = write_xlsx({"faqs": (tuple(COLUMNS), _table(unique))})
    out.update(csv_bytes=len(clean_csv), xlsx_bytes=len(xlsx))

    t0 = time.perf_counter()
    report = import_records(repo, read_csv(clean_csv, "gov_faq.csv"), actor="bench", dry_run=True)
    out["dry_run_csv_s"] = time.perf_counter() - t0
    out["dry_run_would_create"] = report.created["faq"]
    t0 = time.perf_counter()
    report = import_records(repo, read_csv(clean_csv, "gov_faq.csv"), actor="bench")
    out["import_csv_s"] = time.perf_counter() - t0
    out["imported"] = report.created["faq"]

    repo2 = scratch_seeded_repo()
    t0 = time.perf_counter()
    records = read_xlsx(xlsx, "gov_faq.xlsx")
    out["parse_xlsx_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    import_records(repo2, records, actor="bench")
    out["import_xlsx_s"] = time.perf_counter() - t0
    return out


if __name__ == "__main__":
    for key, value in (run() or {"skipped": "../shared/data absent"}).items():
        print(f"{key}: {value:.2f}" if isinstance(value, float) else f"{key}: {value}")
