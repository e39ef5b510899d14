"""Appointments (printable list for the hall) and applications (status updates with a history)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from common.clock import city_today
from common.pii import mask_phone
from common.status import APPLICATION_STATUS_LABELS
from console.web.deps import casework_repo, knowledge_repo
from console.web.forms import ApplicationStatusForm
from console.web.security import actor, requires

bp = Blueprint("staff_casework", __name__, url_prefix="/staff", template_folder="../templates")


def _day() -> dt.date:
    try:
        return dt.date.fromisoformat(request.args.get("date", ""))
    except ValueError:
        return city_today()


def _bookings_context() -> dict[str, Any]:
    day = _day()
    center = request.args.get("center") or None
    centers = {c.id: c for c in knowledge_repo().list_centers()}
    services = {s.id: s.name for s in knowledge_repo().list_services()}
    rows = casework_repo().bookings_on(day, center)
    by_center: dict[str, list[Any]] = {}
    for b in rows:
        by_center.setdefault(b.center_id, []).append(b)
    return {"day": day, "center": center, "centers": centers, "services": services, "by_center": by_center,
            "total": len(rows), "masked_phone": mask_phone, "prev": day - dt.timedelta(days=1),
            "next": day + dt.timedelta(days=1)}


@bp.get("/bookings")
@requires("view")
def bookings() -> Any:
    """Active bookings of a day, per centre."""
    return render_template("staff/bookings.html", **_bookings_context())


@bp.get("/bookings/print")
@requires("view")
def bookings_print() -> Any:
    """The day's list for the hall, formatted for paper."""
    return render_template("staff/bookings_print.html", **_bookings_context())


@bp.get("/applications")
@requires("view")
def applications() -> Any:
    """Applications, most recently updated first, optionally by status."""
    status = request.args.get("status") or None
    rows = casework_repo().list_applications(status=status)
    services = {s.id: s.name for s in knowledge_repo().list_services()}
    return render_template("staff/applications.html", rows=rows, status=status, statuses=APPLICATION_STATUS_LABELS,
                           services=services)


@bp.get("/applications/<number>")
@requires("view")
def application(number: str) -> Any:
    """One application with its status history and (for reviewers) the update form."""
    app = casework_repo().get_application(number)
    if app is None:
        abort(404)
    form = ApplicationStatusForm(status=app.status, next_step=app.next_step)
    services = {s.id: s.name for s in knowledge_repo().list_services()}
    return render_template("staff/application.html", app=app, form=form, statuses=APPLICATION_STATUS_LABELS,
                           services=services)


@bp.post("/applications/<number>/status")
@requires("casework.update")
def application_status(number: str) -> Any:
    """Record a new status; citizens see it on their next status check."""
    if casework_repo().get_application(number) is None:
        abort(404)
    form = ApplicationStatusForm()
    if form.validate_on_submit():
        casework_repo().update_application_status(number, form.status.data or "", note=form.note.data or "",
                                                  actor=actor(), next_step=form.next_step.data or "")
        flash("状态已更新，市民查询时即可看到。", "success")
    else:
        for errs in form.errors.values():
            for e in errs:
                flash(str(e), "error")
    return redirect(url_for("staff_casework.application", number=number))
