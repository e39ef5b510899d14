"""FAQs: list and filters, create and edit, review (approve / reject), history and rollback, preview."""

from __future__ import annotations

import datetime as dt
from math import ceil
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from common.clock import city_today
from common.status import TOPIC_LABELS
from common.textnorm import normalize
from console.web import flash_errors
from console.web import preview as channel_preview
from console.web.deps import casework_repo, knowledge_repo, workflow
from console.web.diff import field_diffs
from console.web.forms import FaqForm, choices
from console.web.security import actor, requires
from console.workflow import EXPIRY_WINDOW_DAYS, FAQ_CONTENT_FIELDS, WorkflowError, proposal_preview
from knowledge import channel_forms
from knowledge.models import Faq, FaqStatus
from knowledge.repository import NotFound
from knowledge.validation import ValidationError

bp = Blueprint("staff_faqs", __name__, url_prefix="/staff", template_folder="../templates")
PAGE_SIZE = 50


def _limits() -> dict[str, int]:
    return {"sms_max": channel_forms.SMS_MAX_UNITS, "spoken_max": int(channel_forms.SPOKEN_MAX_SECONDS)}


def _get_faq(faq_id: int) -> Faq:
    try:
        return knowledge_repo().get_faq(faq_id)
    except NotFound:
        abort(404)


def _service_choices() -> list[Any]:
    return choices([("", "（不关联）")] + [(s.id, f"{s.name}（{s.id}）") for s in knowledge_repo().list_services()])


def filter_faqs(faqs: list[Faq], services: dict[str, Any], args: dict[str, str],
                today: dt.date) -> list[Faq]:
    """FAQs matching the list's search box and filters."""
    q = normalize(args.get("q", "")).lower()
    out = []
    for f in faqs:
        svc = services.get(f.service_id or "")
        if args.get("status") and f.status.value != args["status"]:
            continue
        if args.get("service_id") and f.service_id != args["service_id"]:
            continue
        if args.get("category") and (svc is None or svc.category != args["category"]):
            continue
        if args.get("audience") and (svc is None or svc.audience.value != args["audience"]):
            continue
        if args.get("department") and args["department"] not in (f.owner_department, svc.department if svc else ""):
            continue
        if args.get("expiring") and not (f.expires_on and today <= f.expires_on
                                         <= today + dt.timedelta(days=EXPIRY_WINDOW_DAYS)):
            continue
        if q:
            hay = normalize(" ".join([f.question, *f.alternatives, f.answer])).lower()
            if q not in hay:
                continue
        out.append(f)
    return out


@bp.get("/faqs")
@requires("view")
def index() -> Any:
    """FAQ list with search and filters (category, department, audience, status, expiring soon)."""
    repo = knowledge_repo()
    services = {s.id: s for s in repo.list_services()}
    args = {k: v.strip() for k, v in request.args.items() if k != "page" and v.strip()}
    rows = filter_faqs(repo.list_faqs(), services, args, city_today())
    pages = max(1, ceil(len(rows) / PAGE_SIZE))
    page = min(max(1, request.args.get("page", 1, type=int) or 1), pages)

    def page_args(n: int) -> str:
        return urlencode({**args, "page": n})

    return render_template(
        "staff/faqs.html", rows=rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], total=len(rows), page=page,
        pages=pages, page_args=page_args, args=args, services=services,
        categories=sorted({s.category for s in services.values()}),
        departments=sorted({s.department for s in services.values()}
                           | {f.owner_department for f in repo.list_faqs() if f.owner_department}),
        statuses=[s.value for s in FaqStatus], topic_labels=TOPIC_LABELS)


@bp.route("/faqs/new", methods=["GET", "POST"])
@requires("faq.edit")
def create() -> Any:
    """A new FAQ, saved as a draft (optionally prefilled from the unanswered inbox)."""
    form = FaqForm()
    form.service_id.choices = _service_choices()
    inbox_ids = [int(i) for i in request.values.getlist("inbox_id") if i.isdigit()]
    if request.method == "GET":
        form.question.data = request.args.get("question", "")
        form.service_id.data = request.args.get("service_id", "")
    if form.validate_on_submit():
        try:
            faq = workflow().create_draft(form.data_dict(), actor=actor())
        except ValidationError as exc:
            flash_errors(exc.errors)
        else:
            if inbox_ids:
                casework_repo().set_unanswered_status(inbox_ids, "drafted")
            flash(f"草稿 #{faq.id} 已保存。提交审核并经他人批准后才会对市民生效。", "success")
            return redirect(url_for("staff_faqs.detail", faq_id=faq.id))
    return render_template("staff/faq_form.html", form=form, faq=None, inbox_ids=inbox_ids, **_limits())


