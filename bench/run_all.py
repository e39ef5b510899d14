"""Run the benchmarks and write ``bench/REPORT.md``: ``make bench``.

Sections whose data (../shared/data) or optional packages are absent say so and are skipped.
"""

from __future__ import annotations

import logging
import time

from bench import calibrate, gov_faq_import, oos_search, search_eval
from bench.common import BENCH_DIR, load_questions, machine_line, scratch_seeded_repo


def search_section() -> list[str]:
    from knowledge.search import KnowledgeSearch

    search = KnowledgeSearch(repository=scratch_seeded_repo())
    lines = ["## Knowledge search accuracy (`python -m bench.search_eval`)", "",
             "Questions written for the project, mapped to catalog ids; the held-out set was never used for tuning "
             "(lexicon and calibration were tuned on the dev set only). Targets: top-1 ≥ 90 %, top-3 ≥ 97 %.", "",
             "| set | n | top-1 | top-3 |", "|---|---|---|---|"]
    styles = {}
    for name in ("dev_questions", "heldout_questions"):
        res = search_eval.evaluate(search, load_questions(name))
        lines.append(f"| {name} | {res['n']} | {res['top1']:.1%} | {res['top3']:.1%} |")
        styles[name] = res
    held = styles["heldout_questions"]
    lines += ["", "Held-out top-1 by style: " + ", ".join(
        f"{s} {ok}/{n}" for s, (ok, n) in held["by_style"].items()), "", "Held-out misses (gold → top-3):", ""]
    lines += [f"- {q} — {gold} → {', '.join(str(g) for g in got)}" for q, gold, got, _ in held["misses"]]
    rep = calibrate.heldout_report(search)
    lines += ["", "## Confidence calibration (`python -m bench.calibrate`)", "",
              "Logistic calibration fitted on the dev sets (in-scope + out-of-scope); measured on the held-out "
              f"in-scope (160) and out-of-scope (80) questions. Expected calibration error: **{rep['ece']:.3f}**.", "",
              "| threshold | in-scope answered | accuracy of answered | out-of-scope false accepts |",
              "|---|---|---|---|"]
    for t, row in rep["thresholds"].items():
        lines.append(f"| {t} | {row['in_scope_answered']:.1%} | {row['answered_accuracy']:.1%} | "
                     f"{row['oos_false_accept']:.1%} |")
    return lines


def gov_faq_section() -> list[str]:
    res = gov_faq_import.run()
    head = ["## Import and search at 2,081 real FAQs (`python -m bench.gov_faq_import`)", ""]
    if res is None:
        return [*head, "Skipped: ../shared/data/msgabench_gov is absent."]
    return [*head,
            "MSGABench Beijing government FAQ file, read from ../shared/data (never copied into the repo), "
            "imported on top of the seed content into a scratch SQLite database.", "",
            f"- strict import of all {res['rows']} rows: rejected with **{res['strict_errors']} row errors** "
            f"(conflicting duplicates, an empty answer) listed with line numbers, nothing written; "
            f"validation took {res['strict_s']:.2f} s",
            f"- after leaving those rows out: **{res['imported']} FAQs imported in {res['import_s']:.2f} s** "
            "(one transaction, one audit entry per FAQ)",
            f"- index build: {res['index_build_s']:.2f} s for {res['documents']} documents",
            f"- search latency over {res['queries']} queries (233 real user queries × 3): "
            f"**p50 {res['p50_ms']:.1f} ms, p95 {res['p95_ms']:.1f} ms**",
            f"- queries whose benchmark answer is in the file: {res['answerable']}; top-1 carries that answer: "
            f"{res['answer_top1']:.0%}"]


def oos_section() -> list[str]:
    res = oos_search.run()
    head = ["## Out-of-domain messages and the knowledge search (`python -m bench.oos_search`)", ""]
    if res is None:
        return [*head, "Skipped: ../shared/data/smp_ecdt is absent."]
    return [*head,
            f"All {res['n']} SMP2017-ECDT test utterances (voice-assistant requests, read from ../shared/data) run "
            "through the search that `action_answer_faq` uses. An out-of-domain message the NLU wrongly routes to "
            f"`ask_service_guide` is answered only at confidence ≥ {res['answer_threshold']}: "
            f"**{res['answered']} of {res['n']} ({res['answered'] / res['n']:.1%}) would be answered**, "
            f"{res['suggested']} would get \"which one?\" buttons, the rest \"not found\" with a human offered. "
            "Answered, by SMP domain: " + ", ".join(f"{d} {c}" for d, c in res["answered_by_domain"]) + "."]


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    t0 = time.time()
    lines = ["# Benchmark report", "", f"Measured {machine_line()} by `make bench`.", ""]
    lines += [*search_section(), "", *gov_faq_section(), "", *oos_section()]
    dense = BENCH_DIR / "REPORT_dense_rerank.md"
    lines += ["", "## Dense re-ranker", "",
              f"See [{dense.name}]({dense.name}) (run on demand; needs an optional package)." if dense.exists()
              else "Not measured on this machine (see bench/dense_rerank.py)."]
    lines += ["", f"_Total bench time {time.time() - t0:.0f} s._", ""]
    (BENCH_DIR / "REPORT.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
