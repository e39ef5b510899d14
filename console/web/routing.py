"""The department router's page: how often staff keep its suggestion, and retraining it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm

from casework.departments import department_names
from casework.routing import DepartmentRouter, RouterSettings
from casework.routing_store import RoutingDecisions, make_router
from console.web.deps import factory
from console.web.security import actor, requires

bp = Blueprint("staff_routing", __name__, url_prefix="/staff", template_folder="../templates")
MAX_TRY_CHARS = 2000


class RetrainForm(FlaskForm):
    """The retrain button (a form only for its CSRF token)."""


def router() -> DepartmentRouter:
    """The app's router, learning from the console's database (built once per app)."""
    ext = current_app.extensions
    if "department_router" not in ext:
        settings = RouterSettings.from_env()
        if current_app.config.get("CASEWORK_ROUTER_MODEL"):  # tests keep the model out of var/
            settings = RouterSettings(Path(current_app.config["CASEWORK_ROUTER_MODEL"]), settings.examples_path)
        ext["department_router"] = make_router(factory(), settings)
    return ext["department_router"]


@bp.get("/routing")
@requires("routing.manage")
def routing() -> Any:
    """Decision count, agreement rate, the model's age; a box to try a text."""
    stats = RoutingDecisions(factory()).stats()
    path = router().settings.model_path
    trained = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc) if path.is_file() else None
    text = (request.args.get("text") or "").strip()[:MAX_TRY_CHARS]
    suggestion = router().suggest(text) if text else None
    return render_template("staff/routing.html", stats=stats, trained=trained, text=text, suggestion=suggestion,
                           names=department_names(), form=RetrainForm())


@bp.post("/routing/retrain")
@requires("routing.manage")
def retrain() -> Any:
    """Train the router again on the written examples and every staff decision."""
    form = RetrainForm()
    if form.validate_on_submit():
        report = router().retrain()
        current_app.logger.info("router retrained by %s: %d decisions", actor(), report.decisions)
        flash(f"已重新训练：{report.examples} 条编写样例、{report.decisions} 条人工派单记录。", "success")
    else:
        flash("表单已过期，请重试。", "error")
    return redirect(url_for("staff_routing.routing"))
