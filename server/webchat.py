"""Local web chat: one self-contained page (``GET /chat/``) and its JSON relay (``POST /chat/api/message``).

The page never talks to Rasa directly. It posts ``{"sender", "message"}`` to this
blueprint, which validates the input and forwards it to the core's web chat relay
(``POST {RASA_URL}/webhooks/webchat/webhook``, see ``bot/connectors/relay.py``); the
bot's messages come back unchanged as ``{"messages": [...]}``. Whatever goes wrong
with the core, the citizen gets a polite Chinese apology (503), never backend detail.

Settings (read per request, validated once when the blueprint is registered so a bad
value stops the app at start-up; the shared :class:`channels.core.CoreSettings` with the
web chat's own timeout variable):

* ``RASA_URL``: base URL of the core, default ``http://127.0.0.1:${RASA_PORT:-5005}``.
* ``CHAT_TIMEOUT``: seconds to wait for the core (connect and read), default 10.
* ``RELAY_TOKEN``: sent as ``X-Relay-Token`` when set.
* ``SENDER_HASH_SALT``: key of the pseudonymous sender ids in logs.

Sender ids from the page are prefixed with ``webchat-`` before they reach the core, so
a browser can never choose the tracker of an SMS, Telegram or mail conversation.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from flask import Blueprint, Response, jsonify, request
from flask.blueprints import BlueprintSetupState

from channels.core import CoreClient, CoreSettings, CoreUnavailable, InboundMessage
from common.identity import hash_sender

log = logging.getLogger(__name__)

bp = Blueprint("webchat", __name__, url_prefix="/chat")

CHANNEL = "webchat"
RELAY_PATH = f"/webhooks/{CHANNEL}/webhook"
SENDER_PREFIX = "webchat-"
SENDER_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_MESSAGE_CHARS = 2000
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 120.0
# The page gives the server this much longer than CHAT_TIMEOUT before it gives up itself.
CLIENT_TIMEOUT_MARGIN_S = 5.0

UNAVAILABLE_TEXT = "网络或服务暂时不可用，请稍后再试，或拨打12345"


@dataclass(frozen=True)
class ChatSettings(CoreSettings):
    """Where and how the web chat reaches the conversation core (``CHAT_TIMEOUT`` for the timeout)."""

    @property
    def relay_url(self) -> str:
        """Full URL of the web chat relay webhook."""
        return self.rasa_url + RELAY_PATH

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, timeout_var: str = "CHAT_TIMEOUT",
                 default_timeout: float = DEFAULT_TIMEOUT, max_timeout: float = MAX_TIMEOUT) -> Self:
        """Read the settings (``RASA_URL``, ``CHAT_TIMEOUT``, ``RELAY_TOKEN``).

        Raises:
            ValueError: naming every variable that holds an unusable value.
        """
        return super().from_env(env, timeout_var=timeout_var, default_timeout=default_timeout,
                                max_timeout=max_timeout)


@bp.record_once
def _check_settings(state: BlueprintSetupState) -> None:
    # Fail at start-up, not on the first citizen's message.
    ChatSettings.from_env()


def _error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": code, "message": message}), status


@bp.post("/api/message")
def message() -> Any:
    """Relay one message: ``{"sender": str, "message": str}`` → ``{"messages": [...]}``."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _error(400, "bad_request", "请求格式不正确，请刷新页面后重试")
    sender, text = data.get("sender"), data.get("message")
    if not isinstance(sender, str) or not SENDER_RE.fullmatch(sender):
        return _error(400, "bad_sender", "会话标识无效，请刷新页面或点击“新对话”后重试")
    if not isinstance(text, str) or not text.strip():
        return _error(400, "empty_message", "请输入您要咨询的内容")
    text = text.strip()
    if len(text) > MAX_MESSAGE_CHARS:
        return _error(400, "message_too_long", f"消息太长，请控制在{MAX_MESSAGE_CHARS}字以内")

    settings = ChatSettings.from_env()
    core_sender = SENDER_PREFIX + sender
    started = time.monotonic()
    try:
        messages = CoreClient(settings).send_raw(InboundMessage(channel=CHANNEL, sender_id=core_sender, text=text))
    except CoreUnavailable as exc:
        log.warning("webchat: core unavailable (%s) sender=%s after %.0f ms",
                    exc, hash_sender(core_sender), (time.monotonic() - started) * 1000)
        return _error(503, "core_unavailable", UNAVAILABLE_TEXT)
    log.info("webchat: sender=%s chars=%d replies=%d in %.0f ms",
             hash_sender(core_sender), len(text), len(messages), (time.monotonic() - started) * 1000)
    return jsonify({"messages": messages})


