"""Gate and door relays switched over Modbus RTU."""
