"""Clone to first answer: how long a new user waits from `make run` in a fresh clone to the bot's first reply.

Clones the repository (its committed ``HEAD``: no venvs, no models, no databases) into a
temporary directory, runs ``make run`` there on free loopback ports with no channel
credentials, and asks the web chat a guide question every two seconds until the answer
is a real guide (it names the service), then stops everything with Ctrl-C (SIGINT).
Packages come from the machine's package cache and local wheel directories (a *warm*
cache: no download is timed). Every line ``make run`` prints is kept with its time, and
the report shows the phases: both venvs, the database, training, the core's start, the
first answer.

Writes ``bench/REPORT_first_answer.md``::

    .venv-app/bin/python -m bench.first_answer [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench.common import BENCH_DIR, REPO, machine_line
from devtools.supervisor import free_port

QUESTION = "办护照要带什么材料"
EXPECT = "护照"
TIMEOUT_S = 30 * 60
# (phase, the first line of `make run` that marks its end)
PHASES = [
    ("Python 3.11 venv for the app built", re.compile(r"setup: \.venv-app: installed|\.venv-app is up to date")),
    ("Python 3.10 venv for Rasa built", re.compile(r"setup: \.venv-rasa: installed|\.venv-rasa is up to date")),
    ("database migrated and seeded", re.compile(r"^train: ")),
    ("model trained", re.compile(r"train: done in|train: models/.* is up to date")),
    ("services started (app server up)", re.compile(r"app server: http")),
    ("Rasa server up (model loaded)", re.compile(r"Rasa server is up and running")),
]
CREDENTIALS = ("RASA_URL", "TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID", "TELEGRAM_BOT_TOKEN", "MAIL_IMAP_HOST",
               "WECHAT_TOKEN", "WECHAT_APP_ID", "RELAY_TOKEN", "ACTION_SERVER_TOKEN", "RASA_API_TOKEN", "DATABASE_URL",
               "KNOWLEDGE_DB_URL", "CHANNELS_DB_URL", "TRACKER_DB_URL", "TRACKER_SQLITE_PATH", "RASA_CONFIG")


class Timeline:
    """The lines a process prints, each with the seconds since ``t0``."""

    def __init__(self, t0: float, log_path: Path) -> None:
        self.t0, self.lines, self.log_path = t0, [], log_path
        self._lock = threading.Lock()

    def follow(self, stream: object) -> None:
        """Read ``stream`` to its end (run in a thread)."""
        with self.log_path.open("w", encoding="utf-8") as log:
            for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
                line = raw.decode("utf-8", errors="replace").rstrip()
                t = time.monotonic() - self.t0
                log.write(f"{t:8.1f}s  {line}\n")
                log.flush()
                with self._lock:
                    self.lines.append((t, line))

    def first(self, pattern: re.Pattern[str], after: float = 0.0) -> float | None:
        """Seconds at the first line matching ``pattern`` (at or after ``after``)."""
        with self._lock:
            return next((t for t, line in self.lines if t >= after and pattern.search(line)), None)


def ask(base: str) -> str | None:
    """The web chat's answer to the question, or None when it gave none yet."""
    try:
        res = requests.post(f"{base}/chat/api/message", json={"message": QUESTION}, timeout=30)
    except requests.RequestException:
        return None
    if res.status_code != 200:
        return None
    try:
        return "\n".join(m.get("text", "") for m in res.json().get("messages", []))
    except (ValueError, AttributeError):
        return None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep", action="store_true", help="keep the clone (default: deleted)")
    ap.add_argument("--report", type=Path, default=BENCH_DIR / "REPORT_first_answer.md")
    args = ap.parse_args(argv)
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="minutes")
    load_before = os.getloadavg()[0]
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="first-answer-"))
    clone = work / "citizen-bot"
    app_port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIALS and not k.startswith("VIRTUAL_ENV")}
    env.update({"APP_PORT": str(app_port), "RASA_PORT": str(free_port()), "ACTIONS_PORT": str(free_port()),
                "RASA_TELEMETRY_ENABLED": "false"})
    t0 = time.monotonic()
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    timeline = Timeline(t0, work / "make_run.log")
    proc = subprocess.Popen(["make", "run"], cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    reader = threading.Thread(target=timeline.follow, args=(proc.stdout,), daemon=True)
    reader.start()
    base, answer, answered_at, error = f"http://127.0.0.1:{app_port}", None, None, None
    try:
        while time.monotonic() - t0 < TIMEOUT_S:
            if proc.poll() is not None:
                error = f"make run exited with code {proc.returncode}"
                break
            text = ask(base)
            if text and EXPECT in text:
                answer, answered_at = text, time.monotonic() - t0
                break
            time.sleep(2)
        else:
            error = f"no answer within {TIMEOUT_S // 60} minutes"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        reader.join(timeout=10)
    load_after = os.getloadavg()[0]
    phases = []
    for name, pattern in PHASES:
        phases.append((name, timeline.first(pattern)))
    log_tail = "\n".join(f"{t:7.1f} s  {line}" for t, line in timeline.lines
                         if line.startswith(("setup:", "train:")) or "Rasa server is up" in line
                         or "app server:" in line or "skipped" in line)
    lines = ["# Clone to first answer (`bench/first_answer.py`)", "",
             f"Command: `.venv-app/bin/python -m bench.first_answer` at commit `{head}`, started {started} UTC; "
             f"{machine_line()}; machine load average (1 min) {load_before:.1f} before, {load_after:.1f} after.",
             "", "A fresh `git clone` of the repository (no venvs, no model, no databases), then `make run` with no "
             "channel credentials; packages from the machine's warm package cache. The clock starts before the "
             f"clone; the first answer is the web chat's reply to “{QUESTION}” that names the service.", ""]
    if answered_at is not None:
        lines += [f"**First answer after {answered_at / 60:.1f} minutes ({answered_at:.0f} s).** Target: ≤ 5 minutes.",
                  ""]
    else:
        lines += [f"**No answer: {error}.**", ""]
    lines += ["| phase | done at |", "|---|---|"]
    lines += [f"| {name} | {'—' if t is None else f'{t:.0f} s'} |" for name, t in phases]
    if answered_at is not None:
        lines.append(f"| first answer in the web chat | {answered_at:.0f} s |")
    lines += ["", "The two venvs are built side by side (`scripts/setup_venvs.sh`), so their rows overlap.", "",
              "<details><summary>What <code>make run</code> printed (setup, training and service lines)</summary>",
              "", "```", log_tail, "```", "</details>", ""]
    if answer:
        lines += ["First answer (start):", "", "> " + answer.replace("\n", " ")[:200], ""]
    args.report.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    if args.keep:
        print(f"clone kept in {clone}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
