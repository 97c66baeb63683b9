"""Every table of the collector, imported in one place so that Alembic sees the metadata."""

from sqlmodel import SQLModel

from collector.auth.models import ApiToken, AuditEntry, User, UserSession
from collector.centres.models import Centre
from collector.commands.models import Command, CommandAck
from collector.desired_config.models import DesiredConfig
from collector.devices.models import Device, SequenceGap
from collector.files.models import StoredFile
from collector.ingest.models import DeadLetter, StoredEvent

metadata = SQLModel.metadata

__all__ = [
    "ApiToken",
    "AuditEntry",
    "Centre",
    "Command",
    "CommandAck",
    "DeadLetter",
    "DesiredConfig",
    "Device",
    "SequenceGap",
    "StoredEvent",
    "StoredFile",
    "User",
    "UserSession",
    "metadata",
]
