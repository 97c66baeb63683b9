"""Server-side sessions: the cookie holds a random token, the table its SHA-256.

A session ends after ``session_idle_minutes`` without a request (sliding) and, however
active, ``session_absolute_hours`` after login.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session, col, select

from collector.auth.audit import AuditAction, audit
from collector.auth.models import User, UserSession
from collector.auth.passwords import token_digest
from collector.auth.policy import DEFAULT_POLICY, AuthPolicy
from collector.db_types import utcnow


def start_session(
    session: Session,
    user: User,
    *,
    ip: str = "",
    user_agent: str = "",
    policy: AuthPolicy = DEFAULT_POLICY,
    now: datetime | None = None,
) -> str:
    """Open a session for an authenticated user; returns the token for the cookie (the
    database keeps only its hash)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            token_hash=token_digest(token),
            user_id=user.id or 0,
            created_at=now,
            last_seen_at=now,
            expires_at=now + policy.session_absolute,
            ip=ip[:45],
            user_agent=user_agent[:255],
        )
    )
    session.commit()
    return token


def resolve_session(
    session: Session,
    token: str,
    *,
    policy: AuthPolicy = DEFAULT_POLICY,
    now: datetime | None = None,
) -> User | None:
    """The user behind a session cookie, or ``None`` when the session is unknown, idle too
    long, past its absolute lifetime, or its user is disabled. Slides the idle timeout."""
    if not token:
        return None
    now = now or utcnow()
    row = session.exec(
        select(UserSession).where(UserSession.token_hash == token_digest(token))
    ).first()
    if row is None:
        return None
    user = session.get(User, row.user_id)
    if (
        now >= row.expires_at
        or now - row.last_seen_at >= policy.session_idle
        or user is None
        or not user.enabled
    ):
        session.delete(row)
        session.commit()
        return None
    if (now - row.last_seen_at).total_seconds() >= policy.session_touch_seconds:
        row.last_seen_at = now
        session.add(row)
        session.commit()
    return user


def end_session(session: Session, token: str, *, ip: str | None = None) -> bool:
    """Log out: delete the session. Returns whether there was one."""
    row = session.exec(
        select(UserSession).where(UserSession.token_hash == token_digest(token))
    ).first()
    if row is None:
        return False
    user = session.get(User, row.user_id)
    session.delete(row)
    audit(
        session,
        actor=user,
        action=AuditAction.LOGOUT,
        centre_id=user.centre_id if user else None,
        ip=ip,
    )
    session.commit()
    return True


def end_user_sessions(session: Session, user_id: int) -> int:
    """End every session of a user (e.g. after a password change elsewhere)."""
    result = session.exec(delete(UserSession).where(col(UserSession.user_id) == user_id))
    session.commit()
    return int(result.rowcount or 0)


def purge_expired_sessions(
    session: Session, *, policy: AuthPolicy = DEFAULT_POLICY, now: datetime | None = None
) -> int:
    """Delete sessions past their absolute or idle limit; for a scheduled job."""
    now = now or utcnow()
    result = session.exec(
        delete(UserSession).where(
            (col(UserSession.expires_at) <= now)
            | (col(UserSession.last_seen_at) <= now - policy.session_idle)
        )
    )
    session.commit()
    return int(result.rowcount or 0)
