"""A fake Telegram Bot API for tests and the local simulator (never for production).

It answers ``/bot<token>/<method>`` the way Telegram does (``{"ok": true,
"result": ...}``), records every call, and fails on request::

    fake = FakeBotAPI(token=TOKEN)
    with FakeBotAPIServer(fake) as base_url:          # uvicorn on 127.0.0.1, a free port
        ...  # MINHU_TELEGRAM_API_BASE=base_url
        fake.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
        fake.sent_texts(chat_id)                       # what the resident saw

Files the resident "sent" are registered with :meth:`FakeBotAPI.add_file`;
``getFile`` then gives their ``file_path`` and ``/file/bot<token>/<path>``
serves the bytes (recorded as the method ``download``; ``fail("download",
...)`` makes a download fail). An unknown file id gets Telegram's 400.

Parameters arrive as PTB sends them (form fields, JSON-encoded where the
value is an object) or as JSON bodies; they are recorded decoded.
``getUpdates`` serves what :meth:`FakeBotAPI.push_update` queued, holding
the request open up to its ``timeout`` like long polling does.

The state is guarded by a lock, since the server may run in a thread of
its own while a test reads what it recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["Call", "FakeBotAPI", "FakeBotAPIServer"]

# Parameters whose values are JSON objects or arrays (sent JSON-encoded in forms).
_JSON_PARAMETERS = frozenset({
    "reply_markup", "allowed_updates", "commands", "link_preview_options", "reply_parameters",
    "scope", "entities", "caption_entities",
})
# Integers PTB sends as strings in form fields.
_INT_PARAMETERS = frozenset({"offset", "limit", "timeout", "max_connections", "message_id"})


@dataclass(frozen=True, slots=True)
class Call:
    """One request the bot made, and what it was answered (``result``, or the
    HTTP ``status`` of an error)."""

    method: str
    params: Mapping[str, Any]
    token: str
    at: float
    result: Any = None
    status: int = 200

    @property
    def message_id(self) -> int | None:
        """The id of the message a successful send created."""
        if isinstance(self.result, dict) and isinstance(self.result.get("message_id"), int):
            return int(self.result["message_id"])
        return None

    @property
    def chat_id(self) -> str | None:
        value = self.params.get("chat_id")
        return None if value is None else str(value)

    @property
    def text(self) -> str:
        value = self.params.get("text", self.params.get("caption", ""))
        return str(value or "")

    def buttons(self) -> list[tuple[str, str]]:
        """(title, callback_data) of the inline keyboard, row by row."""
        markup = self.params.get("reply_markup")
        rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
        return [(b.get("text", ""), b.get("callback_data", "")) for row in rows for b in row]


@dataclass
class _Failure:
    method: str
    status: int
    description: str
    retry_after: int | None
    times: int


@dataclass
class _File:
    data: bytes
    path: str
    size: int | None


@dataclass
class _Sent:
    """A message the bot sent, kept so that a button press can refer to it."""

    message_id: int
    chat_id: str
    result: dict[str, Any] = field(default_factory=dict)


class FakeBotAPI:
    """The Bot API's behaviour, as an ASGI app (:attr:`app`)."""

    def __init__(
        self,
        *,
        token: str | None = None,
        username: str = "minhu_test_bot",
        first_name: str = "民呼",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = token
        self.username = username
        self.first_name = first_name
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._failures: list[_Failure] = []
        self._updates: list[dict[str, Any]] = []
        self._sent: dict[int, _Sent] = {}
        self._files: dict[str, _File] = {}
        # Seconds each file download takes (a slow Telegram).
        self.download_delay = 0.0
        self._next_message_id = 1000
        self._next_update_id = 1
        self.webhook: dict[str, Any] = {}
        self.commands: list[dict[str, Any]] = []
        self.app = Starlette(routes=[
            Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"]),
            Route("/file/bot{token}/{path:path}", self._download, methods=["GET"]),
        ])

    # -- what tests and the simulator use ---------------------------------------------------

    def calls(self, method: str | None = None, *, chat_id: str | int | None = None) -> list[Call]:
        with self._lock:
            found = list(self._calls)
        return [
            c for c in found
            if (method is None or c.method == method)
            and (chat_id is None or c.chat_id == str(chat_id))
        ]

    def sent(self, chat_id: str | int | None = None) -> list[Call]:
        """Messages and photos the bot sent (to ``chat_id``) and Telegram took, oldest first."""
        return [
            c for c in self.calls(chat_id=chat_id)
            if c.method in ("sendMessage", "sendPhoto") and c.status == 200
        ]

    def sent_texts(self, chat_id: str | int | None = None) -> list[str]:
        return [c.text for c in self.sent(chat_id)]

    def fail(
        self, method: str, status: int, description: str, *, retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with this error."""
        with self._lock:
            self._failures.append(_Failure(method, status, description, retry_after, times))

    def add_file(self, file_id: str, data: bytes, *, file_size: int | None = -1) -> str:
        """Make ``file_id`` downloadable with these bytes; its ``file_path``.
        ``file_size`` is what getFile reports (default: the real size; None: none)."""
        with self._lock:
            path = f"photos/file_{len(self._files)}.jpg"
            size = len(data) if file_size == -1 else file_size
            self._files[file_id] = _File(data, path, size)
        return path

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates; an ``update_id`` is given when missing."""
        with self._lock:
            if "update_id" not in update:
                update = {"update_id": self._next_update_id, **update}
            self._next_update_id = max(self._next_update_id, int(update["update_id"]) + 1)
            self._updates.append(update)
        return update

    def sent_message(self, message_id: int) -> dict[str, Any] | None:
        """The message object Telegram would attach to a press of its buttons."""
        with self._lock:
            sent = self._sent.get(message_id)
            return dict(sent.result) if sent else None

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._failures.clear()
            self._updates.clear()
            self._files.clear()

    async def wait_for(
        self, predicate: Callable[[list[Call]], bool], *, within: float = 10.0
    ) -> list[Call]:
        """Wait up to ``within`` seconds until ``predicate(all calls)`` holds; the calls then."""
        deadline = time.monotonic() + within
        while True:
            calls = self.calls()
            if predicate(calls):
                return calls
            if time.monotonic() > deadline:
                raise TimeoutError(f"the fake Bot API saw {[c.method for c in calls]}")
            await asyncio.sleep(0.02)

    # -- the endpoint -----------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> JSONResponse:
        token = request.path_params["token"]
        method = request.path_params["method"]
        if self.token is not None and token != self.token:
            return _error(401, "Unauthorized")
        params = await _params(request)
        at = self._clock()
        with self._lock:
            failure = self._take_failure(method)
        status, result, response = 200, None, None
        handler = _METHODS.get(method)
        if failure is not None:
            status = failure.status
            response = _error(failure.status, failure.description, failure.retry_after)
        elif handler is None:
            status, response = 404, _error(404, "Not Found")
        else:
            try:
                result = await handler(self, params)
            except _Refused as exc:
                status, response = 400, _error(400, f"Bad Request: {exc}")
        with self._lock:
            self._calls.append(Call(method, params, token, at, result, status))
        return response or JSONResponse({"ok": True, "result": result})

    async def _download(self, request: Request) -> Response:
        token = request.path_params["token"]
        path = request.path_params["path"]
        at = self._clock()
        if self.download_delay:
            await asyncio.sleep(self.download_delay)
        with self._lock:
            failure = self._take_failure("download")
            found = next((f for f in self._files.values() if f.path == path), None)
        if self.token is not None and token != self.token:
            status, response = 401, Response(b"Unauthorized", status_code=401)
        elif failure is not None:
            status = failure.status
            response = _error(failure.status, failure.description, failure.retry_after)
        elif found is None:
            status, response = 404, _error(404, "Not Found")
        else:
            status = 200
            response = Response(found.data, media_type="application/octet-stream")
        with self._lock:
            self._calls.append(Call("download", {"file_path": path}, token, at, None, status))
        return response

    def _take_failure(self, method: str) -> _Failure | None:
        for failure in self._failures:
            if failure.method == method and failure.times > 0:
                failure.times -= 1
                return failure
        return None

    # -- methods ----------------------------------------------------------------------------

    def _bot_user(self, token: str | None = None) -> dict[str, Any]:
        bot_id = (token or self.token or "0:").split(":", 1)[0]
        return {"id": int(bot_id) if bot_id.isdigit() else 0, "is_bot": True,
                "first_name": self.first_name, "username": self.username}

    def _message(self, params: Mapping[str, Any], **content: Any) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise _Refused("chat_id is empty")
        with self._lock:
            self._next_message_id += 1
            message_id = self._next_message_id
            result: dict[str, Any] = {
                "message_id": message_id,
                "date": int(self._clock()),
                "chat": {"id": _chat_id(chat_id), "type": "private"},
                "from": self._bot_user(),
                **content,
            }
            markup = params.get("reply_markup")
            if isinstance(markup, dict) and "inline_keyboard" in markup:
                result["reply_markup"] = markup
            self._sent[message_id] = _Sent(message_id, str(chat_id), result)
        return result

    async def _send_message(self, params: Mapping[str, Any]) -> dict[str, Any]:
        text = str(params.get("text") or "")
        if not text.strip():
            raise _Refused("message text is empty")
        if len(text.encode("utf-16-le")) // 2 > 4096:
            raise _Refused("message is too long")
        _check_keyboard(params.get("reply_markup"))
        return self._message(params, text=text)

    async def _send_photo(self, params: Mapping[str, Any]) -> dict[str, Any]:
        photo = params.get("photo")
        if not photo:
            raise _Refused("there is no photo in the request")
        _check_keyboard(params.get("reply_markup"))
        content: dict[str, Any] = {"photo": [{
            "file_id": f"fake-photo-{abs(hash(str(photo))) % 10**8}",
            "file_unique_id": "fake", "width": 800, "height": 600,
        }]}
        if params.get("caption"):
            content["caption"] = str(params["caption"])
        return self._message(params, **content)

    async def _get_file(self, params: Mapping[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file_id") or "")
        with self._lock:
            found = self._files.get(file_id)
        if found is None:
            raise _Refused("wrong file_id or the file is temporarily unavailable")
        result: dict[str, Any] = {"file_id": file_id, "file_unique_id": f"u-{file_id}",
                                  "file_path": found.path}
        if found.size is not None:
            result["file_size"] = found.size
        return result

    async def _true(self, params: Mapping[str, Any]) -> bool:
        return True

    async def _get_me(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return self._bot_user()

    async def _set_webhook(self, params: Mapping[str, Any]) -> bool:
        url = str(params.get("url") or "")
        with self._lock:
            self.webhook = {"url": url, **{k: v for k, v in params.items() if k != "url"}}
        return True

    async def _delete_webhook(self, params: Mapping[str, Any]) -> bool:
        with self._lock:
            self.webhook = {}
        return True

    async def _get_webhook_info(self, params: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            url = self.webhook.get("url", "")
            pending = len(self._updates)
        return {"url": url, "has_custom_certificate": False, "pending_update_count": pending}

    async def _set_my_commands(self, params: Mapping[str, Any]) -> bool:
        commands = params.get("commands")
        with self._lock:
            self.commands = list(commands) if isinstance(commands, list) else []
        return True

    async def _get_updates(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        with self._lock:
            if self.webhook.get("url"):
                raise _Refused("can't use getUpdates method while webhook is active")
        offset = int(params.get("offset") or 0)
        wait = min(float(params.get("timeout") or 0), 30.0)
        deadline = time.monotonic() + wait
        while True:
            with self._lock:
                # Telegram forgets the updates before the offset it was given.
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                ready = list(self._updates[:100])
            if ready or time.monotonic() >= deadline:
                return ready
            await asyncio.sleep(0.02)


_Handler = Callable[[FakeBotAPI, Mapping[str, Any]], Any]
_METHODS: dict[str, _Handler] = {
    "getMe": FakeBotAPI._get_me,
    "sendMessage": FakeBotAPI._send_message,
    "sendPhoto": FakeBotAPI._send_photo,
    "answerCallbackQuery": FakeBotAPI._true,
    "editMessageReplyMarkup": FakeBotAPI._true,
    "sendChatAction": FakeBotAPI._true,
    "setWebhook": FakeBotAPI._set_webhook,
    "deleteWebhook": FakeBotAPI._delete_webhook,
    "getWebhookInfo": FakeBotAPI._get_webhook_info,
    "setMyCommands": FakeBotAPI._set_my_commands,
    "getUpdates": FakeBotAPI._get_updates,
    "getFile": FakeBotAPI._get_file,
}


class _Refused(Exception):
    """A 400 Bad Request with this description."""


def _chat_id(value: Any) -> int | str:
    text = str(value)
    return int(text) if text.lstrip("-").isdigit() else text


def _check_keyboard(markup: Any) -> None:
    if not isinstance(markup, dict):
        return
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode("utf-8")) <= 64:
                raise _Refused("BUTTON_DATA_INVALID")


def _error(status: int, description: str, retry_after: int | None = None) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return JSONResponse(body, status_code=status)


async def _params(request: Request) -> dict[str, Any]:
    raw: dict[str, Any] = dict(request.query_params)
    content_type = request.headers.get("content-type", "")
    if "application/json" in content_type:
        body = await request.body()
        decoded = json.loads(body) if body else {}
        if isinstance(decoded, dict):
            raw.update(decoded)
        return raw
    if request.method == "POST":
        form = await request.form()
        for name, field_value in form.multi_items():
            raw[name] = (
                field_value if isinstance(field_value, str)
                else f"<upload {field_value.filename}>"
            )
        await form.close()
    params: dict[str, Any] = {}
    for name, value in raw.items():
        decoded_value: Any = value
        if isinstance(value, str) and name in _JSON_PARAMETERS:
            with contextlib.suppress(ValueError):
                decoded_value = json.loads(value)
        elif isinstance(value, str) and name in _INT_PARAMETERS and value.lstrip("-").isdigit():
            decoded_value = int(value)
        params[name] = decoded_value
    return params


class FakeBotAPIServer:
    """Serves a :class:`FakeBotAPI` on 127.0.0.1 (a free port) from a thread;
    a context manager giving the base URL for ``MINHU_TELEGRAM_API_BASE``."""

    def __init__(self, api: FakeBotAPI, *, host: str = "127.0.0.1") -> None:
        self.api = api
        self._host = host
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    def start(self) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, 0))
        self._socket = sock
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.api.app, log_config=None, access_log=False, lifespan="off", ws="none",
            http="h11", loop="asyncio", timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.run(sockets=[sock]), name="fake-bot-api", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake Bot API server did not start")
            time.sleep(0.01)
        self.base_url = f"http://{self._host}:{port}"
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
