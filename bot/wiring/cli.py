"""The ``minhu`` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from typing import Any

from bot.settings import Settings

__all__ = ["main"]


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers
    print(f"minhu listening on http://{host}:{port} ({workers} worker(s))", file=sys.stderr)
    common: dict[str, Any] = {
        "host": host, "port": port, "log_config": None, "access_log": False,
        "proxy_headers": False, "timeout_graceful_shutdown": 10,
    }
    if workers > 1:
        # Each worker process builds its own app from the same environment.
        uvicorn.run("bot.wiring.app:create_app", factory=True, workers=workers, **common)
    else:
        from bot.wiring.app import create_app

        uvicorn.run(create_app(settings), **common)
    return 0


def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from integrations.storage import upgrade

    asyncio.run(upgrade(settings.database_url))
    print(f"database is at the latest revision: {_redacted(settings.database_url)}")
    return 0


def _wechat_menu(args: argparse.Namespace, settings: Settings) -> int:
    from bot.wiring.container import Container
    from integrations.storage import upgrade
    from integrations.wechat.menu import DEFAULT_MENU, install_menu

    async def run() -> None:
        await upgrade(settings.database_url)
        container = Container(settings)
        try:
            await install_menu(container.wechat_api)
        finally:
            await container.http.aclose()
            await container.storage.close()

    asyncio.run(run())
    names = " / ".join(button["name"] for button in DEFAULT_MENU["button"])
    print(f"custom menu installed: {names}")
    return 0


def _redacted(url: str) -> str:
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minhu", description="minhu (民呼) chat front door")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the web service")
    serve.add_argument("--host", default=None, help="bind address (default MINHU_HOST)")
    serve.add_argument("--port", type=int, default=None, help="port (default MINHU_PORT)")
    serve.add_argument(
        "--workers", type=int, default=1,
        help="worker processes (several suit PostgreSQL; SQLite gains little)",
    )
    serve.set_defaults(run=_serve)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply all migrations").set_defaults(run=_db_upgrade)

    wechat = commands.add_parser("wechat", help="WeChat official account tools")
    wechat_commands = wechat.add_subparsers(dest="wechat_command", required=True)
    wechat_commands.add_parser(
        "menu", help="install the custom menu (我要反映 / 我的诉求 / 转人工)"
    ).set_defaults(run=_wechat_menu)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace, Settings], int] = args.run
    return run(args, Settings())


if __name__ == "__main__":
    sys.exit(main())
