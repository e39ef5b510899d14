"""Search accuracy on a question set: top-1 / top-3 and the misses.

Usage: ``python -m bench.search_eval [dev_questions|heldout_questions] [--misses]``
"""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from bench.common import load_questions, scratch_seeded_repo


def evaluate(search: Any, questions: list[dict[str, Any]]) -> dict[str, Any]:
    """Top-1/top-3 accuracy of ``search`` on ``questions``, per style too."""
    top1 = top3 = 0
    misses = []
    by_style: Counter[str] = Counter()
    style_ok: Counter[str] = Counter()
    for item in questions:
        hits = search.search(item["q"], k=3)
        ids = [h.service_id for h in hits]
        by_style[item.get("style", "-")] += 1
        if ids[:1] == [item["service"]]:
            top1 += 1
            style_ok[item.get("style", "-")] += 1
        else:
            misses.append((item["q"], item["service"], ids, hits[0].confidence if hits else None))
        if item["service"] in ids[:3]:
            top3 += 1
    n = len(questions)
    return {
        "n": n, "top1": top1 / n, "top3": top3 / n, "misses": misses,
        "by_style": {s: (style_ok[s], c) for s, c in sorted(by_style.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("set", nargs="?", default="dev_questions")
    parser.add_argument("--misses", action="store_true")
    args = parser.parse_args()
    from knowledge.search import KnowledgeSearch

    search = KnowledgeSearch(repository=scratch_seeded_repo())
    res = evaluate(search, load_questions(args.set))
    print(f"{args.set}: n={res['n']} top1={res['top1']:.3f} top3={res['top3']:.3f}")
    print("by style:", {k: f"{a}/{b}" for k, (a, b) in res["by_style"].items()})
    if args.misses:
        for q, gold, got, conf in res["misses"]:
            print(f"  MISS {gold:28s} got={got} conf={conf}  {q}")


if __name__ == "__main__":
    main()
