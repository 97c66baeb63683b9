"""Tables of the auth package: users, server-side sessions, API tokens and the audit log.

Secrets are never stored: passwords as argon2id hashes, session and API tokens as SHA-256
(they are 256-bit random values, so a fast hash is enough and lookups stay indexed).
Roles are stored as their string values (``str_enum``), so adding a role needs no migration.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer
from sqlmodel import Column, Field, SQLModel

from collector.auth.permissions import Role
from collector.db_types import JSONType, UTCDateTime, str_enum, utcnow

# 64-bit on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the auto-incrementing rowid.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


class User(SQLModel, table=True):
    """A console user. ``centre_id`` is the root of what the user may see (see ``scope``)."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, description="normalised: NFKC, lower")
    display_name: str = Field(default="", max_length=100)
    password_hash: str = Field(max_length=255, description="argon2id, PHC string")
    role: Role = Field(sa_type=str_enum(Role, length=32))
    centre_id: str | None = Field(default=None, foreign_key="centres.id", index=True, max_length=64)
    enabled: bool = True
    failed_attempts: int = 0
    locked_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    extra_permissions: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSONType, nullable=False),
        description="permissions granted on top of the role",
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    last_login_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    password_changed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class UserSession(SQLModel, table=True):
    """A logged-in browser. The cookie holds the token; the row holds its SHA-256."""

    __tablename__ = "user_sessions"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    last_seen_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    expires_at: datetime = Field(
        sa_column=Column(UTCDateTime, nullable=False, index=True),
        description="absolute end of the session, however active it is",
    )
    ip: str = Field(default="", max_length=45)
    user_agent: str = Field(default="", max_length=255)


class ApiToken(SQLModel, table=True):
    """A bearer token for a machine client, scoped to a centre (and its descendants) and to
    an explicit list of permissions."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    token_prefix: str = Field(max_length=16, description="first characters, to recognise it")
    token_hash: str = Field(max_length=64, unique=True)
    centre_id: str = Field(foreign_key="centres.id", index=True, max_length=64)
    permissions: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    created_by_user_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class AuditEntry(SQLModel, table=True):
    """One line of the audit log. Append-only; no foreign keys, so that an entry outlives
    whatever it names, and the actor's name is copied in for the same reason."""

    __tablename__ = "audit_log"

    id: int | None = Field(
        default=None, sa_column=Column(_BigId, primary_key=True, autoincrement=True)
    )
    ts: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False, index=True)
    )
    actor_user_id: int | None = Field(default=None, index=True)
    actor_token_id: int | None = Field(default=None)
    actor_name: str = Field(default="", max_length=100)
    action: str = Field(max_length=64, index=True)
    target_type: str = Field(default="", max_length=64)
    target_id: str = Field(default="", max_length=128)
    centre_id: str | None = Field(default=None, max_length=64, index=True)
    ip: str = Field(default="", max_length=45)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
