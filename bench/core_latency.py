"""Round-trip latency of the conversation core through Rasa's REST channel, and process RSS.

Starts the action server and a Rasa server on free loopback ports (the same machinery as
the end-to-end tests, ``devtools/live.py``) on a scratch copy of the seeded database, then
runs N concurrent conversations, each a realistic mix: greeting, guide question,
follow-ups in context, a booking up to the confirmation, a status lookup. Every
message's round trip is timed. Two load shapes per level: **no pause** (each conversation
sends its next message the moment the answer arrives: a stress test whose latency is
queueing once the core is saturated) and **think time** (a pause drawn uniformly from
1–5 s before each message, as a person reading and typing; seeded). Writes
``bench/REPORT_core.md`` and ``bench/out/core_latency.json``.

    .venv-app/bin/python -m bench.core_latency [--model models/config-XXXX.tar.gz] [--levels 1,10,20]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench.common import BENCH_DIR, machine_line, percentile, scratch_seeded_repo

SCRIPT = ["你好", "办护照要带什么材料", "那要多少钱", "在哪里办", "我想预约办护照", "天河", "后天", "上午十点",
          "陈示例", "13900001234", "不用了", "查下办件进度", "202611100012", "1234", "跳过", "谢谢", "再见"]


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` and its children, in MiB (from /proc)."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


THINK_S = (1.0, 5.0)


def run_level(rasa_url: str, conversations: int, tag: str, think: bool = False) -> dict:
    """Run ``conversations`` concurrent scripted conversations; return latency figures.

    Args:
        rasa_url: the Rasa server.
        conversations: how many run at once.
        tag: makes sender ids unique per run.
        think: pause 1–5 s (seeded) before each message, as a person would.
    """
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    barrier = threading.Barrier(conversations)

    def conversation(i: int) -> None:
        nonlocal errors
        sender = f"bench-{tag}-{i}"
        session = requests.Session()
        session.trust_env = False
        rng = random.Random(f"{tag}-{i}")
        barrier.wait()
        for text in SCRIPT:
            if think:
                time.sleep(rng.uniform(*THINK_S))
            t0 = time.perf_counter()
            try:
                res = session.post(f"{rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text},
                                   timeout=60)
                ok = res.status_code == 200 and isinstance(res.json(), list)
            except requests.RequestException:
                ok = False
            dt_ms = (time.perf_counter() - t0) * 1000
            with lock:
                latencies.append(dt_ms)
                errors += 0 if ok else 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=conversation, args=(i,)) for i in range(conversations)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"conversations": conversations, "think": think, "messages": len(latencies), "errors": errors,
            "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95),
            "p99_ms": percentile(latencies, 99), "mean_ms": statistics.fmean(latencies),
            "msgs_per_s": len(latencies) / wall}


def main() -> None:
    """Start the stack, measure each concurrency level, write the report."""
    from devtools.live import APP_PY, ci_model, load_sample_applications, start_live_core

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", help="model archive (default: newest models/config-*.tar.gz, else the CI model)")
    ap.add_argument("--levels", default="1,10,20")
    args = ap.parse_args()
    repo = Path(__file__).resolve().parent.parent
    if args.model:
        model = Path(args.model)
    else:
        full = sorted((repo / "models").glob("config-*.tar.gz"), key=lambda p: p.stat().st_mtime)
        model = full[-1] if full else ci_model()

    workdir = Path(tempfile.mkdtemp(prefix="bench-core-"))
    scratch_seeded_repo(str(workdir))
    db_url = f"sqlite:///{workdir / 'kb.db'}"
    load_sample_applications(db_url)
    t0 = time.perf_counter()
    core = start_live_core(workdir, db_url, model, log_level="WARNING")
    startup_s = time.perf_counter() - t0
    results = []
    try:
        run_level(core.rasa_url, 2, "warmup")
        for think in (False, True):
            for level in [int(x) for x in args.levels.split(",")]:
                results.append(run_level(core.rasa_url, level, f"c{level}{'t' if think else 'n'}", think))
                print(json.dumps(results[-1]), flush=True)
        rss = {name: rss_mb(p.proc.pid) for name, p in core.processes.items()}
    finally:
        core.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    out = {"model": model.name, "startup_s": startup_s, "levels": results, "rss_mb": rss, "machine": machine_line(),
           "app_python": str(APP_PY)}
    (BENCH_DIR / "out").mkdir(exist_ok=True)
    (BENCH_DIR / "out" / "core_latency.json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    lines = ["# Conversation core: REST round-trip latency and memory (`python -m bench.core_latency`)", "",
             f"Measured {machine_line()}. Model `{model.name}`; action server + Rasa server started in "
             f"{startup_s:.0f} s (model load included). Each conversation sends {len(SCRIPT)} messages in turn "
             "(greeting, guide question and follow-ups, a booking up to the confirmation, a status lookup "
             "with identity check); all conversations start together. **No pause**: the next message leaves as soon "
             "as the answer arrives (a stress test: past the core's throughput, latency is queueing). **Think time**: "
             "a pause of 1–5 s (uniform, seeded) before each message, as a person reads and types. "
             "Target: p95 ≤ 300 ms at 20 concurrent conversations.", "",
             "| load | concurrent conversations | messages | errors | msgs/s | p50 ms | p95 ms | p99 ms |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {'think time' if r['think'] else 'no pause'} | {r['conversations']} | {r['messages']} | "
                     f"{r['errors']} | {r['msgs_per_s']:.1f} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | "
                     f"{r['p99_ms']:.0f} |")
    lines += ["", "Resident memory after the run: " + ", ".join(f"{k} {v:.0f} MiB" for k, v in rss.items()), ""]
    (BENCH_DIR / "REPORT_core.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
