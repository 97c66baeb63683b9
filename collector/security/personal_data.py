"""Personal data at rest (PIPL): authenticated encryption, keyed lookup hashes, masking.

- **Encryption**: AES-256-GCM with a 96-bit random nonce. The key for key id ``k`` is derived
  (HKDF-SHA256) from the secret configured for ``k``. A value is stored as
  ``pd1:<key id>:<base64url(nonce | ciphertext | tag)>``; the version and key id are bound as
  associated data, together with an optional per-column context, so a ciphertext cannot be
  moved to another column or relabelled with another key.
- **Lookup**: ``lookup_hash(value, kind)`` is HMAC-SHA256 over the normalised value (ID numbers
  upper-cased without spaces, phones as digits), with a key derived from the collector's
  ``secret_key``. Store it in a companion ``<field>_hash`` column and search by it; ciphertexts
  never compare equal. The lookup key does not change when the encryption key rotates, so
  searches, de-duplication and stored identities keep working during and after a rotation.
- **Rotation**: configure a new current key id with its secret and keep the old keys in the
  keyring, so old rows still decrypt; :mod:`collector.security.rotation` re-encrypts the rows
  (a job and ``prtc-collector pii rotate``) and then marks the old key retired.

A model declares a personal field once::

    @sync_pii_hashes
    class Visitor(SQLModel, table=True):
        id_number: str | None = pii_field(PiiKind.ID_NUMBER, context="visitors.id_number")
        id_number_hash: str | None = pii_hash_field()

    session.exec(select(Visitor).where(Visitor.id_number_hash == lookup_hash(q, PiiKind.ID_NUMBER)))

Column types cannot see the settings, so the cipher is configured once per process by the
runtime (:func:`configure_personal_data`); using it before that raises
:class:`PersonalDataNotConfigured`. This is the one configured singleton of the collector.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import unicodedata
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import String, Text, event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator
from sqlmodel import Column, Field

from collector.security.keys import derive_key
from collector.security.masking import mask_id_number, mask_name, mask_phone

__all__ = [
    "EncryptedText",
    "PersonalDataCipher",
    "PersonalDataDecryptError",
    "PersonalDataError",
    "PersonalDataNotConfigured",
    "PiiKind",
    "configure_personal_data",
    "decrypt",
    "encrypt",
    "lookup_hash",
    "mask",
    "mask_id_number",
    "mask_name",
    "mask_phone",
    "normalise",
    "personal_data_cipher",
    "pii_field",
    "pii_hash_field",
    "reset_personal_data",
    "sync_pii_hashes",
]

VERSION = "pd1"
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
_NONCE_BYTES = 12


class PersonalDataError(Exception):
    pass


class PersonalDataNotConfigured(PersonalDataError, RuntimeError):
    pass


class PersonalDataDecryptError(PersonalDataError):
    """A stored value that does not decrypt: wrong or missing key, or tampered data."""


class PiiKind(StrEnum):
    ID_NUMBER = "id_number"
    PHONE = "phone"
    NAME = "name"
    TEXT = "text"


def _nfkc(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def _phone(value: str) -> str:
    digits = re.sub(r"\D", "", _nfkc(value))
    # +86 / 0086 before a mainland mobile number is the same number.
    for prefix in ("0086", "86"):
        if (
            digits.startswith(prefix)
            and len(digits) == len(prefix) + 11
            and digits[len(prefix)] == "1"
        ):
            return digits[len(prefix) :]
    return digits


_NORMALISERS: dict[PiiKind, Callable[[str], str]] = {
    PiiKind.ID_NUMBER: lambda v: re.sub(r"\s+", "", _nfkc(v)).upper(),
    PiiKind.PHONE: _phone,
    PiiKind.NAME: lambda v: re.sub(r"\s+", " ", _nfkc(v)),
    PiiKind.TEXT: _nfkc,
}

_MASKS: dict[PiiKind, Callable[[str | None], str]] = {
    PiiKind.ID_NUMBER: mask_id_number,
    PiiKind.PHONE: mask_phone,
    PiiKind.NAME: mask_name,
    PiiKind.TEXT: lambda v: "*" * min(len(v or ""), 8),
}


def normalise(value: str, kind: PiiKind | str) -> str:
    """The canonical form that lookup hashes are computed over."""
    return _NORMALISERS[PiiKind(kind)](value)


def mask(value: str | None, kind: PiiKind | str) -> str:
    return _MASKS[PiiKind(kind)](value)


class PersonalDataCipher:
    """Encrypts, decrypts and hashes personal data with a keyring of ``key id → secret``."""

    def __init__(
        self, keys: Mapping[str, str], current_key_id: str, lookup_secret: str | None = None
    ) -> None:
        """``keys``: key id → secret; ``lookup_secret`` keys the lookup hashes (default: the
        current key's secret)."""
        if current_key_id not in keys:
            raise ValueError(f"current key id {current_key_id!r} is not in the keyring")
        for key_id, secret in keys.items():
            if not _KEY_ID.match(key_id):
                raise ValueError(f"invalid key id {key_id!r} (letters, digits, _ -, ≤16)")
            if not secret:
                raise ValueError(f"empty secret for key id {key_id!r}")
        self.current_key_id = current_key_id
        self._aead = {
            key_id: AESGCM(derive_key(secret, f"personal-data/aes-256-gcm/{key_id}"))
            for key_id, secret in keys.items()
        }
        self.key_ids = frozenset(keys)
        self._lookup_key = derive_key(
            lookup_secret or keys[current_key_id], "personal-data/lookup/v1"
        )

    def encrypt(self, plaintext: str, context: str = "") -> str:
        return self.encrypt_with(self.current_key_id, plaintext, context)

    def encrypt_with(self, key_id: str, plaintext: str, context: str = "") -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead[key_id].encrypt(nonce, plaintext.encode(), _aad(key_id, context))
        body = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()
        return f"{VERSION}:{key_id}:{body}"

    def decrypt(self, stored: str, context: str = "") -> str:
        key_id, raw = self._split(stored)
        aead = self._aead.get(key_id)
        if aead is None:
            raise PersonalDataDecryptError(f"no key with id {key_id!r} is configured")
        try:
            plain = aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(key_id, context))
        except InvalidTag:
            raise PersonalDataDecryptError(
                f"personal data with key id {key_id!r} failed authentication: wrong secret "
                "key, wrong column context, or the stored value was altered"
            ) from None
        return plain.decode()

    def key_id_of(self, stored: str) -> str:
        return self._split(stored)[0]

    def needs_rotation(self, stored: str) -> bool:
        return self.key_id_of(stored) != self.current_key_id

    def reencrypt(self, stored: str, context: str = "") -> str:
        """The same plaintext under the current key (unchanged if already current)."""
        if not self.needs_rotation(stored):
            return stored
        return self.encrypt(self.decrypt(stored, context), context)

    def lookup_hash(self, value: str, kind: PiiKind | str) -> str:
        kind = PiiKind(kind)
        message = f"{kind.value}\x00{normalise(value, kind)}".encode()
        return hmac.new(self._lookup_key, message, hashlib.sha256).hexdigest()

    @staticmethod
    def _split(stored: str) -> tuple[str, bytes]:
        parts = stored.split(":", 2)
        if len(parts) != 3 or parts[0] != VERSION:
            raise PersonalDataDecryptError("not an encrypted personal-data value")
        try:
            raw = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
        except ValueError:
            raise PersonalDataDecryptError("corrupt encrypted personal-data value") from None
        if len(raw) < _NONCE_BYTES + 16:
            raise PersonalDataDecryptError("truncated encrypted personal-data value")
        return parts[1], raw


