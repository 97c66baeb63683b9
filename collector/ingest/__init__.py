"""Event ingest: validate, store exactly once, acknowledge, receipt, dead-letter the rest."""
