"""Checking a login: constant-cost for unknown users, lockout after repeated failures."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from collector.auth.audit import AuditAction, audit
from collector.auth.errors import AccountDisabled, AccountLocked, InvalidCredentials
from collector.auth.models import User
from collector.auth.passwords import dummy_hash, hasher_for, normalise_username, verify_password
from collector.auth.policy import DEFAULT_POLICY, AuthPolicy
from collector.db_types import utcnow


def authenticate(
    session: Session,
    username: str,
    password: str,
    ip: str | None = None,
    *,
    policy: AuthPolicy = DEFAULT_POLICY,
    now: datetime | None = None,
) -> User:
    """Check a login. Returns the user, or raises :class:`InvalidCredentials`,
    :class:`AccountLocked` (also on the failure that locks it) or :class:`AccountDisabled`
    (only after a correct password, so it reveals nothing to a guesser).

    An unknown username costs the same argon2 verification as a known one.
    """
    now = now or utcnow()
    hasher = hasher_for(policy)
    try:
        name = normalise_username(username)
    except ValueError:
        name = ""
    user = session.exec(select(User).where(User.username == name)).first() if name else None
    if user is None:
        verify_password(hasher, dummy_hash(policy), password)
        audit(
            session,
            actor=None,
            actor_name=username,
            action=AuditAction.LOGIN_FAILED,
            ip=ip,
            detail={"reason": "unknown_user"},
            ts=now,
        )
        session.commit()
        raise InvalidCredentials()

    if user.locked_until is not None and now < user.locked_until:
        # No verification while locked: guesses during the lock teach nothing and cost no CPU.
        raise AccountLocked(user.locked_until)

    if not verify_password(hasher, user.password_hash, password):
        _record_failure(session, user, ip, policy, now)  # commits; raises if now locked
        raise InvalidCredentials()

    if not user.enabled:
        audit(
            session,
            actor=user,
            action=AuditAction.LOGIN_FAILED,
            centre_id=user.centre_id,
            ip=ip,
            detail={"reason": "disabled"},
            ts=now,
        )
        session.commit()
        raise AccountDisabled()

    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    user.failed_attempts = 0
    user.locked_until = None
    user.last_login_at = now
    session.add(user)
    audit(session, actor=user, action=AuditAction.LOGIN, centre_id=user.centre_id, ip=ip, ts=now)
    session.commit()
    return user


def _record_failure(
    session: Session, user: User, ip: str | None, policy: AuthPolicy, now: datetime
) -> None:
    # Increment in SQL so that parallel guesses cannot each read the same count.
    failures = session.exec(
        update(User)
        .where(col(User.id) == user.id)
        .values(failed_attempts=col(User.failed_attempts) + 1)
        .returning(col(User.failed_attempts))
    ).scalar_one()
    locked_until = None
    if failures >= policy.max_failed_attempts:
        locked_until = now + policy.lockout
        session.exec(
            update(User)
            .where(col(User.id) == user.id)
            .values(failed_attempts=0, locked_until=locked_until)
        )
    audit(
        session,
        actor=user,
        action=AuditAction.LOGIN_LOCKED if locked_until else AuditAction.LOGIN_FAILED,
        centre_id=user.centre_id,
        ip=ip,
        detail={"reason": "bad_password", "failures": failures},
        ts=now,
    )
    session.commit()
    session.refresh(user)
    if locked_until is not None:
        raise AccountLocked(locked_until)
