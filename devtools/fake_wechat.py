"""A local fake of WeChat: the server API the adapter calls, and the callbacks WeChat's servers send.

**API** (:class:`FakeWeChatAPI`, stdlib HTTP server on 127.0.0.1, the real wire format):
``GET /cgi-bin/token?grant_type=client_credential&appid=…&secret=…`` →
``{"access_token", "expires_in"}`` (or ``{"errcode": 40125}`` for a wrong secret);
``POST /cgi-bin/message/custom/send?access_token=…`` with the JSON text message
(``touser``, ``msgtype: text``, ``text.content`` ≤ 2,048 bytes, else 45002);
``POST /cgi-bin/menu/create?access_token=…`` (1–3 buttons, names ≤ 16/60 bytes, else
40016/40017/40018). An unknown or superseded token gets 40001 (``invalidate_tokens``
simulates WeChat revoking it).

**Callbacks** (:func:`callback`): message XML as WeChat sends it, signed with the token and,
in safe mode, encrypted and signed by wechatpy's own :class:`~wechatpy.crypto.WeChatCrypto`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

APP_ID = "wx0123456789abcdef"
APP_SECRET = "fakesecret0123456789abcdef012345"
TOKEN = "CitizenBotToken2026"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
ACCOUNT = "gh_0123456789ab"


@dataclass
class FakeWeChatAPI:
    """The fake server's state; thread-safe."""

    app_id: str = APP_ID
    secret: str = APP_SECRET
    url: str = ""
    token_delay_s: float = 0.0
    token_fetches: int = 0
    valid_tokens: set[str] = field(default_factory=set)
    messages: list[dict[str, Any]] = field(default_factory=list)
    menus: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def invalidate_tokens(self) -> None:
        """WeChat revokes every token issued so far (calls with them get 40001)."""
        with self.lock:
            self.valid_tokens.clear()

    def texts_to(self, openid: str) -> list[str]:
        """Contents of the customer-service messages sent to ``openid``, in order."""
        with self.lock:
            return [m["text"]["content"] for m in self.messages if m.get("touser") == openid]

    def wait_for_texts(self, openid: str, n: int = 1, timeout: float = 30.0) -> list[str]:
        """Wait until ``n`` messages reached ``openid``; return them all."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.texts_to(openid)
            if len(got) >= n:
                return got
            time.sleep(0.02)
        return self.texts_to(openid)

    # -- the endpoints --------------------------------------------------------------------
    def token(self, query: dict[str, str]) -> dict[str, Any]:
        """``GET /cgi-bin/token``: a new access token for the right app id and secret."""
        if query.get("grant_type") != "client_credential" or query.get("appid") != self.app_id:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        if query.get("secret") != self.secret:
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        if self.token_delay_s:
            time.sleep(self.token_delay_s)
        with self.lock:
            self.token_fetches += 1
            token = f"ACCESS_TOKEN_{self.token_fetches}_{secrets.token_hex(8)}"
            self.valid_tokens = {token}  # a new token supersedes the previous one
        return {"access_token": token, "expires_in": 7200}

    def _authorised(self, query: dict[str, str]) -> dict[str, Any] | None:
        with self.lock:
            if query.get("access_token") not in self.valid_tokens:
                self.rejected.append(40001)
                return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
        return None

    def custom_send(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        """``POST /cgi-bin/message/custom/send``: record a customer-service message."""
        error = self._authorised(query)
        if error:
            return error
        if not isinstance(body, dict) or not body.get("touser") or body.get("msgtype") != "text":
            return {"errcode": 40008, "errmsg": "invalid message type"}
        content = (body.get("text") or {}).get("content")
        if not isinstance(content, str) or not content:
            return {"errcode": 44004, "errmsg": "empty content"}
        if len(content.encode("utf-8")) > 2048:
            return {"errcode": 45002, "errmsg": "content size out of limit"}
        with self.lock:
            self.messages.append({**body, "at": time.monotonic()})
        return {"errcode": 0, "errmsg": "ok"}

    def menu_create(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        """``POST /cgi-bin/menu/create``: record the published menu."""
        error = self._authorised(query)
        if error:
            return error
        buttons = body.get("button") if isinstance(body, dict) else None
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            return {"errcode": 40016, "errmsg": "invalid button size"}
        for b in buttons:
            if len(str(b.get("name", "")).encode()) > 16:
                return {"errcode": 40018, "errmsg": "invalid button name size"}
            subs = b.get("sub_button")
            if subs is not None:
                if not 1 <= len(subs) <= 5:
                    return {"errcode": 40023, "errmsg": "invalid sub button size"}
                for s in subs:
                    if len(str(s.get("name", "")).encode()) > 60:
                        return {"errcode": 40025, "errmsg": "invalid sub button name size"}
                    if s.get("type") == "click" and not s.get("key"):
                        return {"errcode": 40019, "errmsg": "invalid button key size"}
            elif b.get("type") not in ("click", "view"):
                return {"errcode": 40017, "errmsg": "invalid button type"}
        with self.lock:
            self.menus.append(body)
        return {"errcode": 0, "errmsg": "ok"}


def _handler(api: FakeWeChatAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _answer(self, data: dict[str, Any]) -> None:
            raw = json.dumps(data, ensure_ascii=False).encode("utf-8")
            self.send_response(200)  # WeChat answers errors with 200 and an errcode
            self.send_header("Content-Type", "application/json; encoding=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _query(self) -> tuple[str, dict[str, str]]:
            parts = urlsplit(self.path)
            return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}

        def do_GET(self) -> None:
            path, query = self._query()
            if path == "/cgi-bin/token":
                self._answer(api.token(query))
            else:
                self._answer({"errcode": 40066, "errmsg": "invalid url"})

        def do_POST(self) -> None:
            path, query = self._query()
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length).decode("utf-8"))
            except ValueError:
                self._answer({"errcode": 47001, "errmsg": "data format error"})
                return
            if path == "/cgi-bin/message/custom/send":
                self._answer(api.custom_send(query, body))
            elif path == "/cgi-bin/menu/create":
                self._answer(api.menu_create(query, body))
            else:
                self._answer({"errcode": 40066, "errmsg": "invalid url"})

    return Handler


@contextlib.contextmanager
def serve() -> Iterator[FakeWeChatAPI]:
    """Run a fake API on a free loopback port."""
    api = FakeWeChatAPI()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    server.daemon_threads = True
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake_wechat() -> Iterator[FakeWeChatAPI]:
    """A fresh fake WeChat API per test."""
    with serve() as api:
        yield api


def wechat_env(api_url: str, *, safe_mode: bool = True, **extra: str) -> dict[str, str]:
    """The ``WECHAT_*`` variables for a test account against the fake API."""
    env = {"WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET,
           "WECHAT_API_BASE_URL": api_url}
    if safe_mode:
        env["WECHAT_ENCODING_AES_KEY"] = AES_KEY
    env.update(extra)
    return env


# -- callbacks as WeChat's servers send them --------------------------------------------------
_msg_ids = itertools.count(24_000_000_000_000_000)


def next_msg_id() -> int:
    """A fresh 64-bit MsgId."""
    return next(_msg_ids)


def message_xml(openid: str, msg_type: str, *, msg_id: int | None = None, created: int | None = None,
                **fields: str) -> str:
    """A message or event XML; ``fields`` are extra elements (``Content``, ``Event``, ``EventKey``…)."""
    created = created or int(time.time())
    body = [f"<ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>", f"<FromUserName><![CDATA[{openid}]]></FromUserName>",
            f"<CreateTime>{created}</CreateTime>", f"<MsgType><![CDATA[{msg_type}]]></MsgType>"]
    body += [f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()]
    if msg_type != "event":
        body.append(f"<MsgId>{msg_id or next_msg_id()}</MsgId>")
    return "<xml>" + "".join(body) + "</xml>"


def text_xml(openid: str, content: str, msg_id: int | None = None) -> str:
    """A text message."""
    return message_xml(openid, "text", msg_id=msg_id, Content=content)


def event_xml(openid: str, event: str, key: str | None = None, created: int | None = None) -> str:
    """An event (``subscribe``, ``unsubscribe``, ``CLICK`` with its key…)."""
    fields: dict[str, Any] = {"Event": event}
    if key is not None:
        fields["EventKey"] = key
    return message_xml(openid, "event", created=created, **fields)


def signed_query(token: str = TOKEN, *, timestamp: int | None = None, nonce: str | None = None,
                 openid: str | None = None) -> dict[str, str]:
    """``signature``, ``timestamp``, ``nonce`` (and ``openid``) as WeChat puts them in the callback URL."""
    from wechatpy.utils import WeChatSigner

    ts, nonce = str(timestamp or int(time.time())), nonce or secrets.token_hex(5)
    signer = WeChatSigner()
    signer.add_data(token, ts, nonce)
    query = {"signature": signer.signature, "timestamp": ts, "nonce": nonce}
    if openid:
        query["openid"] = openid
    return query


def encrypt(xml: str, query: dict[str, str], token: str = TOKEN, aes_key: str = AES_KEY,
            app_id: str = APP_ID) -> tuple[dict[str, str], str]:
    """Safe mode: the query with ``encrypt_type``/``msg_signature`` and the encrypted body, by wechatpy."""
    import xmltodict
    from wechatpy.crypto import WeChatCrypto

    sealed = WeChatCrypto(token, aes_key, app_id).encrypt_message(xml, query["nonce"], query["timestamp"])
    parsed = xmltodict.parse(sealed)["xml"]
    body = (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<Encrypt><![CDATA[{parsed['Encrypt']}]]></Encrypt></xml>")
    return {**query, "encrypt_type": "aes", "msg_signature": parsed["MsgSignature"]}, body


def callback(client: Any, xml: str, *, safe_mode: bool = True, query: dict[str, str] | None = None,
             body: str | None = None) -> Any:
    """POST ``xml`` to the webhook as WeChat would (signed; encrypted in safe mode)."""
    import re

    openid = re.search(r"<FromUserName><!\[CDATA\[(.*?)\]\]>", xml)
    query = query or signed_query(openid=openid.group(1) if openid else None)
    if safe_mode:
        query, sealed = encrypt(xml, query)
        body = sealed if body is None else body
    return client.post("/channels/wechat/webhook?" + urlencode(query), data=(body or xml).encode("utf-8"),
                       content_type="text/xml")


def reply_text(res: Any, *, safe_mode: bool = True) -> str | None:
    """The passive reply's text (decrypted and its signature checked in safe mode); None for ``success``."""
    assert res.status_code == 200, res.get_data(as_text=True)
    raw = res.get_data(as_text=True)
    return None if raw == "success" else reply_text_xml(raw, safe_mode=safe_mode)


def reply_text_xml(raw: str, *, safe_mode: bool = True) -> str:
    """The text of a passive reply body (decrypted and its signature checked by wechatpy in safe mode)."""
    import xmltodict
    from wechatpy.crypto import WeChatCrypto

    if safe_mode:
        outer = xmltodict.parse(raw)["xml"]
        raw = WeChatCrypto(TOKEN, AES_KEY, APP_ID).decrypt_message(raw, outer["MsgSignature"], outer["TimeStamp"],
                                                                    outer["Nonce"])
    msg = xmltodict.parse(raw)["xml"]
    assert msg["MsgType"] == "text" and msg["FromUserName"] == ACCOUNT
    return str(msg["Content"])
