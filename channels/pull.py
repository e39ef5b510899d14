"""Pull channels wait for the core instead of apologising.

Channels that fetch their messages (the IMAP mailbox, Telegram long polling) control
their own pace, unlike webhooks that must answer within the provider's window. They take
new messages only while :class:`CoreGate` finds the core ready (``GET
/webhooks/<channel>/ready`` on the relay: model loaded, action server answering) and
pause, with one log line, while it is not. A message already taken when the core goes
away is retried with :class:`Backoff` until ``retry_deadline_s`` after it was taken; only
then does the citizen get the apology. Dedupe claims (``channels.state``) make sure each
message is answered exactly once either way.

The outbox worker has no sends that need the core today (its notices are rendered by
casework), so nothing else is gated; a future one must use the same gate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from channels.core import CoreClient, Readiness

log = logging.getLogger(__name__)

SETTINGS_FILE = Path(__file__).with_name("pull.yml")
ENV_NAMES = {"ready_poll_s": "CORE_READY_POLL_S", "retry_first_s": "CORE_RETRY_FIRST_S",
             "retry_max_s": "CORE_RETRY_MAX_S", "retry_deadline_s": "CORE_RETRY_DEADLINE_S"}
MAX_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class PullSettings:
    """How a pull worker waits for the core (defaults in ``channels/pull.yml``)."""

    ready_poll_s: float = 2.0
    ready_timeout_s: float = 5.0
    retry_first_s: float = 1.0
    retry_max_s: float = 30.0
    retry_deadline_s: float = 300.0

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, path: Path = SETTINGS_FILE) -> PullSettings:
        """The committed YAML defaults, overridden by the environment.

        Raises:
            ValueError: naming every setting whose value is not a positive number of seconds.
        """
        env = os.environ if env is None else env
        raw: dict[str, Any] = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.exists() else {}
        values: dict[str, float] = {}
        problems: list[str] = []
        for f in fields(cls):
            name = ENV_NAMES.get(f.name)
            source, value = (name, env.get(name)) if name and (env.get(name) or "").strip() else (
                f"{path.name}:{f.name}", raw.get(f.name, f.default))
            try:
                number = float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                number = -1.0
            if not 0 < number <= MAX_SECONDS:
                problems.append(f"{source} must be seconds in (0, {MAX_SECONDS:g}], got {value!r}")
            values[f.name] = number
        if problems:
            raise ValueError("pull settings: " + "; ".join(problems))
        return cls(**values)


class Backoff:
    """Pauses between retries of one taken message.

    The pause doubles from ``first`` up to ``maximum`` and never goes past the deadline.

    Args:
        settings: the pull settings.
        taken_at: when the message was taken (``time.time()``; kept across restarts).
        clock: the wall clock.
    """

    def __init__(self, settings: PullSettings, taken_at: float, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.deadline = taken_at + settings.retry_deadline_s
        self.clock = clock
        self._next = settings.retry_first_s

    def next_pause(self) -> float | None:
        """Seconds to wait before the next attempt, or None once the deadline has passed."""
        remaining = self.deadline - self.clock()
        if remaining <= 0:
            return None
        pause = min(self._next, remaining)
        self._next = min(self._next * 2, self.settings.retry_max_s)
        return pause


class CoreGate:
    """Whether a pull worker may take new messages now; one log line per pause and per resume.

    Thread-safe. Sync callers use :meth:`wait`, async ones :meth:`wait_async`.

    Args:
        core: the core client.
        channel: the relay whose readiness counts (``mail``, ``telegram``).
        settings: the pull settings.
    """

    def __init__(self, core: CoreClient, channel: str, settings: PullSettings):
        self.core = core
        self.channel = channel
        self.settings = settings
        self._ready: bool | None = None
        self._paused_at = 0.0
        self._lock = threading.Lock()

    @property
    def paused(self) -> bool:
        """True while the last check found the core not ready."""
        return self._ready is False

    def check(self) -> bool:
        """Ask the core once; log the change when it differs from the last answer."""
        answer: Readiness = self.core.ready(self.channel, timeout=self.settings.ready_timeout_s)
        with self._lock:
            before, self._ready = self._ready, answer.ready
            if not answer.ready and before is not False:
                self._paused_at = time.monotonic()
                log.warning("%s: core not ready (%s); taking no new messages until it is", self.channel,
                            answer.reason)
            elif answer.ready and before is False:
                log.info("%s: core ready after %.0f s; taking new messages again", self.channel,
                         time.monotonic() - self._paused_at)
        return answer.ready

    def wait(self, stop: threading.Event) -> bool:
        """Block until the core is ready (True) or ``stop`` is set (False)."""
        while not stop.is_set():
            if self.check():
                return True
            stop.wait(self.settings.ready_poll_s)
        return False

    async def wait_async(self, stop: asyncio.Event) -> bool:
        """:meth:`wait` for an event loop: True when ready, False once ``stop`` is set."""
        while not stop.is_set():
            if await asyncio.to_thread(self.check):
                return True
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.ready_poll_s)
        return False
