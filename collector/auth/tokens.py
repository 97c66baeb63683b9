"""API tokens for machine clients: ``prtc_`` + 256 random bits, shown once, stored as SHA-256,
scoped to a centre subtree and an explicit permission list, revocable."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session, select

from collector.auth.audit import AuditAction, audit
from collector.auth.models import ApiToken, User
from collector.auth.passwords import token_digest
from collector.auth.permissions import parse_permissions
from collector.auth.policy import DEFAULT_POLICY, AuthPolicy
from collector.auth.users import check_grant
from collector.db_types import utcnow

API_TOKEN_PREFIX = "prtc_"


def create_api_token(
    session: Session,
    *,
    name: str,
    centre_id: str,
    permissions: Iterable[str],
    created_by: User | None = None,
    expires_at: datetime | None = None,
    ip: str | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for a machine client. Returns the row and the token itself, which is
    shown once and never stored."""
    perms = parse_permissions(permissions)
    check_grant(session, created_by, centre_id, perms)
    secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name,
        token_prefix=secret[:12],
        token_hash=token_digest(secret),
        centre_id=centre_id,
        permissions=perms,
        created_by_user_id=created_by.id if created_by else None,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    audit(
        session,
        actor=created_by,
        action=AuditAction.TOKEN_CREATE,
        target_type="api_token",
        target_id=row.id or "",
        centre_id=centre_id,
        ip=ip,
        detail={"name": name, "permissions": perms, "prefix": row.token_prefix},
    )
    session.commit()
    return row, secret


def resolve_api_token(
    session: Session,
    token: str,
    *,
    policy: AuthPolicy = DEFAULT_POLICY,
    now: datetime | None = None,
) -> ApiToken | None:
    """The token row for a bearer token, or ``None`` if unknown, revoked or expired."""
    if not token.startswith(API_TOKEN_PREFIX):
        return None
    now = now or utcnow()
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == token_digest(token))).first()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and now >= row.expires_at:
        return None
    if (
        row.last_used_at is None
        or (now - row.last_used_at).total_seconds() >= policy.token_touch_seconds
    ):
        row.last_used_at = now
        session.add(row)
        session.commit()
    return row


def revoke_api_token(
    session: Session, token_id: int, *, actor: User | None = None, ip: str | None = None
) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise LookupError(f"no API token {token_id}")
    check_grant(session, actor, row.centre_id, ())
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        audit(
            session,
            actor=actor,
            action=AuditAction.TOKEN_REVOKE,
            target_type="api_token",
            target_id=token_id,
            centre_id=row.centre_id,
            ip=ip,
            detail={"name": row.name, "prefix": row.token_prefix},
        )
        session.commit()
    return row
