"""The ASGI application."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.logs import configure_logging
from bot.ports import HealthCheck
from bot.settings import Settings
from bot.types import StatusChange
from bot.wiring.container import Container
from integrations.console.auth import ConsoleAuth, console_signer
from integrations.console.quick_replies import load_quick_replies
from integrations.console.web import ConsoleConfig, build_console
from integrations.media.web import build_media_router
from integrations.miniprogram.api import build_miniprogram_app
from integrations.staff.sessions import SessionSigner
from integrations.staff.throttle import SignInThrottle
from integrations.staff.web import StaffWeb
from integrations.ticketing.builtin.api import build_open311_router
from integrations.ticketing.builtin.pages import build_workorder_pages
from integrations.ticketing.receiver import build_status_webhook
from integrations.wechat import WeChatWebhook
from nlu.normalize import to_simplified

__all__ = ["create_app", "create_served_app"]

# The official account the simulator plays when none is configured.
SIMULATED_ACCOUNT_ID = "gh_minhu_simulated"

# A readiness probe must answer before the orchestrator gives up on it.
READINESS_CHECK_SECONDS = 2.0


def create_served_app() -> FastAPI:
    """The app of ``minhu serve --workers N`` (uvicorn builds one per worker)."""
    return create_app(long_running=True)


def _settle_heap() -> None:
    """Load what loads lazily, then move everything alive after start-up out
    of the garbage collector's sight.

    Start-up leaves a large heap that lives as long as the process (OpenCC's
    dictionaries, SQLAlchemy's compiled statements, the NLU's tables, the
    libraries). A full collection walks all of it: about 75 ms on a 2-core
    machine, during which no request is answered. Frozen, the full
    collections only walk what requests created since.
    """
    to_simplified("臺灣")  # OpenCC's converter, otherwise built on the first Traditional text
    gc.collect()
    gc.freeze()


class _MinhuApp(FastAPI):
    """FastAPI with a few exact paths served by bare ASGI apps first.

    The webhooks check, parse and answer everything themselves (size caps,
    4xx on bad input), so FastAPI's telemetry, body-limit and error
    middleware would only add work to every delivery."""

    fast_routes: Mapping[str, ASGIApp] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            handler = self.fast_routes.get(scope["path"])
            if handler is not None:
                scope["app"] = self
                await handler(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    *,
    container: Container | None = None,
    configure_logs: bool = True,
    long_running: bool = False,
) -> FastAPI:
    """The app. ``long_running`` (what ``minhu serve`` runs) also settles the
    heap after start-up: see :func:`_settle_heap`."""
    settings = settings or Settings()
    if configure_logs:
        configure_logging(settings.log_level, settings.log_format)
    container = container or Container(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await container.start()
        if long_running:
            _settle_heap()
        try:
            yield
        finally:
            await container.stop()

    app = _MinhuApp(title="minhu", version="0.1.0", lifespan=lifespan)
    app.state.container = container
    # The webhooks answer on the hottest path: they are bare ASGI apps reached
    # before FastAPI's middleware, routing and request machinery.
    async def on_status_change(change: StatusChange, delivery_id: str) -> None:
        await container.tickets.status_changed(change, delivery_id)

    status_webhook = build_status_webhook(
        secret=settings.ticket_webhook_secret.get_secret_value(), on_change=on_status_change
    )
    app.fast_routes = {
        "/wechat": WeChatWebhook(container.wechat_webhook, container.ingest),
        "/tickets/webhook": status_webhook,
        # Off (404) unless MINHU_TELEGRAM_TOKEN is set.
        **({"/telegram": container.telegram.webhook} if container.telegram else {}),
    }
    _mount_staff_and_workorders(app, settings, container)
    # Photos behind the signed links in tickets (Telegram's).
    app.include_router(build_media_router(container.media, container.media_links))
    if container.miniprogram is not None:
        app.mount("/mp/v1", build_miniprogram_app(
            container.miniprogram, ingest=container.ingest, tickets=container.tickets,
            alerts=container.alerts, understanding=container.understanding,
        ))

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        required = await _run_checks(container.health_checks)
        optional = await _run_checks(container.optional_checks)
        ready = all(value == "ok" for value in required.values())
        degraded = sorted(name for name, value in optional.items() if value != "ok")
        status = "not ready" if not ready else "degraded" if degraded else "ready"
        return JSONResponse(
            {"status": status, "checks": {**required, **optional}},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    if settings.simulator_enabled:
        _mount_simulator(app, settings, container)
    return app


def _mount_staff_and_workorders(app: FastAPI, settings: Settings, container: Container) -> None:
    """The built-in work-order service (its Open311 API and its staff pages)."""
    if container.workorders is not None:
        app.include_router(
            build_open311_router(
                container.workorders, api_key=settings.open311_api_key.get_secret_value()
            ),
            prefix="/open311/v2",
        )
    if container.staff is None or container.storage.database is None:
        return
    staff = StaffWeb(
        container.staff,
        SessionSigner(
            settings.staff_session_secret.get_secret_value(),
            secure=settings.public_base_url.startswith("https://"),
        ),
        SignInThrottle(container.storage.database),
    )
    app.include_router(staff.router())
    if container.workorders is not None:
        app.include_router(build_workorder_pages(container.workorders, staff))
    _mount_console(app, settings, container)


def _mount_console(app: FastAPI, settings: Settings, container: Container) -> None:
    """The staff console at /console: the same accounts and throttle, its own cookie."""
    if container.staff is None or container.storage.database is None:
        return
    auth = ConsoleAuth(
        container.staff,
        console_signer(
            settings.staff_session_secret.get_secret_value(),
            secure=settings.public_base_url.startswith("https://"),
        ),
        SignInThrottle(container.storage.database),
    )
    quick_replies = load_quick_replies(
        Path(settings.console_quick_replies) if settings.console_quick_replies else None
    )
    config = ConsoleConfig(
        sla_amber_seconds=settings.console_sla_amber_seconds,
        sla_red_seconds=settings.console_sla_red_seconds,
        heartbeat_seconds=settings.console_heartbeat_seconds,
        poll_seconds=settings.console_poll_seconds,
        quick_replies=quick_replies,
    )
    app.include_router(
        build_console(
            container.handoff, container.tickets, auth, config=config, clock=container.clock
        )
    )


async def _run_checks(checks: list[HealthCheck]) -> dict[str, str]:
    results: dict[str, str] = {}
    for check in checks:
        try:
            await asyncio.wait_for(check.check(), timeout=READINESS_CHECK_SECONDS)
        except Exception as exc:
            results[check.name] = f"fail: {type(exc).__name__}: {exc}"[:200]
        else:
            results[check.name] = "ok"
    return results


def _mount_simulator(app: FastAPI, settings: Settings, container: Container) -> None:
    from integrations.simulator import Simulator, SimulatorConfig, build_simulator_router

    simulator = Simulator(
        SimulatorConfig(
            token=settings.wechat_token.get_secret_value(),
            encoding_aes_key=(
                settings.wechat_aes_key.get_secret_value() if settings.wechat_aes_key else None
            ),
            app_id=settings.wechat_app_id,
            app_secret=settings.wechat_app_secret.get_secret_value(),
            account_id=settings.wechat_account_id or SIMULATED_ACCOUNT_ID,
            webhook_url=f"{settings.public_base_url.rstrip('/')}/wechat",
            safe_mode=settings.wechat_aes_key is not None,
        ),
        # The simulator posts to our own /wechat through the container's
        # client, so tests that give the container a transport reach it too.
        container.http,
    )
    # The fake API also plays WeChat for the mini-program (jscode2session, ...).
    simulator.api.register_miniprogram(
        settings.miniprogram_app_id, settings.miniprogram_app_secret.get_secret_value()
    )
    app.state.simulator = simulator
    app.include_router(build_simulator_router(simulator))
    if container.telegram is not None:
        # Telegram mode at /simulator/telegram, with a fake Bot API at
        # /simulator/telegram-api (scripts/run.sh points MINHU_TELEGRAM_API_BASE there).
        from integrations.simulator.telegram import mount_telegram_simulator

        app.state.telegram_simulator = mount_telegram_simulator(
            app, http=container.http, public_base_url=settings.public_base_url,
            token=settings.telegram_token.get_secret_value(),
            secret=settings.telegram_secret.get_secret_value(),
        )
