"""Staff accounts (admins): create, change role, deactivate, reset password."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from casework.departments import department_names
from console.accounts import AccountError
from console.web.deps import accounts
from console.web.forms import UserEditForm, UserForm
from console.web.security import actor, requires

bp = Blueprint("staff_users", __name__, url_prefix="/staff/users", template_folder="../templates")


@bp.route("", methods=["GET", "POST"])
@requires("users.manage")
def index() -> Any:
    """Accounts, and a form to open a new one."""
    form = UserForm()
    if form.validate_on_submit():
        try:
            user = accounts().create(form.username.data or "", form.password.data or "", form.role.data or "",
                                     actor=actor(), display_name=form.display_name.data or "",
                                     department_id=form.department.data or "")
        except AccountError as exc:
            flash(str(exc), "error")
        else:
            flash(f"已创建账号 {user.username}。", "success")
            return redirect(url_for("staff_users.index"))
    return render_template("staff/users.html", users=accounts().list(), form=form, departments=department_names())


@bp.route("/<int:user_id>", methods=["GET", "POST"])
@requires("users.manage")
def edit(user_id: int) -> Any:
    """Change an account (any change signs it out everywhere)."""
    repo = accounts()
    user = repo.get(user_id)
    if user is None:
        abort(404)
    form = UserEditForm()
    if not form.is_submitted():
        form.display_name.data, form.role.data, form.active.data = user.display_name, user.role.value, user.active
        form.department.data = user.department_id or ""
    if form.validate_on_submit():
        if user.id == current_user.user_id and (form.role.data != "admin" or not form.active.data):
            flash("不能取消自己的管理员权限或停用自己的账号。", "error")
        else:
            try:
                repo.update(user_id, actor=actor(), role=form.role.data, active=bool(form.active.data),
                            display_name=form.display_name.data, password=form.password.data or None,
                            department_id=form.department.data or "")
            except AccountError as exc:
                flash(str(exc), "error")
            else:
                flash("已保存。", "success")
                return redirect(url_for("staff_users.index"))
    return render_template("staff/user_edit.html", user=user, form=form)
