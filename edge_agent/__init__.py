"""The field agent: durable outbox, MQTT link, command executor, heartbeat and device plugins.

It imports :mod:`contract` and never the collector. Nothing here has import-time side effects:
an :class:`edge_agent.agent.Agent` is built from :class:`edge_agent.settings.AgentSettings`,
and several agents can run in one process (the simulator does).
"""

from importlib.metadata import PackageNotFoundError, version


def agent_version() -> str:
    """The installed distribution's version, or ``0+unknown`` when run from a bare checkout."""
    try:
        return version("prtc-site")
    except PackageNotFoundError:
        return "0+unknown"
