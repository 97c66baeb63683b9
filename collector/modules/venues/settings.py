"""Settings of the venues module (env ``PRTC_COLLECTOR_VENUES__<KEY>``)."""

from pydantic import BaseModel, Field


class FrontDbSettings(BaseModel):
    """前置库: the external database the provincial platform shares venues and scans into."""

    enabled: bool = Field(
        default=False,
        description="read venues and scans from the front database; while on, manual scan "
        "import and deletion are disabled",
    )
    url: str = Field(default="", description="SQLAlchemy URL of the front database")
    centre_id: str = Field(default="", description="centre the synchronised rows belong to")
    interval_minutes: int = Field(default=30, ge=1, description="minutes between two runs")
    batch_size: int = Field(default=5000, ge=100, description="rows read per round trip")
    venue_table: str = Field(default="", description="table of venues (empty: scans only)")
    venue_columns: dict[str, str] = Field(
        default_factory=lambda: {
            "code": "place_id",
            "name": "place_name",
            "category": "category",
            "city": "city",
            "street": "street",
            "admin": "place_admin",
            "location": "address",
        },
        description="venue field → column of venue_table",
    )
    scan_table: str = Field(default="", description="table of scan records")
    scan_columns: dict[str, str] = Field(
        default_factory=lambda: {
            "venue_code": "place_id",
            "venue_name": "place_name",
            "category": "category",
            "city": "city",
            "street": "street",
            "venue_admin": "place_admin",
            "id_number": "id_card",
            "person_name": "person_name",
            "phone": "phone",
            "collect_result": "collect_result",
            "nucleic_result": "nat_result",
            "nucleic_time": "nat_time",
            "health_code": "health_code",
            "location": "collect_location",
            "collected_at": "collect_time",
        },
        description="scan field → column of scan_table (collected_at is required)",
    )


class VenuesSettings(BaseModel):
    """Venue scan codes."""

    default_city: str = Field(default="开平市", description="所在市区 of new venues")
    alert_days: int = Field(
        default=7, ge=1, description="consecutive calendar days that make an alert (seed: 7)"
    )
    sms_text: str = Field(
        default="你有未接收的“扫码”预警待处理，请到OA系统的疫情防控专区查阅，谢谢！",
        description="the reminder SMS (the seed's fixed text)",
    )
    sms_hour: int = Field(default=9, ge=0, le=23, description="hour of the daily reminder SMS")
    import_batch: int = Field(default=5000, ge=100, description="rows per insert batch")
    retention_days: int = Field(
        default=30,
        ge=1,
        description="whole China days for which a scan keeps the person's ID number, name and "
        "phone; older scans keep only the anonymous record (venue, time, results), so "
        "statistics and alerts are unchanged. Import and sync skip rows older than this. "
        "30: the seed sets no period; twice the 14-day look-back of contact tracing and "
        "enough for monthly checks, and PIPL art. 19 asks for the shortest necessary",
    )
    alert_lookback_days: int = Field(
        default=31,
        ge=1,
        description="the alert job evaluates every complete China day since the last one it "
        "evaluated, but at most this many days back (a collector down for a while)",
    )
    front_db: FrontDbSettings = FrontDbSettings()
