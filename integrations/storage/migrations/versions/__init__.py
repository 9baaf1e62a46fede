"""Alembic revision scripts, written by hand to match ``integrations.storage.models``."""
