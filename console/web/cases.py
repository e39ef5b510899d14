"""The case desk (工单): queue, case page, and the transitions staff make.

Dispatchers (and admins) see every case and route them; a handler sees and works only
the cases of their own department (others answer 404, so numbers cannot be probed).
Contact details stay sealed until a member asks to see them on the case page; every
reveal is written to the audit log.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from casework.cases import CaseDesk, CaseError, QueueFilter, effective_status, is_overdue, load_rules, wired_desk
from casework.departments import department_names
from casework.models import Case
from common.clock import CITY_TZ
from common.status import CASE_KIND_LABELS, CASE_STATUS_LABELS, CaseStatus
from console.web.deps import factory
from console.web.forms import CaseAssignForm, CaseCloseForm, CaseReasonForm, CaseReplyForm, ReplyTemplateForm
from console.web.security import actor, requires
from knowledge.models import utcnow

bp = Blueprint("staff_cases", __name__, url_prefix="/staff/cases", template_folder="../templates")
QUEUE_STATUSES = {k: v for k, v in CASE_STATUS_LABELS.items() if k != CaseStatus.done}


def case_desk() -> CaseDesk:
    """The app's case desk (built on first use).

    The composition root may put one with ``notify``/``on_route`` hooks in
    ``app.extensions["case_desk"]`` before the first request.
    """
    ext = current_app.extensions
    if "case_desk" not in ext:
        ext["case_desk"] = wired_desk(factory())
    return ext["case_desk"]


def _visible(number: str) -> Case:
    """The case, if the signed-in member may see it (404 otherwise)."""
    case = case_desk().get(number)
    scope = current_user.case_scope
    if case is None or (scope is not None and case.department_id != scope):
        abort(404)
    return case


def _flag(value: str | None) -> bool:
    return value in ("1", "on", "y", "true")


@bp.get("")
@requires("cases.view")
def queue() -> Any:
    """Cases with filters; unanswered ones first by due time, overdue ones marked."""
    args = request.args
    scope = current_user.case_scope
    department = scope if scope is not None else (args.get("department") or None)
    f = QueueFilter(department=department, kind=args.get("kind") or None, status=args.get("status") or None,
                    channel=args.get("channel") or None, overdue=_flag(args.get("overdue")),
                    due_today=_flag(args.get("due_today")))
    desk = case_desk()
    rows = desk.queue(f)
    now = utcnow()
    return render_template("staff/cases.html", rows=rows, f=f, scope=scope, departments=department_names(),
                           kinds=CASE_KIND_LABELS, statuses=QUEUE_STATUSES, channels=desk.channels(),
                           overdue={c.number for c in rows if is_overdue(c, now)},
                           status_of=effective_status, status_labels_case=CASE_STATUS_LABELS)


def _page(case: Case, contact: Any = None, **forms: Any) -> Any:
    desk = case_desk()
    scope = current_user.case_scope
    templates = desk.templates(scope if scope is not None else (case.department_id or None))
    chosen = request.args.get("template", type=int)
    reply_form = forms.get("reply_form") or CaseReplyForm()
    if chosen is not None and not reply_form.text.data:
        reply_form.text.data = next((t.body for t in templates if t.id == chosen), "")
    assign_form = forms.get("assign_form") or CaseAssignForm(
        department=case.department_id or case.suggested_department or None)
    return render_template(
        "staff/case.html", case=case, status=effective_status(case), overdue=is_overdue(case),
        events=desk.events(case.number), replies=desk.replies(case.number), templates=templates,
        departments=department_names(), kinds=CASE_KIND_LABELS, statuses=CASE_STATUS_LABELS, contact=contact,
        ratings=load_rules().ratings, assign_form=assign_form, reply_form=reply_form,
        transfer_form=forms.get("transfer_form") or CaseReasonForm(prefix="transfer"),
        reopen_form=forms.get("reopen_form") or CaseReasonForm(prefix="reopen"),
        close_form=forms.get("close_form") or CaseCloseForm(prefix="close"))


@bp.get("/<number>")
@requires("cases.view")
def case(number: str) -> Any:
    """One case: text, excerpt, history, replies, suggested department and the actions."""
    return _page(_visible(number))


@bp.post("/<number>/contact")
@requires("cases.work")
def contact(number: str) -> Any:
    """Show the citizen's contact on the case page (audited)."""
    case = _visible(number)
    try:
        shown = case_desk().reveal_contact(case.number, actor=actor())
    except ValueError:
        flash("联系方式无法解密（密钥已更换），请联系管理员。", "error")
        return redirect(url_for("staff_cases.case", number=case.number))
    return _page(case, contact=shown)


def _done(case: Case, message: str) -> Any:
    flash(message, "success")
    return redirect(url_for("staff_cases.case", number=case.number))


