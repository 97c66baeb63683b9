"""The audit log helper.

``audit()`` adds an entry to the caller's session without committing, so the entry is stored
in the same transaction as the change it records (and disappears with it on rollback). A read
that must be audited — a view of unmasked personal data, an export — commits the entry itself.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlmodel import Session

from collector.auth.models import ApiToken, AuditEntry, User
from collector.db_types import utcnow


class AuditAction(StrEnum):
    """Actions written by the auth package; modules add their own strings (``module.verb``)."""

    LOGIN = "auth.login"
    LOGIN_FAILED = "auth.login_failed"
    LOGIN_LOCKED = "auth.locked"
    LOGOUT = "auth.logout"
    USER_CREATE = "user.create"
    USER_UPDATE = "user.update"
    PASSWORD_SET = "user.password_set"
    TOKEN_CREATE = "token.create"
    TOKEN_REVOKE = "token.revoke"
    PERSONAL_DATA_VIEW = "personal_data.view"
    EXPORT = "export"


def audit(
    session: Session,
    *,
    actor: User | ApiToken | None,
    action: str,
    target_type: str = "",
    target_id: str | int = "",
    centre_id: str | None = None,
    ip: str | None = None,
    detail: dict[str, Any] | None = None,
    actor_name: str | None = None,
    ts: datetime | None = None,
) -> AuditEntry:
    """Record ``action`` by ``actor`` (a user, an API token, or ``None`` for the system).

    ``actor_name`` overrides the copied name, e.g. the username typed at a failed login.
    ``detail`` must be JSON-serialisable and must not hold unmasked personal data.
    """
    entry = AuditEntry(
        ts=ts or utcnow(),
        actor_user_id=actor.id if isinstance(actor, User) else None,
        actor_token_id=actor.id if isinstance(actor, ApiToken) else None,
        actor_name=(actor_name if actor_name is not None else _name_of(actor))[:100],
        action=str(action),
        target_type=target_type,
        target_id=str(target_id),
        centre_id=centre_id,
        ip=ip or "",
        detail=detail or {},
    )
    session.add(entry)
    return entry


def _name_of(actor: User | ApiToken | None) -> str:
    if isinstance(actor, User):
        return actor.username
    if isinstance(actor, ApiToken):
        return f"token:{actor.name}"
    return "system"
