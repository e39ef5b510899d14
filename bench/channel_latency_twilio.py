"""Webhook latency of the SMS and hotline IVR adapters against a running stack.

``python -m bench.channel_latency_twilio [--rasa-url URL] [--write]``

Starts the app server (waitress, real HTTP on a free loopback port) with the Twilio
channels configured for a test token, and drives signed Twilio webhooks at it: each SMS
conversation is a FAQ question, the start of a booking, its centre and date, and a
``帮助`` keyword; each call is the greeting, menu key 3, an application number typed with
``#``, its confirmation, the last four digits and their confirmation (six webhooks).
Conversations run one at a time (1) and 20 at once (20). Without ``--rasa-url`` it starts
its own Rasa core and action server with the CI model on a scratch seeded database (as the
``live_core`` test fixture does). ``--write`` replaces this benchmark's section of
``bench/REPORT_channels.md``.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from bench.common import BENCH_DIR, machine_line, percentile

TOKEN = "bench-token-0123456789abcdef"
REPORT = BENCH_DIR / "REPORT_channels.md"
SECTION = "## SMS and hotline IVR webhooks (Twilio)"
SMS_SCRIPT = ["办护照要带什么材料", "我想预约办护照", "天河", "下周三", "帮助"]
APOLOGY_MARKERS = ("系统繁忙", "系统暂时繁忙")


class Recorder:
    """Thread-safe latency samples per channel, plus the number of apologies (core too slow)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.samples: dict[str, list[float]] = {"sms": [], "voice": []}
        self.apologies: dict[str, int] = {"sms": 0, "voice": 0}
        self.errors: dict[str, int] = {"sms": 0, "voice": 0}

    def add(self, channel: str, seconds: float, res: requests.Response) -> None:
        with self.lock:
            self.samples[channel].append(seconds)
            if res.status_code != 200:
                self.errors[channel] += 1
            elif any(m in res.text for m in APOLOGY_MARKERS):
                self.apologies[channel] += 1


def signed_post(session: requests.Session, base: str, path: str, form: dict[str, str]) -> requests.Response:
    from twilio.request_validator import RequestValidator

    sig = RequestValidator(TOKEN).compute_signature(base + path, form)
    return session.post(base + path, data=form, headers={"X-Twilio-Signature": sig}, timeout=60)


def sms_conversation(base: str, idx: int, rec: Recorder) -> None:
    phone = f"+86138{idx:08d}"
    with requests.Session() as s:
        s.trust_env = False
        for n, body in enumerate(SMS_SCRIPT):
            form = {"MessageSid": f"SM{idx:016d}{n:016d}", "From": phone, "To": "+8610690000000", "Body": body,
                    "NumMedia": "0"}
            t0 = time.perf_counter()
            res = signed_post(s, base, "/channels/sms/webhook", form)
            rec.add("sms", time.perf_counter() - t0, res)


def voice_call(base: str, idx: int, rec: Recorder) -> None:
    from lxml import etree

    call = {"CallSid": f"CA{idx:032d}", "From": f"+86139{idx:08d}", "To": "+862012345000"}
    path = "/channels/voice/webhook"
    with requests.Session() as s:
        s.trust_env = False
        for digits in (None, "3", "202611100012", "1", "1234", "1"):
            form = dict(call)
            if digits is not None:
                form["Digits"] = digits
            t0 = time.perf_counter()
            res = signed_post(s, base, path, form)
            rec.add("voice", time.perf_counter() - t0, res)
            actions = etree.fromstring(res.content).xpath("//Gather/@action") if res.status_code == 200 else []
            if not actions:
                return
            path = actions[0][len(base):]


def run_level(base: str, concurrency: int, conversations: int, offset: int) -> Recorder:
    rec = Recorder()
    jobs: list[Callable[[], None]] = []
    for i in range(conversations):
        jobs.append(lambda i=i: sms_conversation(base, offset + i, rec))
        jobs.append(lambda i=i: voice_call(base, offset + i, rec))
    with ThreadPoolExecutor(max_workers=concurrency * 2) as pool:
        for f in [pool.submit(j) for j in jobs]:
            f.result()
    return rec


