"""Sign in and out, change one's own password; the console's home."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from console.accounts import AccountError
from console.web.deps import accounts, knowledge_repo
from console.web.forms import LoginForm, PasswordForm
from console.web.security import StaffPrincipal, actor, requires

bp = Blueprint("staff_auth", __name__, url_prefix="/staff", template_folder="../templates",
               static_folder="../static/staff", static_url_path="/static")


def _safe_next(target: str | None) -> str:
    """Only redirect back inside the console (no open redirect)."""
    if target and target.startswith("/staff/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("staff_dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The login form; 5 tries a minute per address and per account (see ``init_staff``)."""
    if current_user.is_authenticated:
        return redirect(url_for("staff_dashboard.index"))
    form = LoginForm()
    if form.validate_on_submit():
        username = (form.username.data or "").strip()
        user = accounts().authenticate(username, form.password.data or "")
        repo = knowledge_repo()
        if user is None:
            repo.record_event(actor=username[:100] or "?", action="login_failed", entity_type="staff_user",
                              entity_id="-", note=f"from {request.remote_addr}")
            flash("用户名或密码不正确", "error")
            return render_template("staff/login.html", form=form), 401
        session.clear()  # no session fixation: a fresh session per sign-in
        login_user(StaffPrincipal(user))
        session.permanent = True
        repo.record_event(actor=user.username, action="login", entity_type="staff_user", entity_id=str(user.id),
                          note=f"from {request.remote_addr}")
        return redirect(_safe_next(request.args.get("next")))
    return render_template("staff/login.html", form=form)


@bp.post("/logout")
@requires("view")
def logout() -> Any:
    """Sign out: the session is revoked on the server (a copied cookie stops working too)."""
    knowledge_repo().record_event(actor=actor(), action="logout", entity_type="staff_user",
                                  entity_id=str(current_user.user_id))
    accounts().end_sessions(current_user.user_id)
    logout_user()
    session.clear()
    flash("已退出登录", "info")
    return redirect(url_for("staff_auth.login"))


@bp.get("/")
@requires("view")
def home() -> Any:
    """The console's home is the dashboard."""
    return redirect(url_for("staff_dashboard.index"))


@bp.route("/account", methods=["GET", "POST"])
@requires("view")
def account() -> Any:
    """Change one's own password (signs out every other session)."""
    form = PasswordForm()
    if form.validate_on_submit():
        repo = accounts()
        if repo.authenticate(current_user.username, form.current.data or "") is None:
            flash("当前密码不正确", "error")
        else:
            try:
                user = repo.update(current_user.user_id, actor=actor(), password=form.new.data)
            except AccountError as exc:
                flash(str(exc), "error")
            else:
                login_user(StaffPrincipal(user))
                flash("密码已修改", "success")
                return redirect(url_for("staff_auth.account"))
    return render_template("staff/account.html", form=form)
