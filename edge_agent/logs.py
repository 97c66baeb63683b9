"""Loggers that name the device (and plugin instance) in every record.

Several agents can share one process (the simulator), so the device id is carried by a
:class:`logging.LoggerAdapter` per agent instead of any global logging state.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]


class DeviceLogger(logging.LoggerAdapter[logging.Logger]):
    """Prefixes messages with ``[device]`` or ``[device/instance]`` and sets ``extra``."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(self.extra or {})
        tag = extra["device"] if not extra.get("plugin") else f"{extra['device']}/{extra['plugin']}"
        kwargs["extra"] = {**extra, **kwargs.get("extra", {})}
        return f"[{tag}] {msg}", kwargs


def device_logger(name: str, device: str, plugin: str = "") -> DeviceLogger:
    return DeviceLogger(logging.getLogger(name), {"device": device, "plugin": plugin})
