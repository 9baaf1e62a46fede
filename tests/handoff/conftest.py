"""The desk's unit tests run over every storage backend of the contract suite
(memory, SQLite, and PostgreSQL when MINHU_TEST_POSTGRES_URL is set)."""

from tests.contracts.conftest import (  # noqa: F401  (fixtures)
    backend,
    backend_name,
    clock,
    pg_target,
    postgres_schema,
    storage,
)
