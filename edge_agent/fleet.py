"""Many agents in one process: what ``prtc-sim agents`` and demos run."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from edge_agent.agent import Agent
from edge_agent.settings import AgentSettings


class AgentFleet:
    def __init__(self, settings: Iterable[AgentSettings]) -> None:
        self.agents = [Agent(s) for s in settings]

    def start(self) -> None:
        for agent in self.agents:
            agent.start()

    def stop(self) -> None:
        """Stop all agents in parallel (each waits briefly for its offline status)."""
        threads = [
            threading.Thread(target=agent.stop, name=f"stop/{agent.device}")
            for agent in self.agents
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