def _refused(case: Case, exc: CaseError | None = None, errors: dict[str, list[str]] | None = None) -> Any:
    for msg in ([str(exc)] if exc else []) + [e for errs in (errors or {}).values() for e in errs]:
        flash(msg, "error")
    return redirect(url_for("staff_cases.case", number=case.number))


@bp.post("/<number>/assign")
@requires("cases.route")
def assign(number: str) -> Any:
    """Route the case to a department (the router learns from the decision)."""
    case = _visible(number)
    form = CaseAssignForm()
    if not form.validate_on_submit():
        return _refused(case, errors=form.errors)
    try:
        case_desk().assign(case.number, form.department.data or "", actor=actor(), note=form.note.data or "")
    except CaseError as exc:
        return _refused(case, exc)
    return _done(case, f"已派单至{department_names().get(form.department.data or '', '')}。")


@bp.post("/<number>/start")
@requires("cases.work")
def start(number: str) -> Any:
    """The department takes the case up."""
    case = _visible(number)
    try:
        case_desk().start(case.number, actor=actor())
    except CaseError as exc:
        return _refused(case, exc)
    return _done(case, "已开始办理。")


@bp.post("/<number>/transfer")
@requires("cases.work")
def transfer(number: str) -> Any:
    """Send the case back to the dispatcher with a reason."""
    case = _visible(number)
    form = CaseReasonForm(prefix="transfer")
    if not form.validate_on_submit():
        return _refused(case, errors=form.errors)
    try:
        case_desk().transfer(case.number, actor=actor(), reason=form.reason.data or "")
    except CaseError as exc:
        return _refused(case, exc)
    flash("已退回派单员重新派单。", "success")
    if current_user.case_scope is not None:  # no longer theirs: back to their queue
        return redirect(url_for("staff_cases.queue"))
    return redirect(url_for("staff_cases.case", number=case.number))


@bp.post("/<number>/reply")
@requires("cases.work")
def reply(number: str) -> Any:
    """Answer the citizen (sent on the channel they used)."""
    case = _visible(number)
    form = CaseReplyForm()
    if not form.validate_on_submit():
        return _refused(case, errors=form.errors)
    try:
        case_desk().reply(case.number, form.text.data or "", actor=actor())
    except CaseError as exc:
        return _refused(case, exc)
    return _done(case, "已答复，市民将在其使用的渠道收到答复。")


@bp.post("/<number>/close")
@requires("cases.work")
def close(number: str) -> Any:
    """Close the case."""
    case = _visible(number)
    form = CaseCloseForm(prefix="close")
    if not form.validate_on_submit():
        return _refused(case, errors=form.errors)
    try:
        case_desk().close(case.number, actor=actor(), note=form.note.data or "")
    except CaseError as exc:
        return _refused(case, exc)
    return _done(case, "已办结。")


@bp.post("/<number>/reopen")
@requires("cases.work")
def reopen(number: str) -> Any:
    """Reopen an answered or closed case."""
    case = _visible(number)
    form = CaseReasonForm(prefix="reopen")
    if not form.validate_on_submit():
        return _refused(case, errors=form.errors)
    try:
        case_desk().reopen(case.number, actor=actor(), reason=form.reason.data or "")
    except CaseError as exc:
        return _refused(case, exc)
    return _done(case, "已重新办理，办理时限重新计算。")


@bp.route("/templates", methods=["GET", "POST"])
@requires("cases.templates")
def templates() -> Any:
    """Reusable reply texts: shared ones (dispatchers, admins) and per department (handlers)."""
    desk = case_desk()
    scope = current_user.case_scope
    form = ReplyTemplateForm()
    if form.validate_on_submit():
        try:
            desk.add_template(form.title.data or "", form.body.data or "", actor=actor(),
                              department_id=scope or "")
        except CaseError as exc:
            flash(str(exc), "error")
        else:
            flash("模板已保存。", "success")
            return redirect(url_for("staff_cases.templates"))
    return render_template("staff/case_templates.html", rows=desk.templates(scope), form=form,
                           departments=department_names(), scope=scope)


@bp.post("/templates/<int:template_id>/retire")
@requires("cases.templates")
def retire_template(template_id: int) -> Any:
    """Stop offering a template (handlers: only their department's)."""
    desk = case_desk()
    scope = current_user.case_scope
    row = next((t for t in desk.templates(scope) if t.id == template_id), None)
    if row is None or (scope is not None and row.department_id != scope):
        abort(404)
    desk.retire_template(template_id, actor=actor())
    flash("模板已停用。", "success")
    return redirect(url_for("staff_cases.templates"))


def due_label(value: dt.datetime | None) -> str:
    """A due time as the city's date."""
    if value is None:
        return ""
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return aware.astimezone(CITY_TZ).strftime("%Y-%m-%d")


bp.add_app_template_filter(due_label, "due_label")
