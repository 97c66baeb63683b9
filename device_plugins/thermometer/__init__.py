"""Body-temperature measurement at the entrance: an infrared module, Modbus, or by hand."""
