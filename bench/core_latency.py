"""Cost of one message in the conversation core, over the length of a conversation, and throughput.

Starts the action server and one Rasa server on free loopback ports (the machinery of the
end-to-end tests, ``devtools/live.py``) on a scratch copy of the seeded database, with the
tracker store of the embedded profile (``endpoints.yml``: the masking SQL store on a
scratch SQLite file; ``--tracker-store memory`` for Rasa's in-memory store), and posts
every message to the web chat's relay (``/webhooks/webchat/webhook``), as the web chat
does. Each conversation repeats a realistic cycle of 17 messages (greeting, guide
question and follow-ups, a booking up to the confirmation, a status lookup with identity
check, thanks and goodbye) for as many turns as asked.

Three measurements:

* **curve** — a few long conversations, one message at a time (nothing else running):
  median and p95 round trip per 20-turn bucket, to show whether the cost grows with the
  length of the conversation;
* **throughput** — N concurrent conversations without pauses (each sends its next message
  the moment the answer arrives): messages per second, p50/p95 (queueing included);
* **think time** — N concurrent conversations pausing 1–5 s (uniform, seeded) before each
  message, as people read and type: the latency a citizen sees at that load.

Writes ``bench/REPORT_core.md`` (``--report`` to write elsewhere) and
``bench/out/core_latency.json``::

    .venv-app/bin/python -m bench.core_latency [--model models/config_ci-XXXX.tar.gz]
        [--turns 120] [--curve-conversations 3] [--concurrency 20] [--load-turns 60]
        [--tracker-store sql|memory] [--policies default|ted]

``--policies ted`` trains (once, cached in ``models/``) a variant of the light CI config
with TEDPolicy added, to compare the policies' cost.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
import yaml

from bench.common import BENCH_DIR, REPO, machine_line, percentile, scratch_seeded_repo

CYCLE = ["你好", "办护照要带什么材料", "那要多少钱", "在哪里办", "我想预约办护照", "天河", "后天", "上午十点",
         "陈示例", "13900001234", "不用了", "查下办件进度", "202611100012", "1234", "跳过", "谢谢", "再见"]
BUCKET = 20
THINK_S = (1.0, 5.0)
TED_POLICY = {"name": "TEDPolicy", "max_history": 5, "epochs": 40, "random_seed": 42}


def script(turns: int) -> list[str]:
    """The first ``turns`` messages of the cycle repeated."""
    return [CYCLE[i % len(CYCLE)] for i in range(turns)]


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


def family(pid: int) -> list[int]:
    """``pid`` and its descendants (the action server runs its worker in a child process)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    return out


def cpu_ms(pid: int) -> float:
    """CPU time used so far by ``pid`` and its descendants, all threads, in ms (``/proc/*/schedstat``).

    Unlike round-trip times this does not grow when other work shares the cores.
    """
    total = 0
    for p in family(pid):
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
    return total / 1e6


