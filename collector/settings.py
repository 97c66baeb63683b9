"""Collector settings: one pydantic-settings class, built at start-up by :func:`load_settings`.

Every key can be set in the TOML file given with ``-c`` or by an environment variable
``PRTC_COLLECTOR_<SECTION>__<KEY>`` (e.g. ``PRTC_COLLECTOR_DATABASE__URL``); the environment
wins over the file.
"""

from __future__ import annotations

import re
import secrets
import tomllib
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from collector.auth.policy import AuthPolicy
from collector.modules.burn.settings import BurnSettings
from collector.modules.experts.settings import ExpertsSettings
from collector.modules.notify.settings import NotifySettings
from collector.modules.venues.settings import VenuesSettings
from collector.modules.visitors.settings import VisitorsSettings


class DatabaseSettings(BaseModel):
    url: str = Field(
        default="sqlite:///var/collector/collector.db",
        description="SQLAlchemy URL: sqlite:///path.db (WAL) or postgresql+psycopg://user@host/db",
    )
    pool_size: int = Field(default=10, description="PostgreSQL connection pool size")
    migrate_on_start: bool = Field(default=True, description="apply Alembic migrations at start")


class MqttSettings(BaseModel):
    url: str = Field(
        default="",
        description="broker URL mqtt://host:port or mqtts://host:port; empty starts the "
        "embedded in-process broker",
    )
    embedded_listen: str = Field(
        default="127.0.0.1:1883", description="host:port of the embedded broker when url is empty"
    )
    client_id: str = Field(
        default="prtc-collector", description="MQTT client id (unique per instance)"
    )
    username: str = Field(default="", description="broker username")
    password: str = Field(default="", description="broker password")
    tls_ca_file: str = Field(default="", description="CA bundle for mqtts://")
    tls_cert_file: str = Field(default="", description="client certificate for mqtts://")
    tls_key_file: str = Field(default="", description="client key for mqtts://")
    keepalive_s: int = Field(default=30, description="MQTT keepalive")
    shared_subscription: bool = Field(
        default=False,
        description="consume events and acks through $share/collectors/... so several "
        "collectors share one broker and one database",
    )
    max_inflight: int = Field(default=1000, description="outgoing QoS 1 messages in flight")
    receiver_process: bool = Field(
        default=True,
        description="run the MQTT client in a child process, so that receiving and storing "
        "use two CPUs (false: a thread of the collector process)",
    )


class IngestSettings(BaseModel):
    batch_size: int = Field(default=500, description="messages committed per transaction at most")
    batch_wait_ms: int = Field(default=20, description="longest wait to fill a batch")
    queue_max: int = Field(default=20000, description="received messages buffered before commit")
    max_message_bytes: int = Field(
        default=1024 * 1024, description="larger messages are dead-lettered as too_large"
    )
    enrolment_cache_s: float = Field(
        default=5.0, description="how long a device's enrolment lookup is reused"
    )


class DeviceSettings(BaseModel):
    heartbeat_stale_factor: float = Field(
        default=3.0, description="offline when no heartbeat for this many heartbeat intervals"
    )
    default_heartbeat_interval_s: float = Field(
        default=30.0, description="when a device has not said"
    )
    housekeeping_interval_s: float = Field(
        default=5.0, description="how often stale devices and expired commands are marked"
    )


class HttpSettings(BaseModel):
    host: str = Field(default="127.0.0.1", description="listen address of the API and console")
    port: int = Field(default=8080, description="listen port")
    public_url: str = Field(default="", description="URL printed for people to open")
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="comma-separated addresses of reverse proxies whose X-Forwarded-For is "
        "believed; the client address it gives is what the audit log records and what the "
        "per-address login limit counts (behind a proxy on another host, name that host, or "
        "every login appears to come from the proxy)",
    )
    max_body_bytes: int = Field(
        default=8 * 2**20,
        ge=64 * 2**10,
        description="largest JSON or form body (larger ones are answered 413 before any route "
        "reads them)",
    )
    max_import_bytes: int = Field(
        default=512 * 2**20,
        ge=2**20,
        description="largest file posted for an import (multipart form or a spreadsheet as the "
        "body); resumable uploads are limited by files.max_upload_bytes instead",
    )


