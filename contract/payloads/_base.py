from pydantic import BaseModel, ConfigDict


class Payload(BaseModel):
    """Base of every event payload: unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)
