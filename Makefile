# The two commands of the README: `make run` and `make test`.
# Everything else here is what they are made of.

SHELL := /bin/bash
HOST ?= 127.0.0.1
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin
PG_PORT ?= 55432

.PHONY: run test setup lint typecheck imports unit-sqlite unit-postgres pg-start pg-stop bench clean

setup:
	@scripts/app-env.sh

# Start the whole system on embedded defaults (SQLite under var/, the
# simulator of WeChat's server and API on the same port).
run: setup
	@mkdir -p var
	@$(BIN)/minhu db upgrade
	@echo ""
	@echo "  minhu is starting on http://$(HOST):$(PORT)"
	@echo "    chat simulator : http://$(HOST):$(PORT)/simulator"
	@echo "    WeChat webhook : http://$(HOST):$(PORT)/wechat"
	@echo "    health         : http://$(HOST):$(PORT)/healthz  /readyz  /metrics"
	@echo ""
	MINHU_SIMULATOR_ENABLED=true \
	MINHU_PUBLIC_BASE_URL=http://$(HOST):$(PORT) \
	MINHU_WECHAT_API_BASE=http://$(HOST):$(PORT)/simulator/wechat-api \
	MINHU_LOG_FORMAT=console \
	$(BIN)/minhu serve --host $(HOST) --port $(PORT)

# Set everything up and pass every test, on SQLite and on PostgreSQL.
test: setup lint typecheck imports unit-sqlite pg-start unit-postgres

lint: setup
	$(BIN)/ruff check bot handlers integrations nlu tests bench

typecheck: setup
	$(BIN)/mypy

imports: setup
	$(BIN)/lint-imports

unit-sqlite: setup
	$(BIN)/python -m pytest -q

pg-start:
	@scripts/pg-test.sh >/dev/null

pg-stop:
	@scripts/pg-test.sh stop

unit-postgres: setup pg-start
	MINHU_TEST_POSTGRES_URL=postgresql+asyncpg://minhu@127.0.0.1:$(PG_PORT)/minhu_test \
	MINHU_TEST_DATABASE=postgres \
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python -m bench.webhook

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
