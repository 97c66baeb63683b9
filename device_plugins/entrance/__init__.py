"""Entrance registration on the agent: checks every card, decides on the spot, serves the screen.

``plugin.py`` wires it to the agent, ``door.py`` holds the door's state and decisions,
``rules.py`` the pure decision function, ``kiosk.py`` the operator's screen.
"""
