"""Structured logs: JSON lines with request ids, personal data masked, in the app and action servers."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import time
from pathlib import Path

import pytest
import requests

from common.jsonlog import JsonFormatter, configure, request_id_var
from devtools.live import APP_PY, REPO, free_port
from server.logging_setup import RequestIdMiddleware

PHONE, ID_NUMBER, EMAIL = "13900001234", "44010619900101123X", "zhang.san@example.com"


@pytest.fixture
def json_log():
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure("test", "INFO", stream=stream)
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(x) for x in stream.getvalue().splitlines() if x.strip()]


def test_a_log_line_is_json_with_the_request_id_and_no_personal_data(json_log) -> None:
    token = request_id_var.set("req-1")
    try:
        logging.getLogger("x").info("citizen %s wrote %s from %s", PHONE, ID_NUMBER, EMAIL, extra={"note": PHONE})
    finally:
        request_id_var.reset(token)
    (line,) = lines(json_log)
    assert line["request_id"] == "req-1" and line["level"] == "INFO" and line["process"] == "test"
    assert line["msg"] == "citizen 139****1234 wrote 440**************X from z***@example.com"
    assert line["note"] == "139****1234"


def test_exceptions_are_masked_too(json_log) -> None:
    try:
        raise ValueError(f"bad phone {PHONE}")
    except ValueError:
        logging.getLogger("x").exception("failed")
    (line,) = lines(json_log)
    assert PHONE not in json.dumps(line) and "139****1234" in line["exc"]


def test_a_broken_format_string_still_logs_a_line() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d items", ("many",), None)
    assert json.loads(JsonFormatter("t").format(record))["msg"].startswith("'%d items'")


def test_the_app_server_keeps_a_given_request_id_makes_one_otherwise_and_logs_with_it(json_log) -> None:
    from flask import Flask

    app = Flask(__name__)

    @app.get("/hello")
    def hello() -> str:
        logging.getLogger("server.test").info("hello from %s", PHONE)
        return "ok"

    app.wsgi_app = RequestIdMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    client = app.test_client()
    given = client.get("/hello", headers={"X-Request-ID": "abc-123"})
    fresh = client.get("/hello", headers={"X-Request-ID": "bad id with spaces"})
    assert given.headers["X-Request-ID"] == "abc-123"
    assert len(fresh.headers["X-Request-ID"]) == 32 and " " not in fresh.headers["X-Request-ID"]
    ids = [x["request_id"] for x in lines(json_log) if x["logger"] == "server.test"]
    assert ids == ["abc-123", fresh.headers["X-Request-ID"]]
    assert request_id_var.get() is None  # nothing leaks into the next request


@pytest.mark.slow
def test_the_action_server_logs_json_with_the_request_id_and_masks(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "actions.log"
    env = {**os.environ, "LOG_FORMAT": "json", "SANIC_HOST": "127.0.0.1", "PYTHONPATH": str(REPO),
           "KNOWLEDGE_DB_URL": f"sqlite:///{tmp_path / 'kb.db'}"}
    with open(log, "wb") as fh:
        proc = subprocess.Popen([str(APP_PY), "-m", "actions.serve", "--actions", "actions", "--port", str(port)],
                                cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
            time.sleep(0.3)
        res = requests.post(f"http://127.0.0.1:{port}/webhook", headers={"X-Request-ID": "rid-42"},
                            json={"next_action": f"action_{PHONE}", "tracker": {"sender_id": "t"}}, timeout=10)
        assert res.status_code == 404 and res.headers["X-Request-ID"] == "rid-42"
        time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(20)
    records = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    assert records and all(r["process"] == "actions" for r in records)
    mine = [r for r in records if r["request_id"] == "rid-42"]
    assert mine and all(PHONE not in r["msg"] for r in mine) and "139****1234" in mine[0]["msg"]