@bp.get("/faqs/<int:faq_id>")
@requires("view")
def detail(faq_id: int) -> Any:
    """One FAQ with its workflow state, pending change and review history."""
    faq = _get_faq(faq_id)
    wf = workflow()
    proposal = wf.open_proposal(faq_id)
    diffs = []
    if proposal is not None:
        diffs = field_diffs({k: v for k, v in _content(faq).items()}, proposal_preview(faq, proposal),
                            list(proposal.data))
    service = None
    if faq.service_id:
        try:
            service = knowledge_repo().get_service(faq.service_id)
        except NotFound:
            service = None
    return render_template("staff/faq_detail.html", faq=faq, proposal=proposal, diffs=diffs,
                           events=wf.review_events(faq_id), authors=wf.authors(faq_id), service=service,
                           live=faq.is_live(city_today()), topic_labels=TOPIC_LABELS,
                           short_problems=channel_forms.faq_problems(faq))


def _content(faq: Faq) -> dict[str, Any]:
    from console.workflow import content_of
    from knowledge.repository import snapshot

    return content_of(snapshot(faq))


@bp.route("/faqs/<int:faq_id>/edit", methods=["GET", "POST"])
@requires("faq.edit")
def edit(faq_id: int) -> Any:
    """Edit in place (drafts) or as a proposal awaiting review (published FAQs)."""
    faq = _get_faq(faq_id)
    wf = workflow()
    proposal = wf.open_proposal(faq_id)
    form = FaqForm()
    form.service_id.choices = _service_choices()
    if request.method == "GET":
        data = proposal_preview(faq, proposal) if proposal is not None else _content(faq)
        form.question.data = data["question"]
        form.alternatives.data = "\n".join(data["alternatives"] or [])
        form.answer.data = data["answer"]
        form.sms_text.data = data.get("sms_text") or ""
        form.spoken_text.data = data.get("spoken_text") or ""
        form.service_id.data = data["service_id"] or ""
        form.topic.data = data["topic"]
        form.owner_department.data = data["owner_department"]
        form.effective_from.data = dt.date.fromisoformat(data["effective_from"]) if data["effective_from"] else None
        form.expires_on.data = dt.date.fromisoformat(data["expires_on"]) if data["expires_on"] else None
    if form.validate_on_submit():
        try:
            result = wf.edit(faq_id, form.data_dict(), actor=actor())
        except ValidationError as exc:
            flash_errors(exc.errors)
        except WorkflowError as exc:
            flash(str(exc), "error")
        else:
            if isinstance(result, Faq):
                flash("已保存为草稿。", "success")
            else:
                flash("修改已保存为待提交的变更；已发布的答案在审核通过前保持不变。", "success")
            return redirect(url_for("staff_faqs.detail", faq_id=faq_id))
    return render_template("staff/faq_form.html", form=form, faq=faq, inbox_ids=[], **_limits())


def _step(faq_id: int, fn: Any, done: str) -> Any:
    _get_faq(faq_id)
    try:
        fn()
    except WorkflowError as exc:
        flash(str(exc), "error")
    except ValidationError as exc:
        flash_errors(exc.errors)
    else:
        flash(done, "success")
    return redirect(request.form.get("back") or url_for("staff_faqs.detail", faq_id=faq_id))


@bp.post("/faqs/<int:faq_id>/submit")
@requires("faq.edit")
def submit(faq_id: int) -> Any:
    """Ask a reviewer to approve."""
    return _step(faq_id, lambda: workflow().submit(faq_id, actor=actor()), "已提交审核。")


@bp.post("/faqs/<int:faq_id>/withdraw")
@requires("faq.edit")
def withdraw(faq_id: int) -> Any:
    """Take a submission back (or discard a pending change)."""
    return _step(faq_id, lambda: workflow().withdraw(faq_id, actor=actor()), "已撤回。")


@bp.post("/faqs/<int:faq_id>/approve")
@requires("faq.review")
def approve(faq_id: int) -> Any:
    """Publish (live at once); never one's own work."""
    comment = request.form.get("comment", "")
    return _step(faq_id, lambda: workflow().approve(faq_id, actor=actor(), comment=comment),
                 "已批准并发布，市民立即可以查到。")


@bp.post("/faqs/<int:faq_id>/reject")
@requires("faq.review")
def reject(faq_id: int) -> Any:
    """Send back with a comment."""
    comment = request.form.get("comment", "")
    return _step(faq_id, lambda: workflow().reject(faq_id, actor=actor(), comment=comment), "已退回。")


@bp.post("/faqs/<int:faq_id>/archive")
@requires("faq.manage")
def archive(faq_id: int) -> Any:
    """Stop serving an FAQ at once."""
    return _step(faq_id, lambda: workflow().set_archived(faq_id, True, actor=actor()), "已归档，不再对市民提供。")


