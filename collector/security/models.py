"""The keyring's record in the database: which personal-data keys have encrypted data."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Column, Field, SQLModel

from collector.db_types import UTCDateTime


class PersonalDataKey(SQLModel, table=True):
    """One row per key id that has been the current personal-data key.

    ``check_value`` is a fixed text encrypted with the key when it was first used: at start-up
    it proves that the configured secret of that id is the one the data was written with.
    ``retired_at`` is set once no stored value is encrypted with the key any more, so its
    secret may leave the configuration.
    """

    __tablename__ = "personal_data_keys"

    key_id: str = Field(primary_key=True, max_length=16)
    check_value: str = Field(max_length=200)
    first_used_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    retired_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
