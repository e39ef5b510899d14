"""Application status from a system of record: the ``ApplicationSource`` interface and its sync.

An application's status may be kept by another system (a department's case-handling system).
An :class:`ApplicationSource` tells what changed; :func:`sync_once` applies each change through
``CaseworkRepository.update_application_status`` — the one path that records the history event
(and that the notification outbox hooks into) — and remembers how far it got.

Sources:

* :class:`EmbeddedSource` (default): the ``applications`` table is itself the system of record;
  staff updates and CSV imports already go through the repository, so it reports no changes.
* :class:`HttpStatusSource`: a JSON status API, with timeouts, retries with exponential backoff
  and a circuit breaker. The contract (``APPLICATION_SOURCE_URL`` is its base URL)::

      GET {base}/changes?since=<cursor>&limit=<n>
          200 {"changes": [{"number": "...", "status": "<code>", "note": "...",
                            "next_step": "..." | null, "changed_at": "<ISO 8601>"}, ...],
               "next_cursor": "<opaque string>", "has_more": true | false}
      GET {base}/applications/<number>
          200 {"number": "...", "status": "<code>", "note": "...", "next_step": ..., "changed_at": ...}
          404 unknown number

  ``status`` is one of :class:`common.status.ApplicationStatus` (its Chinese label is accepted
  too); ``since`` is the ``next_cursor`` of the previous answer, empty the first time. Requests
  carry ``Authorization: Bearer <APPLICATION_SOURCE_TOKEN>`` when a token is set (required when
  the API is not on loopback). 5xx, 429, timeouts and connection errors are retried; other
  answers are not.

Applying is idempotent: a change whose status (and next step) the application already has is
counted as unchanged, so a replayed page — after a crash between applying and saving the
cursor, or a source that repeats itself — applies nothing twice.
"""

from __future__ import annotations

import csv
import ipaddress
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from sqlalchemy import select

from casework.repository import CaseworkRepository
from casework.routing_models import ApplicationSyncState
from common.status import APPLICATION_STATUS_LABELS, ApplicationStatus
from knowledge.db import session_scope

log = logging.getLogger(__name__)
MAX_PAGES_PER_SYNC = 50
_LABEL_TO_STATUS = {label: code for code, label in APPLICATION_STATUS_LABELS.items()}


class SourceError(Exception):
    """The source could not answer (after retries), or answered something unusable."""


class CircuitOpen(SourceError):
    """The circuit breaker is open: the source is not called until the cool-down has passed."""


class SourceConfigError(Exception):
    """The source settings are unusable (names what is wrong)."""


@dataclass(frozen=True)
class StatusChange:
    """One status an external system reports for an application."""

    number: str
    status: str
    note: str = ""
    next_step: str | None = None
    changed_at: str = ""


@dataclass(frozen=True)
class ChangePage:
    """Changes after a cursor, the cursor after them, and whether more are waiting."""

    changes: list[StatusChange]
    next_cursor: str
    has_more: bool = False


class ApplicationSource(Protocol):
    """A system of record for application statuses."""

    name: str

    def changes_since(self, cursor: str) -> ChangePage:
        """Changes after ``cursor`` ("" = from the beginning)."""

    def status_of(self, number: str) -> StatusChange | None:
        """The current status of one application, or None when the source does not know it."""


def parse_status(value: str) -> ApplicationStatus:
    """An application status from its code or its Chinese label.

    Raises:
        ValueError: neither.
    """
    value = (value or "").strip()
    return ApplicationStatus(_LABEL_TO_STATUS.get(value, value))


class EmbeddedSource:
    """The embedded ``applications`` table as its own system of record (the default).

    Every change to it already goes through the repository, so there is nothing to sync.
    """

    name = "embedded"

    def __init__(self, repo: CaseworkRepository):
        self._repo = repo

    def changes_since(self, cursor: str) -> ChangePage:
        """No outside changes: the table is the record."""
        return ChangePage([], cursor, False)

    def status_of(self, number: str) -> StatusChange | None:
        """The status the table holds."""
        app = self._repo.get_application(number)
        return None if app is None else StatusChange(app.number, str(app.status), "", app.next_step)