@bp.get("/")
def page() -> Response:
    """The chat page: inline CSS and JS under a nonce-based Content-Security-Policy, nothing external."""
    nonce = secrets.token_urlsafe(16)
    client_timeout_ms = int((ChatSettings.from_env().timeout + CLIENT_TIMEOUT_MARGIN_S) * 1000)
    html = PAGE_HTML.replace("__NONCE__", nonce).replace("__CLIENT_TIMEOUT_MS__", str(client_timeout_ms))
    res = Response(html, mimetype="text/html")
    res.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    res.headers["X-Content-Type-Options"] = "nosniff"
    res.headers["Referrer-Policy"] = "no-referrer"
    res.headers["Cache-Control"] = "no-store"
    return res


PAGE_HTML = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>市民服务助手 · 在线咨询</title>
<link rel="icon" href="data:,">
<style nonce="__NONCE__">
  * { box-sizing: border-box; }
  html, body { height: 100%; margin: 0; }
  body {
    font-family: -apple-system, "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC",
      "WenQuanYi Micro Hei", sans-serif;
    font-size: 16px; line-height: 1.6; color: #1f2933; background: #eef1f5;
    display: flex; justify-content: center;
  }
  .app {
    display: flex; flex-direction: column; width: 100%; max-width: 760px; height: 100%;
    background: #fff; box-shadow: 0 0 24px rgba(15, 23, 42, .08);
  }
  header {
    display: flex; align-items: center; justify-content: space-between; gap: 12px;
    padding: 12px 20px; background: #b91c1c; color: #fff;
  }
  header h1 { margin: 0; font-size: 18px; font-weight: 600; letter-spacing: .04em; }
  header .sub { font-size: 13px; opacity: .85; margin-left: 8px; font-weight: 400; }
  header a {
    color: #fff; text-decoration: none; font-size: 14px; padding: 4px 12px;
    border: 1px solid rgba(255, 255, 255, .7); border-radius: 999px;
  }
  header a:hover, header a:focus-visible { background: rgba(255, 255, 255, .15); outline: none; }
  #messages { flex: 1; overflow-y: auto; padding: 20px; display: flex; flex-direction: column; gap: 10px; }
  .hint { margin: auto; max-width: 440px; text-align: center; color: #6b7280; font-size: 14px; }
  .row { display: flex; }
  .row.user { justify-content: flex-end; }
  .bubble {
    max-width: 78%; padding: 9px 14px; border-radius: 14px; white-space: pre-wrap;
    overflow-wrap: anywhere; word-break: break-word;
  }
  .bot .bubble { background: #f1f3f6; border-top-left-radius: 4px; }
  .user .bubble { background: #1d4ed8; color: #fff; border-top-right-radius: 4px; }
  .error .bubble { background: #fef2f2; color: #991b1b; border: 1px solid #fecaca; border-top-left-radius: 4px; }
  .note { align-self: center; color: #6b7280; font-size: 13px; }
  .typing .bubble { color: #6b7280; font-size: 14px; }
  .chips { display: flex; flex-wrap: wrap; gap: 8px; padding-left: 2px; }
  .chip {
    font: inherit; font-size: 14px; padding: 5px 14px; border-radius: 999px; cursor: pointer;
    background: #fff; color: #1d4ed8; border: 1px solid #1d4ed8;
  }
  .chip:hover:not(:disabled), .chip:focus-visible { background: #eff6ff; outline: none; }
  .chip:disabled { cursor: default; color: #9ca3af; border-color: #d1d5db; }
  form { display: flex; gap: 10px; align-items: flex-end; padding: 12px 16px; border-top: 1px solid #e5e7eb; }
  textarea {
    flex: 1; font: inherit; resize: none; min-height: 44px; max-height: 140px; padding: 9px 12px;
    border: 1px solid #cbd2d9; border-radius: 10px;
  }
  textarea:focus { outline: 2px solid #93c5fd; border-color: #1d4ed8; }
  #send {
    font: inherit; height: 44px; padding: 0 22px; border: 0; border-radius: 10px; cursor: pointer;
    background: #1d4ed8; color: #fff;
  }
  #send:disabled { background: #93a5d8; cursor: default; }
  footer { padding: 0 16px 10px; font-size: 12px; color: #6b7280; }
  .sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
</style>
</head>
<body data-timeout-ms="__CLIENT_TIMEOUT_MS__">
<div class="app">
  <header>
    <h1>市民服务助手<span class="sub">在线咨询</span></h1>
    <a href="#" id="new-chat" title="清空当前对话，开始新的对话">新对话</a>
  </header>
  <main id="messages" role="log" aria-live="polite" aria-label="对话记录"></main>
  <form id="composer" autocomplete="off">
    <label class="sr-only" for="input">输入您的问题</label>
    <textarea id="input" name="message" rows="1" maxlength="2000"
      placeholder="请输入您要咨询的事项，例如：办护照要带什么材料"></textarea>
    <button type="submit" id="send">发送</button>
  </form>
  <footer>按 Enter 发送，Shift+Enter 换行。人工服务请拨打 12345 政务服务便民热线。</footer>
</div>
<script nonce="__NONCE__">
(function () {
  "use strict";
  var ERROR_TEXT = "网络或服务暂时不可用，请稍后再试，或拨打12345";
  var EMPTY_TEXT = "暂未收到回复，您可以换个说法再试，或拨打12345咨询。";
  var HINT_TEXT = "您好！请直接输入您要咨询的事项，例如“结婚登记要带什么”“预约办理社保卡”“查询办件进度”。";
  var STORAGE_KEY = "citizen-webchat-sender";
  var SENDER_RE = /^[A-Za-z0-9_-]{1,64}$/;
  var timeoutMs = parseInt(document.body.getAttribute("data-timeout-ms"), 10) || 30000;

  var list = document.getElementById("messages");
  var form = document.getElementById("composer");
  var input = document.getElementById("input");
  var sendButton = document.getElementById("send");
  var newChat = document.getElementById("new-chat");

  var memorySender = null;   // used when sessionStorage is unavailable (private mode, blocked storage)
  var busy = false;
  var generation = 0;        // bumped by 新对话 so late answers of the old conversation are dropped

  function randomId() {
    var bytes = new Uint8Array(16);
    if (window.crypto && window.crypto.getRandomValues) {
      window.crypto.getRandomValues(bytes);
    } else {
      for (var i = 0; i < bytes.length; i++) { bytes[i] = Math.floor(Math.random() * 256); }
    }
    var hex = "";
    for (var j = 0; j < bytes.length; j++) { hex += ("0" + bytes[j].toString(16)).slice(-2); }
    return "w" + hex;
  }

  function storeSender(id) {
    memorySender = id;
    try { window.sessionStorage.setItem(STORAGE_KEY, id); } catch (e) { /* keep it in memory */ }
  }

  function currentSender() {
    var id = null;
    try { id = window.sessionStorage.getItem(STORAGE_KEY); } catch (e) { id = null; }
    if (!id || !SENDER_RE.test(id)) { id = memorySender; }
    if (!id || !SENDER_RE.test(id)) { id = randomId(); }
    storeSender(id);
    return id;
  }

  function scrollDown() { list.scrollTop = list.scrollHeight; }

  function removeHint() {
    var hint = list.querySelector(".hint");
    if (hint) { list.removeChild(hint); }
  }

  function showHint() {
    var p = document.createElement("p");
    p.className = "hint";
    p.textContent = HINT_TEXT;
    list.appendChild(p);
  }

  // Message text always goes through textContent: bot and user text is never parsed as HTML.
  function addBubble(kind, text) {
    removeHint();
    var row = document.createElement("div");
    row.className = "row " + kind;
    var bubble = document.createElement("div");
    bubble.className = "bubble";
    bubble.textContent = text;
    row.appendChild(bubble);
    list.appendChild(row);
    scrollDown();
    return row;
  }

  function addNote(text) {
    var p = document.createElement("p");
    p.className = "note";
    p.textContent = text;
    list.appendChild(p);
    scrollDown();
  }

  function addChips(buttons) {
    var group = document.createElement("div");
    group.className = "chips";
    buttons.forEach(function (b) {
      if (!b || typeof b.payload !== "string" || !b.payload) { return; }
      var title = (typeof b.title === "string" && b.title) ? b.title : b.payload;
      var chip = document.createElement("button");
      chip.type = "button";
      chip.className = "chip";
      chip.textContent = title;
      chip.addEventListener("click", function () { send(b.payload, title); });
      group.appendChild(chip);
    });
    if (!group.firstChild) { return false; }
    list.appendChild(group);
    scrollDown();
    return true;
  }

  // Once the citizen says something new, earlier buttons no longer apply (no double bookings).
  function disableChips() {
    var chips = list.querySelectorAll(".chip");
    for (var i = 0; i < chips.length; i++) { chips[i].disabled = true; }
  }

  function render(messages) {
    var shown = 0;
    messages.forEach(function (m) {
      if (!m || typeof m !== "object") { return; }
      if (typeof m.text === "string" && m.text.trim()) { addBubble("bot", m.text); shown++; }
      if (Array.isArray(m.buttons) && m.buttons.length && addChips(m.buttons)) { shown++; }
      // Messages carrying only "custom" (e.g. a hand-off signal) are for the channel, not for display.
    });
    if (!shown) { addNote(EMPTY_TEXT); }
  }

  function setBusy(value) {
    busy = value;
    sendButton.disabled = value;
  }

  function send(payload, shownText) {
    if (busy) { return false; }
    var sender = currentSender();
    var mine = generation;
    setBusy(true);
    disableChips();
    addBubble("user", shownText);
    var typing = addBubble("bot typing", "正在输入…");
    var controller = window.AbortController ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, timeoutMs) : null;

    fetch("api/message", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ sender: sender, message: payload }),
      credentials: "same-origin",
      signal: controller ? controller.signal : undefined
    }).then(function (res) {
      return res.json().then(
        function (body) { return { ok: res.ok, status: res.status, body: body }; },
        function () { return { ok: false, status: res.status, body: null }; });
    }).then(function (r) {
      if (mine !== generation) { return; }
      if (r.ok && r.body && Array.isArray(r.body.messages)) {
        render(r.body.messages);
      } else if (r.status === 400 && r.body && typeof r.body.message === "string") {
        addBubble("error", r.body.message);
      } else {
        addBubble("error", ERROR_TEXT);
      }
    }).catch(function () {
      if (mine === generation) { addBubble("error", ERROR_TEXT); }
    }).then(function () {
      if (timer) { clearTimeout(timer); }
      if (typing.parentNode) { typing.parentNode.removeChild(typing); }
      if (mine === generation) { setBusy(false); }
    });
    return true;
  }

  function submit() {
    var text = input.value.trim();
    if (!text || busy) { return; }
    if (send(text, text)) {
      input.value = "";
      autosize();
    }
    input.focus();
  }

  function autosize() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight + 2, 140) + "px";
  }

  form.addEventListener("submit", function (e) { e.preventDefault(); submit(); });

  input.addEventListener("keydown", function (e) {
    // Enter while a Chinese IME is composing picks a candidate; it must not send.
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      submit();
    }
  });

  input.addEventListener("input", autosize);

  newChat.addEventListener("click", function (e) {
    e.preventDefault();
    generation++;
    storeSender(randomId());
    while (list.firstChild) { list.removeChild(list.firstChild); }
    showHint();
    setBusy(false);
    input.value = "";
    autosize();
    input.focus();
  });

  currentSender();
  showHint();
  input.focus();
})();
</script>
</body>
</html>
"""
