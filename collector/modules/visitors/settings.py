"""Settings of the visitors module (env ``PRTC_COLLECTOR_VISITORS__<KEY>``)."""

from pydantic import BaseModel, Field


class VisitorsSettings(BaseModel):
    """Visitors: entrance registration, occupancy and contact tracing."""

    closing_time: str = Field(
        default="18:30",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="local time (HH:MM, collector timezone) at which visits still open are "
        "closed and marked as closed automatically",
    )
    retention_days: int = Field(
        default=90,
        ge=1,
        description="days after which the personal data of a visit (name, ID number) is purged; "
        "anonymous counts are kept",
    )
    trace_default_days: int = Field(
        default=14, ge=1, le=366, description="default look-back of a contact-tracing query"
    )