def start_core(workdir: Path) -> tuple[str, Any]:
    """Start Rasa + actions with the CI model on a scratch seeded database (like the live_core fixture)."""
    from bench.common import scratch_seeded_repo
    from devtools.live import ci_model, load_sample_applications, start_live_core

    scratch_seeded_repo(str(workdir))
    db_url = f"sqlite:///{workdir / 'kb.db'}"
    load_sample_applications(db_url)
    core = start_live_core(workdir, db_url, ci_model(), log_level="WARNING")
    return core.rasa_url, core


def start_app(rasa_url: str, workdir: Path) -> tuple[str, Any]:
    from waitress import create_server

    from channels.state import ChannelState
    from devtools.supervisor import free_port
    from server.app import create_app

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    os.environ.update({"RASA_URL": rasa_url, "TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_BASE_URL": base,
                       "HOTLINE_AGENT_NUMBER": "+862012345678"})

    class NoSms:
        def send(self, to: str, text: str) -> str:
            return "SM0"

    app = create_app({"CHANNEL_STATE": ChannelState(f"sqlite:///{workdir / 'channels.db'}"), "SMS_SENDER": NoSms()})
    server = create_server(app, host="127.0.0.1", port=port, threads=int(os.environ.get("APP_THREADS", "8")))
    threading.Thread(target=server.run, daemon=True).start()
    return base, server


def summarise(level: int, rec: Recorder, wall: float) -> list[str]:
    rows = []
    for channel in ("sms", "voice"):
        v = [x * 1000 for x in rec.samples[channel]]
        rows.append(f"| {channel} | {level} | {len(v)} | {percentile(v, 50):.0f} | {percentile(v, 95):.0f} | "
                    f"{max(v):.0f} | {statistics.mean(v):.0f} | {rec.apologies[channel]} | {rec.errors[channel]} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rasa-url", help="use a running core instead of starting one")
    parser.add_argument("--sequential", type=int, default=5, help="conversations per channel at concurrency 1")
    parser.add_argument("--write", action="store_true", help=f"write the section into {REPORT.name}")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # queueing is what level 20 measures
    workdir = Path(tempfile.mkdtemp(prefix="bench-twilio-"))
    core = None
    try:
        rasa_url = args.rasa_url
        if not rasa_url:
            rasa_url, core = start_core(workdir)
        base, server = start_app(rasa_url, workdir)
        run_level(base, 1, 1, offset=900)  # warm-up: model and caches
        rows, offset = [], 0
        for level, conversations in ((1, args.sequential), (20, 20)):
            t0 = time.perf_counter()
            rec = run_level(base, level, conversations, offset)
            rows += summarise(level, rec, time.perf_counter() - t0)
            offset += 100
        server.close()
    finally:
        if core is not None:
            core.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    lines = [SECTION, "",
             f"Measured {machine_line()} by `python -m bench.channel_latency_twilio --write` (CI model "
             "`bot/config_ci.yml`, SQLite, app server = waitress with "
             f"{os.environ.get('APP_THREADS', '8')} threads, everything on this machine).", "",
             "Latency of one signed Twilio webhook, from request to TwiML, in ms. Per SMS conversation: a FAQ "
             "question, a booking start, its centre and date, and `帮助` (answered by the channel alone). Per "
             "call: greeting, menu key 3, application number + `#`, confirmation, last four digits, confirmation. "
             "At level 1 one SMS conversation and one call run side by side (5 of each, one after the other); at "
             "level 20, 20 SMS conversations and 20 calls run at the same time, i.e. 40 clients against 8 server "
             "threads, so most of the p95 is queueing in waitress and in the single Rasa process. *apologies* = "
             "replies "
             "where the core missed the channel's timeout (10 s SMS, 8 s voice).", "",
             "| channel | concurrent conversations | webhooks | p50 | p95 | max | mean | apologies | non-200 |",
             "|---|---|---|---|---|---|---|---|---|", *rows, ""]
    print("\n".join(lines))
    if args.write:
        old = REPORT.read_text(encoding="utf-8") if REPORT.exists() else "# Channel benchmarks\n\n"
        if SECTION in old:
            head, _, tail = old.partition(SECTION)
            nxt = tail.find("\n## ")
            old = head + (tail[nxt + 1:] if nxt >= 0 else "")
        REPORT.write_text(old.rstrip() + "\n\n" + "\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
