"""Versioned desired configuration per device, with per-kind and per-centre defaults."""
