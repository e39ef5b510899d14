"""The agent queue (人工坐席): take a conversation, talk to the citizen on their channel, end it.

Everything lives in the database (:mod:`casework.handoff`), so any number of app-server
processes serve the same queue. The app server's live-agent desk
(``app.extensions["live_agent_desk"]``, :mod:`server.live_agent`) does what reaches a
citizen or the core: taking (the citizen hears an agent is on it), replies through the
channel's own renderer and sender, ending (the bot resumes and asks for a rating) and
handing back to the bot. Personal data in the summary and transcript is masked until the
agent reveals it, which is audited. The pages poll JSON endpoints (no CDN, no websocket).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, session, url_for

from casework.handoff import DeliveryFailed, HandoffRepository, LiveMessage, TakeRefused
from common.pii import mask_text, mask_value
from console.models import Role
from console.web.deps import accounts, factory, knowledge_repo
from console.web.security import actor, requires

bp = Blueprint("staff_agents", __name__, url_prefix="/staff/agents", template_folder="../templates")

CANNED_FILE = Path(__file__).resolve().parent.parent / "agent_replies.yml"
MAX_REPLY_CHARS = 1000
CHANNEL_LABELS = {"webchat": "网页", "sms": "短信", "telegram": "Telegram"}
REASON_LABELS = {"requested": "主动转人工", "not_understood": "连续未理解", "dissatisfied": "非常不满意"}
STATE_LABELS = {"waiting": "排队中", "active": "服务中", "ended": "已结束", "expired": "未接入"}


@lru_cache(maxsize=1)
def canned_replies() -> list[dict[str, str]]:
    """The committed canned replies (``console/agent_replies.yml``)."""
    rows = yaml.safe_load(CANNED_FILE.read_text(encoding="utf-8")) or []
    return [{"title": str(r["title"]), "text": str(r["text"])} for r in rows]


def _repo() -> HandoffRepository:
    ext = current_app.extensions
    if "staff_handoff" not in ext:
        ext["staff_handoff"] = HandoffRepository(factory())
    return ext["staff_handoff"]


def _desk() -> Any:
    desk = current_app.extensions.get("live_agent_desk")
    if desk is None:
        abort(503)
    return desk


def _revealed(session_id: int) -> bool:
    return session_id in session.get("agent_revealed", [])


def _message_json(m: LiveMessage, reveal: bool) -> dict[str, Any]:
    return {"id": m.id, "author": m.author, "agent": m.agent, "text": m.text if reveal else mask_text(m.text),
            "at": m.created_at.isoformat()}


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def _queue_rows() -> list[dict[str, Any]]:
    return [{"id": q.id, "channel": CHANNEL_LABELS.get(q.channel, q.channel),
             "reason": REASON_LABELS.get(q.reason, q.reason), "state": q.state,
             "state_label": STATE_LABELS.get(q.state, q.state), "agent": q.agent,
             "queued_at": q.queued_at.isoformat(), "queued": q.queued_at, "intent": q.summary.get("intent", ""),
             "service": q.summary.get("service", "")} for q in _repo().queue()]


@bp.get("/")
@requires("agent.desk")
def queue() -> str:
    """The live queue across channels, oldest first, with the desk's figures."""
    _desk().expire_overdue()
    return render_template("staff/agents/queue.html", rows=_queue_rows(), stats=_repo().stats(),
                           channel_labels=CHANNEL_LABELS, reason_labels=REASON_LABELS)


@bp.get("/queue.json")
@requires("agent.desk")
def queue_json() -> Any:
    """The queue and figures for the page's polling (which also closes sessions nobody took in time)."""
    _desk().expire_overdue()
    rows = [{k: v for k, v in r.items() if k != "queued"} for r in _queue_rows()]
    return jsonify({"rows": rows, "stats": _repo().stats()})


@bp.post("/<int:session_id>/take")
@requires("agent.desk")
def take(session_id: int) -> Any:
    """Take a waiting conversation; exactly one of several agents trying at once gets it."""
    try:
        _desk().take(session_id, actor())
    except TakeRefused:
        flash("该会话已被其他坐席接入或已结束。", "error")
        return redirect(url_for(".queue"))
    except DeliveryFailed:
        flash("已接入，但通知市民失败（渠道未配置或暂不可用）。", "error")
    return redirect(url_for(".conversation", session_id=session_id))


