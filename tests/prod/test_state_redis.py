"""Redis dedupe and rate limits: same contract as the SQL ChannelState, shared by instances."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from channels.state import ChannelState, Claim
from channels.state_redis import RedisChannelState, make_channel_state
from server.app import create_app
from tests.channels.twilio_helpers import FakeCore, bot, post_signed, sms_form, texts_of, twiml
from tests.prod.redis_server import redis_server, redis_unavailable_reason

pytestmark = pytest.mark.skipif(redis_unavailable_reason() is not None, reason=redis_unavailable_reason() or "")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def state(redis_url: str, tmp_path: Path) -> Iterator[RedisChannelState]:
    st = RedisChannelState(redis_url, f"sqlite:///{tmp_path / 'channels.db'}", stale_after=0.5,
                           prefix=f"t{time.monotonic_ns()}")
    yield st
    st.dispose()


def test_first_claim_is_new_then_in_progress_then_done_with_the_stored_reply(state: RedisChannelState) -> None:
    assert state.begin("sms", "SM1").claim is Claim.NEW
    assert state.begin("sms", "SM1").claim is Claim.IN_PROGRESS
    state.finish("sms", "SM1", "回答")
    again = state.begin("sms", "SM1")
    assert again.claim is Claim.DONE and again.reply == "回答"
    assert state.begin("voice", "SM1").claim is Claim.NEW  # channels are separate


def test_a_stale_claim_is_taken_over_once_and_a_release_lets_the_retry_in(state: RedisChannelState) -> None:
    assert state.begin("sms", "SM2").claim is Claim.NEW
    time.sleep(0.6)
    results = [state.begin("sms", "SM2").claim for _ in range(3)]
    assert results == [Claim.NEW, Claim.IN_PROGRESS, Claim.IN_PROGRESS]
    state.release("sms", "SM2")
    assert state.begin("sms", "SM2").claim is Claim.NEW
    state.finish("sms", "SM2", None)
    state.release("sms", "SM2")  # a finished claim is not released
    assert state.begin("sms", "SM2").claim is Claim.DONE


def test_twenty_instances_racing_for_one_message_id_give_exactly_one_new(redis_url: str, tmp_path: Path) -> None:
    prefix = f"race{time.monotonic_ns()}"
    instances = [RedisChannelState(redis_url, f"sqlite:///{tmp_path / 'c.db'}", prefix=prefix) for _ in range(20)]
    barrier, claims = threading.Barrier(20), []

    def go(st: RedisChannelState) -> None:
        barrier.wait()
        claims.append(st.begin("telegram", "update-42").claim)

    threads = [threading.Thread(target=go, args=(st,)) for st in instances]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert claims.count(Claim.NEW) == 1 and claims.count(Claim.IN_PROGRESS) == 19
    for st in instances:
        st.dispose()


def test_the_rate_limit_allows_the_limit_per_window_across_instances(redis_url: str, tmp_path: Path) -> None:
    prefix = f"rate{time.monotonic_ns()}"
    a = RedisChannelState(redis_url, f"sqlite:///{tmp_path / 'a.db'}", prefix=prefix)
    b = RedisChannelState(redis_url, f"sqlite:///{tmp_path / 'b.db'}", prefix=prefix)
    window = 30
    while time.time() % window > window - 3:  # do not straddle a window boundary
        time.sleep(0.5)
    allowed = [(a if i % 2 else b).allow("sms:abc", 5, window) for i in range(8)]
    assert allowed == [True] * 5 + [False] * 3
    assert a.allow("sms:other", 5, window)
    a.dispose()
    b.dispose()


def test_opt_outs_stay_in_sql_and_survive_a_flushed_redis(state: RedisChannelState) -> None:
    state.set_opt_out("sms", "hash1", True)
    state.redis.flushdb()
    assert state.is_opted_out("sms", "hash1")


def test_the_factory_picks_redis_only_when_configured(monkeypatch: pytest.MonkeyPatch, redis_url: str,
                                                      tmp_path: Path) -> None:
    monkeypatch.delenv("CHANNELS_REDIS_URL", raising=False)
    plain = make_channel_state(f"sqlite:///{tmp_path / 'x.db'}")
    assert type(plain) is ChannelState
    monkeypatch.setenv("CHANNELS_REDIS_URL", redis_url)
    assert isinstance(make_channel_state(f"sqlite:///{tmp_path / 'x.db'}"), RedisChannelState)


@pytest.fixture
def twilio_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.channels.twilio_helpers import BASE, TOKEN

    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("PUBLIC_BASE_URL", BASE + "/")
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_SMS_FROM", "SMS_MAX_PARTS", "SMS_CORE_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)


def test_a_replayed_sms_webhook_on_two_app_instances_is_processed_once(twilio_env: None, redis_url: str,
                                                                        tmp_path: Path) -> None:
    prefix = f"sms{time.monotonic_ns()}"
    core = FakeCore()
    core.replies += [[bot("第一次的回答")], [bot("不应出现")]]
    apps = [create_app({"TESTING": True, "CORE_CLIENT": core, "CHANNEL_STATE": RedisChannelState(
        redis_url, f"sqlite:///{tmp_path / f'ch{i}.db'}", prefix=prefix)}).test_client() for i in range(2)]
    replies = []
    for client in apps + apps:  # the same MessageSid delivered to both instances, twice
        res = post_signed(client, "/channels/sms/webhook", sms_form("办护照多少钱"))
        replies.append(texts_of(twiml(res), "/Response/Message"))
    assert replies == [["第一次的回答"]] * 4
    assert len(core.received) == 1
    stored = [json.loads(v) for v in apps[0].application.config["CHANNEL_STATE"].redis.mget(
        apps[0].application.config["CHANNEL_STATE"].redis.keys(f"{prefix}:dedupe:*"))]
    assert [s["state"] for s in stored] == ["done"]
