"""The Telegram webhook: ``POST /telegram``.

Order of checks, each refusing before the next step runs::

    not a POST ........................................... 405
    X-Telegram-Bot-Api-Secret-Token missing or wrong ..... 403   (constant-time compare)
    Content-Length over the cap .......................... 413
    body over the cap while streaming .................... 413
    not JSON, or not an update ........................... 400
    ─ submit(message, passive_budget=None) for each message ─
    accepted (or a repeat, or ignored) ................... 200   (replies follow by sendMessage)
    the core failed ...................................... 500   (Telegram retries; dedup holds)

Telegram resends an update until it gets a 2xx, so the answer is given as
soon as the update is durable, before any processing. Error answers are
generic; the details go to the log.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass

from starlette.types import Receive, Scope, Send

from bot.errors import BadRequest, MalformedPayload, SignatureError
from bot.metrics import WEBHOOK_REJECTED
from integrations.asgi import check_declared_length, read_body, send_answer

from .inbound import TelegramInbound

__all__ = ["DEFAULT_MAX_BODY_BYTES", "SECRET_HEADER", "TelegramWebhook", "TelegramWebhookConfig"]

log = logging.getLogger("minhu.telegram.webhook")

SECRET_HEADER = b"x-telegram-bot-api-secret-token"
DEFAULT_MAX_BODY_BYTES = 256 * 1024

_TEXT = b"text/plain; charset=utf-8"
_GENERIC = {400: b"bad request", 403: b"forbidden", 413: b"payload too large"}


@dataclass(frozen=True, slots=True, kw_only=True)
class TelegramWebhookConfig:
    """``secret`` is the ``secret_token`` given to setWebhook; without one
    every request is refused (use long polling then)."""

    secret: str
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    path: str = "/telegram"

    def __post_init__(self) -> None:
        if self.max_body_bytes <= 0:
            raise ValueError("max_body_bytes must be positive")


class TelegramWebhook:
    """``/telegram`` as a bare ASGI application (mounted like ``/wechat``)."""

    def __init__(self, config: TelegramWebhookConfig, inbound: TelegramInbound) -> None:
        self.config = config
        self.inbound = inbound
        self._expected = config.secret.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            status, body = 405, b"method not allowed"
        else:
            status, body = await self._receive(scope, receive)
        await send_answer(send, status, _TEXT, body)

    async def _receive(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        try:
            self._authenticate(scope)
            check_declared_length(scope, self.config.max_body_bytes)
            body = await read_body(receive, self.config.max_body_bytes)
            try:
                update = json.loads(body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise MalformedPayload("the body is not JSON") from exc
            parsed = await self.inbound.handle(update)
        except BadRequest as exc:
            reason = type(exc).__name__
            WEBHOOK_REJECTED.labels("telegram", reason).inc()
            log.warning("Telegram webhook refused: %s (%s)", reason, exc)
            return exc.status_code, _GENERIC.get(exc.status_code, b"bad request")
        except Exception:
            log.exception("submitting a Telegram update failed; Telegram will retry")
            return 500, b"error"
        log.debug("Telegram update %d accepted", parsed.update_id)
        return 200, b"ok"

    def _authenticate(self, scope: Scope) -> None:
        given = [value for name, value in scope["headers"] if name == SECRET_HEADER]
        if len(given) != 1:
            raise SignatureError("secret token header missing or repeated")
        # Compared even when no secret is configured, so timing tells nothing.
        matches = secrets.compare_digest(given[0], self._expected)
        if not self._expected:
            raise SignatureError("MINHU_TELEGRAM_SECRET is not set: every update is refused")
        if not matches:
            raise SignatureError("wrong secret token")


