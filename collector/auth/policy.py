"""Login, lockout and session timing: one settings section, meant to become
``CollectorSettings.auth`` (``PRTC_COLLECTOR_AUTH__LOCKOUT_MINUTES`` …)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field


class AuthPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_failed_attempts: int = Field(
        default=5, ge=1, description="consecutive failed logins that lock the account"
    )
    lockout_minutes: float = Field(default=15, gt=0, description="how long a lock lasts")
    ip_max_failures: int = Field(
        default=30,
        ge=1,
        description="failed logins from one client address within ip_window_minutes before "
        "that address gets HTTP 429 (staff behind one NAT share an address: keep it generous)",
    )
    ip_window_minutes: float = Field(
        default=10, gt=0, description="the window over which failed logins per address count"
    )
    session_idle_minutes: float = Field(
        default=30, gt=0, description="a session ends after this long without a request"
    )
    session_absolute_hours: float = Field(
        default=12, gt=0, description="a session ends this long after login, active or not"
    )
    session_touch_seconds: float = Field(
        default=60,
        ge=0,
        description="last_seen is written at most this often (saves a write per request)",
    )
    token_touch_seconds: float = Field(
        default=60, ge=0, description="API token last_used_at is written at most this often"
    )
    min_password_length: int = Field(default=8, ge=1, description="shortest accepted password")
    min_password_classes: int = Field(
        default=3,
        ge=1,
        le=4,
        description="character classes required (lower, upper, digit, other); 3 follows "
        "common MLPS 2.0 practice",
    )
    argon2_time_cost: int = Field(default=3, ge=1, description="argon2id iterations")
    argon2_memory_kib: int = Field(default=65536, ge=8, description="argon2id memory in KiB")
    argon2_parallelism: int = Field(default=4, ge=1, description="argon2id lanes")

    @property
    def lockout(self) -> timedelta:
        return timedelta(minutes=self.lockout_minutes)

    @property
    def session_idle(self) -> timedelta:
        return timedelta(minutes=self.session_idle_minutes)

    @property
    def session_absolute(self) -> timedelta:
        return timedelta(hours=self.session_absolute_hours)


DEFAULT_POLICY = AuthPolicy()