def _aad(key_id: str, context: str) -> bytes:
    return f"{VERSION}:{key_id}:{context}".encode()


# --- the process-wide cipher -------------------------------------------------------------

_cipher: PersonalDataCipher | None = None


def configure_personal_data(
    secret_key: str, *, key_id: str = "1", keys: Mapping[str, str] | None = None
) -> PersonalDataCipher:
    """Set the process-wide cipher; called once by the runtime at start-up.

    ``secret_key`` is the collector's secret: it keys the lookup hashes and is the secret of
    key ``"1"`` unless ``keys`` names another. ``keys`` maps further key ids to their secrets
    (a new key, and old ones for rows not yet re-encrypted); ``key_id`` is the current one.
    """
    global _cipher
    keyring = {"1": secret_key, **(keys or {})}
    _cipher = PersonalDataCipher(keyring, key_id, lookup_secret=secret_key)
    return _cipher


def reset_personal_data() -> None:
    """Forget the configured cipher (tests, shutdown)."""
    global _cipher
    _cipher = None


def personal_data_cipher() -> PersonalDataCipher:
    if _cipher is None:
        raise PersonalDataNotConfigured(
            "personal-data encryption is not configured: the runtime must call "
            "configure_personal_data(settings.secret_key) before using the database"
        )
    return _cipher


