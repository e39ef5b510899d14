"""Unanswered-questions inbox: grouped, masked; attach as a phrasing, start a draft, or dismiss."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from console.inbox import group_questions, mask_pii
from console.web import flash_errors
from console.web.deps import casework_repo, knowledge_repo, search
from console.web.security import actor, requires
from knowledge.repository import NotFound
from knowledge.validation import ValidationError

bp = Blueprint("staff_inbox", __name__, url_prefix="/staff/unanswered", template_folder="../templates")
MAX_GROUPS_SHOWN = 100
CHANNEL_LABELS = {"webchat": "网页聊天", "sms": "短信", "voice": "语音", "twilio_voice": "语音", "mail": "邮件",
                  "email": "邮件", "telegram": "Telegram", "rest": "接口"}
REASON_LABELS = {"no_match": "未找到答案", "low_confidence": "低置信度回答"}


def _ids() -> list[int]:
    ids = [int(i) for i in request.form.get("ids", "").split(",") if i.strip().isdigit()]
    if not ids:
        abort(400)
    return ids


@bp.get("")
@requires("view")
def index() -> Any:
    """Open questions grouped by similarity, most asked first, with suggested FAQs."""
    rows = casework_repo().open_unanswered()
    groups = group_questions(rows)[:MAX_GROUPS_SHOWN]
    engine = search()
    repo = knowledge_repo()
    names = {s.id: s.name for s in repo.list_services()}
    suggestions: dict[int, list[Any]] = {}
    for g in groups:
        hits = [h for h in engine.search(g.question, k=5) if h.faq_id is not None][:3]
        suggestions[g.ids[0]] = hits

    def draft_url(g: Any) -> str:
        args = [("question", g.question)] + ([("service_id", g.best_service_id)] if g.best_service_id else [])
        args += [("inbox_id", str(i)) for i in g.ids]
        return url_for("staff_faqs.create") + "?" + urlencode(args)

    return render_template("staff/inbox.html", groups=groups, total=len(rows), suggestions=suggestions,
                           names=names, draft_url=draft_url, channel_labels=CHANNEL_LABELS,
                           reason_labels=REASON_LABELS)


@bp.post("/attach")
@requires("inbox.triage")
def attach() -> Any:
    """Add the question as an alternative phrasing of an FAQ (live at once if it is published)."""
    ids = _ids()
    phrasing = mask_pii(request.form.get("phrasing", "")).strip()[:1000]
    faq_id = request.form.get("faq_id", "").strip().lstrip("#")
    if not faq_id.isdigit():
        flash("请填写常见问题编号", "error")
        return redirect(url_for("staff_inbox.index"))
    try:
        faq = knowledge_repo().add_faq_alternative(int(faq_id), phrasing, actor=actor())
    except NotFound:
        flash(f"常见问题 #{faq_id} 不存在", "error")
        return redirect(url_for("staff_inbox.index"))
    except ValidationError as exc:
        flash_errors(exc.errors)
        return redirect(url_for("staff_inbox.index"))
    changed = casework_repo().set_unanswered_status(ids, "attached")
    knowledge_repo().record_event(actor=actor(), action="inbox_attach", entity_type="unanswered",
                                  entity_id=str(ids[0]), note=f"{changed} question(s) -> faq #{faq.id}: {phrasing}")
    flash(f"已把“{phrasing}”加为常见问题 #{faq.id} 的问法（{changed} 条提问已处理）。", "success")
    return redirect(url_for("staff_inbox.index"))


@bp.post("/dismiss")
@requires("inbox.triage")
def dismiss() -> Any:
    """Dismiss a group (not a knowledge gap: chit-chat, out of scope, spam)."""
    ids = _ids()
    changed = casework_repo().set_unanswered_status(ids, "dismissed")
    knowledge_repo().record_event(actor=actor(), action="inbox_dismiss", entity_type="unanswered",
                                  entity_id=str(ids[0]), note=f"{changed} question(s)")
    flash(f"已忽略 {changed} 条提问。", "success")
    return redirect(url_for("staff_inbox.index"))
