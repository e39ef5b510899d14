"""The real outbox worker process SIGKILLed between claim and send, and between send and record.

Counted at the Twilio stand-in: after a restart every notice was accepted exactly once.
"""
# ruff: noqa: F811 - pytest fixtures imported from tests.channels.mailkit are used as arguments

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from casework.outbox import NoticeStatus, Outbox, OutboxPolicy
from common.sealing import Sealer, make_sealer
from devtools.dovecot import DovecotServer
from devtools.fake_twilio_rest import FakeTwilioRest
from devtools.fake_twilio_rest import serve as serve_twilio
from devtools.outbox_kit import start_worker, worker_env, write_config
from tests.channels.mailkit import SmtpServer, dovecot, mail_env, mailbox_state, smtp_server  # noqa: F401

pytestmark = pytest.mark.slow
LEASE_S = 3.0


@pytest.fixture
def twilio() -> Iterator[FakeTwilioRest]:
    with serve_twilio() as api:
        yield api


@pytest.fixture
def setup(db_url: str, tmp_path: Path, twilio: FakeTwilioRest) -> Iterator[tuple[Outbox, dict[str, str]]]:
    from knowledge.db import make_engine, session_factory

    key = Fernet.generate_key().decode()
    engine = make_engine(db_url)
    outbox = Outbox(session_factory(engine), sealer=Sealer(make_sealer(key)), policy=OutboxPolicy())
    config = write_config(tmp_path / "outbox.yml", lease_s=LEASE_S, send_timeout_s=1.0)
    env = worker_env(db_url=db_url, channels_url=f"sqlite:///{tmp_path / 'channels.db'}", pii_key=key,
                     config=config, twilio=twilio)
    yield outbox, env
    engine.dispose()


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def wait_all_sent(outbox: Outbox, n: int, timeout: float = 60.0, log_path: Path | None = None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and outbox.counts().get("sent", 0) < n:
        time.sleep(0.1)
    assert outbox.counts() == {"sent": n}, log_path.read_text() if log_path else ""



def queue(outbox: Outbox, n: int) -> list[str]:
    bodies = [f"您的诉求TS26120300{i:02d}已有答复，回复编号查看并评价。" for i in range(n)]
    for i, body in enumerate(bodies):
        outbox.enqueue(key=f"kill:{i}", kind="test", channel="sms", recipient=f"+86138001380{i:02d}", body=body)
    return bodies


@pytest.mark.parametrize("where", ["between_claim_and_send", "between_send_and_record"])
def test_a_killed_worker_loses_nothing_and_sends_nothing_twice(
        setup: tuple[Outbox, dict[str, str]], twilio: FakeTwilioRest, tmp_path: Path, where: str) -> None:
    outbox, env = setup
    bodies = queue(outbox, 3)
    if where == "between_claim_and_send":
        twilio.stall_before_accept = 1  # the first send never reaches Twilio
    else:
        twilio.stall_after_accept = 1  # Twilio accepts it; the worker never hears the sid
    log_path = tmp_path / "worker.log"
    first = start_worker(env, log_path)
    try:
        assert twilio.stalled.wait(60), log_path.read_text()
        kill(first)
    finally:
        if first.poll() is None:
            first.kill()
    twilio.release.set()
    accepted_before = [m["body"] for m in twilio.messages]
    assert accepted_before == ([] if where == "between_claim_and_send" else [bodies[0]])
    assert outbox.counts() == {"sending": 3}  # claimed by the dead worker, nothing recorded

    second = start_worker(env, log_path)
    try:
        wait_all_sent(outbox, 3, timeout=LEASE_S + 30)
        time.sleep(1.0)  # a few more rounds: still nothing twice
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=15)
    assert second.returncode == 0, log_path.read_text()
    assert Counter(m["body"] for m in twilio.messages) == Counter(bodies)  # each exactly once
    for i, body in enumerate(bodies):
        row = outbox.get(f"kill:{i}")
        assert row is not None and row.status == NoticeStatus.sent
        assert row.provider_ref == next(m["sid"] for m in twilio.messages if m["body"] == body)
    text = log_path.read_text()
    if where == "between_send_and_record":
        assert "found an earlier attempt" in text  # reconciled at Twilio, not sent again
    assert "13800138" not in text and "您的诉求" not in text  # no numbers or bodies in the logs


def test_the_worker_refuses_a_bad_setting_with_one_clear_line(setup: tuple[Outbox, dict[str, str]]) -> None:
    _, env = setup
    res = subprocess.run([sys.executable, "-m", "server.outbox_worker"], env={**env, "OUTBOX_POLL_S": "never"}, cwd=Path(__file__).resolve().parents[2],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "OUTBOX_POLL_S" in res.stderr


def test_a_mail_notice_killed_mid_send_is_sent_once_in_its_thread(
        setup: tuple[Outbox, dict[str, str]], tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpServer) -> None:
    """SMTP holds the DATA of the first attempt; the worker is killed; the restart sends it exactly once."""
    outbox, env = setup
    env = {**env, **mail_env(dovecot, smtp_server, "http://127.0.0.1:9", env["CHANNELS_DB_URL"])}
    outbox.enqueue(key="case_replied:TS9:1", kind="case_replied", channel="mail", recipient="zhao@example.cn",
                   body="您的来信已答复。", subject="关于您的来信的答复", thread="<letter-9@example.cn>")
    recorder = smtp_server.recorder
    recorder.stall_next = True
    log_path = tmp_path / "worker.log"
    first = start_worker(env, log_path)
    try:
        assert recorder.stalled.wait(60), log_path.read_text()
        kill(first)
    finally:
        if first.poll() is None:
            first.kill()
    recorder.release.set()  # the held attempt is refused (451): it never left
    second = start_worker(env, log_path)
    try:
        wait_all_sent(outbox, 1, timeout=LEASE_S + 30, log_path=log_path)
        time.sleep(1.0)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=15)
    [mail] = recorder.messages
    assert mail["In-Reply-To"] == "<letter-9@example.cn>"
    assert sorted(mailbox_state(dovecot, "Sent")) and len(mailbox_state(dovecot, "Sent")) == 1