class FileStoreSettings(BaseModel):
    root: str = Field(default="var/collector/files", description="local file store directory")
    max_upload_bytes: int = Field(default=50 * 2**30, description="largest accepted upload")
    abandon_after_days: int = Field(
        default=14,
        ge=1,
        description="an upload that receives no bytes for this long is marked failed and its "
        "partial bytes deleted (the uploader starts over); long enough for a holiday closure",
    )


class SchedulerSettings(BaseModel):
    enabled: bool = Field(
        default=True, description="run the modules' scheduled jobs (on the leader collector only)"
    )
    misfire_grace_s: int = Field(
        default=3600,
        ge=1,
        description="default seconds a missed run may still start late (after a restart)",
    )


class PersonalDataSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key must not pass for a missing one

    key_id: str = Field(
        default="1",
        pattern=r"^[A-Za-z0-9_-]{1,16}$",
        description="id of the key new personal data is encrypted with; key 1 is derived from "
        "secret_key unless given in keys. To rotate: add a key, make it current, keep the old "
        "one until `prtc-collector pii rotate` (or its job, every 10 minutes) has re-encrypted "
        "everything",
    )
    keys: dict[str, str] = Field(
        default_factory=dict,
        description='secrets of the personal-data encryption keys by id (e.g. {"2" = '
        '"<32+ random characters>"}); key 1 defaults to secret_key',
    )
    rotate_batch: int = Field(
        default=2000, ge=100, le=100000, description="rows re-encrypted per commit"
    )


class CollectorSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PRTC_COLLECTOR_", env_nested_delimiter="__", extra="forbid"
    )

    instance: str = Field(default="collector-1", description="name of this collector instance")
    secret_key: str = Field(
        default="",
        description="secret for sessions and keyed hashes; generated for development when "
        "empty. Never change it: search hashes and gate keys derive from it (rotate personal-"
        "data encryption with personal_data.keys instead)",
    )
    timezone: str = Field(
        default="Asia/Shanghai",
        description="the centre's local time zone (IANA name): how the console shows times",
    )
    development: bool = Field(default=False, description="allow generated secrets and demo data")
    database: DatabaseSettings = DatabaseSettings()
    mqtt: MqttSettings = MqttSettings()
    ingest: IngestSettings = IngestSettings()
    devices: DeviceSettings = DeviceSettings()
    http: HttpSettings = HttpSettings()
    files: FileStoreSettings = FileStoreSettings()
    auth: AuthPolicy = AuthPolicy()
    scheduler: SchedulerSettings = SchedulerSettings()
    personal_data: PersonalDataSettings = PersonalDataSettings()
    notify: NotifySettings = NotifySettings()
    visitors: VisitorsSettings = VisitorsSettings()
    venues: VenuesSettings = VenuesSettings()
    burn: BurnSettings = BurnSettings()
    experts: ExpertsSettings = ExpertsSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the file; the file arrives as init kwargs from load_settings.
        return (env_settings, init_settings)


def _check_timezone(settings: CollectorSettings) -> None:
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SettingsError(f"unknown time zone {settings.timezone!r}") from exc


class SettingsError(ValueError):
    pass


def load_settings(
    path: Path | None = None, *, require_secret: bool = True, **overrides: Any
) -> CollectorSettings:
    """Build the settings from an optional TOML file, the environment and explicit overrides.

    ``require_secret=False`` is for administrative commands (migrations, enrolment) that
    never use the secret; they get a throw-away one instead of an error.
    """
    data: dict[str, Any] = {}
    if path is not None:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    data.update(overrides)
    settings = CollectorSettings(**data)
    _check_timezone(settings)
    if not settings.secret_key:
        if not settings.development and require_secret:
            raise SettingsError(
                "secret_key is required outside development "
                "(set PRTC_COLLECTOR_SECRET_KEY or secret_key in the config file)"
            )
        settings = settings.model_copy(update={"secret_key": secrets.token_urlsafe(32)})
    _check_personal_data_keys(settings.personal_data)
    return settings


def _check_personal_data_keys(pd: PersonalDataSettings) -> None:
    for key_id, secret in pd.keys.items():
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,16}", key_id):
            raise SettingsError(f"personal_data.keys: invalid key id {key_id!r}")
        if len(secret) < 16:
            raise SettingsError(f"personal_data.keys.{key_id}: secret shorter than 16 characters")
    if pd.key_id != "1" and pd.key_id not in pd.keys:
        raise SettingsError(
            f"personal_data.key_id is {pd.key_id!r} but personal_data.keys has no secret for it"
        )
