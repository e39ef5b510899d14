"""Webhook dedupe and rate limits in Redis for several app-server instances (``CHANNELS_REDIS_URL``).

:class:`RedisChannelState` is a :class:`channels.state.ChannelState` whose dedupe claims
(``begin`` / ``finish`` / ``release``, same contract and stale takeover) live in Redis,
so every instance sees the same claims with one round trip and they expire on their own
after ``retention_s``. Notes and opt-outs stay in SQL (``CHANNELS_DB_URL``): an opt-out
is a citizen's decision and must survive anything that happens to a cache.
:meth:`RedisChannelState.allow` is a fixed-window rate limit shared by all instances.

:func:`make_channel_state` chooses: Redis dedupe when ``CHANNELS_REDIS_URL`` is set, the
plain SQL ``ChannelState`` otherwise.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from channels.state import DEFAULT_STALE_AFTER_S, ChannelState, Claim, ClaimResult

DEFAULT_RETENTION_S = 7 * 86400

# Take over an in-progress claim only if it is still exactly the stale value we read.
_TAKEOVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""
# Give back a claim only while it is still in progress.
_RELEASE = """
local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v)['state'] == 'in_progress' then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisChannelState(ChannelState):
    """Channel state with dedupe claims and rate limits in Redis, notes and opt-outs in SQL.

    Args:
        redis_url: e.g. ``redis://127.0.0.1:6379/0``; nothing connects until first use.
        url: SQL URL for notes and opt-outs (default ``CHANNELS_DB_URL``).
        stale_after: seconds after which an unfinished claim may be taken over.
        retention_s: how long a processed message id is remembered (replays older than
            this are processed again, as with ``ChannelState.purge``).
        prefix: key prefix, so several deployments can share one Redis.
    """

    def __init__(self, redis_url: str, url: str | None = None, *, stale_after: float = DEFAULT_STALE_AFTER_S,
                 retention_s: float = DEFAULT_RETENTION_S, prefix: str = "citizenbot:ch") -> None:
        super().__init__(url, stale_after=stale_after)
        self._redis_url = redis_url
        self._redis: Any = None
        self._redis_lock = threading.Lock()
        self.retention_s = int(retention_s)
        self.prefix = prefix

    @property
    def redis(self) -> Any:
        """The client, created on first use."""
        with self._redis_lock:
            if self._redis is None:
                import redis

                self._redis = redis.Redis.from_url(self._redis_url, socket_timeout=5, socket_connect_timeout=5,
                                                   health_check_interval=30)
            return self._redis

    def _key(self, channel: str, message_id: str) -> str:
        return f"{self.prefix}:dedupe:{channel}:{message_id}"

    # -- dedupe ---------------------------------------------------------------------------
    def begin(self, channel: str, message_id: str) -> ClaimResult:
        """Claim ``message_id`` of ``channel`` (see :meth:`ChannelState.begin`)."""
        key = self._key(channel, message_id)
        claim = json.dumps({"state": "in_progress", "claimed_at": time.time()})
        if self.redis.set(key, claim, nx=True, ex=self.retention_s):
            return ClaimResult(Claim.NEW)
        raw = self.redis.get(key)
        if raw is None:  # expired or released between the two calls: try again
            return self.begin(channel, message_id)
        current = json.loads(raw)
        if current.get("state") == "done":
            return ClaimResult(Claim.DONE, current.get("reply"))
        if time.time() - float(current.get("claimed_at", 0)) < self.stale_after:
            return ClaimResult(Claim.IN_PROGRESS)
        taken = self.redis.eval(_TAKEOVER, 1, key, raw, claim, self.retention_s)
        return ClaimResult(Claim.NEW) if taken == 1 else ClaimResult(Claim.IN_PROGRESS)

    def finish(self, channel: str, message_id: str, reply: str | None = None) -> None:
        """Mark processed and keep the reply for replays (until ``retention_s``)."""
        self.redis.set(self._key(channel, message_id),
                       json.dumps({"state": "done", "reply": reply, "done_at": time.time()}, ensure_ascii=False),
                       ex=self.retention_s)

    def release(self, channel: str, message_id: str) -> None:
        """Give an unfinished claim back so a retry processes it."""
        self.redis.eval(_RELEASE, 1, self._key(channel, message_id))

    # -- rate limits ------------------------------------------------------------------------
    def allow(self, bucket: str, limit: int, window_s: int) -> bool:
        """Count one event in ``bucket``'s current window; False once ``limit`` is exceeded.

        Args:
            bucket: e.g. ``sms:<hashed sender>`` (never a raw number).
            limit: events allowed per window.
            window_s: window length in seconds (fixed windows aligned to the epoch).
        """
        window = int(time.time() // window_s)
        key = f"{self.prefix}:rate:{bucket}:{window}"
        pipe = self.redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, window_s + 1)
        count, _ = pipe.execute()
        return int(count) <= limit

    def dispose(self) -> None:
        """Close the SQL engine and the Redis connections."""
        super().dispose()
        with self._redis_lock:
            if self._redis is not None:
                self._redis.close()
                self._redis = None


def make_channel_state(url: str | None = None, *, stale_after: float = DEFAULT_STALE_AFTER_S) -> ChannelState:
    """Redis dedupe when ``CHANNELS_REDIS_URL`` is set, else the SQL-only :class:`ChannelState`."""
    redis_url = os.environ.get("CHANNELS_REDIS_URL", "").strip()
    if redis_url:
        return RedisChannelState(redis_url, url, stale_after=stale_after)
    return ChannelState(url, stale_after=stale_after)
