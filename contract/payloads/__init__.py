"""Built-in event payloads; importing this package registers them."""

from contract.payloads import access, agent, burn, entrance, recorder, sim

__all__ = ["access", "agent", "burn", "entrance", "recorder", "sim"]
