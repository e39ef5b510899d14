"""Application status sources against a real local HTTP stand-in (devtools.fake_status_api)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from casework.repository import CaseworkRepository
from casework.sources import (
    CircuitBreaker,
    CircuitOpen,
    EmbeddedSource,
    HttpStatusSource,
    SourceConfigError,
    SourceSettings,
    import_csv,
    load_cursor,
    sync_job,
    sync_once,
)
from devtools.fake_status_api import FakeStatusApi

PASSPORT = "202611100012"      # seed: ready
FUND = "202611200101"          # seed: reviewing


@pytest.fixture
def repo(seeded_url: str) -> Iterator[CaseworkRepository]:
    from knowledge.db import make_engine, session_factory

    engine = make_engine(seeded_url)
    repo = CaseworkRepository(session_factory(engine))
    assert repo.load_sample_applications() > 0
    yield repo
    engine.dispose()


@pytest.fixture
def api() -> Iterator[FakeStatusApi]:
    server = FakeStatusApi(token="t0ken").start()
    yield server
    server.stop()


def _source(api: FakeStatusApi, **overrides: Any) -> HttpStatusSource:
    values: dict[str, Any] = {"url": api.url, "token": "t0ken", "timeout_s": 0.5, "retries": 2, "backoff_s": 0.01,
                              "breaker_failures": 2, "breaker_cooldown_s": 0.3, "page_size": 2}
    values.update(overrides)
    return HttpStatusSource(SourceSettings(**values))


def _events(repo: CaseworkRepository, number: str) -> list[tuple[str, str]]:
    app = repo.get_application(number)
    assert app is not None
    return [(e.status, e.actor) for e in app.events]


def test_changes_are_applied_once_through_the_repository(repo: CaseworkRepository, api: FakeStatusApi) -> None:
    api.set_status(FUND, "approved", note="审批通过", next_step="请等待短信通知领取")
    api.set_status(PASSPORT, "done", note="已领取")
    api.set_status("999999999999", "approved")   # unknown to us
    api.set_status(FUND, "ready", note="可领取")
    source = _source(api)
    before = len(_events(repo, FUND))

    first = sync_once(source, repo)
    assert (first.applied, first.unknown, first.error) == (3, 1, "")
    fund = repo.get_application(FUND)
    assert fund is not None and fund.status == "ready" and fund.next_step == "请等待短信通知领取"
    assert _events(repo, FUND)[before:] == [("approved", "source:http"), ("ready", "source:http")]
    assert load_cursor(repo, "http") == "4"

    again = sync_once(source, repo)   # nothing new after the cursor
    assert (again.fetched, again.applied) == (0, 0)
    assert len(_events(repo, FUND)) == before + 2


def test_a_replayed_page_applies_nothing_twice(repo: CaseworkRepository, api: FakeStatusApi) -> None:
    api.set_status(FUND, "approved")
    source = _source(api)
    assert sync_once(source, repo).applied == 1
    from casework.sources import save_cursor

    save_cursor(repo, "http", "")     # as if the process died before saving the cursor
    replay = sync_once(source, repo)
    assert (replay.fetched, replay.applied, replay.unchanged) == (1, 0, 1)
    assert [s for s, _ in _events(repo, FUND)].count("approved") == 1


def test_timeouts_and_server_errors_are_retried(repo: CaseworkRepository, api: FakeStatusApi) -> None:
    api.set_status(FUND, "need_more", note="请补充收入证明")
    api.slow_next(1, 1.5)            # longer than the 0.5 s timeout
    api.fail_next(0)
    source = _source(api)
    result = sync_once(source, repo)
    assert (result.applied, result.error) == (1, "")
    assert api.requests >= 2
    api.set_status(FUND, "reviewing")
    api.fail_next(2)                  # two 503s, then the answer (2 retries allowed)
    served = api.requests
    assert sync_once(source, repo).applied == 1
    assert api.requests - served == 3
    assert source.breaker.state == "closed"


def test_breaker_opens_after_failures_and_closes_after_cool_down(repo: CaseworkRepository,
                                                                 api: FakeStatusApi) -> None:
    api.set_status(FUND, "approved")
    source = _source(api)
    now = [0.0]   # the breaker's clock, so a slow machine cannot make the cool-down pass early
    source.breaker = CircuitBreaker(threshold=2, cooldown_s=30, clock=lambda: now[0])
    api.fail_next(100)
    for _ in range(2):                # two failed calls (each after its retries) open the breaker
        assert sync_once(source, repo).error.startswith("status API unavailable")
    assert source.breaker.state == "open"
    served = api.requests
    assert sync_once(source, repo).error == "circuit_open"
    assert api.requests == served     # an open breaker does not call the API
    now[0] += 30
    assert source.breaker.state == "half_open"
    assert sync_once(source, repo).error   # the trial call fails: open again
    assert source.breaker.state == "open" and api.requests > served
    api.fail_next(0)
    now[0] += 30
    result = sync_once(source, repo)  # the trial call succeeds: closed, change applied
    assert (result.applied, result.error, source.breaker.state) == (1, "", "closed")


def test_dropped_connections_count_as_failures(repo: CaseworkRepository, api: FakeStatusApi) -> None:
    api.set_status(FUND, "approved")
    api.drop_next(1)
    assert sync_once(_source(api), repo).applied == 1


def test_wrong_token_is_not_retried_and_applies_nothing(repo: CaseworkRepository, api: FakeStatusApi) -> None:
    api.set_status(FUND, "approved")
    result = sync_once(_source(api, token="wrong"), repo)
    assert "401" in result.error and result.applied == 0
    assert api.requests == 1


def test_status_of_one_number(repo: CaseworkRepository, api: FakeStatusApi) -> None:
    api.set_status(FUND, "审核中")
    source = _source(api)
    change = source.status_of(FUND)
    assert change is not None and change.status == "审核中"
    assert source.status_of("000") is None
    embedded = EmbeddedSource(repo).status_of(PASSPORT)
    assert embedded is not None and embedded.status == "ready"
    assert EmbeddedSource(repo).changes_since("").changes == []


def test_breaker_half_open_lets_one_trial_through() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=1, cooldown_s=10, clock=lambda: now[0])
    breaker.before_call()
    breaker.failure()
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    now[0] = 10.0
    breaker.before_call()             # the trial
    with pytest.raises(CircuitOpen):
        breaker.before_call()         # a second caller while the trial runs
    breaker.success()
    assert breaker.state == "closed"


def test_settings_fail_closed_off_loopback() -> None:
    with pytest.raises(SourceConfigError, match="APPLICATION_SOURCE_TOKEN"):
        SourceSettings.from_env({"APPLICATION_SOURCE_URL": "https://records.example.gov.cn/api"})
    with pytest.raises(SourceConfigError):
        SourceSettings.from_env({"APPLICATION_SOURCE_URL": "http://127.0.0.1:1", "APPLICATION_SOURCE_RETRIES": "x"})
    assert SourceSettings.from_env({"APPLICATION_SOURCE_URL": "http://127.0.0.1:9/"}).url == "http://127.0.0.1:9"
    assert SourceSettings.from_env({}).url == ""


def test_sync_job_uses_the_configured_source(repo: CaseworkRepository, api: FakeStatusApi) -> None:
    api.set_status(FUND, "rejected", note="材料不符合要求")
    settings = SourceSettings.from_env({"APPLICATION_SOURCE_URL": api.url, "APPLICATION_SOURCE_TOKEN": "t0ken",
                                        "APPLICATION_SOURCE_NAME": "fund-centre"})
    sync_job(settings, repo)
    assert _events(repo, FUND)[-1] == ("rejected", "source:fund-centre")
    sync_job(SourceSettings(), repo)  # embedded: nothing to do, no error


def test_csv_import_goes_through_the_same_path(repo: CaseworkRepository, tmp_path: Path) -> None:
    path = tmp_path / "changes.csv"
    path.write_text("\ufeffnumber,status,note,next_step\n"
                    f"{FUND},已批准,窗口审批通过,\n"
                    f"{PASSPORT},ready,,\n"
                    "123,approved,,\n"
                    f"{FUND},flying,,\n", encoding="utf-8")
    result = import_csv(path, repo, actor="csv:staff")
    assert (result.applied, result.unchanged, result.unknown, result.invalid) == (1, 1, 1, 1)
    assert _events(repo, FUND)[-1] == ("approved", "csv:staff")
    bad = tmp_path / "bad.csv"
    bad.write_text("no,header\n1,2\n", encoding="utf-8")
    with pytest.raises(ValueError):
        import_csv(bad, repo)
