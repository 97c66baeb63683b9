"""Settings of the experts module (env ``PRTC_COLLECTOR_EXPERTS__<KEY>``)."""

from pydantic import BaseModel, Field


class ExpertsSettings(BaseModel):
    """Experts and sessions: rosters at the gates, sign-in, room recording, provincial sync."""

    roster_days_ahead: int = Field(
        default=2,
        ge=0,
        le=30,
        description="days ahead whose sessions go into the gate rosters and recording schedules",
    )
    lead_minutes: int = Field(
        default=60, ge=0, le=1440, description="how long before a session's start a gate admits"
    )
    grace_minutes: int = Field(
        default=30, ge=0, le=1440, description="how long after a session's end a gate still admits"
    )
    absence_alert_minutes: int = Field(
        default=15,
        ge=1,
        le=1440,
        description="minutes before the start at which experts not yet signed in raise an "
        "absence alert to the session's host",
    )
    refused_alert_count: int = Field(
        default=3,
        ge=2,
        description="refused attempts of one person at one gate that raise an alert",
    )
    refused_alert_window_minutes: int = Field(
        default=10, ge=1, description="window in which those refused attempts are counted"
    )
    recording_grace_minutes: int = Field(
        default=5,
        ge=0,
        description="minutes after a session's start before a room without recording is alerted",
    )
    recorder_instance: str = Field(
        default="recorder",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
        description="name of the recorder plugin instance on room terminals (its desired-config "
        "section receives the schedule)",
    )
    retention_days: int = Field(
        default=365,
        ge=1,
        description="days after a session's end after which the personal data of its roster "
        "(names, ID numbers, phones, card UIDs) and its host's phone are purged; sign-ins and "
        "the access log stay, anonymous",
    )
    sms_alerts: bool = Field(
        default=True, description="also send absence alerts to the host by SMS (notify module)"
    )
    sync_url: str = Field(
        default="",
        description="HTTP(S) endpoint of the provincial expert database; empty: no sync",
    )
    sync_token: str = Field(
        default="", description="bearer token sent to the provincial endpoint (may be empty)"
    )
    sync_field_map: dict[str, str] = Field(
        default_factory=dict,
        description='our field name → theirs, e.g. {id_number = "sfzh", name = "xm"}; '
        "fields not named keep our names",
    )
    sync_timeout_s: float = Field(default=10.0, gt=0, description="timeout of one delivery")
    sync_batch: int = Field(default=100, ge=1, le=5000, description="records per sync run")
    sync_backoff_base_s: int = Field(
        default=30, ge=1, description="first retry after this many seconds, doubling each time"
    )
    sync_backoff_max_s: int = Field(
        default=6 * 3600, ge=1, description="longest wait between two attempts of a record"
    )
