"""Second line of defence: would the knowledge search answer out-of-domain utterances?

Out-of-domain messages the NLU wrongly routes to ``ask_service_guide`` reach
``action_answer_faq``, which answers only when the search's calibrated confidence is at
least ``faq.answer_threshold`` (``actions/config/settings.yml``) and otherwise offers
choices or says it does not know. This runs the search over every SMP2017-ECDT test
utterance (voice-assistant requests: weather, music, cookbook, flights …; read from
``../shared/data``, never copied) and counts how many would be *answered* and how many
would get "which one?" buttons. Run: ``python -m bench.oos_search`` (skips when absent).
"""

from __future__ import annotations

import json
from collections import Counter

import yaml

from bench.common import REPO, SHARED_DATA, scratch_seeded_repo

SMP_TEST = SHARED_DATA / "smp_ecdt" / "smp2017_task1" / "test.jsonl"


def run() -> dict | None:
    """The counts, or None when the data set is absent."""
    if not SMP_TEST.exists():
        return None
    from knowledge.search import KnowledgeSearch

    settings = yaml.safe_load((REPO / "actions" / "config" / "settings.yml").read_text(encoding="utf-8"))["faq"]
    answer_t, suggest_t = float(settings["answer_threshold"]), float(settings["suggest_threshold"])
    search = KnowledgeSearch(repository=scratch_seeded_repo())
    rows = [json.loads(line) for line in SMP_TEST.read_text(encoding="utf-8").splitlines() if line.strip()]
    answered, suggested = Counter(), Counter()
    for row in rows:
        hits = search.search(row["text"], 3)
        top = hits[0].confidence if hits else 0.0
        if top >= answer_t:
            answered[row["domain"]] += 1
        elif top >= suggest_t:
            suggested[row["domain"]] += 1
    return {"n": len(rows), "answered": sum(answered.values()), "suggested": sum(suggested.values()),
            "answer_threshold": answer_t, "suggest_threshold": suggest_t,
            "answered_by_domain": answered.most_common(8)}


def main() -> None:
    """Print the figures."""
    res = run()
    print(json.dumps(res, ensure_ascii=False, indent=2) if res else "skipped: ../shared/data/smp_ecdt is absent")


if __name__ == "__main__":
    main()
