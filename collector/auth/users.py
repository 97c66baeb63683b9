"""Creating and changing users, with the rule on who may grant what.

``actor=None`` is the system itself (CLI, bootstrap) and may do anything. A system
administrator may grant anything. Anyone else needs ``users.manage`` and may only act on
centres they can see, granting permissions they hold themselves and never the system
administrator role. Every change is audited and committed.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete
from sqlmodel import Session, col, select

from collector.auth.audit import AuditAction, audit
from collector.auth.errors import GrantDenied, UserExists
from collector.auth.models import User, UserSession
from collector.auth.passwords import check_password_strength, hasher_for, normalise_username
from collector.auth.permissions import (
    ROLE_PERMISSIONS,
    Role,
    has_permission,
    parse_permissions,
    permissions_of,
)
from collector.auth.policy import DEFAULT_POLICY, AuthPolicy
from collector.auth.scope import visible_centre_ids
from collector.db_types import utcnow


def check_grant(
    session: Session,
    actor: User | None,
    centre_id: str | None,
    permissions: Iterable[str],
    role: Role | None = None,
) -> None:
    """Raise :class:`GrantDenied` unless ``actor`` may act on ``centre_id`` and give away
    ``permissions`` (and ``role``)."""
    if actor is None or (actor.enabled and actor.role == Role.SYSTEM_ADMIN):
        return
    if not has_permission(actor, "users.manage"):
        raise GrantDenied("需要用户管理权限")
    if role is Role.SYSTEM_ADMIN:
        raise GrantDenied("只有系统管理员可以授予系统管理员角色")
    if centre_id is None or centre_id not in visible_centre_ids(session, actor):
        raise GrantDenied("不能在本账号不可见的中心授权")
    beyond = set(permissions) - permissions_of(actor)
    if beyond:
        raise GrantDenied(f"不能授予本账号没有的权限: {', '.join(sorted(beyond))}")


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role | str,
    centre_id: str | None = None,
    display_name: str = "",
    extra_permissions: Iterable[str] = (),
    enabled: bool = True,
    actor: User | None = None,
    ip: str | None = None,
    policy: AuthPolicy = DEFAULT_POLICY,
) -> User:
    """Create a user. Every role except system_admin needs a centre."""
    role = Role(role)
    extras = parse_permissions(extra_permissions)
    if centre_id is None and role is not Role.SYSTEM_ADMIN:
        raise ValueError(f"role {role} needs a centre")
    check_grant(session, actor, centre_id, ROLE_PERMISSIONS[role] | set(extras), role)
    name = normalise_username(username)
    if session.exec(select(User.id).where(User.username == name)).first() is not None:
        raise UserExists(f"用户名已存在: {name}")
    check_password_strength(password, policy)
    now = utcnow()
    user = User(
        username=name,
        display_name=display_name,
        password_hash=hasher_for(policy).hash(password),
        role=role,
        centre_id=centre_id,
        enabled=enabled,
        extra_permissions=extras,
        created_at=now,
        password_changed_at=now,
    )
    session.add(user)
    session.flush()
    audit(
        session,
        actor=actor,
        action=AuditAction.USER_CREATE,
        target_type="user",
        target_id=user.id or "",
        centre_id=centre_id,
        ip=ip,
        detail={"username": name, "role": role.value, "extra_permissions": extras},
    )
    session.commit()
    return user


def update_user(
    session: Session,
    user: User,
    *,
    display_name: str | None = None,
    role: Role | str | None = None,
    centre_id: str | None = None,
    enabled: bool | None = None,
    extra_permissions: Iterable[str] | None = None,
    actor: User | None = None,
    ip: str | None = None,
) -> User:
    """Change the given attributes; the audit entry lists what changed. Disabling a user
    or changing their role or centre ends their sessions."""
    changes: dict[str, object] = {}
    new_role = Role(role) if role is not None else Role(user.role)
    new_centre = centre_id if centre_id is not None else user.centre_id
    new_extras = (
        parse_permissions(extra_permissions)
        if extra_permissions is not None
        else list(user.extra_permissions)
    )
    if new_centre is None and new_role is not Role.SYSTEM_ADMIN:
        raise ValueError(f"role {new_role} needs a centre")
    check_grant(session, actor, user.centre_id, (), Role(user.role))
    check_grant(session, actor, new_centre, ROLE_PERMISSIONS[new_role] | set(new_extras), new_role)
    for field, new in (
        ("display_name", display_name),
        ("role", new_role if role is not None else None),
        ("centre_id", centre_id),
        ("enabled", enabled),
        ("extra_permissions", new_extras if extra_permissions is not None else None),
    ):
        if new is not None and getattr(user, field) != new:
            changes[field] = {"from": getattr(user, field), "to": new}
            setattr(user, field, new)
    if not changes:
        return user
    session.add(user)
    if {"role", "centre_id", "enabled"} & changes.keys():
        session.exec(delete(UserSession).where(col(UserSession.user_id) == user.id))
    audit(
        session,
        actor=actor,
        action=AuditAction.USER_UPDATE,
        target_type="user",
        target_id=user.id or "",
        centre_id=user.centre_id,
        ip=ip,
        detail={"username": user.username, "changes": changes},
    )
    session.commit()
    return user


def set_password(
    session: Session,
    user: User,
    password: str,
    *,
    actor: User | None = None,
    ip: str | None = None,
    end_sessions: bool = True,
    policy: AuthPolicy = DEFAULT_POLICY,
) -> None:
    """Set a new password (by the user or an administrator); ends the user's sessions."""
    if actor is not None and actor.id != user.id:
        check_grant(session, actor, user.centre_id, permissions_of(user), Role(user.role))
    check_password_strength(password, policy)
    user.password_hash = hasher_for(policy).hash(password)
    user.password_changed_at = utcnow()
    user.failed_attempts = 0
    user.locked_until = None
    session.add(user)
    if end_sessions:
        session.exec(delete(UserSession).where(col(UserSession.user_id) == user.id))
    audit(
        session,
        actor=actor,
        action=AuditAction.PASSWORD_SET,
        target_type="user",
        target_id=user.id or "",
        centre_id=user.centre_id,
        ip=ip,
    )
    session.commit()


def unlock_user(
    session: Session, user: User, *, actor: User | None = None, ip: str | None = None
) -> None:
    check_grant(session, actor, user.centre_id, (), Role(user.role))
    user.failed_attempts = 0
    user.locked_until = None
    session.add(user)
    audit(
        session,
        actor=actor,
        action=AuditAction.USER_UPDATE,
        target_type="user",
        target_id=user.id or "",
        centre_id=user.centre_id,
        ip=ip,
        detail={"username": user.username, "changes": {"locked_until": {"to": None}}},
    )
    session.commit()
