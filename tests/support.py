"""Helpers shared by the end-to-end tests: the system under test, in-process.

The app, the simulator (playing WeChat's server and API) and every HTTP
call between them run over :class:`LoopbackTransport`, which serves
``http://minhu.test`` from the ASGI app itself and fails loudly on any
other host.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from bot.ports import SpeechToText, Understanding
from bot.settings import Settings
from bot.wiring.app import create_app
from bot.wiring.container import Container
from integrations.simulator import Simulator, SimulatorClient
from integrations.storage import Storage, build_storage, create_engine
from nlu.keywords import KeywordUnderstanding

BASE_URL = "http://minhu.test"
POSTGRES_URL_ENV = "MINHU_TEST_POSTGRES_URL"


@dataclass
class Fault:
    """Makes the next ``times`` requests whose path starts with ``path`` fail.

    ``down``: the connection is refused, nothing reaches the app.
    ``lost_answer``: the app handles the request, then the answer is lost.
    """

    path: str
    times: int
    mode: Literal["down", "lost_answer"] = "down"
    hits: int = 0


class LoopbackTransport(httpx.AsyncBaseTransport):
    """Serves ``minhu.test`` from the app under test; refuses every other host."""

    def __init__(self) -> None:
        self.app: FastAPI | None = None
        self.faults: list[Fault] = []

    def fail(
        self, path: str, *, times: int, mode: Literal["down", "lost_answer"] = "down"
    ) -> Fault:
        fault = Fault(path, times, mode)
        self.faults.append(fault)
        return fault

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != "minhu.test":
            raise AssertionError(f"the system under test tried to reach {request.url}")
        assert self.app is not None, "the app is not built yet"
        fault = next(
            (f for f in self.faults if f.times > 0 and request.url.path.startswith(f.path)),
            None,
        )
        if fault is not None:
            fault.times -= 1
            fault.hits += 1
            if fault.mode == "down":
                raise httpx.ConnectError("injected outage", request=request)
        response = await httpx.ASGITransport(app=self.app).handle_async_request(request)
        if fault is not None:
            await response.aread()
            raise httpx.ReadTimeout("injected: the answer was lost", request=request)
        return response


def use_postgres() -> bool:
    return os.environ.get("MINHU_TEST_DATABASE") == "postgres"


@asynccontextmanager
async def database(tmp_path: Path) -> AsyncIterator[tuple[str, str | None]]:
    """A fresh database for one test: (url, search_path)."""
    if not use_postgres():
        yield f"sqlite+aiosqlite:///{tmp_path / 'minhu.db'}", None
        return
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        raise RuntimeError(f"MINHU_TEST_DATABASE=postgres needs {POSTGRES_URL_ENV}")
    schema = f"e2e_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield url, schema
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


@dataclass
class System:
    app: FastAPI
    container: Container
    settings: Settings
    simulator: Simulator
    residents: SimulatorClient
    http: httpx.AsyncClient
    search_path: str | None
    transport: LoopbackTransport

    @property
    def storage(self) -> Storage:
        return self.container.storage

    @asynccontextmanager
    async def replica(self) -> AsyncIterator[httpx.AsyncClient]:
        """Another replica of the app on the same database; yields a client to it."""
        storage = build_storage(self.settings.database_url, search_path=self.search_path)
        settings = self.settings.model_copy(update={"simulator_enabled": False})
        container = Container(
            settings, storage=storage, http_transport=_refuse_all(),
            understanding=KeywordUnderstanding(),
        )
        app = create_app(settings, container=container, configure_logs=False)
        await container.start()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://replica.test"
        )
        try:
            yield client
        finally:
            await client.aclose()
            await container.stop()


def _refuse_all() -> httpx.MockTransport:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"the replica tried to reach {request.url}")

    return httpx.MockTransport(refuse)


@asynccontextmanager
async def running_system(
    tmp_path: Path,
    *,
    understanding: Understanding | None = None,
    speech: SpeechToText | None = None,
    **overrides: Any,
) -> AsyncIterator[System]:
    """``speech``: the speech-to-text engine (default: as the settings build it)."""
    async with database(tmp_path) as (url, search_path):
        values: dict[str, Any] = {
            "database_url": url,
            "public_base_url": BASE_URL,
            "wechat_api_base": f"{BASE_URL}/simulator/wechat-api",
            "wechat_account_id": "gh_minhu_e2e",
            "simulator_enabled": True,
            "outbox_poll_seconds": 0.05,
            "ticket_retry_seconds": 0.1,
            # Staff are always in, so no test's outcome depends on the hour it runs;
            # tests of service hours set their own.
            "service_hours": "always",
        }
        values.update(overrides)
        settings = Settings(_env_file=None, **values)
        transport = LoopbackTransport()
        storage = build_storage(url, search_path=search_path)
        container = Container(
            settings,
            http_transport=transport,
            understanding=understanding or KeywordUnderstanding(),
            storage=storage,
            speech=speech,
        )
        # No Rasa in these tests unless one is passed in: report it as such.
        container.optional_checks = []
        app = create_app(settings, container=container, configure_logs=False)
        transport.app = app
        simulator: Simulator = app.state.simulator
        await container.start()
        client = httpx.AsyncClient(transport=transport, base_url=BASE_URL)
        try:
            yield System(
                app, container, settings, simulator, SimulatorClient(simulator), client,
                search_path, transport,
            )
        finally:
            await client.aclose()
            await container.stop()
