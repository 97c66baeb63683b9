"""The gate in front of an evaluation area: only drawn experts, at their time, at their gate.

``decision.py`` the pure admission decision over the roster, ``refusals.py`` repeated refusals
in a sliding window, ``gatekeeper.py`` one attempt from card to gate to event, ``plugin.py``
the agent glue.
"""
