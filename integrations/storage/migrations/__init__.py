"""Alembic migrations of the storage schema (run them with ``integrations.storage.migrate``)."""
