"""Settings of one agent: a TOML file (``prtc-agent run -c agent.toml``) plus the environment.

Every key can be overridden by an environment variable named ``PRTC_AGENT_`` + section +
``__`` + key, upper case, e.g. ``PRTC_AGENT_MQTT__URL`` or ``PRTC_AGENT_AGENT__DEVICE``;
plugin settings too (``PRTC_AGENT_PLUGINS__SIM1__RATE``). The environment wins over the file.
Settings are built by :func:`load_settings` at start-up, never at import.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from contract.registry import Priority
from contract.topics import Identifier
from edge_agent import agent_version
from edge_agent.outbox import OutboxLimits

ENV_PREFIX = "PRTC_AGENT_"
MIB = 1024 * 1024
DAY = 86400.0
INSTANCE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentSection(_Section):
    """``[agent]``: who this agent is and where it keeps its state."""

    centre: Identifier = Field(description="Centre id this device belongs to (topic prefix).")
    device: Identifier = Field(
        description="Device id; also the MQTT client id and the broker user name by convention."
    )
    state_dir: Path = Field(
        default=Path("/var/lib/prtc-agent"),
        description="Directory of outbox.db and desired_config.json; created if missing.",
    )
    heartbeat_interval_s: float = Field(
        default=30.0, gt=0, description="Seconds between agent.heartbeat events."
    )
    agent_version: str = Field(
        default_factory=agent_version,
        max_length=64,
        description="Version reported in status and heartbeats; defaults to the installed one.",
    )


class MqttSection(_Section):
    """``[mqtt]``: the broker connection."""

    url: str = Field(
        default="mqtt://127.0.0.1:1883",
        description="Broker URL: mqtt://host:port, or mqtts://host:port for TLS (port 8883 "
        "by default).",
    )
    username: str | None = Field(default=None, description="Broker user name, if required.")
    password: SecretStr | None = Field(default=None, description="Broker password.")
    tls_ca_file: Path | None = Field(
        default=None, description="CA bundle for mqtts://; the system CAs when unset."
    )
    tls_cert_file: Path | None = Field(
        default=None, description="Client certificate (PEM) for mutual TLS."
    )
    tls_key_file: Path | None = Field(default=None, description="Client private key (PEM).")
    keepalive_s: int = Field(default=30, ge=5, description="MQTT keepalive in seconds.")
    reconnect_min_s: float = Field(
        default=0.5, gt=0, description="Smallest reconnect delay (exponential backoff start)."
    )
    reconnect_max_s: float = Field(
        default=30.0, gt=0, description="Largest reconnect delay; delays are fully jittered."
    )
    max_inflight: int = Field(
        default=1000,
        ge=1,
        description="Most messages published but not yet covered by a receipt at any time.",
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("expected mqtt://host[:port] or mqtts://host[:port]")
        return value

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "mqtts"

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or (8883 if self.tls else 1883)


class MaxAge(_Section):
    """``[outbox.max_age_s]``: seconds a message of each class may wait before eviction."""

    critical: float = Field(default=30 * DAY, gt=0, description="Access decisions, acks.")
    status: float = Field(default=1 * DAY, gt=0, description="Heartbeats, device state.")
    telemetry: float = Field(default=7 * DAY, gt=0, description="Periodic readings.")
    bulk: float = Field(default=3 * DAY, gt=0, description="Large or low-value data.")


class OutboxSection(_Section):
    """``[outbox]``: bounds of the durable outbox and resending."""

    max_events: int = Field(
        default=1_000_000, ge=1, description="Most messages kept; beyond it evicts by policy."
    )
    max_bytes: int = Field(
        default=512 * MIB, ge=1, description="Most bytes of message bodies kept."
    )
    max_age_s: MaxAge = Field(default_factory=MaxAge, description="Maximum age per class.")
    resend_after_s: float = Field(
        default=30.0,
        gt=0,
        description="Resend a message published but not covered by a receipt after this long.",
    )
    sweep_interval_s: float = Field(
        default=60.0, gt=0, description="Seconds between age-eviction sweeps when idle."
    )

    def limits(self) -> OutboxLimits:
        ages = self.max_age_s
        return OutboxLimits(
            max_events=self.max_events,
            max_bytes=self.max_bytes,
            max_age_s={
                Priority.CRITICAL: ages.critical,
                Priority.STATUS: ages.status,
                Priority.TELEMETRY: ages.telemetry,
                Priority.BULK: ages.bulk,
            },
        )


class CommandsSection(_Section):
    """``[commands]``: the command executor."""

    max_in_flight: int = Field(
        default=4, ge=1, description="Commands running at once; more are answered 'busy'."
    )
    remember_s: float = Field(
        default=7 * DAY,
        gt=0,
        description="Keep a command id (for idempotency) this long after the command expired.",
    )


class UploadsSection(_Section):
    """``[uploads]``: files (recordings) sent to the collector's file store over its resumable
    upload API. Without ``url`` files are queued and kept until one is configured."""

    url: str | None = Field(
        default=None,
        description="Collector base URL, e.g. https://collector.example:8443 (the API is below "
        "/api/v1).",
    )
    token: SecretStr | None = Field(
        default=None,
        description="API token (Authorization: Bearer) with the devices.view and "
        "devices.command permissions for this device's centre.",
    )
    chunk_bytes: int = Field(
        default=64 * MIB,
        ge=64 * 1024,
        description="Bytes sent per PATCH request. The collector keeps every byte that reached "
        "it even when a request breaks, so this bounds request size (for proxies), not re-sending.",
    )
    max_bytes_per_s: int = Field(
        default=0, ge=0, description="Upload bandwidth cap in bytes per second; 0 = unlimited."
    )
    delete_after_upload: bool = Field(
        default=False,
        description="Delete the local file once uploaded; otherwise the queuing plugin's own "
        "retention decides (a recorder keeps segments for its retention_days).",
    )
    keep_records_days: float = Field(
        default=30.0, gt=0, description="Days to remember finished uploads in uploads.db."
    )
    retry_min_s: float = Field(default=1.0, gt=0, description="First retry delay.")
    retry_max_s: float = Field(
        default=300.0, gt=0, description="Largest retry delay; delays are jittered."
    )
    timeout_s: float = Field(default=60.0, gt=0, description="HTTP timeout per request.")
    tls_ca_file: Path | None = Field(
        default=None, description="CA bundle for https://; the system CAs when unset."
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected http://host[:port] or https://host[:port]")
        return value.rstrip("/")


class PluginSection(BaseModel):
    """``[plugins.<instance name>]``: one device plugin instance.

    ``kind`` names the entry point in group ``prtc.device_plugins``; every other key is the
    plugin's own setting and is handed to it unchanged.
    """

    model_config = ConfigDict(extra="allow")

    kind: str = Field(description="Entry-point name of the plugin, e.g. 'sim'.")
    enabled: bool = Field(default=True, description="Set false to keep the section but not load.")

    @property
    def plugin_settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class AgentSettings(BaseSettings):
    """All settings of one agent."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid"
    )

    agent: AgentSection
    mqtt: MqttSection = Field(default_factory=MqttSection)
    outbox: OutboxSection = Field(default_factory=OutboxSection)
    commands: CommandsSection = Field(default_factory=CommandsSection)
    uploads: UploadsSection = Field(default_factory=UploadsSection)
    plugins: dict[str, PluginSection] = Field(
        default_factory=dict, description="Plugin instances by name (the action prefix)."
    )

    @field_validator("plugins")
    @classmethod
    def _check_instance_names(cls, value: dict[str, PluginSection]) -> dict[str, PluginSection]:
        for name in value:
            # The name prefixes the instance's actions ("sim1.burst"), so it follows their rule.
            if not INSTANCE_NAME.match(name) or name == "agent":
                raise ValueError(f"plugin instance name {name!r}: use [a-z][a-z0-9_]*, not 'agent'")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init arguments; the environment overrides them.
        return (env_settings, init_settings)


class _IsolatedAgentSettings(AgentSettings):
    """Settings that ignore the environment: for many agents in one process."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def load_settings(path: Path | None) -> AgentSettings:
    """Settings from a TOML file (optional) overridden by ``PRTC_AGENT_*`` variables."""
    data: dict[str, Any] = {}
    if path is not None:
        with path.open("rb") as f:
            data = tomllib.load(f)
    return AgentSettings(**data)


def settings_from_mapping(data: Mapping[str, Any], *, environment: bool = False) -> AgentSettings:
    """Settings from a mapping; the environment is ignored unless ``environment`` is true.

    The simulator builds many agents in one process: a ``PRTC_AGENT_AGENT__DEVICE`` in its
    environment must not give them all the same identity.
    """
    cls = AgentSettings if environment else _IsolatedAgentSettings
    return cls(**dict(data))
