"""IC-card readers through PC/SC (pcscd + pyscard): card UIDs onto the agent's local bus.

``apdu.py`` the GET DATA (UID) command and its answer, ``pcsc.py`` the thin layer over
pyscard's ``smartcard.scard``, ``presence.py`` one read per presentation, ``plugin.py`` the
agent glue, ``simulator.py`` a virtual card for vsmartcard's vpcd driver.
"""
