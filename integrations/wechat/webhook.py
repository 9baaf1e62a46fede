"""The WeChat webhook: ``GET/POST /wechat`` (domain.md §2).

Order of checks on a POST, each refusing before the next step runs::

    Content-Length over the cap ........................ 413
    signature (query) wrong or missing .................. 403   (safe mode: when given)
    body over the cap while streaming ................... 413
    XML unsafe or malformed ............................. 400
    safe mode: msg_signature over Encrypt wrong ......... 403
    safe mode: decrypts badly / other app id ............ 400 / 403
    message fields missing .............................. 400
    ─ submit(message, passive_budget=…) ─
    reply within the budget ............................. passive XML (encrypted in safe mode)
    no reply ............................................ "success"
    the core failed ..................................... 500 (WeChat retries; dedup holds)

Nothing reaches the submitter unless every check passed. Error answers are
generic; the details go to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from fastapi import APIRouter
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from bot.errors import BadRequest, MalformedPayload, SignatureError
from bot.metrics import WEBHOOK_REJECTED
from bot.types import InboundMessage, OutboundKind, OutboundMessage
from integrations.asgi import check_declared_length, read_body, send_answer

from .api import TEXT_LIMIT_BYTES, split_text
from .crypto import WeChatCrypto, verify
from .messages import to_inbound
from .xml import image_reply, parse_xml, text_reply

if TYPE_CHECKING:
    from bot.ingest import Submitter

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_PASSIVE_BUDGET_SECONDS",
    "WeChatWebhook",
    "WeChatWebhookConfig",
    "build_wechat_router",
]

log = logging.getLogger("minhu.wechat.webhook")

# WeChat waits 5 s for the answer (domain.md §2); answer within 4.
DEFAULT_PASSIVE_BUDGET_SECONDS = 4.0
DEFAULT_MAX_BODY_BYTES = 64 * 1024

_GENERIC = {400: "bad request", 403: "forbidden", 413: "payload too large"}


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class WeChatWebhookConfig:
    """Settings of the webhook.

    ``encoding_aes_key`` enables safe and compatible mode; without it only
    plaintext mode is accepted. ``account_id`` (the gh_ original id), when
    set, must match every message's ToUserName.
    """

    token: str
    app_id: str
    encoding_aes_key: str | None = None
    account_id: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    passive_budget_seconds: float = DEFAULT_PASSIVE_BUDGET_SECONDS
    clock: Callable[[], datetime] = field(default=_utcnow)
    path: str = "/wechat"

    def __post_init__(self) -> None:
        if not self.token:
            raise ValueError("the WeChat token must not be empty")
        if self.max_body_bytes <= 0:
            raise ValueError("max_body_bytes must be positive")


class WeChatWebhook:
    """The ``/wechat`` endpoint as a bare ASGI application.

    It sits on the hottest path of the service, so it speaks ASGI directly:
    no request object, no dependency injection, one ``send`` of a ready
    body. Mount it with :func:`build_wechat_router` (a FastAPI router) or
    ahead of the framework, as ``bot.wiring.app`` does.
    """

    def __init__(self, config: WeChatWebhookConfig, submitter: Submitter) -> None:
        self.config = config
        self.submitter = submitter
        self.crypto = (
            WeChatCrypto(config.token, config.encoding_aes_key, config.app_id)
            if config.encoding_aes_key
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        query = _query(scope)
        if method == "POST":
            status, content_type, body = await self._receive(scope, receive, query)
        elif method == "GET":
            status, content_type, body = self._verify(query)
        else:
            status, content_type, body = 405, _TEXT, b"method not allowed"
        await send_answer(send, status, content_type, body)

    def _verify(self, q: Mapping[str, str]) -> tuple[int, bytes, bytes]:
        config, crypto = self.config, self.crypto
        try:
            echostr = q.get("echostr")
            if echostr is None:
                raise MalformedPayload("verification without echostr")
            if q.get("msg_signature") is not None and crypto is not None:
                # Safe-mode verification (WeCom style): the echostr is encrypted.
                # base64 never contains spaces: undo a '+' decoded as a space.
                echostr = echostr.replace(" ", "+")
                plain = crypto.decrypt_echostr(
                    q.get("msg_signature"), q.get("timestamp"), q.get("nonce"), echostr
                )
                return 200, _TEXT, plain.encode()
            if not verify(q.get("signature"), config.token, q.get("timestamp"), q.get("nonce")):
                raise SignatureError("bad signature")
            return 200, _TEXT, echostr.encode()
        except BadRequest as exc:
            return _refuse(exc, "verify")

    async def _receive(
        self, scope: Scope, receive: Receive, q: Mapping[str, str]
    ) -> tuple[int, bytes, bytes]:
        config, crypto = self.config, self.crypto
        try:
            message, aes = await _read_message(scope, receive, q, config, crypto)
        except BadRequest as exc:
            return _refuse(exc, "receive")
        try:
            submission = await self.submitter.submit(
                message, passive_budget=config.passive_budget_seconds
            )
        except Exception:
            log.exception(
                "submitting a WeChat message failed; WeChat will retry",
                extra={"conversation": message.key.as_str(), "message_id": message.message_id},
            )
            return 500, _TEXT, b"error"
        reply = submission.reply
        if reply is None:
            return 200, _TEXT, _SUCCESS
        try:
            xml = _reply_xml(message, reply, config)
            if xml is None:
                return 200, _TEXT, _SUCCESS
            if aes:
                assert crypto is not None
                envelope = crypto.encrypt_reply(xml, timestamp=_now_ts(config))
                xml = envelope.to_xml()
        except Exception:
            log.exception(
                "building the passive reply failed",
                extra={"conversation": message.key.as_str(), "message_id": message.message_id},
            )
            return 200, _TEXT, _SUCCESS
        return 200, _XML, xml.encode()


def build_wechat_router(config: WeChatWebhookConfig, submitter: Submitter) -> APIRouter:
    """The ``/wechat`` routes as a FastAPI router (the same :class:`WeChatWebhook`)."""
    router = APIRouter()
    router.routes.append(
        Route(config.path, endpoint=WeChatWebhook(config, submitter), methods=["GET", "POST"])
    )
    return router


_TEXT = b"text/plain; charset=utf-8"
_XML = b"application/xml"
_SUCCESS = b"success"


def _query(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string", b"")
    return dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True)) if raw else {}


def _refuse(exc: BadRequest, where: str) -> tuple[int, bytes, bytes]:
    reason = type(exc).__name__
    WEBHOOK_REJECTED.labels("wechat", reason).inc()
    log.warning("WeChat %s refused: %s (%s)", where, reason, exc)
    return exc.status_code, _TEXT, _GENERIC.get(exc.status_code, "bad request").encode()


async def _read_message(
    scope: Scope,
    receive: Receive,
    q: Mapping[str, str],
    config: WeChatWebhookConfig,
    crypto: WeChatCrypto | None,
) -> tuple[InboundMessage, bool]:
    """Authenticate, read and parse one POST; returns the message and whether
    the request came in safe (AES) mode."""
    check_declared_length(scope, config.max_body_bytes)

    encrypt_type = (q.get("encrypt_type") or "raw").lower()
    if encrypt_type not in ("raw", "aes"):
        raise MalformedPayload(f"unknown encrypt_type {encrypt_type!r}")
    aes = encrypt_type == "aes"
    if aes and crypto is None:
        raise SignatureError("safe-mode message but no EncodingAESKey configured")

    timestamp, nonce = q.get("timestamp"), q.get("nonce")
    # The plain signature guards every mode; in safe mode WeChat sends it as
    # well, and the msg_signature over the ciphertext is checked below.
    if (not aes or q.get("signature") is not None) and not verify(
        q.get("signature"), config.token, timestamp, nonce
    ):
        raise SignatureError("bad signature")

    body = await read_body(receive, config.max_body_bytes)
    if aes:
        assert crypto is not None
        inner = crypto.decrypt_message(body, q.get("msg_signature"), timestamp, nonce)
        fields = parse_xml(inner)
    else:
        fields = parse_xml(body)
    message = to_inbound(fields)
    if config.account_id and message.key.account != config.account_id:
        raise SignatureError("message addressed to another account")
    return message, aes


def _now_ts(config: WeChatWebhookConfig) -> str:
    return str(int(config.clock().timestamp()))


def _reply_xml(
    message: InboundMessage, reply: OutboundMessage, config: WeChatWebhookConfig
) -> str | None:
    """The passive reply XML, or None when there is nothing to show."""
    create_time = int(config.clock().timestamp())
    to_user, from_user = message.key.user, message.key.account
    if reply.kind is OutboundKind.IMAGE and reply.image_media_id:
        return image_reply(
            to_user=to_user,
            from_user=from_user,
            media_id=reply.image_media_id,
            create_time=create_time,
        )
    text = reply.plain_text()
    if reply.kind is OutboundKind.IMAGE and reply.image_url:
        text = f"{text}\n{reply.image_url}"
    if not text.strip():
        return None
    # Most replies are far below the limit: split only the ones that are not.
    if len(text) * 4 <= TEXT_LIMIT_BYTES or len(text.encode("utf-8")) <= TEXT_LIMIT_BYTES:
        return text_reply(
            to_user=to_user, from_user=from_user, content=text, create_time=create_time
        )
    parts = split_text(text, TEXT_LIMIT_BYTES)
    if len(parts) > 1:
        # A passive reply is one message; the core should split long answers
        # into several messages. Keep the first part rather than fail.
        log.warning(
            "passive reply over %d bytes truncated to its first part",
            TEXT_LIMIT_BYTES,
            extra={"conversation": message.key.as_str(), "message_id": message.message_id},
        )
    return text_reply(
        to_user=to_user, from_user=from_user, content=parts[0], create_time=create_time
    )