@bp.get("/<int:session_id>")
@requires("agent.desk")
def conversation(session_id: int) -> str:
    """One conversation: the summary before the hand-off, the transcript, the reply box."""
    row = _repo().get(session_id)
    if row is None:
        abort(404)
    reveal = _revealed(session_id)
    summary = dict(row.summary or {}) if reveal else mask_value(dict(row.summary or {}))
    services = {s.id: s.name for s in knowledge_repo().list_services()}
    agents = [u.username for u in accounts().list()
              if u.active and u.role in (Role.agent, Role.admin) and u.username != actor()]
    messages = [_message_json(m, reveal) for m in _repo().messages(session_id)]
    return render_template("staff/agents/conversation.html", row=row, summary=summary, reveal=reveal,
                           owner=_repo().owner(session_id), me=actor(), messages=messages, canned=canned_replies(),
                           agents=agents, service_name=services.get(summary.get("service") or "", ""),
                           channel_labels=CHANNEL_LABELS, reason_labels=REASON_LABELS, state_labels=STATE_LABELS)


@bp.get("/<int:session_id>/messages.json")
@requires("agent.desk")
def messages_json(session_id: int) -> Any:
    """New transcript messages after ``?after=<id>`` and the session's state."""
    row = _repo().get(session_id)
    if row is None:
        abort(404)
    after = request.args.get("after", "0")
    rows = _repo().messages(session_id, int(after) if after.isdigit() else 0)
    reveal = _revealed(session_id)
    return jsonify({"state": row.state, "owner": _repo().owner(session_id),
                    "messages": [_message_json(m, reveal) for m in rows]})


@bp.post("/<int:session_id>/reveal")
@requires("agent.desk")
def reveal(session_id: int) -> Any:
    """Show the personal data of this conversation to this agent (audited)."""
    if _repo().get(session_id) is None:
        abort(404)
    session["agent_revealed"] = [*session.get("agent_revealed", [])[-50:], session_id]
    knowledge_repo().record_event(actor=actor(), action="reveal_pii", entity_type="live_session",
                                  entity_id=str(session_id), note="agent revealed personal data")
    return redirect(url_for(".conversation", session_id=session_id))


@bp.post("/<int:session_id>/reply")
@requires("agent.desk")
def reply(session_id: int) -> Any:
    """Send the agent's reply to the citizen on their channel."""
    text = (request.form.get("text") or "").strip()
    problem = None
    if not text:
        problem = "请输入回复内容。"
    elif len(text) > MAX_REPLY_CHARS:
        problem = f"回复太长，请控制在{MAX_REPLY_CHARS}字以内。"
    else:
        try:
            _desk().reply(session_id, actor(), text)
        except TakeRefused:
            problem = "您已不再负责该会话。"
        except DeliveryFailed:
            problem = "发送失败：该渠道暂不可用，请稍后重试。"
    if _wants_json():
        return jsonify({"ok": problem is None, "error": problem}), (200 if problem is None else 409)
    if problem:
        flash(problem, "error")
    return redirect(url_for(".conversation", session_id=session_id))


@bp.post("/<int:session_id>/transfer")
@requires("agent.desk")
def transfer(session_id: int) -> Any:
    """Give the conversation to another agent."""
    to = (request.form.get("to") or "").strip()
    target = accounts().by_username(to) if to else None
    if target is None or not target.active or target.role not in (Role.agent, Role.admin):
        flash("请选择一位在岗坐席。", "error")
        return redirect(url_for(".conversation", session_id=session_id))
    if _desk().transfer(session_id, actor(), to):
        knowledge_repo().record_event(actor=actor(), action="transfer", entity_type="live_session",
                                      entity_id=str(session_id), note=f"to {to}")
        flash(f"已转给 {to}。", "success")
        return redirect(url_for(".queue"))
    flash("您已不再负责该会话。", "error")
    return redirect(url_for(".conversation", session_id=session_id))


@bp.post("/<int:session_id>/end")
@requires("agent.desk")
def end(session_id: int) -> Any:
    """End the session (``back=1``: hand the conversation back to the bot without a rating question)."""
    back = request.form.get("back") == "1"
    try:
        _desk().end(session_id, actor(), back_to_bot=back)
    except TakeRefused:
        flash("您已不再负责该会话。", "error")
        return redirect(url_for(".conversation", session_id=session_id))
    except DeliveryFailed:
        flash("会话已结束，但结束通知未能送达市民。", "error")
    else:
        flash("已交回智能助手。" if back else "已结束人工服务，市民将收到满意度评价。", "success")
    return redirect(url_for(".queue"))
