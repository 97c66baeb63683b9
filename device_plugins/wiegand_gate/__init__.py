"""Door relays of Wiegand access controllers (微耕/WG, UHPPOTE and relatives) over UDP."""
