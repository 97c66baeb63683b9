"""The collector's REST API (``/api/v1``), health endpoints and metrics."""

from collector.api.app import create_app

__all__ = ["create_app"]
