"""Import the 2,081-entry Beijing government FAQ file (MSGABench) into a scratch database.

Measures: strict import (conflicting duplicates are reported with line numbers and
nothing is written), import time of the de-duplicated file, index build time, and
search latency p50/p95 at that size with the 233 real user queries of the same
benchmark (and whether the top hit carries the benchmark's knowledge-base answer).
The data is read from ../shared/data and never copied into the repository.
"""

from __future__ import annotations

import json
import time
from typing import Any

from bench.common import SHARED_DATA, percentile, scratch_seeded_repo


def _records(rows: list[dict[str, Any]]) -> list[Any]:
    from knowledge.transfer import Record

    return [
        Record("faq", {"question": r["question"], "answer": r["answer"], "status": "published",
                       "owner_department": r.get("department") or "", "topic": "other"},
               f"gov_faq.jsonl:{n}")
        for n, r in enumerate(rows, start=1)
    ]


def run() -> dict[str, Any] | None:
    """Run the benchmark; None when ../shared/data is absent."""
    path = SHARED_DATA / "msgabench_gov" / "gov_faq.jsonl"
    if not path.exists():
        return None
    from common.textnorm import normalize
    from knowledge.search import KnowledgeSearch
    from knowledge.transfer import ImportFailed, import_records

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    repo = scratch_seeded_repo()
    out: dict[str, Any] = {"rows": len(rows)}
    t0 = time.perf_counter()
    try:
        import_records(repo, _records(rows), actor="bench")
        out["strict_errors"] = 0
    except ImportFailed as exc:
        out["strict_errors"] = len(exc.errors)
        out["strict_example"] = exc.errors[0][:80]
    out["strict_s"] = time.perf_counter() - t0

    # The clean run keeps the first of each conflicting duplicate and leaves out empty answers,
    # as staff would after reading the strict run's error list.
    seen: set[tuple[str, str]] = set()
    unique = []
    for r in rows:
        key = (normalize(r["question"]), r.get("department") or "")
        if key not in seen and r["answer"].strip():
            seen.add(key)
            unique.append(r)
    t0 = time.perf_counter()
    report = import_records(repo, _records(unique), actor="bench")
    out["imported"] = report.created["faq"]
    out["import_s"] = time.perf_counter() - t0

    search = KnowledgeSearch(repository=repo)
    t0 = time.perf_counter()
    search.index()
    out["index_build_s"] = time.perf_counter() - t0
    out["documents"] = len(search.index().docs)

    queries = [json.loads(line) for line in
               (SHARED_DATA / "msgabench_gov" / "nlu_queries.jsonl").read_text(encoding="utf-8").splitlines()]
    answers = {f.id: f.answer for f in repo.list_faqs()}
    lat, answer_hits, answerable = [], 0, 0
    known_answers = {normalize(a) for a in answers.values()}
    for q in queries * 3:
        t = time.perf_counter()
        hits = search.search(q["question"], k=5)
        lat.append((time.perf_counter() - t) * 1000)
    for q in queries:
        if normalize(q["kb_answer"]) in known_answers:
            answerable += 1
            hits = search.search(q["question"], k=1)
            if hits and hits[0].faq_id and normalize(answers[hits[0].faq_id]) == normalize(q["kb_answer"]):
                answer_hits += 1
    out.update(queries=len(lat), p50_ms=percentile(lat, 50), p95_ms=percentile(lat, 95),
               answerable=answerable, answer_top1=answer_hits / answerable if answerable else float("nan"))
    return out


if __name__ == "__main__":
    print(run())
