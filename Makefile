# The two commands of the README: `make run` and `make test`.
# Everything else here is what they are made of.

SHELL := /bin/bash
HOST ?= 127.0.0.1
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin
PG_PORT ?= 55432

.PHONY: run test setup browser lint typecheck imports nlu-model nlu-eval bench-asr unit-sqlite unit-postgres pg-start pg-stop bench screenshots clean

# The app's venv, then speech-to-text's Debian tools, model and eval sets.
setup:
	@scripts/app-env.sh
	@scripts/asr-env.sh

# Debian's Chromium and CJK fonts for the browser tests (apt-get, once).
browser:
	@scripts/browser-env.sh

# Start the whole system on embedded defaults (SQLite under var/, Rasa on
# loopback, the simulator of WeChat's server and API on the same port).
run:
	@HOST=$(HOST) PORT=$(PORT) scripts/run.sh

# Set everything up and pass every test, on SQLite and on PostgreSQL.
test: setup lint typecheck imports nlu-model unit-sqlite pg-start unit-postgres

lint: setup
	$(BIN)/ruff check bot handlers integrations nlu tests bench scripts

# The README's screenshots of the ticket loop, taken in headless Chromium.
screenshots:
	@scripts/screenshots.sh

typecheck: setup
	$(BIN)/mypy

imports: setup
	$(BIN)/lint-imports

# The Rasa virtualenv and a model for the current training data (both cached
# under ignored folders, keyed by a hash of their inputs).
nlu-model: setup
	@scripts/rasa-env.sh >/dev/null
	$(BIN)/minhu nlu train

# SQLite, the NLU tests against a real Rasa server, speech-to-text with the real
# model, and the browser tests in headless Chromium (tests/browser; they skip on
# the PostgreSQL pass).
unit-sqlite: setup browser
	MINHU_TEST_RASA=required MINHU_TEST_ASR=required MINHU_TEST_BROWSER=required $(BIN)/python -m pytest -q

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

# Speech-to-text: 10 s note latency, CER and RTF of both eval sets.
bench-asr: setup
	$(BIN)/python -m bench.asr --json var/bench-asr.json

nlu-eval: nlu-model
	$(BIN)/minhu nlu eval --json var/nlu-eval.json

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
