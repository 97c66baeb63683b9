"""CSRF tokens: signed double-submit, bound to the session.

A token is ``<nonce>.<mac>`` with ``mac = HMAC-SHA256(k, nonce || SHA-256(session token))``
and ``k`` derived from the secret key for this purpose only. The page puts it in a hidden form
field (or the ``X-CSRF-Token`` header for htmx); the server checks it against the session
cookie of the same request. A token taken from another session, forged without the key, or
replayed after logout and a new login does not verify. Nothing is stored server-side.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from collector.security.keys import derive_key

HEADER = "X-CSRF-Token"
FORM_FIELD = "csrf_token"


class CsrfProtector:
    def __init__(self, secret_key: str) -> None:
        if not secret_key:
            raise ValueError("CSRF protection needs a secret key")
        self._key = derive_key(secret_key, "csrf/v1")

    def _mac(self, nonce: str, session_token: str) -> str:
        bound = hashlib.sha256(session_token.encode()).digest()
        mac = hmac.new(self._key, nonce.encode() + b"." + bound, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def issue(self, session_token: str) -> str:
        """A fresh token for forms rendered in this session."""
        if not session_token:
            raise ValueError("a CSRF token must be bound to a session")
        nonce = secrets.token_urlsafe(16)
        return f"{nonce}.{self._mac(nonce, session_token)}"

    def verify(self, session_token: str | None, token: str | None) -> bool:
        """Whether ``token`` was issued for ``session_token`` with this key."""
        if not session_token or not token or token.count(".") != 1:
            return False
        nonce, mac = token.split(".")
        if not nonce or not mac:
            return False
        return hmac.compare_digest(mac, self._mac(nonce, session_token))