def load_average() -> str:
    """The 1-minute load average of the machine (other work running beside the benchmark)."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def run_conversations(rasa_url: str, conversations: int, turns: int, tag: str, think: bool = False,
                      pids: dict[str, int] | None = None) -> tuple[list[tuple[int, float]], int, float, dict]:
    """Run ``conversations`` scripted conversations at once.

    Args:
        rasa_url: the Rasa server.
        conversations: how many run at once (1 = one message at a time).
        turns: messages per conversation.
        tag: makes sender ids unique per run.
        think: pause 1–5 s (seeded) before each message, as a person would.
        pids: server processes whose CPU time to measure (``{"rasa": pid, "actions": pid}``).

    Returns:
        ``(turn index, round trip ms)`` for every message, the number of failed requests,
        the wall time in seconds, and CPU ms per server: per message ``[(turn, ms)]`` when
        one conversation runs, else the total.
    """
    pids = pids or {}
    per_message: dict[str, list[tuple[int, float]]] = {name: [] for name in pids}
    samples: list[tuple[int, float]] = []
    errors = 0
    lock = threading.Lock()
    barrier = threading.Barrier(conversations)
    messages = script(turns)

    def conversation(i: int) -> None:
        nonlocal errors
        sender = f"bench-{tag}-{i}"
        session = requests.Session()
        session.trust_env = False
        rng = random.Random(f"{tag}-{i}")
        barrier.wait()
        for turn, text in enumerate(messages):
            if think:
                time.sleep(rng.uniform(*THINK_S))
            before = {name: cpu_ms(pid) for name, pid in pids.items()} if conversations == 1 else {}
            t0 = time.perf_counter()
            try:
                res = session.post(f"{rasa_url}/webhooks/webchat/webhook",
                                   json={"sender": sender, "message": text, "metadata": {}}, timeout=120)
                ok = res.status_code == 200 and isinstance(res.json(), list) and bool(res.json())
            except requests.RequestException:
                ok = False
            dt_ms = (time.perf_counter() - t0) * 1000
            for name, ms in before.items():
                per_message[name].append((turn, cpu_ms(pids[name]) - ms))
            with lock:
                samples.append((turn, dt_ms))
                errors += 0 if ok else 1

    cpu0 = {name: cpu_ms(pid) for name, pid in pids.items()}
    t0 = time.perf_counter()
    threads = [threading.Thread(target=conversation, args=(i,)) for i in range(conversations)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    cpu = per_message if conversations == 1 else {name: cpu_ms(pid) - cpu0[name] for name, pid in pids.items()}
    return samples, errors, wall, cpu


def buckets(samples: list[tuple[int, float]], cpu: dict[str, list[tuple[int, float]]] | None = None) -> list[dict]:
    """Round-trip median and p95 per 20-turn bucket, with the servers' median CPU ms per message."""
    out = []
    last = max(turn for turn, _ in samples)
    for start in range(0, last + 1, BUCKET):
        values = [ms for turn, ms in samples if start <= turn < start + BUCKET]
        row = {"turns": f"{start + 1}–{start + BUCKET}", "n": len(values),
               "p50_ms": statistics.median(values), "p95_ms": percentile(values, 95)}
        for name, per_message in (cpu or {}).items():
            row[f"{name}_cpu_ms"] = statistics.median(ms for turn, ms in per_message if start <= turn < start + BUCKET)
        out.append(row)
    return out


def summary(samples: list[tuple[int, float]], errors: int, wall: float, cpu: dict[str, float]) -> dict:
    """Throughput, latency percentiles and CPU ms per message of a run."""
    values = [ms for _, ms in samples]
    return {"messages": len(values), "errors": errors, "msgs_per_s": len(values) / wall,
            "p50_ms": percentile(values, 50), "p95_ms": percentile(values, 95), "p99_ms": percentile(values, 99),
            "mean_ms": statistics.fmean(values), **{f"{k}_cpu_ms": v / len(values) for k, v in cpu.items()}}


def ted_model() -> Path:
    """Train (once; cached in ``models/``) the light CI config with TEDPolicy added."""
    config = yaml.safe_load((REPO / "bot" / "config_ci.yml").read_text(encoding="utf-8"))
    config["policies"] = [*config["policies"], TED_POLICY]
    digest = subprocess.run(["bash", "-c", "find bot nlu_data -type f -print0 | sort -z | xargs -0 sha256sum"],
                            cwd=REPO, capture_output=True, text=True, check=True).stdout
    name = "bench_ci_ted-" + hashlib.sha256((json.dumps(config) + digest).encode()).hexdigest()[:12]
    target = REPO / "models" / f"{name}.tar.gz"
    if target.exists():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "config_ci_ted.yml"
        cfg.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        print(f"training {name} …", flush=True)
        subprocess.run([str(REPO / ".venv-rasa" / "bin" / "rasa"), "train", "--config", str(cfg),
                        "--domain", "bot/domain", "--data", "bot/data", "nlu_data", "--out", "models",
                        "--fixed-model-name", name], cwd=REPO, check=True, capture_output=True,
                       env={**os.environ, "RASA_TELEMETRY_ENABLED": "false"})
    return target


def tracker_store_config(workdir: Path, kind: str) -> dict | None:
    """The ``tracker_store`` section of the run: the embedded profile's, on scratch files (None: in-memory)."""
    if kind != "sql":
        return None
    shipped = yaml.safe_load((REPO / "endpoints.yml").read_text(encoding="utf-8"))["tracker_store"]
    return {**shipped, "db": str(workdir / "tracker.db"), "pii_key_file": str(workdir / "tracker_pii.key")}