@bp.post("/faqs/<int:faq_id>/restore")
@requires("faq.manage")
def restore(faq_id: int) -> Any:
    """Bring an archived FAQ back as a draft."""
    return _step(faq_id, lambda: workflow().set_archived(faq_id, False, actor=actor()), "已恢复为草稿。")


@bp.get("/faqs/<int:faq_id>/history")
@requires("view")
def history(faq_id: int) -> Any:
    """Every version with a readable diff and one-click rollback."""
    faq = _get_faq(faq_id)
    versions = workflow().history("faq", faq_id)
    rows = [(v, field_diffs(v.before, v.after, v.changed)) for v in versions]
    return render_template("staff/history.html", title=f"常见问题 #{faq.id} 的版本历史", rows=rows,
                           current_version=faq.version,
                           rollback=lambda n: url_for("staff_faqs.rollback", faq_id=faq_id, version=n),
                           back=url_for("staff_faqs.detail", faq_id=faq_id), can_rollback="faq.manage")


@bp.post("/faqs/<int:faq_id>/rollback/<int:version>")
@requires("faq.manage")
def rollback(faq_id: int, version: int) -> Any:
    """Restore the content of an earlier version as a new version."""
    _get_faq(faq_id)
    try:
        faq = workflow().rollback_faq(faq_id, version, actor=actor())
    except NotFound:
        abort(404)
    except ValidationError as exc:
        flash_errors(exc.errors)
        return redirect(url_for("staff_faqs.history", faq_id=faq_id))
    except WorkflowError as exc:
        flash(str(exc), "error")
        return redirect(url_for("staff_faqs.history", faq_id=faq_id))
    flash(f"已回滚到第 {version} 版的内容（现为第 {faq.version} 版）。", "success")
    return redirect(url_for("staff_faqs.detail", faq_id=faq_id))


@bp.get("/faqs/<int:faq_id>/preview")
@requires("view")
def preview(faq_id: int) -> Any:
    """The answer (or its pending change with ``?proposed=1``) as each channel would deliver it."""
    faq = _get_faq(faq_id)
    content = _content(faq)
    proposal = workflow().open_proposal(faq_id)
    if request.args.get("proposed") and proposal is not None:
        content = proposal_preview(faq, proposal)
    return _render_preview(faq.question, content["answer"], back=url_for("staff_faqs.detail", faq_id=faq_id),
                           sms_text=content.get("sms_text") or "", spoken_text=content.get("spoken_text") or "")


@bp.post("/faqs/preview")
@requires("view")
def preview_text() -> Any:
    """Preview of an answer being written (from the edit form; nothing is saved)."""
    form = request.form
    return _render_preview(form.get("question", ""), form.get("answer", "")[:20000], back=None,
                           sms_text=form.get("sms_text", "")[:500], spoken_text=form.get("spoken_text", "")[:500])


def _render_preview(question: str, text: str, back: str | None, sms_text: str = "", spoken_text: str = "") -> Any:
    # The SMS and voice renderings come from the channels themselves, handed over by the app server.
    render_channels = current_app.extensions.get("channel_preview")
    previews = render_channels(text) if render_channels else None
    short = {"sms": sms_text.strip(), "sms_units": channel_forms.sms_units(sms_text.strip()),
             "sms_max": channel_forms.SMS_MAX_UNITS, "sms_problems": channel_forms.sms_problems(sms_text),
             "spoken": spoken_text.strip(), "spoken_seconds": channel_forms.spoken_seconds(spoken_text.strip()),
             "spoken_max": channel_forms.SPOKEN_MAX_SECONDS,
             "spoken_problems": channel_forms.spoken_problems(spoken_text)}
    return render_template(
        "staff/preview.html", question=question, text=text, back=back, previews=previews, short=short,
        links=channel_preview.urls(text), segments=channel_preview.link_segments(text))


@bp.get("/review")
@requires("view")
def review_queue() -> Any:
    """Everything waiting for a second person's approval."""
    items = workflow().review_queue()
    diffs = {}
    for item in items:
        if item.proposal is not None:
            diffs[item.proposal.id] = field_diffs(_content(item.faq), proposal_preview(item.faq, item.proposal),
                                                  list(item.proposal.data))
    return render_template("staff/review.html", items=items, diffs=diffs)


@bp.get("/expiring")
@requires("view")
def expiring() -> Any:
    """FAQs whose expiry date is within the next 30 days, soonest first."""
    today = city_today()
    return render_template("staff/expiring.html", rows=workflow().expiring(today=today), today=today,
                           days=EXPIRY_WINDOW_DAYS)


__all__ = ["FAQ_CONTENT_FIELDS", "bp", "filter_faqs"]
