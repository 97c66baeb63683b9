"""Every table of the collector, imported in one place so that Alembic sees the metadata."""

from sqlmodel import SQLModel

from collector.auth.models import ApiToken, AuditEntry, User, UserSession
from collector.centres.models import Centre
from collector.commands.models import Command, CommandAck
from collector.desired_config.models import DesiredConfig
from collector.devices.models import Device, SequenceGap
from collector.files.models import StoredFile
from collector.ingest.models import DeadLetter, StoredEvent
from collector.modules.burn import models as burn_models
from collector.modules.experts import models as experts_models
from collector.modules.notify import models as notify_models
from collector.modules.venues import models as venues_models
from collector.modules.visitors import models as visitors_models
from collector.security.models import PersonalDataKey

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
    "PersonalDataKey",
    "SequenceGap",
    "StoredEvent",
    "StoredFile",
    "User",
    "UserSession",
    "burn_models",
    "experts_models",
    "metadata",
    "notify_models",
    "venues_models",
    "visitors_models",
]
