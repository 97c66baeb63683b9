"""Password hashing (argon2id), the strength rule, username normalisation, token digests."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from collector.auth.errors import WeakPassword
from collector.auth.policy import DEFAULT_POLICY, AuthPolicy


@lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def hasher_for(policy: AuthPolicy) -> PasswordHasher:
    return _hasher(policy.argon2_time_cost, policy.argon2_memory_kib, policy.argon2_parallelism)


@lru_cache(maxsize=8)
def _dummy(time_cost: int, memory_kib: int, parallelism: int) -> str:
    return _hasher(time_cost, memory_kib, parallelism).hash(secrets.token_urlsafe(16))


def dummy_hash(policy: AuthPolicy) -> str:
    """A hash of nothing in particular, verified when the username is unknown so that an
    unknown name costs as much as a wrong password."""
    return _dummy(policy.argon2_time_cost, policy.argon2_memory_kib, policy.argon2_parallelism)


def check_password_strength(password: str, policy: AuthPolicy = DEFAULT_POLICY) -> None:
    if len(password) < policy.min_password_length:
        raise WeakPassword(f"密码至少 {policy.min_password_length} 位")
    classes = sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    if classes < policy.min_password_classes:
        raise WeakPassword(
            f"密码须包含大写字母、小写字母、数字、符号中的至少 {policy.min_password_classes} 类"
        )


def normalise_username(username: str) -> str:
    name = unicodedata.normalize("NFKC", username).strip().lower()
    if not name or len(name) > 64 or any(c.isspace() or not c.isprintable() for c in name):
        raise ValueError(f"invalid username {username!r}")
    return name


def verify_password(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def token_digest(token: str) -> str:
    """SHA-256 hex of a random token (sessions, API tokens): enough for 256-bit secrets."""
    return hashlib.sha256(token.encode()).hexdigest()
