"""A real Rasa server for the tests that need one.

``make test`` trains (or reuses) the model first and sets
``MINHU_TEST_RASA=required``: then a missing Rasa is an error, not a skip.
Without the variable these tests are skipped, so a quick ``pytest`` run on
a machine without Rasa's virtualenv still works.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from nlu.runtime import RasaServer, current_model, free_port, have_rasa, inputs_hash

RASA_ENV = "MINHU_TEST_RASA"


def rasa_wanted() -> bool:
    return os.environ.get(RASA_ENV, "") in ("1", "required")


def _model() -> Path:
    if not have_rasa():
        pytest.fail("MINHU_TEST_RASA is set but .venv-rasa is missing (scripts/rasa-env.sh)")
    model = current_model()
    if model is None or inputs_hash() not in model.name:
        pytest.fail("no model for the current training data: run `minhu nlu train` first")
    return model


@pytest.fixture(scope="session")
def rasa_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RasaServer]:
    if not rasa_wanted():
        pytest.skip(f"set {RASA_ENV}=1 to run against a real Rasa server (make test does)")
    server = RasaServer(
        model=_model(), port=free_port(),
        log_path=tmp_path_factory.mktemp("rasa") / "rasa-server.log",
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_rasa_server(tmp_path: Path) -> Iterator[RasaServer]:
    """A server of the test's own, which it may kill and restart."""
    if not rasa_wanted():
        pytest.skip(f"set {RASA_ENV}=1 to run against a real Rasa server (make test does)")
    server = RasaServer(model=_model(), port=free_port(), log_path=tmp_path / "rasa.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()