def encrypt(plaintext: str, context: str = "") -> str:
    return personal_data_cipher().encrypt(plaintext, context)


def decrypt(stored: str, context: str = "") -> str:
    return personal_data_cipher().decrypt(stored, context)


def lookup_hash(value: str, kind: PiiKind | str) -> str:
    return personal_data_cipher().lookup_hash(value, kind)


# --- model integration -------------------------------------------------------------------

_ALLOWED_OPS = {operators.is_, operators.is_not}


class EncryptedText(TypeDecorator[str]):
    """A text column stored encrypted with the process-wide cipher, read back as plaintext.

    Comparing it in SQL is refused (a fresh nonce makes every ciphertext different): compare
    the companion ``*_hash`` column. ``IS NULL`` / ``IS NOT NULL`` are allowed.
    """

    impl = Text
    cache_ok = True

    class Comparator(TypeDecorator.Comparator[str]):  # type: ignore[name-defined]
        def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
            if op not in _ALLOWED_OPS:
                raise TypeError(
                    "an encrypted column cannot be compared in SQL; filter on its *_hash "
                    "column with lookup_hash()"
                )
            return super().operate(op, *other, **kwargs)

    comparator_factory = Comparator

    def __init__(self, context: str = "") -> None:
        super().__init__()
        self.context = context

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise TypeError(f"encrypted columns hold text, not {type(value).__name__}")
        return personal_data_cipher().encrypt(value, self.context)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return personal_data_cipher().decrypt(value, self.context)


def pii_field(kind: PiiKind | str, *, context: str = "", nullable: bool = True) -> Any:
    """A SQLModel field holding personal data, encrypted at rest.

    ``context`` (conventionally ``"table.column"``) is bound into every ciphertext; keep it
    constant for the life of the column. ``kind`` selects normalisation and masking.
    """
    return Field(
        default=None,
        sa_column=Column(EncryptedText(context), nullable=nullable, info={"pii_kind": str(kind)}),
    )


def pii_hash_field() -> Any:
    """The companion lookup column ``<field>_hash``: 64 hex characters, indexed."""
    return Field(default=None, sa_column=Column(String(64), index=True))


_M = TypeVar("_M", bound=type)


def sync_pii_hashes(cls: _M) -> _M:
    """Class decorator: keep every ``<field>_hash`` column in step with its ``pii_field`` on
    ORM insert and update. (Bulk ``insert()``/``update()`` statements bypass the ORM and must
    compute ``lookup_hash`` themselves.)"""
    columns = cls.__table__.columns  # type: ignore[attr-defined]
    pairs = [
        (c.key, f"{c.key}_hash", PiiKind(c.info["pii_kind"]))
        for c in columns
        if "pii_kind" in c.info and f"{c.key}_hash" in columns
    ]
    if not pairs:
        raise TypeError(f"{cls.__name__} has no pii_field with a companion *_hash column")

    def _set(target: Any, only_changed: bool) -> None:
        state = sa_inspect(target)
        for field, hash_field, kind in pairs:
            if only_changed and not state.attrs[field].history.has_changes():
                continue
            value = getattr(target, field)
            setattr(target, hash_field, None if value is None else lookup_hash(value, kind))

    event.listen(cls, "before_insert", lambda _m, _c, target: _set(target, False))
    event.listen(cls, "before_update", lambda _m, _c, target: _set(target, True))
    return cls
