"""WeChat's server API (access token, customer-service messages, menu) with the token shared by every worker.

The access token is valid for two hours and every fetch of a new one invalidates the
previous one soon after, so all workers of all app-server instances share one token: it is
kept as a note of :class:`~channels.state.ChannelState` (SQL, shared) with its expiry, and
a refresh is claimed like a webhook message (``begin`` on ``token:<app id>:<hash of the
stale token>``), so exactly one worker fetches and the others wait for its result. A
token WeChat rejects (40001, 40014, 42001) is refreshed the same way, once, and the call
retried once.

The calls themselves are wechatpy's (``WeChatClient.message.send_text``,
``WeChatClient.menu.create``), pointed at ``WECHAT_API_BASE_URL`` and given the shared
token; wechatpy's own token handling and retry loop are not used. The token never
appears in logs.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from channels.state import ChannelState, Claim
from channels.wechat.parse import CHANNEL
from channels.wechat.render import split
from channels.wechat.verify import WeChatSettings
from common.identity import hash_sender

log = logging.getLogger(__name__)

HTTP_TIMEOUT_S = 5.0
REFRESH_MARGIN_S = 300  # refresh a token this long before WeChat's expiry
WAIT_FOR_PEER_S = 10.0  # how long a worker waits for another worker's refresh
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
OUT_OF_WINDOW = 45015  # the citizen has not written within 48 hours


class WeChatApiError(Exception):
    """WeChat refused a call or could not be reached.

    Attributes:
        errcode: WeChat's error code (None for HTTP or network failures).
    """

    def __init__(self, errcode: int | None, message: str):
        super().__init__(f"{errcode}: {message}" if errcode is not None else message)
        self.errcode = errcode


class SendRefused(Exception):
    """Nothing was sent: the citizen unsubscribed or the text is empty."""


class SharedToken:
    """The access token in the shared channel state, fetched by one worker at a time.

    Args:
        state: the shared channel state.
        app_id: the account's AppID (the note and claim are keyed by it).
        fetch: returns a new ``(token, expires_in seconds)`` from WeChat.
        clock: seconds since the epoch.
    """

    def __init__(self, state: ChannelState, app_id: str, fetch: Callable[[], tuple[str, int]],
                 clock: Callable[[], float] = time.time, wait_s: float = WAIT_FOR_PEER_S):
        self.state, self.app_id, self.fetch, self.clock, self.wait_s = state, app_id, fetch, clock, wait_s

    @property
    def _conversation(self) -> str:
        return f"_app:{self.app_id}"

    def _stored(self) -> tuple[str, float] | None:
        value = self.state.get_note(CHANNEL, self._conversation, "access_token")
        if isinstance(value, Mapping) and isinstance(value.get("token"), str):
            return value["token"], float(value.get("expires_at") or 0)
        return None

    def get(self) -> str:
        """A valid token: the shared one, or a fresh one when it is missing or about to expire."""
        stored = self._stored()
        if stored and stored[1] - self.clock() > REFRESH_MARGIN_S:
            return stored[0]
        return self.refresh(stored[0] if stored else "")

    def refresh(self, stale: str) -> str:
        """Replace ``stale`` (the token that expired or was rejected; "" when there was none) exactly once.

        Raises:
            WeChatApiError: the fetch failed, or no other worker's fetch arrived in time.
        """
        base = f"token:{self.app_id}:" + (hashlib.sha256(stale.encode()).hexdigest()[:16] if stale else "none")
        for key in (base, f"{base}:{int(self.clock() // 60)}"):
            claim = self.state.begin(CHANNEL, key)
            if claim.claim is Claim.NEW:
                return self._fetch_and_store(key)
            token = self._wait_for_new(stale, claim.claim is Claim.DONE)
            if token:
                return token
        raise WeChatApiError(None, "access token refresh by another worker did not arrive")

    def _fetch_and_store(self, key: str) -> str:
        try:
            token, expires_in = self.fetch()
        except BaseException:
            self.state.release(CHANNEL, key)
            raise
        self.state.put_note(CHANNEL, self._conversation, "access_token",
                            {"token": token, "expires_at": self.clock() + expires_in})
        self.state.finish(CHANNEL, key)
        log.info("wechat: access token refreshed (valid %d s)", expires_in)
        return token

    def _wait_for_new(self, stale: str, done: bool) -> str | None:
        deadline = time.monotonic() + (0 if done else self.wait_s)
        while True:
            stored = self._stored()
            if stored and stored[0] != stale and stored[1] > self.clock():
                return stored[0]
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)


class WeChatApi:
    """The few server API calls the channel makes, through wechatpy's client.

    Args:
        settings: AppID, AppSecret and the API base URL.
        state: where the shared token lives.
        timeout: seconds per HTTP call.
    """

    def __init__(self, settings: WeChatSettings, state: ChannelState, timeout: float = HTTP_TIMEOUT_S):
        if not settings.app_secret:
            raise ValueError("WECHAT_APP_SECRET is not set")
        self.settings = settings
        self.timeout = timeout
        self.token = SharedToken(state, settings.app_id, self._fetch_token)

    def _fetch_token(self) -> tuple[str, int]:
        url = f"{self.settings.api_base_url}/cgi-bin/token"
        params = {"grant_type": "client_credential", "appid": self.settings.app_id,
                  "secret": self.settings.app_secret or ""}
        try:
            res = requests.get(url, params=params, timeout=self.timeout)
            data = res.json()
        except (requests.RequestException, ValueError) as exc:  # the URL holds the secret: log the type only
            raise WeChatApiError(None, f"token endpoint unreachable ({type(exc).__name__})") from None
        if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
            errcode = data.get("errcode") if isinstance(data, dict) else None
            raise WeChatApiError(int(errcode) if isinstance(errcode, int) else None, "no access token in the answer")
        return data["access_token"], int(data.get("expires_in") or 7200)

    def _call(self, fn: Callable[[Any], Any]) -> Any:
        """Run ``fn(client)`` with the shared token; on a rejected token refresh it once and retry once."""
        from wechatpy import WeChatClient
        from wechatpy.exceptions import WeChatClientException

        for attempt in (1, 2):
            token = self.token.get()
            client = WeChatClient(self.settings.app_id, self.settings.app_secret, access_token=token,
                                  timeout=self.timeout, auto_retry=False)
            client.API_BASE_URL = f"{self.settings.api_base_url}/cgi-bin/"
            try:
                return fn(client)
            except WeChatClientException as exc:
                errcode = exc.errcode if isinstance(exc.errcode, int) else None
                if errcode in TOKEN_ERRORS and attempt == 1:
                    log.info("wechat: access token rejected (%s), refreshing", errcode)
                    self.token.refresh(token)
                    continue
                raise WeChatApiError(errcode, str(exc.errmsg or "HTTP error")) from None
            except requests.RequestException as exc:
                raise WeChatApiError(None, f"API unreachable ({type(exc).__name__})") from None
            finally:
                client._http.close()
        raise AssertionError("unreachable")

    def send_text(self, openid: str, text: str) -> dict[str, Any]:
        """One customer-service text message (``POST /cgi-bin/message/custom/send``)."""
        return dict(self._call(lambda c: c.message.send_text(openid, text)))

    def create_menu(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Publish the custom menu (``POST /cgi-bin/menu/create``)."""
        return dict(self._call(lambda c: c.menu.create(dict(body))))


