"""Built-in event payloads; importing this package registers them."""

from contract.payloads import agent, sim

__all__ = ["agent", "sim"]
