// Agent queue (人工坐席): polls the queue and the open conversation; sends replies without a reload.
(function () {
  "use strict";
  var QUEUE_MS = 3000, CHAT_MS = 1500;
  var WHO = { citizen: "市民", agent: "坐席", bot: "系统" };

  function getJSON(url) {
    return fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (res) { return res.ok ? res.json() : null; });
  }

  var queue = document.getElementById("agent-queue");
  if (queue) {
    // The queue's rows and figures change with every agent's action: reload the page's content when they do.
    var known = queue.querySelectorAll("tbody tr[data-id]").length + ":" +
      Array.prototype.map.call(queue.querySelectorAll("tbody tr[data-id]"), function (r) {
        return r.getAttribute("data-id") + r.querySelector(".badge").className; }).join(",");
    var tick = function () {
      getJSON(queue.getAttribute("data-poll")).then(function (data) {
        if (data) {
          var now = data.rows.length + ":" + data.rows.map(function (r) { return r.id + "badge " + r.state; }).join(",");
          if (now !== known) { window.location.reload(); return; }
        }
        setTimeout(tick, QUEUE_MS);
      }).catch(function () { setTimeout(tick, QUEUE_MS * 3); });
    };
    setTimeout(tick, QUEUE_MS);
  }

  var transcript = document.getElementById("transcript");
  if (!transcript) { return; }
  var after = parseInt(transcript.getAttribute("data-after"), 10) || 0;
  var state = null;

  function addLine(m) {
    if (m.id <= after) { return; }
    after = m.id;
    var line = document.createElement("div");
    line.className = "line " + m.author;
    line.setAttribute("data-id", m.id);
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = WHO[m.author] || m.author;
    var bubble = document.createElement("span");
    bubble.className = "bubble";
    bubble.textContent = m.text;
    line.appendChild(who);
    line.appendChild(document.createTextNode(" "));
    line.appendChild(bubble);
    transcript.appendChild(line);
    transcript.scrollTop = transcript.scrollHeight;
  }

  function poll() {
    getJSON(transcript.getAttribute("data-poll") + "?after=" + after).then(function (data) {
      if (data) {
        data.messages.forEach(addLine);
        if (state !== null && data.state !== state) { window.location.reload(); return; }
        state = data.state;
      }
      setTimeout(poll, CHAT_MS);
    }).catch(function () { setTimeout(poll, CHAT_MS * 3); });
  }
  transcript.scrollTop = transcript.scrollHeight;
  setTimeout(poll, CHAT_MS);

  var canned = document.getElementById("canned");
  var text = document.getElementById("reply-text");
  if (canned && text) {
    canned.addEventListener("change", function () {
      if (canned.value) { text.value = canned.value; text.focus(); }
      canned.value = "";
    });
  }
  var form = document.getElementById("reply-form");
  if (form && text) {
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (!text.value.trim()) { return; }
      var body = new FormData(form);
      fetch(form.action, { method: "POST", body: body, credentials: "same-origin",
                           headers: { "Accept": "application/json" } })
        .then(function (res) { return res.json(); })
        .then(function (r) {
          if (r && r.ok) { text.value = ""; } else { alert((r && r.error) || "发送失败，请重试"); }
        }).catch(function () { alert("发送失败，请重试"); });
    });
    text.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { form.requestSubmit(); }
    });
  }
})();