class WeChatSender:
    """A :class:`~channels.core.Sender` of customer-service text messages that respects unsubscribes.

    Args:
        api: the API client.
        state: where opt-outs are recorded (an ``unsubscribe`` event records one).
    """

    def __init__(self, api: WeChatApi, state: ChannelState):
        self.api = api
        self.state = state

    def is_allowed(self, openid: str) -> bool:
        """False when the citizen unsubscribed."""
        return not self.state.is_opted_out(CHANNEL, hash_sender(openid))

    def send(self, to: str, text: str) -> str:
        """Send ``text`` to the OpenID ``to`` (split into 2,048-byte messages); return the last msgid.

        Raises:
            SendRefused: the citizen unsubscribed, or the text is empty.
            WeChatApiError: WeChat refused (e.g. 45015 outside the 48-hour window) or was unreachable.
        """
        who = hash_sender(to)
        if not self.is_allowed(to):
            log.info("wechat: send refused, citizen unsubscribed sender=%s", who)
            raise SendRefused("unsubscribed")
        parts = split(text)
        if not parts:
            raise SendRefused("empty text")
        msgid = ""
        for part in parts:
            result = self.api.send_text(to, part)
            msgid = str(result.get("msgid") or "")
        log.info("wechat: sent %d customer-service message(s) sender=%s", len(parts), who)
        return msgid
