"""Service guides: list and filters, create and edit (live at once, audited), history and rollback."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from common.status import TOPIC_LABELS
from common.textnorm import normalize
from console.web import flash_errors
from console.web.deps import knowledge_repo, workflow
from console.web.diff import FIELD_LABELS, field_diffs
from console.web.forms import ServiceForm
from console.web.security import actor, requires
from knowledge import channel_forms
from knowledge.models import Service
from knowledge.repository import NotFound
from knowledge.validation import ValidationError

bp = Blueprint("staff_services", __name__, url_prefix="/staff/services", template_folder="../templates")


def _get(service_id: str) -> Service:
    try:
        return knowledge_repo().get_service(service_id)
    except NotFound:
        abort(404)


@bp.get("")
@requires("view")
def index() -> Any:
    """Services with search and filters (category, department, audience)."""
    repo = knowledge_repo()
    all_services = repo.list_services()
    args = {k: v.strip() for k, v in request.args.items() if v.strip()}
    rows = repo.list_services(category=args.get("category"), audience=args.get("audience"),
                              department=args.get("department"))
    q = normalize(args.get("q", "")).lower()
    if q:
        rows = [s for s in rows if q in normalize(" ".join([s.id, s.name, s.summary, *s.keywords])).lower()]
    faq_counts: dict[str, int] = {}
    for f in repo.list_faqs():
        if f.service_id:
            faq_counts[f.service_id] = faq_counts.get(f.service_id, 0) + 1
    return render_template("staff/services.html", rows=rows, args=args, faq_counts=faq_counts,
                           categories=sorted({s.category for s in all_services}),
                           departments=sorted({s.department for s in all_services}))


@bp.get("/<service_id>")
@requires("view")
def detail(service_id: str) -> Any:
    """One service guide with its linked FAQs."""
    svc = _get(service_id)
    return render_template("staff/service_detail.html", svc=svc, faqs=knowledge_repo().list_faqs(service_id=svc.id),
                           topic_labels=TOPIC_LABELS)


@bp.route("/new", methods=["GET", "POST"])
@requires("service.edit")
def create() -> Any:
    """A new service guide."""
    form = ServiceForm()
    if form.validate_on_submit():
        data = form.data_dict(_posted_channel_forms())
        if any(s.id == data["id"] for s in knowledge_repo().list_services()):
            flash(f"服务编号已存在：{data['id']}", "error")
        else:
            return _save(data, "已新建服务。")
    return render_template("staff/service_form.html", form=form, svc=None, **_short_forms_context(None))


@bp.route("/<service_id>/edit", methods=["GET", "POST"])
@requires("service.edit")
def edit(service_id: str) -> Any:
    """Edit a service guide (live at once; every change is audited and can be rolled back)."""
    svc = _get(service_id)
    form = ServiceForm(obj=None)
    if request.method == "GET":
        form.id.data = svc.id
        for name in ("name", "category", "department", "summary", "eligibility", "locations", "time_limit", "fees",
                     "online_url"):
            getattr(form, name).data = getattr(svc, name)
        form.audience.data = svc.audience.value
        for name in ("keywords", "materials", "steps", "legal_basis"):
            getattr(form, name).data = "\n".join(getattr(svc, name))
        form.forms.data = "\n".join(f"{f['name']} | {f.get('url', '')}" for f in svc.forms)
        form.online_only.data = svc.online_only
        form.online_route.data = svc.online_route
    if form.validate_on_submit():
        data = form.data_dict(_posted_channel_forms())
        data["id"] = svc.id  # the catalog id never changes
        return _save(data, "已保存，立即生效。")
    return render_template("staff/service_form.html", form=form, svc=svc, **_short_forms_context(svc))


def _posted_channel_forms() -> dict[str, dict[str, str]]:
    """The per-section SMS and spoken forms of the posted service form (empty sections left out)."""
    out: dict[str, dict[str, str]] = {}
    for section in channel_forms.GUIDE_SECTIONS:
        entry = {key: request.form.get(f"cf_{section}_{key}", "").strip()[:500] for key in channel_forms.FORM_KEYS}
        if any(entry.values()):
            out[section] = entry
    return out


def _short_forms_context(svc: Any) -> dict[str, Any]:
    """Rows of the short-forms table: section, label, current SMS and spoken form, problems."""
    current = _posted_channel_forms() if request.method == "POST" else dict(getattr(svc, "channel_forms", None) or {})
    rows = []
    for section in channel_forms.GUIDE_SECTIONS:
        entry = current.get(section) or {}
        sms, spoken = str(entry.get("sms", "")), str(entry.get("spoken", ""))
        rows.append({"section": section, "label": FIELD_LABELS.get(section, section), "sms": sms, "spoken": spoken,
                     "problems": channel_forms.sms_problems(sms) + channel_forms.spoken_problems(spoken)})
    return {"short_rows": rows, "sms_max": channel_forms.SMS_MAX_UNITS}


def _save(data: dict[str, Any], done: str) -> Any:
    try:
        svc = knowledge_repo().save_service(data, actor=actor())
    except ValidationError as exc:
        flash_errors(exc.errors)
        return redirect(request.url)
    flash(done, "success")
    problems = channel_forms.service_problems(svc.channel_forms)
    if problems:
        flash("短信版或语音版须补齐或改短（知识库检查会报错）：" + "；".join(problems[:6])
              + ("……" if len(problems) > 6 else ""), "error")
    return redirect(url_for("staff_services.detail", service_id=svc.id))


@bp.get("/<service_id>/history")
@requires("view")
def history(service_id: str) -> Any:
    """Every version of the guide with a readable diff."""
    svc = _get(service_id)
    rows = [(v, field_diffs(v.before, v.after, v.changed)) for v in workflow().history("service", service_id)]
    return render_template("staff/history.html", title=f"服务“{svc.name}”的版本历史", rows=rows,
                           current_version=svc.version,
                           rollback=lambda n: url_for("staff_services.rollback", service_id=service_id, version=n),
                           back=url_for("staff_services.detail", service_id=service_id), can_rollback="service.edit")


@bp.post("/<service_id>/rollback/<int:version>")
@requires("service.edit")
def rollback(service_id: str, version: int) -> Any:
    """Restore the guide of an earlier version as a new version."""
    _get(service_id)
    try:
        svc = workflow().rollback_service(service_id, version, actor=actor())
    except NotFound:
        abort(404)
    except ValidationError as exc:
        flash_errors(exc.errors)
        return redirect(url_for("staff_services.history", service_id=service_id))
    flash(f"已回滚到第 {version} 版（现为第 {svc.version} 版）。", "success")
    return redirect(url_for("staff_services.detail", service_id=service_id))
