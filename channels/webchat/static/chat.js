(function () {
  "use strict";
  var ERROR_TEXT = "网络或服务暂时不可用，请稍后再试，或拨打12345";
  var EMPTY_TEXT = "暂未收到回复，您可以换个说法再试，或拨打12345咨询。";
  var HINT_TEXT = "您好！请直接输入您要咨询的事项，例如“结婚登记要带什么”“预约办理社保卡”“查询办件进度”。";
  var timeoutMs = parseInt(document.body.getAttribute("data-timeout-ms"), 10) || 30000;

  var list = document.getElementById("messages");
  var form = document.getElementById("composer");
  var input = document.getElementById("input");
  var sendButton = document.getElementById("send");
  var newChat = document.getElementById("new-chat");

  // The conversation is named by the server's HttpOnly session cookie; the page never sees it.
  var busy = false;
  var generation = 0;        // bumped by 新对话 so late answers of the old conversation are dropped
  var POLL_MS = 1500;        // while a live agent session is open, the agent's replies are fetched this often
  var LIVE_STATES = { queued: 1, relayed: 1, waiting: 1, active: 1 };
  var pollTimer = null;

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

  // The live agent desk marks its messages with custom.live_agent (see channels.core.LIVE_AGENT_HINT).
  function liveState(messages) {
    var state = null;
    messages.forEach(function (m) {
      if (m && m.custom && typeof m.custom.live_agent === "string") { state = m.custom.live_agent; }
    });
    return state;
  }

  function stopPolling() {
    if (pollTimer) { clearTimeout(pollTimer); pollTimer = null; }
  }

  function poll(mine) {
    pollTimer = null;
    fetch("api/poll", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: "{}",
      credentials: "same-origin"
    }).then(function (res) { return res.ok ? res.json() : null; }).then(function (body) {
      if (mine !== generation) { return; }
      var messages = body && Array.isArray(body.messages) ? body.messages : [];
      if (messages.length) { render(messages, true); }
      if (liveState(messages) !== "ended") { pollTimer = setTimeout(function () { poll(mine); }, POLL_MS); }
    }).catch(function () {
      if (mine === generation) { pollTimer = setTimeout(function () { poll(mine); }, POLL_MS * 4); }
    });
  }

  function followLive(messages) {
    var state = liveState(messages);
    if (state && LIVE_STATES[state] && !pollTimer) {
      var mine = generation;
      pollTimer = setTimeout(function () { poll(mine); }, POLL_MS);
    }
  }

  function render(messages, quiet) {
    var shown = 0;
    if (liveState(messages) === "relayed") { quiet = true; }  // passed to the agent: nothing to show
    messages.forEach(function (m) {
      if (!m || typeof m !== "object") { return; }
      if (typeof m.text === "string" && m.text.trim()) { addBubble("bot", m.text); shown++; }
      if (Array.isArray(m.buttons) && m.buttons.length && addChips(m.buttons)) { shown++; }
      // Messages carrying only "custom" (e.g. a hand-off signal) are for the channel, not for display.
    });
    if (!shown && !quiet) { addNote(EMPTY_TEXT); }
    followLive(messages);
  }

  function setBusy(value) {
    busy = value;
    sendButton.disabled = value;
  }

  function send(payload, shownText) {
    if (busy) { return false; }
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
      body: JSON.stringify({ message: payload }),
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
      } else if (r.status === 429 && r.body && typeof r.body.message === "string") {
        // Too fast: nothing was sent; give the typed text back so it can be sent again.
        addBubble("error", r.body.message);
        if (!input.value && payload.charAt(0) !== "/") { input.value = payload; autosize(); }
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
    stopPolling();
    var mine = generation;
    setBusy(true);  // until the new session is set, so no message goes out under the old one
    // A new server-issued session; the old conversation's answers are dropped either way.
    fetch("api/session", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: "{}",
      credentials: "same-origin"
    }).catch(function () { /* the next message still goes out; the server keeps the old session */ })
      .then(function () { if (mine === generation) { setBusy(false); } });
    while (list.firstChild) { list.removeChild(list.firstChild); }
    showHint();
    input.value = "";
    autosize();
    input.focus();
  });

  // Notices for this session (a department's reply, a status change) arrive while the page is closed.
  function loadNotices() {
    fetch("api/notices", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
      credentials: "same-origin"
    }).then(function (res) { return res.ok ? res.json() : { notices: [] }; })
      .then(function (body) {
        (body.notices || []).forEach(function (n) { addBubble("bot", n.text); });
      })
      .catch(function () { /* the next visit shows them */ });
  }

  showHint();
  loadNotices();
  input.focus();
})();
