"""Where real citizen messages land: MSGABench government messages through the NLU (issue 11).

Run with the Rasa venv, from the repository root::

    .venv-rasa/bin/python -m bench.msgabench_eval [--model models/x.tar.gz] [--sample N]

Evaluation only: reads ``../shared/data/msgabench_gov/citizen_messages.jsonl`` (skips cleanly when
absent) and never writes a message out, only counts. Without ``--model`` it trains the NLU of
``bot/config.yml`` into a temporary directory. Each message is parsed and mapped to the flow its
final intent starts (outside a form the rules map intents one to one to flows):

* substantive: a guide (``ask_service_guide``), a complaint or case (``complain``), a person
  (``request_human``), a booking task, or the status lookup with an application number;
* out of scope / fallback: ``out_of_scope`` or ``nlu_fallback``;
* status flow without a number: ``check_application_status`` and no ``application_no`` entity;
* other: greeting, thanks, yes/no, slot answers, ratings.

Also counts the messages opening with "尊敬的领导" that get the greeting. Writes
``bench/REPORT_msgabench.md``. Targets: substantive ≥ 98 %, out of scope ≤ 1 %, status without a
number 0.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ["RASA_TELEMETRY_ENABLED"] = "false"
os.environ["RASA_MAX_CACHE_SIZE"] = "0"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench.common import BENCH_DIR, REPO, SHARED_DATA, machine_line

DATA = SHARED_DATA / "msgabench_gov" / "citizen_messages.jsonl"
REPORT = BENCH_DIR / "REPORT_msgabench.md"
SUBSTANTIVE = {"ask_service_guide", "complain", "request_human", "book_appointment", "cancel_appointment",
               "query_appointment"}
OOS = {"out_of_scope", "nlu_fallback"}
STATUS = "check_application_status"
TARGETS = {"substantive": 0.98, "oos": 0.01, "status_no_number": 0.0}


def flow(intent: str | None, entities: list[dict[str, Any]]) -> str:
    """The kind of flow a final intent starts."""
    if intent == STATUS:
        has_number = any(e.get("entity") == "application_no" for e in entities)
        return "substantive" if has_number else "status_no_number"
    if intent in SUBSTANTIVE:
        return "substantive"
    if intent in OOS:
        return "oos"
    return "other"


def evaluate(agent: Any, texts: list[str], kinds: list[str]) -> dict[str, Any]:
    """Counts of flows, intents (overall and per request type) and the 尊敬的领导 greeting check."""
    import asyncio

    flows: Counter = Counter()
    intents: Counter = Counter()
    by_type: dict[str, Counter] = {}
    leaders = leaders_greeted = 0

    async def run() -> None:
        nonlocal leaders, leaders_greeted
        for text, request_type in zip(texts, kinds, strict=True):
            res = await agent.parse_message(text)
            intent = (res.get("intent") or {}).get("name")
            kind = flow(intent, res.get("entities") or [])
            flows[kind] += 1
            intents[intent] += 1
            by_type.setdefault(request_type, Counter())[intent] += 1
            if text.lstrip().startswith("尊敬的领导"):
                leaders += 1
                leaders_greeted += intent == "greet"

    asyncio.run(run())
    n = len(texts)
    return {"n": n, "flows": dict(flows), "intents": dict(intents.most_common()),
            "share": {k: flows[k] / n for k in ("substantive", "oos", "status_no_number", "other")},
            "leaders": leaders, "leaders_greeted": leaders_greeted,
            "by_type": {k: dict(v.most_common(4)) for k, v in sorted(by_type.items())}}


def render(res: dict[str, Any]) -> str:
    """The Markdown report."""
    s = res["share"]
    ok = {"substantive": s["substantive"] >= TARGETS["substantive"], "oos": s["oos"] <= TARGETS["oos"],
          "status_no_number": s["status_no_number"] <= TARGETS["status_no_number"]}
    lines = ["# Real citizen messages (`bench/msgabench_eval.py`)", "",
             f"Measured {res['started']}, {res['machine']}, by `{res['command']}` in {res['total_s']:.0f} s.", "",
             f"Data: MSGABench government citizen messages (`../shared/data/msgabench_gov/citizen_messages.jsonl`, "
             f"evaluation only), {res['scope']}. Model: {res['model']}. Each message is parsed once; its final "
             "intent (after the fallback threshold and the intent guard) is mapped to the flow it starts.", "",
             "| measure | share | target | met |", "|---|---|---|---|",
             f"| substantive flow (guide, complaint/case, person, booking, status with a number) | "
             f"{100 * s['substantive']:.1f} % | ≥ 98 % | {'yes' if ok['substantive'] else 'no'} |",
             f"| out of scope or fallback | {100 * s['oos']:.1f} % | ≤ 1 % | {'yes' if ok['oos'] else 'no'} |",
             f"| status flow without a number | {100 * s['status_no_number']:.1f} % | 0 | "
             f"{'yes' if ok['status_no_number'] else 'no'} |",
             f"| other (greeting, thanks, yes/no, slot answer, rating) | {100 * s['other']:.1f} % | | |", "",
             f"Messages opening with “尊敬的领导”: {res['leaders']}, of which {res['leaders_greeted']} got the "
             "greeting menu.", "",
             "Final intents: " + ", ".join(f"{k} {v}" for k, v in res["intents"].items()) + ".", "",
             "By the data set's own request type (its label, not ours), the most frequent final intents:", ""]
    lines += [f"- {kind}: " + ", ".join(f"{k} {v}" for k, v in top.items()) for kind, top in res["by_type"].items()]
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="a trained model archive (default: train bot/config.yml's NLU)")
    ap.add_argument("--sample", type=int, help="a random sample of this size (seed 42) instead of the whole file")
    ap.add_argument("--no-report", action="store_true", help="print the figures only")
    args = ap.parse_args(argv)
    if not DATA.exists():
        print(f"{DATA} absent: nothing to evaluate")
        return
    os.chdir(REPO)
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if r.get("text")]
    scope = f"all {len(rows)} messages"
    if args.sample and args.sample < len(rows):
        rows = random.Random(42).sample(rows, args.sample)
        scope = f"a random sample of {len(rows)} (seed 42)"
    texts, kinds = [r["text"] for r in rows], [str(r.get("request_type") or "?") for r in rows]
    import logging

    from rasa.utils.log_utils import configure_structlog

    from bench.nlu_eval import load, train

    configure_structlog(logging.WARNING)  # no per-message debug lines (they would print the messages)

    tmp = Path(tempfile.mkdtemp(prefix="msgabench-"))
    try:
        if args.model:
            model, label = Path(args.model), f"`{args.model}`"
        else:
            model, _ = train("bot/config.yml", REPO / "nlu_data", REPO / "bot" / "domain", tmp, "msgabench")
            label = "NLU of `bot/config.yml`, trained for this run"
        agent, _ = load(model)
        res = evaluate(agent, texts, kinds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    cmd = ".venv-rasa/bin/python -m bench.msgabench_eval" + (f" --sample {args.sample}" if args.sample else "")
    res.update({"started": started, "machine": machine_line(), "scope": scope, "model": label, "command": cmd,
                "total_s": time.perf_counter() - t0})
    print(json.dumps({k: res[k] for k in ("n", "share", "leaders", "leaders_greeted", "intents")}, ensure_ascii=False))
    if not args.no_report:
        REPORT.write_text(render(res), encoding="utf-8")


if __name__ == "__main__":
    main()
