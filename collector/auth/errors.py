"""Errors of the auth package; ``str()`` of a login error is fit for the login page."""

from __future__ import annotations

from datetime import datetime


class AuthError(Exception):
    """Base of the login errors; ``str()`` is a message fit for the login page."""


class InvalidCredentials(AuthError):
    def __init__(self) -> None:
        super().__init__("用户名或密码错误")


class AccountLocked(AuthError):
    def __init__(self, until: datetime) -> None:
        self.until = until
        super().__init__(f"账号已锁定，请于 {until:%Y-%m-%d %H:%M} (UTC) 后重试")


class AccountDisabled(AuthError):
    def __init__(self) -> None:
        super().__init__("账号已停用")


class WeakPassword(ValueError):
    """The password does not meet the policy; the message says why, in Chinese."""


class UserExists(ValueError):
    pass


class GrantDenied(PermissionError):
    """The actor tried to give away a centre or a permission it does not hold itself."""