def main() -> None:
    """Start the stack, measure the curve, the throughput and the think-time latency; write the report."""
    from devtools.live import ci_model, load_sample_applications, start_live_core

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model archive (default: the light CI model, trained when missing)")
    ap.add_argument("--policies", choices=("default", "ted"), default="default",
                    help="ted: the CI config plus TEDPolicy (trained once into models/)")
    ap.add_argument("--tracker-store", choices=("sql", "memory"), default="sql")
    ap.add_argument("--turns", type=int, default=120, help="length of the curve conversations")
    ap.add_argument("--curve-conversations", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--load-turns", type=int, default=60, help="messages per conversation under load")
    ap.add_argument("--no-think", action="store_true", help="skip the think-time run")
    ap.add_argument("--no-load", action="store_true", help="only the curve")
    ap.add_argument("--report", type=Path, default=BENCH_DIR / "REPORT_core.md")
    ap.add_argument("--label", default="", help="a note for the report (e.g. 'before')")
    ap.add_argument("--json-out", type=Path, default=BENCH_DIR / "out" / "core_latency.json")
    ap.add_argument("--baseline", type=Path, help="an earlier run's JSON to show beside this one (before/after)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on `timeout`/kill too
    model = Path(args.model) if args.model else (ted_model() if args.policies == "ted" else ci_model())

    workdir = Path(tempfile.mkdtemp(prefix="bench-core-"))
    scratch_seeded_repo(str(workdir))
    db_url = f"sqlite:///{workdir / 'kb.db'}"
    load_sample_applications(db_url)
    t0 = time.perf_counter()
    core = start_live_core(workdir, db_url, model, log_level="WARNING",
                           tracker_store=tracker_store_config(workdir, args.tracker_store))
    startup_s = time.perf_counter() - t0
    started = dt.datetime.now(dt.timezone.utc)
    loads = [load_average()]
    pids = {name: p.proc.pid for name, p in core.processes.items()}
    try:
        run_conversations(core.rasa_url, 2, len(CYCLE), "warmup")
        curve: list[tuple[int, float]] = []
        curve_cpu: dict[str, list[tuple[int, float]]] = {name: [] for name in pids}
        curve_errors = 0
        for i in range(args.curve_conversations):
            samples, errs, _, cpu = run_conversations(core.rasa_url, 1, args.turns, f"curve{i}", pids=pids)
            curve += samples
            curve_errors += errs
            for name in pids:
                curve_cpu[name] += cpu[name]
        curve_buckets = buckets(curve, curve_cpu)
        print(json.dumps({"curve": curve_buckets, "errors": curve_errors}), flush=True)
        loads.append(load_average())
        load = None
        if not args.no_load:
            samples, errs, wall, cpu = run_conversations(core.rasa_url, args.concurrency, args.load_turns, "load",
                                                         pids=pids)
            load = {**summary(samples, errs, wall, cpu), "buckets": buckets(samples)}
            print(json.dumps(load), flush=True)
            loads.append(load_average())
        think = None
        if not args.no_think:
            samples, errs, wall, cpu = run_conversations(core.rasa_url, args.concurrency, len(CYCLE) * 2, "think",
                                                         think=True, pids=pids)
            think = summary(samples, errs, wall, cpu)
            print(json.dumps(think), flush=True)
            loads.append(load_average())
        rss = {name: rss_mb(pid) for name, pid in pids.items()}
    finally:
        core.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    command = ".venv-app/bin/python -m bench.core_latency " + " ".join(sys.argv[1:])
    out = {"model": model.name, "tracker_store": args.tracker_store, "policies": args.policies,
           "startup_s": startup_s, "curve": curve_buckets, "curve_errors": curve_errors, "load": load,
           "think": think, "rss_mb": rss, "machine": machine_line(), "load_average": loads,
           "started": started.isoformat(timespec="minutes"), "label": args.label, "command": command.strip(),
           "turns": args.turns, "curve_conversations": args.curve_conversations, "concurrency": args.concurrency,
           "load_turns": args.load_turns}
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(out, indent=2), encoding="utf-8")
    baseline = json.loads(args.baseline.read_text(encoding="utf-8")) if args.baseline else None
    text = report(out, baseline)
    args.report.write_text(text, encoding="utf-8")
    print(text)


def report(run: dict, before: dict | None = None) -> str:
    """The Markdown report of ``run``, beside ``before`` (an earlier run's JSON) when given."""
    def cell(b: dict | None, key: str) -> str:
        return f"{b[key]:.0f}" if b and key in b else "–"

    store = ("the embedded profile’s masking SQL store (SQLite)" if run["tracker_store"] == "sql"
             else "Rasa’s in-memory store")
    lines = ["# Conversation core: cost per message over a conversation, and throughput", "",
             f"Command: `{run['command']}` — started {run['started']} UTC. {run['machine']}. Machine load average "
             f"(1 min) before/during the phases: {', '.join(run['load_average'])}: the 2 cores are shared with "
             "other work, so round-trip times are inflated and noisy; **CPU ms per message** (read from "
             "`/proc/*/schedstat` of the Rasa process and of the action server) is what the message itself costs.",
             "",
             f"Model `{run['model']}` (policies: {run['policies']}); tracker store: {store}; one Rasa process and "
             f"one action server, started in {run['startup_s']:.0f} s. Every message goes to the web chat relay "
             "(`/webhooks/webchat/webhook`); conversations repeat a 17-message cycle (greeting, guide question and "
             "follow-ups, a booking up to the confirmation, a status lookup with identity check, thanks, goodbye)."]
    if before:
        lines += ["", f"**Before** (`{before['label'] or 'baseline'}`): `{before['command']}` on the code before "
                  f"this change, started {before['started']} UTC, load average {', '.join(before['load_average'])}."]
    lines += ["", f"## Cost over the conversation ({run['curve_conversations']} conversations of {run['turns']} "
              f"turns, one message at a time; {run['curve_errors']} errors)", ""]
    head = "| turns | p50 ms | p95 ms | Rasa CPU ms | actions CPU ms |"
    if before:
        head = ("| turns | before p50 ms | p50 ms | before p95 ms | p95 ms | before Rasa CPU ms | Rasa CPU ms | "
                "actions CPU ms |")
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    old = {b["turns"]: b for b in before["curve"]} if before else {}
    for b in run["curve"]:
        o = old.get(b["turns"])
        if before:
            lines.append(f"| {b['turns']} | {cell(o, 'p50_ms')} | {b['p50_ms']:.0f} | {cell(o, 'p95_ms')} | "
                         f"{b['p95_ms']:.0f} | {cell(o, 'rasa_cpu_ms')} | {cell(b, 'rasa_cpu_ms')} | "
                         f"{cell(b, 'actions_cpu_ms')} |")
        else:
            lines.append(f"| {b['turns']} | {b['p50_ms']:.0f} | {b['p95_ms']:.0f} | {cell(b, 'rasa_cpu_ms')} | "
                         f"{cell(b, 'actions_cpu_ms')} |")
    for key, title in (("load", f"{run['concurrency']} concurrent conversations of {run['load_turns']} turns, "
                                "no pause (throughput)"),
                       ("think", f"{run['concurrency']} concurrent conversations, 1–5 s think time before each "
                                 "message")):
        rows = [(label, r[key]) for label, r in (("before", before), ("after", run)) if r and r.get(key)]
        if not rows:
            continue
        lines += ["", f"## {title}", "",
                  "| code | messages | errors | msgs/s | p50 ms | p95 ms | p99 ms | Rasa CPU ms/msg | "
                  "actions CPU ms/msg |", "|---|---|---|---|---|---|---|---|---|"]
        for label, r in rows:
            lines.append(f"| {label} | {r['messages']} | {r['errors']} | {r['msgs_per_s']:.1f} | {r['p50_ms']:.0f} | "
                         f"{r['p95_ms']:.0f} | {r['p99_ms']:.0f} | {cell(r, 'rasa_cpu_ms')} | "
                         f"{cell(r, 'actions_cpu_ms')} |")
        if key == "load":
            for label, r in rows:
                lines.append("")
                lines.append(f"{label.capitalize()}, p50 per 20-turn bucket under this load: "
                             + ", ".join(f"{b['turns']} {b['p50_ms']:.0f} ms" for b in r["buckets"]) + ".")
    lines += ["", "Resident memory after the run: "
              + ", ".join(f"{k} {v:.0f} MiB" for k, v in run["rss_mb"].items()), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
