"""Tracked events: idempotent ingestion and the SQL aggregates analysis reads."""
