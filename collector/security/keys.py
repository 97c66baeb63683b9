"""Per-purpose keys derived from the one configured secret key (HKDF-SHA256), so that the
CSRF key, the personal-data keys and the lookup-hash key are independent of each other."""

from __future__ import annotations

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_SALT = b"prtc-site/collector"


def derive_key(secret_key: str, purpose: str, length: int = 32) -> bytes:
    """A ``length``-byte key for ``purpose`` (e.g. ``"csrf/v1"``)."""
    if not secret_key:
        raise ValueError("empty secret key")
    hkdf = HKDF(algorithm=SHA256(), length=length, salt=_SALT, info=purpose.encode())
    return hkdf.derive(secret_key.encode())