class CircuitBreaker:
    """Closed → open after ``threshold`` consecutive failures → half-open after ``cooldown_s``.

    Half-open lets one call through: its success closes the breaker, its failure opens it again.
    Thread-safe; ``clock`` is injectable for tests of the state machine.
    """

    def __init__(self, threshold: int = 5, cooldown_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.threshold = max(1, threshold)
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half_open``."""
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._clock() - self._opened_at >= self.cooldown_s else "open"

    def before_call(self) -> None:
        """Admit a call, or refuse it.

        Raises:
            CircuitOpen: open, or half-open with its one trial call already under way.
        """
        with self._lock:
            state = self._state()
            if state == "open" or (state == "half_open" and self._trial):
                raise CircuitOpen("status source circuit open")
            if state == "half_open":
                self._trial = True

    def success(self) -> None:
        """A call succeeded: close."""
        with self._lock:
            self._failures, self._opened_at, self._trial = 0, None, False

    def failure(self) -> None:
        """A call failed: count it; open at the threshold (or at once when half-open)."""
        with self._lock:
            self._failures += 1
            if self._trial or self._failures >= self.threshold:
                self._opened_at = self._clock()
                self._failures = 0
            self._trial = False


class _Retryable(Exception):
    """A transient failure worth another attempt."""


@dataclass(frozen=True)
class SourceSettings:
    """Where application statuses come from (all from the environment).

    Attributes:
        url: base URL of the JSON status API (``APPLICATION_SOURCE_URL``); empty = embedded table.
        token: bearer token (``APPLICATION_SOURCE_TOKEN``; secret; required off loopback).
        timeout_s: connect and read timeout of one request (``APPLICATION_SOURCE_TIMEOUT_S``).
        retries: further attempts after a transient failure (``APPLICATION_SOURCE_RETRIES``).
        backoff_s: first pause before a retry, doubled each time (``APPLICATION_SOURCE_BACKOFF_S``).
        breaker_failures: failed calls in a row that open the breaker (``APPLICATION_SOURCE_BREAKER_FAILURES``).
        breaker_cooldown_s: seconds before an open breaker lets a trial call through
            (``APPLICATION_SOURCE_BREAKER_COOLDOWN_S``).
        page_size: changes asked per page (``APPLICATION_SOURCE_PAGE_SIZE``).
        name: the source's name in the sync state and the history (``APPLICATION_SOURCE_NAME``).
    """

    url: str = ""
    token: str = field(default="", repr=False)
    timeout_s: float = 5.0
    retries: int = 3
    backoff_s: float = 0.5
    breaker_failures: int = 5
    breaker_cooldown_s: float = 60.0
    page_size: int = 200
    name: str = "http"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> SourceSettings:
        """Read and check the settings.

        Raises:
            SourceConfigError: a number is malformed, or a non-loopback API has no token.
        """
        env = dict(os.environ if env is None else env)
        try:
            settings = cls(
                url=(env.get("APPLICATION_SOURCE_URL") or "").strip().rstrip("/"),
                token=(env.get("APPLICATION_SOURCE_TOKEN") or "").strip(),
                timeout_s=float(env.get("APPLICATION_SOURCE_TIMEOUT_S") or 5.0),
                retries=int(env.get("APPLICATION_SOURCE_RETRIES") or 3),
                backoff_s=float(env.get("APPLICATION_SOURCE_BACKOFF_S") or 0.5),
                breaker_failures=int(env.get("APPLICATION_SOURCE_BREAKER_FAILURES") or 5),
                breaker_cooldown_s=float(env.get("APPLICATION_SOURCE_BREAKER_COOLDOWN_S") or 60.0),
                page_size=int(env.get("APPLICATION_SOURCE_PAGE_SIZE") or 200),
                name=(env.get("APPLICATION_SOURCE_NAME") or "http").strip()[:64],
            )
        except ValueError as exc:
            raise SourceConfigError(f"APPLICATION_SOURCE_*: {exc}") from exc
        if settings.url:
            parts = urlsplit(settings.url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise SourceConfigError("APPLICATION_SOURCE_URL must be an http(s) URL")
            if not settings.token and not _is_loopback(parts.hostname):
                raise SourceConfigError("APPLICATION_SOURCE_TOKEN is required when APPLICATION_SOURCE_URL "
                                        "is not on loopback")
        return settings


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HttpStatusSource:
    """The JSON status API of the module docstring, behind retries and a circuit breaker.

    Args:
        settings: base URL, token, timeouts, retry and breaker tunables.
        session: a ``requests.Session`` (built on first use).
        sleep: how to pause between retries (tests may speed it up).
    """

    def __init__(self, settings: SourceSettings, session: Any = None, sleep: Callable[[float], None] = time.sleep):
        if not settings.url:
            raise SourceConfigError("APPLICATION_SOURCE_URL is not set")
        self.settings = settings
        self.name = settings.name
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown_s)
        self._session = session
        self._sleep = sleep

    def changes_since(self, cursor: str) -> ChangePage:
        """One page of changes after ``cursor``.

        Raises:
            SourceError: the API failed after retries or answered malformed JSON.
            CircuitOpen: the breaker is open.
        """
        data = self._get("/changes", {"since": cursor, "limit": str(self.settings.page_size)})
        if data is None or not isinstance(data.get("changes"), list):
            raise SourceError("status API: answer without a changes list")
        changes = [c for c in (_change(row) for row in data["changes"]) if c is not None]
        return ChangePage(changes, str(data.get("next_cursor") or cursor), bool(data.get("has_more")))

    def status_of(self, number: str) -> StatusChange | None:
        """The API's status of one application, None on 404."""
        data = self._get("/applications/" + quote(number, safe=""), None)
        return None if data is None else _change(data)

    def _get(self, path: str, params: dict[str, str] | None) -> dict[str, Any] | None:
        """GET with retries inside one breaker call; None for a 404."""
        import requests

        self.breaker.before_call()
        if self._session is None:
            self._session = requests.Session()
        headers = {"Accept": "application/json"}
        if self.settings.token:
            headers["Authorization"] = f"Bearer {self.settings.token}"
        url = self.settings.url + path
        timeout = (self.settings.timeout_s, self.settings.timeout_s)
        last: Exception | None = None
        for attempt in range(self.settings.retries + 1):
            if attempt:
                pause = self.settings.backoff_s * (2 ** (attempt - 1))
                self._sleep(pause * (0.5 + random.random() / 2))  # jitter: workers do not retry in step
            try:
                resp = self._session.get(url, params=params, headers=headers, timeout=timeout)
                if resp.status_code == 404:
                    self.breaker.success()
                    return None
                if resp.status_code == 429 or resp.status_code >= 500:
                    raise _Retryable(f"HTTP {resp.status_code}")
                if resp.status_code != 200:
                    self.breaker.failure()
                    raise SourceError(f"status API answered HTTP {resp.status_code} for {path}")
                data = resp.json()
                if not isinstance(data, dict):
                    raise ValueError("not an object")
            except (requests.Timeout, requests.ConnectionError, _Retryable) as exc:
                last = exc
                log.info("status API %s attempt %d failed: %s", path.split("/")[1], attempt + 1,
                         type(exc).__name__ if not isinstance(exc, _Retryable) else exc)
                continue
            except ValueError as exc:  # malformed JSON: the API is broken, not busy
                self.breaker.failure()
                raise SourceError("status API answered malformed JSON") from exc
            self.breaker.success()
            return data
        self.breaker.failure()
        raise SourceError(f"status API unavailable after {self.settings.retries + 1} attempts: {last}")


def _change(row: Any) -> StatusChange | None:
    """A change from its JSON object; None (and a log line) when it lacks a number or status."""
    if not isinstance(row, dict) or not row.get("number") or not row.get("status"):
        log.warning("status API: skipped a change without number or status")
        return None
    next_step = row.get("next_step")
    return StatusChange(str(row["number"]).strip(), str(row["status"]).strip(), str(row.get("note") or ""),
                        None if next_step is None else str(next_step), str(row.get("changed_at") or ""))


@dataclass
class SyncResult:
    """What one sync (or import) did."""

    fetched: int = 0
    applied: int = 0
    unchanged: int = 0
    unknown: int = 0
    invalid: int = 0
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The counts, for logs and the CLI."""
        return {"fetched": self.fetched, "applied": self.applied, "unchanged": self.unchanged,
                "unknown": self.unknown, "invalid": self.invalid, "error": self.error}


def apply_changes(changes: Iterable[StatusChange], repo: CaseworkRepository, actor: str,
                  result: SyncResult | None = None) -> SyncResult:
    """Apply status changes through ``update_application_status``; skip those already in effect."""
    result = result or SyncResult()
    for change in changes:
        result.fetched += 1
        try:
            status = parse_status(change.status)
        except ValueError:
            result.invalid += 1
            log.warning("application source %s: unknown status %r", actor, change.status[:32])
            continue
        app = repo.get_application(change.number)
        if app is None:
            result.unknown += 1
            continue
        if app.status == status and (change.next_step is None or change.next_step == app.next_step):
            result.unchanged += 1
            continue
        repo.update_application_status(change.number, status, note=change.note[:500], actor=actor,
                                       next_step=change.next_step)
        result.applied += 1
    return result


def load_cursor(repo: CaseworkRepository, source: str) -> str:
    """The cursor up to which ``source`` has been applied ("" before the first sync)."""
    with repo.factory() as s:
        state = s.get(ApplicationSyncState, source)
        return state.cursor if state else ""


def save_cursor(repo: CaseworkRepository, source: str, cursor: str) -> None:
    """Remember how far ``source`` has been applied."""
    with session_scope(repo.factory) as s:
        state = s.scalar(select(ApplicationSyncState).where(ApplicationSyncState.source == source))
        if state is None:
            s.add(ApplicationSyncState(source=source, cursor=cursor))
        else:
            state.cursor = cursor


def sync_once(source: ApplicationSource, repo: CaseworkRepository) -> SyncResult:
    """Fetch the source's changes since the saved cursor and apply them; never raises for the source.

    Pages are applied then their cursor saved, one page at a time (at most ``MAX_PAGES_PER_SYNC``);
    a failure stops the sync with ``error`` set and keeps what was applied.
    """
    result = SyncResult()
    actor = f"source:{source.name}"
    cursor = load_cursor(repo, source.name)
    for _ in range(MAX_PAGES_PER_SYNC):
        try:
            page = source.changes_since(cursor)
        except CircuitOpen:
            result.error = "circuit_open"
            break
        except SourceError as exc:
            result.error = str(exc)[:200]
            log.warning("application source %s: %s", source.name, result.error)
            break
        apply_changes(page.changes, repo, actor, result)
        if page.next_cursor != cursor:
            save_cursor(repo, source.name, page.next_cursor)
            cursor = page.next_cursor
        if not page.has_more or not page.changes:
            break
    return result


def import_csv(path: Path, repo: CaseworkRepository, actor: str = "csv-import") -> SyncResult:
    """Apply the status changes of a CSV file (header: number,status[,note][,next_step]).

    ``status`` is a status code or its Chinese label; an empty ``next_step`` cell leaves the next
    step as it is. UTF-8 with or without BOM.

    Raises:
        ValueError: the header lacks ``number`` or ``status``.
    """
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = {(f or "").strip() for f in reader.fieldnames or []}
        if not {"number", "status"} <= fields:
            raise ValueError("the CSV header needs the columns number and status")
        rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]
    changes = [StatusChange(r["number"], r["status"], r.get("note", ""), r.get("next_step") or None)
               for r in rows if r.get("number")]
    return apply_changes(changes, repo, actor)


_SOURCES: dict[SourceSettings, HttpStatusSource] = {}
_SOURCES_LOCK = threading.Lock()


def source_for(settings: SourceSettings, repo: CaseworkRepository) -> ApplicationSource:
    """The configured source; the HTTP one is kept per settings so its breaker spans scheduled runs."""
    if not settings.url:
        return EmbeddedSource(repo)
    with _SOURCES_LOCK:
        if settings not in _SOURCES:
            _SOURCES[settings] = HttpStatusSource(settings)
        return _SOURCES[settings]


def sync_job(settings: SourceSettings | None = None, repo: CaseworkRepository | None = None) -> None:
    """One scheduled sync (the worker calls it every few minutes); logs its counts, never raises."""
    settings = settings or SourceSettings.from_env()
    repo = repo or CaseworkRepository()
    source = source_for(settings, repo)
    try:
        result = sync_once(source, repo)
    except Exception:  # a scheduled job must survive a broken database or source
        log.exception("application status sync failed")
        return
    log.info("application status sync %s: %s", source.name, result.as_dict())
