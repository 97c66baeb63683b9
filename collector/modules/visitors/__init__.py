"""Entrance registration, occupancy and contact tracing.

Stores the ``entrance.passage`` events of entrance agents as visits (``handler``), shows
occupancy live, searches and exports visits, traces contacts, and sets the entrance rules
the agents apply (``rules``). Operator guide: ``docs/modules/visitors.md``.

The module's declaration is in ``module.py``.
"""
