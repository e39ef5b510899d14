"""`make run`'s supervisor for real: app server, action server and Rasa, then a chat and a clean stop.

Runs ``scripts/run_local.py`` on free loopback ports with the light CI pipeline and private
databases, asks the web chat a guide question and books an appointment through it, checks
the conversation landed in the tracker store with the phone number masked, and stops
everything with SIGINT (Ctrl-C).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time

import pytest
import requests

from devtools.live import APP_PY, REPO, ci_model, free_port, load_sample_applications, rasa_available

pytestmark = [pytest.mark.rasa, pytest.mark.slow]


def chat(base: str, browser: requests.Session, text: str) -> str:
    """One message from one browser (its cookie names the conversation)."""
    res = browser.post(f"{base}/chat/api/message", json={"message": text}, timeout=60)
    assert res.status_code == 200, res.text
    return "\n".join(m.get("text", "") for m in res.json()["messages"])


def test_make_run_serves_the_web_chat_with_the_whole_core(seeded_template, tmp_path):
    reason = rasa_available()
    if reason:
        pytest.skip(reason)
    ci_model()  # trained once per session, under the lock
    shutil.copy(seeded_template, tmp_path / "kb.db")
    db_url = f"sqlite:///{tmp_path / 'kb.db'}"
    load_sample_applications(db_url)
    app_port, rasa_port, actions_port = free_port(), free_port(), free_port()
    env = {**os.environ, "APP_PORT": str(app_port), "RASA_PORT": str(rasa_port), "ACTIONS_PORT": str(actions_port),
           "RASA_CONFIG": "bot/config_ci.yml", "KNOWLEDGE_DB_URL": db_url,
           "CHANNELS_DB_URL": f"sqlite:///{tmp_path / 'channels.db'}",
           "TRACKER_SQLITE_PATH": str(tmp_path / "tracker.db"), "TRACKER_DB_URL": f"sqlite:///{tmp_path / 'tracker.db'}",
           "RASA_TELEMETRY_ENABLED": "false", "DEV_SMS_SINK": str(tmp_path / "dev_sms.jsonl")}
    for var in ("RASA_URL", "TWILIO_AUTH_TOKEN", "TELEGRAM_BOT_TOKEN", "MAIL_IMAP_HOST", "RELAY_TOKEN", "ACTION_SERVER_TOKEN",
                "RASA_API_TOKEN"):
        env.pop(var, None)
    env["RELAY_TOKEN"] = relay_token = "run-local-test-relay-token"  # kept by run_local.py when given
    log = open(tmp_path / "run_local.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([str(APP_PY), "scripts/run_local.py"], cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{app_port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, (tmp_path / "run_local.log").read_text(errors="replace")[-4000:]
            try:
                if requests.get(f"http://127.0.0.1:{rasa_port}/webhooks/webchat/ready", timeout=2,
                                headers={"X-Relay-Token": relay_token}).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, (tmp_path / "run_local.log").read_text(errors="replace")[-4000:]
            time.sleep(1)
        assert "护照" in chat(base, requests.Session(), "办护照要带什么材料")
        browser = requests.Session()
        for text in ["我想预约办护照", "天河", "下周三", "上午十点", "陈示例", "13900007788"]:
            last = chat(base, browser, text)
        assert "验证码" in last  # the web chat does not prove the phone: a code went to the development sink
        sent = [json.loads(line) for line in (tmp_path / "dev_sms.jsonl").read_text(encoding="utf-8").splitlines()]
        assert sent[-1]["to"] == "+8613900007788"
        code = re.search(r"\d{6}", sent[-1]["text"]).group(0)
        assert code not in last
        last = chat(base, browser, code)
        assert "请确认预约信息" in last
        assert re.search(r"YY\d{6}", chat(base, browser, "确认"))
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=40)
        finally:
            log.close()
    assert proc.returncode == 0
    text = (tmp_path / "run_local.log").read_text(errors="replace")
    assert "all services stopped" in text
    assert "outbox worker" in text and "stopped" in text  # make run starts (and stops) the outbox worker
    # the conversation is in the tracker store, the phone number masked
    con = sqlite3.connect(tmp_path / "tracker.db")
    rows = [r[0] for r in con.execute("SELECT data FROM events WHERE sender_id LIKE 'webchat-%'")]
    con.close()
    assert rows and not any("13900007788" in r for r in rows)
