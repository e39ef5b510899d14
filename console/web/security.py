"""Who may do what in the staff console, and the login session behind it."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import abort, current_app
from flask_login import LoginManager, UserMixin, current_user, login_required

from console.models import Role, StaffUser

F = TypeVar("F", bound=Callable[..., Any])

ALL = frozenset({Role.editor, Role.reviewer, Role.admin})
REVIEWERS = frozenset({Role.reviewer, Role.admin})
ADMINS = frozenset({Role.admin})
CASE_STAFF = frozenset({Role.dispatcher, Role.handler, Role.admin})  # the case desk (工单)
DISPATCHERS = frozenset({Role.dispatcher, Role.admin})

#: permission -> roles holding it. Every staff route names exactly one of these.
PERMISSIONS: dict[str, frozenset[Role]] = {
    "view": ALL | CASE_STAFF | {Role.agent},  # read pages, previews, history, dashboard, bookings, applications
    "faq.edit": ALL,             # create / edit FAQs, submit and withdraw them
    "faq.review": REVIEWERS,     # approve / reject (never one's own work)
    "faq.manage": REVIEWERS,     # rollback, archive / restore
    "service.edit": REVIEWERS,   # create / edit / roll back service guides (live at once)
    "inbox.triage": ALL,         # attach a question as a phrasing, start a draft, dismiss
    "transfer.export": ALL,
    "transfer.import": ADMINS,   # bulk import writes published content directly
    "casework.update": REVIEWERS,  # application status updates
    "routing.manage": DISPATCHERS,    # department router: agreement with staff, retrain (and dispatchers)
    "audit.view": ADMINS,
    "users.manage": ADMINS,
    "cases.view": CASE_STAFF,    # the case queue and case pages (handlers: their department only)
    "cases.work": CASE_STAFF,    # take up, reply, return (transfer), close, reopen; reveal a contact
    "cases.route": DISPATCHERS,  # assign a case to a department
    "cases.templates": CASE_STAFF,  # reusable reply texts (handlers: for their department)
    "agent.desk": frozenset({Role.agent, Role.admin}),  # the live agent queue (转人工)
}

ROLE_LABELS = {Role.editor: "编辑", Role.reviewer: "审核人", Role.admin: "管理员", Role.dispatcher: "派单员",
               Role.handler: "承办人", Role.agent: "人工坐席"}


class StaffPrincipal(UserMixin):
    """The signed-in staff member, as Flask-Login sees them.

    The session id includes the account's ``auth_epoch``, so changing the password,
    role or active flag ends every existing session of that account.
    """

    def __init__(self, user: StaffUser):
        self.user_id = user.id
        self.username = user.username
        self.display_name = user.display_name or user.username
        self.role = Role(user.role)
        self.epoch = user.auth_epoch
        self.department_id = user.department_id or ""

    def get_id(self) -> str:
        """Session id: ``<user id>.<auth epoch>``."""
        return f"{self.user_id}.{self.epoch}"

    def can(self, permission: str) -> bool:
        """Whether this staff member holds ``permission``."""
        return self.role in PERMISSIONS[permission]

    @property
    def case_scope(self) -> str | None:
        """The one department whose cases this member sees (handlers), or None for all."""
        return self.department_id if self.role is Role.handler else None

    @property
    def role_label(self) -> str:
        """The role in Chinese."""
        return ROLE_LABELS[self.role]


def make_login_manager() -> LoginManager:
    """A LoginManager that loads accounts from the knowledge database."""
    manager = LoginManager()
    manager.login_view = "staff_auth.login"
    manager.login_message = "请先登录"
    manager.login_message_category = "info"
    manager.session_protection = "basic"

    @manager.user_loader
    def load(session_id: str) -> StaffPrincipal | None:
        from console.web.deps import accounts

        user_id, _, epoch = session_id.partition(".")
        if not user_id.isdigit() or not epoch.isdigit():
            return None
        user = accounts().get(int(user_id))
        if user is None or not user.active or user.auth_epoch != int(epoch):
            return None
        return StaffPrincipal(user)

    return manager


def requires(permission: str) -> Callable[[F], F]:
    """View decorator: sign-in required, then 403 unless the role holds ``permission``."""
    if permission not in PERMISSIONS:
        raise KeyError(permission)

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.can(permission):
                current_app.logger.info("staff %s denied %s", current_user.username, permission)
                abort(403)
            return view(*args, **kwargs)

        setattr(wrapper, "required_permission", permission)  # noqa: B010 (read by tests and tooling)
        return cast(F, login_required(wrapper))

    return decorate


def actor() -> str:
    """The name recorded in the audit trail for the signed-in staff member."""
    return str(current_user.username)
