"""Venue registry, scan-code records, thresholds and alerts (seed 001).

Public for other modules: nothing yet. The module's declaration is in ``module.py``.
"""
