"""Staff accounts: hashed passwords, roles, audited changes (no Flask; the CLI uses it too)."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from console.models import Role, StaffUser
from knowledge.db import SessionBacked, session_scope
from knowledge.models import AuditEntry, utcnow

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")
MIN_PASSWORD_CHARS = 10
# Checked against when the username is unknown, so both paths cost one hash check.
_DUMMY_HASH = generate_password_hash("not-a-real-password-" + "x" * 16)


class AccountError(ValueError):
    """An account request was refused; the message is for staff (Chinese)."""


def check_password_policy(password: str) -> None:
    """Raise AccountError when ``password`` is too weak to be accepted."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"密码至少 {MIN_PASSWORD_CHARS} 个字符")
    if password.strip() != password or not password.strip():
        raise AccountError("密码首尾不能是空格")
    if len(set(password)) < 4:
        raise AccountError("密码过于简单")


def _public(user: StaffUser) -> dict[str, object]:
    """What the audit trail keeps of an account (never the hash)."""
    return {"username": user.username, "display_name": user.display_name, "role": str(user.role.value),
            "active": user.active, "department_id": user.department_id or ""}


def _check_department(role: Role, department_id: str) -> None:
    """A handler belongs to a known department; a department id must be known."""
    from casework.departments import department_names

    if department_id and department_id not in department_names():
        raise AccountError(f"部门无效：{department_id}")
    if role is Role.handler and not department_id:
        raise AccountError("承办人账号必须选择所属部门")


class AccountRepository(SessionBacked):
    """Staff accounts in the knowledge database.

    Args:
        factory: a sessionmaker; defaults to the configured database (built lazily).
    """

    def count(self) -> int:
        """How many accounts exist."""
        with self.factory() as s:
            return int(s.scalar(select(func.count()).select_from(StaffUser)) or 0)

    def get(self, user_id: int) -> StaffUser | None:
        """The account with ``user_id``, or None."""
        with self.factory() as s:
            return s.get(StaffUser, user_id)

    def by_username(self, username: str) -> StaffUser | None:
        """The account named ``username`` (case-insensitive), or None."""
        with self.factory() as s:
            return s.scalar(select(StaffUser).where(func.lower(StaffUser.username) == username.strip().lower()))

    def list(self) -> list[StaffUser]:
        """All accounts by username."""
        with self.factory() as s:
            return list(s.scalars(select(StaffUser).order_by(StaffUser.username)))

    def create(self, username: str, password: str, role: Role | str, *, actor: str,
               display_name: str = "", department_id: str = "") -> StaffUser:
        """Create an account; audited. Raises AccountError for a bad name, weak password or duplicate."""
        username = username.strip()
        if not USERNAME_RE.match(username):
            raise AccountError("用户名应为 3-64 位字母、数字、点、下划线或连字符")
        check_password_policy(password)
        try:
            role = Role(role)
        except ValueError:
            raise AccountError(f"角色无效：{role}") from None
        _check_department(role, department_id)
        if self.by_username(username) is not None:
            raise AccountError(f"用户名已存在：{username}")
        with session_scope(self.factory) as s:
            user = StaffUser(username=username, display_name=display_name.strip()[:100] or username,
                             password_hash=generate_password_hash(password), role=role, active=True, auth_epoch=1,
                             department_id=department_id)
            s.add(user)
            s.flush()
            s.add(AuditEntry(actor=actor, action="create", entity_type="staff_user", entity_id=str(user.id),
                             before=None, after=_public(user)))
            return user

    def authenticate(self, username: str, password: str) -> StaffUser | None:
        """The active account matching the credentials, or None (same cost for unknown names)."""
        user = self.by_username(username)
        if user is None or not user.active:
            check_password_hash(_DUMMY_HASH, password)
            return None
        if not check_password_hash(user.password_hash, password):
            return None
        with session_scope(self.factory) as s:
            row = s.get(StaffUser, user.id)
            if row is not None:
                row.last_login_at = utcnow()
        return user

    def end_sessions(self, user_id: int) -> None:
        """Revoke every session of the account (sign-out): its ``auth_epoch`` moves on."""
        with session_scope(self.factory) as s:
            user = s.get(StaffUser, user_id)
            if user is not None:
                user.auth_epoch += 1

    def update(self, user_id: int, *, actor: str, role: Role | str | None = None, active: bool | None = None,
               password: str | None = None, display_name: str | None = None,
               department_id: str | None = None) -> StaffUser:
        """Change an account; any change signs it out everywhere. Audited (the hash never is)."""
        if password is not None:
            check_password_policy(password)
        with session_scope(self.factory) as s:
            user = s.get(StaffUser, user_id)
            if user is None:
                raise AccountError("账号不存在")
            before = _public(user)
            if role is not None:
                try:
                    user.role = Role(role)
                except ValueError:
                    raise AccountError(f"角色无效：{role}") from None
            if active is not None:
                user.active = active
            if display_name is not None:
                user.display_name = display_name.strip()[:100] or user.username
            if password is not None:
                user.password_hash = generate_password_hash(password)
            if department_id is not None:
                user.department_id = department_id
            _check_department(user.role, user.department_id or "")
            after = _public(user)
            if before == after and password is None:
                return user
            user.auth_epoch += 1
            s.add(AuditEntry(actor=actor, action="update", entity_type="staff_user", entity_id=str(user.id),
                             before=before, after=after, note="password changed" if password else ""))
            s.flush()
            return user
