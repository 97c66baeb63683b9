"""Response models shared by several routers. Routes answer with these, never table rows."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class ApiModel(BaseModel):
    """Base of response models: built from table rows by attribute."""

    model_config = ConfigDict(from_attributes=True)


class Paged(ApiModel, Generic[T]):
    items: list[T]
    total: int = Field(description="rows matching the filters")
    limit: int
    offset: int


class ErrorOut(BaseModel):
    detail: str
