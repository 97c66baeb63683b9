"""Trading centres (province → city → county)."""
