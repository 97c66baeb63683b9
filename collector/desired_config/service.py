"""Desired configuration: versioned layers (centre < kind < device), merged per device and
published retained on ``.../config``.

Versions come from one sequence over all layers (max + 1, retried on a unique violation
when two collectors write at once), so a device's effective version, the highest of its
layers, only ever grows.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from collector.db_types import utcnow
from collector.desired_config.models import ConfigScope, DesiredConfig
from collector.devices.models import Device
from collector.publisher import Publisher
from contract.envelopes import ConfigEnvelope
from contract.topics import config_topic

MAX_VERSION_ATTEMPTS = 20

# Merge order: later layers override earlier ones.
LAYER_ORDER = (ConfigScope.CENTRE, ConfigScope.KIND, ConfigScope.DEVICE)


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: nested mappings merge, everything else is replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def set_config(
    session: Session,
    publisher: Publisher,
    *,
    scope: ConfigScope | str,
    target: str,
    config: dict[str, Any],
    created_by: str = "",
    now: datetime | None = None,
) -> DesiredConfig:
    """Store a new layer with the next global version, commit, and publish the effective
    configuration of every device it affects."""
    scope = ConfigScope(scope)
    for _ in range(MAX_VERSION_ATTEMPTS):
        current = session.exec(select(func.coalesce(func.max(DesiredConfig.version), 0))).one()
        layer = DesiredConfig(
            scope=scope,
            target=target,
            version=int(current) + 1,
            config=copy.deepcopy(config),
            created_at=now or utcnow(),
            created_by=created_by,
        )
        session.add(layer)
        try:
            session.commit()
        except IntegrityError:  # another writer took this version: draw again
            session.rollback()
            continue
        session.refresh(layer)
        break
    else:
        raise RuntimeError("could not allocate a configuration version")
    for device in affected_devices(session, scope, target):
        publish_effective(session, publisher, device)
    return layer


def affected_devices(session: Session, scope: ConfigScope, target: str) -> list[Device]:
    query = select(Device)
    if scope is ConfigScope.CENTRE:
        query = query.where(Device.centre_id == target)
    elif scope is ConfigScope.KIND:
        query = query.where(Device.kind == target)
    else:
        query = query.where(Device.id == target)
    return list(session.exec(query.order_by(col(Device.id))))


def layer_section(
    session: Session, scope: ConfigScope, target: str, section: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A copy of the newest layer's configuration for ``scope``/``target`` (empty without
    one) and its ``section`` (empty when absent): change the section, put it back in the
    configuration and store that with :func:`set_config`, keeping the other sections."""
    layer = latest_layer(session, scope, target)
    config: dict[str, Any] = copy.deepcopy(layer.config) if layer is not None else {}
    found = config.get(section)
    return config, found if isinstance(found, dict) else {}


def latest_layer(session: Session, scope: ConfigScope, target: str) -> DesiredConfig | None:
    return session.exec(
        select(DesiredConfig)
        .where(DesiredConfig.scope == scope, DesiredConfig.target == target)
        .order_by(col(DesiredConfig.version).desc())
        .limit(1)
    ).first()


def layers(session: Session, device: Device) -> list[DesiredConfig]:
    """The newest layer of each scope that applies to the device, in merge order."""
    targets = {
        ConfigScope.CENTRE: device.centre_id,
        ConfigScope.KIND: device.kind,
        ConfigScope.DEVICE: device.id,
    }
    found = (latest_layer(session, scope, targets[scope]) for scope in LAYER_ORDER)
    return [layer for layer in found if layer is not None]


def merge_layers(found: Iterable[DesiredConfig]) -> ConfigEnvelope | None:
    config: dict[str, Any] = {}
    top: DesiredConfig | None = None
    for layer in found:
        config = deep_merge(config, layer.config)
        if top is None or layer.version > top.version:
            top = layer
    if top is None:
        return None
    return ConfigEnvelope(version=top.version, issued_at=top.created_at, config=config)


def effective_config(session: Session, device_id: str) -> ConfigEnvelope | None:
    """The merged configuration of a device, or None when no layer applies to it."""
    device = session.get(Device, device_id)
    if device is None:
        return None
    return merge_layers(layers(session, device))


def publish_effective(
    session: Session, publisher: Publisher, device: Device | str
) -> ConfigEnvelope | None:
    """Publish a device's effective configuration (QoS 1, retained); None if it has none."""
    if isinstance(device, str):
        found = session.get(Device, device)
        if found is None:
            return None
        device = found
    envelope = merge_layers(layers(session, device))
    if envelope is not None:
        publisher.publish(
            config_topic(device.centre_id, device.id),
            envelope.model_dump_json().encode(),
            qos=1,
            retain=True,
        )
    return envelope
