"""Load benchmark of the production profile → ``bench/REPORT_prod.md``.

    .venv-app/bin/python -m bench.load.run [--seconds 40] [--levels 20,50,100]

Starts the production stack (devtools/prod_stack.py: PostgreSQL, Redis, nginx, Rasa and
action servers, on free ports in a temp dir, CI model), runs locust headless against
nginx's core listener at each concurrency, samples the resident memory of every process
during the run, then does the same with one Rasa server and one action server (still
behind nginx, same databases) for the single-process comparison. Skips, saying why,
when PostgreSQL, Redis or nginx are not installed.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from devtools.prod_stack import Ports, ProdStack, missing_binaries

REPO = Path(__file__).resolve().parents[2]

REPORT = REPO / "bench" / "REPORT_prod.md"
LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def run_locust(host: str, users: int, seconds: int, out: Path, relay_token: str = "") -> dict[str, float]:
    """One headless locust run; the aggregated figures."""
    prefix = out / f"u{users}"
    cmd = [str(REPO / ".venv-app" / "bin" / "locust"), "-f", str(LOCUSTFILE), "--headless", "-u", str(users),
           "-r", str(max(users // 2, 1)), "-t", f"{seconds}s", "--host", host, "--csv", str(prefix),
           "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "30"]
    subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=seconds + 180,
                   env={**os.environ, "RELAY_TOKEN": relay_token})
    with open(f"{prefix}_stats.csv", newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")
    return {"requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
            "rps": float(row["Requests/s"]), "p50": float(row["50%"]), "p95": float(row["95%"]),
            "p99": float(row["99%"]), "max": float(row["Max Response Time"])}


def _sample_rss(stack: ProdStack, peak: dict[str, float], done: threading.Event) -> None:
    while not done.is_set():
        for name, mb in stack.rss_mb().items():
            peak[name] = max(peak.get(name, 0.0), mb)
        done.wait(2)


def measure(stack: ProdStack, levels: list[int], seconds: int, out: Path) -> list[dict]:
    """Every level against ``stack``, with peak RSS per process during each run."""
    rows = []
    for users in levels:
        peak: dict[str, float] = {}
        done = threading.Event()

        sampler = threading.Thread(target=_sample_rss, args=(stack, peak, done), daemon=True)
        sampler.start()
        figures = run_locust(stack.core_url, users, seconds, out, stack.relay_token)
        done.set()
        sampler.join()
        rows.append({"users": users, **figures, "rss": dict(sorted(peak.items()))})
        print(f"  {users:>3} conversations: {figures}", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| concurrent conversations | messages | msg/s | p50 ms | p95 ms | p99 ms | max ms | errors |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['users']} | {r['requests']} | {r['rps']:.1f} | {r['p50']:.0f} | {r['p95']:.0f} | "
                     f"{r['p99']:.0f} | {r['max']:.0f} | {r['failures']} |")
    return "\n".join(lines)


def rss_table(rows: list[dict]) -> str:
    names = sorted({n for r in rows for n in r["rss"]})
    lines = ["| process | " + " | ".join(f"{r['users']} conv." for r in rows) + " |",
             "|---|" + "---:|" * len(rows)]
    for n in names:
        lines.append(f"| {n} | " + " | ".join(f"{r['rss'].get(n, 0):.0f}" for r in rows) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run both topologies and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=40)
    parser.add_argument("--levels", default="20,50,100")
    args = parser.parse_args(argv)
    reason = missing_binaries()
    if reason:
        print(f"bench.load skipped: {reason}")
        return 0
    from devtools.live import ci_model

    levels = [int(x) for x in args.levels.split(",")]
    model = ci_model()
    results = {}
    for label, n in (("2 Rasa + 2 action servers", 2), ("1 Rasa + 1 action server", 1)):
        with tempfile.TemporaryDirectory(prefix="bench-prod-") as tmp:
            root = Path(tmp)
            stack = ProdStack(root=root, model=model, ports=Ports.free(rasa=n, actions=n))
            print(f"{label}: starting", flush=True)
            try:
                stack.start()
                results[label] = measure(stack, levels, args.seconds, root)
            finally:
                stack.stop()
    write_report(results, args.seconds, model)
    return 0


def write_report(results: dict[str, list[dict]], seconds: int, model: Path) -> None:
    """``bench/REPORT_prod.md``."""
    cpu = os.cpu_count()
    parts = [
        "# Production profile under load",
        "",
        f"Measured {dt.date.today().isoformat()} by `python -m bench.load.run` on this machine ({cpu} cores, shared",
        "with other work; locust itself runs on the same cores). Model: the CI model",
        f"(`{model.name}`, bot/config_ci.yml). Each simulated user is one conversation sending its next",
        "message as soon as the reply arrives (no think time), through nginx's core listener to the",
        "Rasa servers, which share the masked PostgreSQL tracker store and the Redis lock store and call",
        f"the action servers through nginx. {seconds} s per level. Latency is per message (the whole",
        "turn: NLU, policies, custom actions, tracker load and save).",
        "",
    ]
    for label, rows in results.items():
        parts += [f"## {label}", "", table(rows), "", "Peak resident memory (MiB) per process during each run:", "",
                  rss_table(rows), ""]
    parts += [
        "## Reading the figures",
        "",
        "- Errors are HTTP failures or replies that are not a list of bot messages; the target is 0.",
        "- On 2 cores the second Rasa server adds failover, not throughput: both servers compete for",
        "  the same CPUs (and with locust). On separate machines throughput scales with the servers",
        "  until PostgreSQL becomes the limit.",
        "- Latency grows with concurrency because messages queue for the CPUs; the lock store",
        "  serialises only messages of the *same* conversation.",
        "- Single-process figures of the REST channel without nginx/PostgreSQL: bench/REPORT_core.md.",
        "",
    ]
    REPORT.write_text("\n".join(parts), encoding="utf-8")
    print(f"wrote {REPORT}")


if __name__ == "__main__":
    sys.exit(main())
