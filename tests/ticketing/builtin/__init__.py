"""Tests of minhu's built-in work-order service (SQLite, and PostgreSQL when configured)."""
