"""Schemathesis against /mp/v1's own OpenAPI schema: no input makes it answer 5xx.

The whole system (app, fake WeChat API, built-in work-order service) runs
in a thread of its own behind a loopback uvicorn server; schemathesis
generates requests for every operation from the schema (valid ones and
invalid ones) and sends them over HTTP with a logged-in user's token.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.support import BASE_URL

from .support import fake, mp_system

# Enough to cover each operation's shapes while the whole run stays well under a minute.
EXAMPLES_PER_OPERATION = 30


@dataclass
class LiveApi:
    base_url: str
    token: str
    schema: dict[str, Any]


def _serve(tmp: Path, ready: threading.Event, stop: threading.Event, out: dict[str, Any]
           ) -> None:
    async def main() -> None:
        overrides = {"miniprogram_rate_per_minute": 1_000_000,
                     "miniprogram_rate_burst": 1_000_000}
        async with mp_system(tmp, **overrides) as system:
            code = fake(system).mp_login("fuzzer")
            login = await system.http.post("/mp/v1/session", json={"code": code})
            out["token"] = login.json()["token"]
            out["schema"] = (await system.http.get("/mp/v1/openapi.json")).json()
            server = uvicorn.Server(uvicorn.Config(
                system.app, host="127.0.0.1", port=0, lifespan="off", log_level="warning",
                access_log=False,
            ))
            task = asyncio.create_task(server.serve())
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
            out["port"] = server.servers[0].sockets[0].getsockname()[1]
            ready.set()
            await asyncio.to_thread(stop.wait)
            server.should_exit = True
            await task

    try:
        asyncio.run(main())
    except BaseException as exc:  # reported by the fixture
        out["error"] = exc
        ready.set()


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    ready, stop = threading.Event(), threading.Event()
    out: dict[str, Any] = {}
    thread = threading.Thread(
        target=_serve, args=(tmp_path_factory.mktemp("mp-fuzz"), ready, stop, out),
        name="mp-live-api", daemon=True,
    )
    thread.start()
    try:
        assert ready.wait(30), "the live API did not start"
        if "error" in out:
            raise out["error"]
        yield LiveApi(f"http://127.0.0.1:{out['port']}/mp/v1", out["token"], out["schema"])
    finally:
        stop.set()
        thread.join(30)
    if "error" in out:
        raise out["error"]


def _fuzz(operation: Any, live_api: LiveApi) -> None:
    """Hypothesis over one operation's generated cases."""

    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              derandomize=True, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def fuzz(case: schemathesis.Case) -> None:
        response = case.call(base_url=live_api.base_url,
                             headers={"Authorization": f"Bearer {live_api.token}"}, timeout=30)
        case.validate_response(response, checks=[not_a_server_error])
        assert response.status_code < 500, response.text
        if response.status_code >= 400 and response.content:
            assert "error" in response.json(), response.text

    fuzz()


def test_no_input_makes_the_api_fail(live_api: LiveApi) -> None:
    # (schemathesis' pytest plugin reads a pytest attribute that pytest 9 no longer
    # has, so this drives its Python API and Hypothesis directly.)
    schema = schemathesis.openapi.from_dict(live_api.schema)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 16
    for operation in operations:
        _fuzz(operation, live_api)


def test_the_schema_documents_every_operation(live_api: LiveApi) -> None:
    paths = live_api.schema["paths"]
    assert set(paths) == {
        "/session", "/phone", "/chat", "/chat/voice", "/chat/messages", "/requests",
        "/requests/{ticket_id}",
        "/requests/{ticket_id}/supplement", "/requests/{ticket_id}/withdraw",
        "/requests/{ticket_id}/rating", "/subscriptions", "/media", "/media/{media_id}",
        "/options",
    }
    for path, operations in paths.items():
        for method, operation in operations.items():
            if path != "/options":
                assert "429" in operation["responses"], (method, path)
            assert "422" not in operation["responses"] or "ErrorResponse" in str(
                operation["responses"]["422"]), (method, path)
    assert httpx.get(f"{live_api.base_url}/openapi.json").status_code == 200
    assert BASE_URL
