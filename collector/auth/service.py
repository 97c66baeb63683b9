"""The public functions of the auth package in one place: users, login, sessions, API tokens,
permission checks. Callers import from here; the code lives in the small modules below.

Every function that changes state commits, including the ones that then raise (a failed login
must be counted even though the caller sees an exception). Times come from ``now`` (default:
the clock) so that tests and jobs can pass their own. Timing and lockout come from an
:class:`~collector.auth.policy.AuthPolicy` (``policy=``; default: :data:`DEFAULT_POLICY`).
"""

from __future__ import annotations

from collector.auth.errors import (
    AccountDisabled,
    AccountLocked,
    AuthError,
    GrantDenied,
    InvalidCredentials,
    UserExists,
    WeakPassword,
)
from collector.auth.login import authenticate
from collector.auth.passwords import check_password_strength, normalise_username
from collector.auth.permissions import has_permission, permissions_of
from collector.auth.sessions import (
    end_session,
    end_user_sessions,
    purge_expired_sessions,
    resolve_session,
    start_session,
)
from collector.auth.tokens import (
    API_TOKEN_PREFIX,
    create_api_token,
    resolve_api_token,
    revoke_api_token,
)
from collector.auth.users import check_grant, create_user, set_password, unlock_user, update_user

__all__ = [
    "API_TOKEN_PREFIX",
    "AccountDisabled",
    "AccountLocked",
    "AuthError",
    "GrantDenied",
    "InvalidCredentials",
    "UserExists",
    "WeakPassword",
    "authenticate",
    "check_grant",
    "check_password_strength",
    "create_api_token",
    "create_user",
    "end_session",
    "end_user_sessions",
    "has_permission",
    "normalise_username",
    "permissions_of",
    "purge_expired_sessions",
    "resolve_api_token",
    "resolve_session",
    "revoke_api_token",
    "set_password",
    "start_session",
    "unlock_user",
    "update_user",
]
