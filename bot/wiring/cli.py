"""The ``minhu`` command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bot.settings import Settings

__all__ = ["main"]


async def _migrate(settings: Settings) -> None:
    from integrations.storage import build_storage

    storage = build_storage(settings.database_url)
    try:
        await storage.migrate()
    finally:
        await storage.close()


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
        # Workers share conversations. Their state caches stay safe: each turn
        # starts from the state the journal read when it accepted the message,
        # and a save on a stale copy is refused (version check) and re-run.
        if settings.migrate_on_start:
            # Once here, instead of every worker at the same moment.
            asyncio.run(_migrate(settings))
            os.environ["MINHU_MIGRATE_ON_START"] = "false"
        # Each worker process builds its own app from the same environment.
        uvicorn.run("bot.wiring.app:create_served_app", factory=True, workers=workers,
                    **common)
    else:
        from bot.wiring.app import create_app

        uvicorn.run(create_app(settings, long_running=True), **common)
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


# Ports Telegram delivers webhooks to (domain.md §3).
_TELEGRAM_WEBHOOK_PORTS = (443, 80, 88, 8443)


def _telegram_poll(args: argparse.Namespace, settings: Settings) -> int:
    """The web service, with Telegram updates fetched by long polling instead of
    the webhook (for a machine Telegram cannot reach)."""
    import uvicorn

    from bot.wiring.app import create_app
    from bot.wiring.container import Container

    if not settings.telegram_token.get_secret_value():
        print("error: set MINHU_TELEGRAM_TOKEN (the bot's token from @BotFather)",
              file=sys.stderr)
        return 1
    container = Container(settings)
    container.telegram_polling = True
    host = args.host or settings.host
    port = args.port or settings.port
    print(f"minhu polling Telegram (bot {container.telegram.bot_id if container.telegram else ''}"
          f"); web service on http://{host}:{port}; Ctrl-C stops", file=sys.stderr)
    uvicorn.run(
        create_app(settings, container=container, long_running=True), host=host, port=port,
        log_config=None,
        access_log=False, proxy_headers=False, timeout_graceful_shutdown=10,
    )
    return 0


def _telegram_set_webhook(args: argparse.Namespace, settings: Settings) -> int:
    """setWebhook to MINHU_PUBLIC_BASE_URL/telegram with the secret, and the command menu."""
    from urllib.parse import urlsplit

    from bot.errors import MinhuError
    from integrations.telegram import BOT_COMMANDS, TelegramAPI

    token = settings.telegram_token.get_secret_value()
    secret = settings.telegram_secret.get_secret_value()
    if not token or not secret:
        print("error: set MINHU_TELEGRAM_TOKEN and MINHU_TELEGRAM_SECRET", file=sys.stderr)
        return 1
    url = args.url or f"{settings.public_base_url.rstrip('/')}/telegram"
    parts = urlsplit(url)
    if parts.scheme != "https" or (parts.port or 443) not in _TELEGRAM_WEBHOOK_PORTS:
        print(f"warning: Telegram only calls https:// webhooks on ports "
              f"{', '.join(map(str, _TELEGRAM_WEBHOOK_PORTS))}; {url} may be refused",
              file=sys.stderr)

    async def run() -> str:
        api = TelegramAPI(token, api_base=settings.telegram_api_base)
        try:
            me = await api.get_me()
            await api.set_webhook(url, secret=secret, drop_pending=args.drop_pending)
            await api.set_commands(BOT_COMMANDS)
        finally:
            await api.close()
        return str(me.get("username") or api.bot_id)

    try:
        name = asyncio.run(run())
    except MinhuError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    commands = " ".join(f"/{command}" for command, _ in BOT_COMMANDS)
    print(f"webhook of @{name} set to {url}; commands: {commands}")
    return 0


def _nlu_train(args: argparse.Namespace, settings: Settings) -> int:
    from nlu.runtime import TrainingFailed, train

    try:
        model, _ = train(force=args.force, progress=lambda line: print(line, flush=True))
    except (TrainingFailed, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"current model: {model}")
    return 0


def _nlu_serve(args: argparse.Namespace, settings: Settings) -> int:
    import signal

    from nlu.runtime import running_rasa

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # Stopping this command stops the Rasa server it started.
    signal.signal(signal.SIGTERM, stop)
    try:
        with running_rasa(port=args.port) as server:
            print(f"rasa serving {server.model.name} on {server.url}", flush=True)
            assert server.process is not None
            server.process.wait()
    except KeyboardInterrupt:
        pass
    return 0


def _nlu_parse(args: argparse.Namespace, settings: Settings) -> int:
    from nlu.cli import parse_lines

    return parse_lines(sys.stdin, sys.stdout, rasa_url=args.url or settings.rasa_url,
                       timeout=settings.rasa_timeout_seconds)


def _nlu_eval(args: argparse.Namespace, settings: Settings) -> int:
    from nlu.cli import evaluate_command

    return evaluate_command(
        rasa_url=args.url, folds=args.folds, heldout=args.heldout, json_out=args.json
    )


def _staff(args: argparse.Namespace, settings: Settings) -> int:
    """``minhu staff add|list|passwd|deactivate``: the accounts of the work-order
    pages and the escalation console."""
    from integrations.staff.accounts import StaffInputError
    from integrations.staff.admin import (
        add_staff_command,
        deactivate_staff_command,
        list_staff_command,
        open_staff_accounts,
        read_password,
        set_password_command,
    )
    from integrations.ticketing.builtin.catalogue import load_catalogue

    catalogue = load_catalogue(
        Path(settings.workorder_catalogue) if settings.workorder_catalogue else None
    )
    departments = {code: d.name for code, d in catalogue.departments.items()}

    async def run() -> str:
        async with open_staff_accounts(settings.database_url) as accounts:
            if args.staff_command == "add":
                return await add_staff_command(
                    accounts, username=args.username, password=read_password(sys.stdin),
                    display_name=args.name or args.username, role=args.role,
                    department_code=args.department, departments=departments,
                )
            if args.staff_command == "passwd":
                return await set_password_command(
                    accounts, username=args.username, password=read_password(sys.stdin)
                )
            if args.staff_command == "deactivate":
                return await deactivate_staff_command(accounts, username=args.username)
            return await list_staff_command(accounts, departments=departments)

    try:
        print(asyncio.run(run()))
    except StaffInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _asr_transcribe(args: argparse.Namespace, settings: Settings) -> int:
    from integrations.speech.cli import transcribe_command

    return transcribe_command(settings, args.file, audio_format=args.format,
                              verbose=args.verbose)


def _asr_eval(args: argparse.Namespace, settings: Settings) -> int:
    from integrations.speech.cli import eval_command

    return eval_command(settings, args.folder, json_out=args.json, limit=args.limit)


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
        help="worker processes (they share the database; each runs its own turns)",
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

    telegram = commands.add_parser("telegram", help="Telegram bot tools")
    telegram_commands = telegram.add_subparsers(dest="telegram_command", required=True)
    poll = telegram_commands.add_parser(
        "poll", help="run the web service and fetch Telegram updates by long polling "
        "(local use: deletes the webhook)"
    )
    poll.add_argument("--host", default=None, help="bind address (default MINHU_HOST)")
    poll.add_argument("--port", type=int, default=None, help="port (default MINHU_PORT)")
    poll.set_defaults(run=_telegram_poll)
    set_webhook = telegram_commands.add_parser(
        "set-webhook", help="point the bot's webhook at MINHU_PUBLIC_BASE_URL/telegram with "
        "MINHU_TELEGRAM_SECRET, and install the command menu"
    )
    set_webhook.add_argument("--url", default=None,
                             help="webhook URL (default MINHU_PUBLIC_BASE_URL/telegram)")
    set_webhook.add_argument("--drop-pending", action="store_true",
                             help="drop updates Telegram has queued")
    set_webhook.set_defaults(run=_telegram_set_webhook)

    staff = commands.add_parser("staff", help="staff accounts (work-order pages, console)")
    staff_commands = staff.add_subparsers(dest="staff_command", required=True)
    add = staff_commands.add_parser("add", help="create an account; the password is read "
                                    "from stdin (--password-stdin)")
    add.add_argument("username")
    add.add_argument("--name", default=None, help="display name (default: the username)")
    add.add_argument(
        "--role", required=True,
        choices=("dispatcher", "department", "admin", "agent", "supervisor"),
        help="agent / supervisor: the console; dispatcher / department / admin: work orders",
    )
    add.add_argument("--department", default=None, help="department code from the catalogue")
    add.add_argument("--password-stdin", action="store_true", required=True,
                     help="read the password from stdin (never from the command line)")
    add.set_defaults(run=_staff)
    passwd = staff_commands.add_parser("passwd", help="set a new password (from stdin)")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true", required=True)
    passwd.set_defaults(run=_staff)
    deactivate = staff_commands.add_parser("deactivate", help="stop an account signing in")
    deactivate.add_argument("username")
    deactivate.set_defaults(run=_staff)
    staff_commands.add_parser("list", help="list the accounts").set_defaults(run=_staff)

    nlu = commands.add_parser("nlu", help="understanding: train, serve, parse, evaluate")
    nlu_commands = nlu.add_subparsers(dest="nlu_command", required=True)
    train = nlu_commands.add_parser(
        "train", help="train the Rasa model unless one exists for the same data and config"
    )
    train.add_argument("--force", action="store_true", help="train even if a model exists")
    train.set_defaults(run=_nlu_train)
    serve_nlu = nlu_commands.add_parser("serve", help="run the Rasa server (rasa run --enable-api)")
    serve_nlu.add_argument("--port", type=int, default=5005)
    serve_nlu.set_defaults(run=_nlu_serve)
    parse = nlu_commands.add_parser(
        "parse", help='read JSON Lines {"text": ...} on stdin, write one JSON line per input'
    )
    parse.add_argument("--url", default=None, help="Rasa server (default MINHU_RASA_URL); "
                       "one is started for the run when none answers there")
    parse.set_defaults(run=_nlu_parse)
    evaluate = nlu_commands.add_parser(
        "eval", help="accuracy, macro-F1 and confusions on the held-out file, and k-fold CV"
    )
    evaluate.add_argument("--url", default=None, help="use this running Rasa server")
    evaluate.add_argument("--folds", type=int, default=5, help="cross-validation folds (0: skip)")
    evaluate.add_argument("--heldout", default=None, help="held-out JSON Lines file")
    evaluate.add_argument("--json", default=None, help="also write the figures as JSON here")
    evaluate.set_defaults(run=_nlu_eval)

    asr = commands.add_parser("asr", help="speech-to-text: transcribe a file, evaluate a folder")
    asr_commands = asr.add_subparsers(dest="asr_command", required=True)
    transcribe = asr_commands.add_parser("transcribe", help="print the text of an audio file")
    transcribe.add_argument("file", help="audio: amr, ogg/opus, mp3, aac/m4a, wav, ...")
    transcribe.add_argument("--format", default=None,
                            help="format hint (default: the file's suffix)")
    transcribe.add_argument("--verbose", action="store_true",
                            help="also print the audio length and time spent (stderr)")
    transcribe.set_defaults(run=_asr_transcribe)
    asr_eval = asr_commands.add_parser(
        "eval", help="character error rate (no punctuation or spaces) and real-time factor "
        "over the audio files in FOLDER that have a .txt transcript beside them"
    )
    asr_eval.add_argument("folder")
    asr_eval.add_argument("--json", default=None, help="also write the figures as JSON here")
    asr_eval.add_argument("--limit", type=int, default=None, help="only the first N clips")
    asr_eval.set_defaults(run=_asr_eval)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace, Settings], int] = args.run
    return run(args, Settings())


if __name__ == "__main__":
    sys.exit(main())
