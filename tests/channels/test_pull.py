"""Pull-channel settings, retry backoff and the readiness gate's log lines (no servers but a local relay)."""
# ruff: noqa: F811 - pytest fixtures imported from tests.channels.mailkit are used as arguments

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from channels.core import CoreClient, CoreSettings
from channels.pull import SETTINGS_FILE, Backoff, CoreGate, PullSettings
from tests.channels.mailkit import RecordingRelay, relay  # noqa: F401


def test_settings_come_from_the_committed_yaml_and_the_environment_overrides_them() -> None:
    assert SETTINGS_FILE.exists()
    default = PullSettings.load({})
    assert (default.retry_deadline_s, default.ready_poll_s) == (300.0, 2.0)
    assert PullSettings.load({"CORE_RETRY_DEADLINE_S": "120"}).retry_deadline_s == 120.0


def test_unusable_settings_name_every_variable(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as err:
        PullSettings.load({"CORE_RETRY_DEADLINE_S": "soon", "CORE_READY_POLL_S": "0"})
    assert "CORE_RETRY_DEADLINE_S" in str(err.value) and "CORE_READY_POLL_S" in str(err.value)
    bad = tmp_path / "pull.yml"
    bad.write_text("retry_max_s: -1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"pull\.yml:retry_max_s"):
        PullSettings.load({}, path=bad)


def test_backoff_doubles_up_to_the_maximum_and_stops_at_the_deadline() -> None:
    now = [1000.0]
    settings = PullSettings(retry_first_s=1.0, retry_max_s=4.0, retry_deadline_s=10.0)
    backoff = Backoff(settings, taken_at=1000.0, clock=lambda: now[0])
    pauses = []
    while (pause := backoff.next_pause()) is not None:
        pauses.append(pause)
        now[0] += pause
    assert pauses == [1.0, 2.0, 4.0, 3.0]  # the last one ends exactly at the deadline
    assert Backoff(settings, taken_at=900.0, clock=lambda: 1000.0).next_pause() is None  # taken before a restart


def test_the_gate_logs_once_per_pause_and_once_per_resume(relay: RecordingRelay,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    gate = CoreGate(CoreClient(CoreSettings(relay.url, 5.0, None)), "mail", PullSettings(ready_poll_s=0.01))
    with caplog.at_level(logging.INFO, logger="channels.pull"):
        assert gate.check() and not gate.paused
        relay.down = True
        assert [gate.check() for _ in range(5)] == [False] * 5 and gate.paused
        relay.down = False
        assert gate.wait(threading.Event())
        assert gate.check()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0] == "mail: core not ready (loading); taking no new messages until it is"
    assert lines[1].startswith("mail: core ready after")


def test_an_unreachable_core_is_not_ready_and_a_stopped_wait_gives_up() -> None:
    closed = CoreClient(CoreSettings("http://127.0.0.1:9", 1.0, None)).ready("telegram")
    assert not closed.ready and closed.reason == "ConnectionError"
    stopped = threading.Event()
    stopped.set()
    assert not CoreGate(CoreClient(CoreSettings("http://127.0.0.1:9", 1.0, None)), "mail",
                        PullSettings()).wait(stopped)
