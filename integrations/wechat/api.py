"""The WeChat official-account API: token, pushes, templates, menu, media.

The access token is shared by all replicas through the ``TokenStore``
(domain.md §2: refreshing invalidates the old token), refreshed ahead of its
expiry, and refreshed once more when WeChat says it is invalid. Errors are
converted to minhu's tree with the original kept as ``__cause__``::

    transport error, timeout, HTTP 5xx, errcode -1 ... DeliveryError (retry)
    45015, 45047 (window shut, quota) ................ WindowClosed
    43004 (unsubscribed), 40003 (bad openid) ......... PermanentDeliveryError
    40001, 40014, 42001 (token invalid) .............. TokenExpired (after one refresh)
    any other errcode ................................ ChannelAPIError(code=...)
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from bot.errors import (
    ChannelAPIError,
    DeliveryError,
    PermanentDeliveryError,
    TokenExpired,
    WindowClosed,
)
from bot.ports import Clock, FallbackNotifier, ReplyWindows, TokenStore
from bot.splitting import split_measured
from bot.types import Channel, ConversationKey, OutboundKind, OutboundMessage

__all__ = [
    "DEFAULT_BASE_URL",
    "TEXT_LIMIT_BYTES",
    "TemplateNotifier",
    "WeChatAPI",
    "WeChatSender",
    "as_delivery_error",
    "default_template_data",
    "split_text",
]

log = logging.getLogger("minhu.wechat.api")

DEFAULT_BASE_URL = "https://api.weixin.qq.com"
# domain.md §2: a text message is limited to 2048 bytes.
TEXT_LIMIT_BYTES = 2048
# domain.md §2: the token lives 7200 s; refresh this long before it runs out.
TOKEN_REFRESH_MARGIN = timedelta(minutes=5)
DEFAULT_TOKEN_LIFETIME_SECONDS = 7200
# Largest media file we download (images are at most 10 MB, voice 2 MB).
MAX_MEDIA_BYTES = 20 * 1024 * 1024

TOKEN_INVALID_CODES = frozenset({40001, 40014, 42001})
WINDOW_CLOSED_CODES = frozenset({45015, 45047})
PERMANENT_CODES = frozenset({40003, 43004})
# Codes where trying again later may work: system busy, rate and quota limits.
RETRYABLE_CODES = frozenset({-1, 45009, 45011, 45033})
# Codes that say this message can never be delivered as it is.
UNDELIVERABLE_CODES = frozenset(
    {40003, 40007, 40008, 40037, 43004, 43019, 43101, 44002, 44003, 44004, 45002, 47001}
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


# -- text splitting -----------------------------------------------------------


def _utf8_len(ch: str) -> int:
    code = ord(ch)
    if code < 0x80:
        return 1
    if code < 0x800:
        return 2
    if code < 0x10000:
        return 3
    return 4


def split_text(text: str, limit_bytes: int = TEXT_LIMIT_BYTES) -> list[str]:
    """Split ``text`` into parts of at most ``limit_bytes`` UTF-8 bytes each,
    on sentence boundaries where possible (see :mod:`bot.splitting`).
    ``"".join(parts) == text``; an empty text gives no parts.
    """
    if limit_bytes < 4:
        raise ValueError("limit_bytes must allow at least one character (4 bytes)")
    return split_measured(text, limit_bytes, _utf8_len)


# -- the API client ---------------------------------------------------------


class WeChatAPI:
    """A thin, typed client of the official-account API."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str = DEFAULT_BASE_URL,
        app_id: str,
        app_secret: str,
        tokens: TokenStore,
        clock: Clock = _utcnow,
        refresh_margin: timedelta = TOKEN_REFRESH_MARGIN,
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._app_id = app_id
        self._secret = app_secret
        self._tokens = tokens
        self._clock = clock
        self._margin = refresh_margin
        self._token: str | None = None
        self._expires_at: datetime | None = None
        self._lock = asyncio.Lock()
        self.token_name = f"wechat:{app_id}"

    # -- the access token ---------------------------------------------------

    def _fresh(self, expires_at: datetime | None) -> bool:
        return expires_at is not None and self._clock() < expires_at - self._margin

    async def access_token(self) -> str:
        """A valid token, shared with the other replicas through the store."""
        if self._token is not None and self._fresh(self._expires_at):
            return self._token
        async with self._lock:
            if self._token is not None and self._fresh(self._expires_at):
                return self._token
            stored = await self._tokens.get(self.token_name)
            if stored is not None and self._fresh(stored[1]):
                self._token, self._expires_at = stored
                return stored[0]
            return await self._refresh(previous=stored[0] if stored else None)

    async def invalidate(self, bad_token: str) -> str:
        """WeChat refused ``bad_token``: refresh it, unless someone already did."""
        async with self._lock:
            if (
                self._token is not None
                and self._token != bad_token
                and self._fresh(self._expires_at)
            ):
                return self._token  # a concurrent caller refreshed already
            self._token = self._expires_at = None
            stored = await self._tokens.get(self.token_name)
            if stored is not None and stored[0] != bad_token and self._fresh(stored[1]):
                self._token, self._expires_at = stored
                return stored[0]
            return await self._refresh(previous=stored[0] if stored else None)

    async def _refresh(self, *, previous: str | None) -> str:
        """Fetch a new token and publish it (lock held by the caller)."""
        try:
            data = await self._request(
                "GET",
                "/cgi-bin/token",
                params={
                    "grant_type": "client_credential",
                    "appid": self._app_id,
                    "secret": self._secret,
                },
            )
        except TokenExpired as exc:
            # Here 40001 & co mean a wrong AppSecret, not a stale token.
            raise ChannelAPIError("WeChat refused the app credentials", code=exc.code) from exc
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise ChannelAPIError("WeChat token answer without access_token")
        try:
            lifetime = int(data.get("expires_in", DEFAULT_TOKEN_LIFETIME_SECONDS))
        except (TypeError, ValueError):
            lifetime = DEFAULT_TOKEN_LIFETIME_SECONDS
        expires_at = self._clock() + timedelta(seconds=lifetime)
        if not await self._tokens.replace(self.token_name, token, expires_at, previous=previous):
            # Another replica refreshed first; theirs is the one everyone uses.
            stored = await self._tokens.get(self.token_name)
            if stored is not None:
                log.info("adopting the access token another replica refreshed")
                token, expires_at = stored
        self._token, self._expires_at = token, expires_at
        log.info("WeChat access token refreshed", extra={"expires_at": expires_at.isoformat()})
        return token

    # -- requests -----------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> dict[str, Any]:
        response = await self._send(method, path, params=params, body=body)
        return self._json(response, path)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> httpx.Response:
        content = None
        headers = None
        if body is not None:
            # WeChat wants UTF-8 as is: \\u escapes show up literally in menus.
            content = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers = {"Content-Type": "application/json; charset=utf-8"}
        try:
            response = await self._http.request(
                method, self._base + path, params=params, content=content, headers=headers
            )
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"WeChat API {path} timed out") from exc
        except httpx.HTTPError as exc:
            raise DeliveryError(f"WeChat API {path} unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise DeliveryError(f"WeChat API {path} answered HTTP {response.status_code}")
        if response.status_code != 200:
            raise ChannelAPIError(f"WeChat API {path} answered HTTP {response.status_code}")
        return response

    @staticmethod
    def _json(response: httpx.Response, path: str) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError as exc:
            raise ChannelAPIError(f"WeChat API {path} answered with invalid JSON") from exc
        if not isinstance(data, dict):
            raise ChannelAPIError(f"WeChat API {path} answered with a non-object")
        code = data.get("errcode", 0)
        if code:
            raise _error(path, code, data.get("errmsg"))
        return data

    async def call(self, method: str, path: str, *, body: Any = None) -> dict[str, Any]:
        """Call an authenticated endpoint; one token refresh and retry on 40001 & co."""
        token = await self.access_token()
        try:
            return await self._request(method, path, params={"access_token": token}, body=body)
        except TokenExpired:
            log.warning("WeChat refused the access token; refreshing once")
        token = await self.invalidate(token)
        return await self._request(method, path, params={"access_token": token}, body=body)

    # -- endpoints ----------------------------------------------------------

    async def send_custom(self, openid: str, message: OutboundMessage) -> None:
        """A customer-service message (inside the reply window only).

        Text is sent as is (the caller splits it; see ``split_text``); an
        image goes by ``image_media_id``; buttons become numbered text.
        """
        body: dict[str, Any]
        if message.kind is OutboundKind.IMAGE and message.image_media_id:
            image = {"media_id": message.image_media_id}
            body = {"touser": openid, "msgtype": "image", "image": image}
        else:
            text = {"content": _text_of(message)}
            body = {"touser": openid, "msgtype": "text", "text": text}
        await self.call("POST", "/cgi-bin/message/custom/send", body=body)

    async def send_template(
        self,
        openid: str,
        template_id: str,
        data: Mapping[str, Any],
        url: str | None = None,
    ) -> int | None:
        """A template message; returns WeChat's msgid when given."""
        body: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": dict(data)}
        if url:
            body["url"] = url
        answer = await self.call("POST", "/cgi-bin/message/template/send", body=body)
        msgid = answer.get("msgid")
        return msgid if isinstance(msgid, int) else None

    async def create_menu(self, menu: Mapping[str, Any]) -> None:
        await self.call("POST", "/cgi-bin/menu/create", body=dict(menu))

    async def download_media(self, media_id: str, *, max_bytes: int = MAX_MEDIA_BYTES) -> bytes:
        """Download temporary media (kept by WeChat for 3 days)."""
        for attempt in (1, 2):
            token = await self.access_token()
            response = await self._send(
                "GET", "/cgi-bin/media/get", params={"access_token": token, "media_id": media_id}
            )
            content_type = response.headers.get("content-type", "")
            if "json" in content_type or "text/plain" in content_type:
                try:
                    self._json(response, "/cgi-bin/media/get")
                except TokenExpired:
                    if attempt == 2:
                        raise
                    await self.invalidate(token)
                    continue
                raise ChannelAPIError("WeChat media answer was not media")
            if len(response.content) > max_bytes:
                raise ChannelAPIError(f"WeChat media {media_id} is larger than {max_bytes} bytes")
            return response.content
        raise AssertionError("unreachable")  # pragma: no cover


def _error(path: str, code: Any, errmsg: Any) -> Exception:
    try:
        number = int(code)
    except (TypeError, ValueError):
        return ChannelAPIError(f"WeChat API {path} answered errcode {code!r}")
    text = f"WeChat API {path} errcode {number}: {errmsg}"
    if number in TOKEN_INVALID_CODES:
        return TokenExpired(text, code=number)
    if number in WINDOW_CLOSED_CODES:
        return WindowClosed(text)
    if number in PERMANENT_CODES:
        return PermanentDeliveryError(text)
    if number in RETRYABLE_CODES:
        return DeliveryError(text)
    return ChannelAPIError(text, code=number)


def as_delivery_error(exc: ChannelAPIError) -> DeliveryError:
    """What an API error means to the outbox: give up, or retry later."""
    if exc.code in UNDELIVERABLE_CODES:
        return PermanentDeliveryError(str(exc))
    return DeliveryError(str(exc))


def _text_of(message: OutboundMessage) -> str:
    text = message.plain_text()
    if message.kind is OutboundKind.IMAGE and not message.image_media_id and message.image_url:
        text = f"{text}\n{message.image_url}"
    return text


# -- the channel sender -----------------------------------------------------


class WeChatSender:
    """``ChannelSender`` for WeChat: customer-service messages inside the
    window, the ``FallbackNotifier`` (template messages) outside it.

    Long text is split into parts of at most 2048 bytes; each part takes one
    push from the ``ReplyWindows`` allowance. When the window shuts before
    the first part, the whole message goes to the fallback; when it shuts
    midway, the parts not yet sent do (the resident already has the others).
    """

    channel = Channel.WECHAT

    def __init__(
        self,
        api: WeChatAPI,
        windows: ReplyWindows,
        fallback: FallbackNotifier,
        *,
        clock: Clock = _utcnow,
        limit_bytes: int = TEXT_LIMIT_BYTES,
    ) -> None:
        self._api = api
        self._windows = windows
        self._fallback = fallback
        self._clock = clock
        self._limit = limit_bytes

    def _parts(self, message: OutboundMessage) -> list[OutboundMessage]:
        if message.kind is OutboundKind.IMAGE and message.image_media_id:
            return [message]
        return [OutboundMessage.of_text(p) for p in split_text(_text_of(message), self._limit)]

    async def send(self, key: ConversationKey, message: OutboundMessage) -> str:
        parts = self._parts(message)
        if not parts:
            raise PermanentDeliveryError("empty message")
        for index, part in enumerate(parts):
            if not await self._windows.reserve(key, self._clock()):
                return await self._to_fallback(key, message, parts, index)
            try:
                await self._api.send_custom(key.user, part)
            except WindowClosed:
                await self._windows.release(key)
                return await self._to_fallback(key, message, parts, index)
            except DeliveryError:
                await self._windows.release(key)
                raise
            except ChannelAPIError as exc:
                await self._windows.release(key)
                raise as_delivery_error(exc) from exc
        return "custom"

    async def _to_fallback(
        self,
        key: ConversationKey,
        message: OutboundMessage,
        parts: list[OutboundMessage],
        index: int,
    ) -> str:
        if index == 0:
            rest = message
        else:
            rest = OutboundMessage.of_text("".join(p.text for p in parts[index:]))
        log.info(
            "reply window closed; using the template fallback",
            extra={"conversation": key.as_str(), "parts_sent": index},
        )
        await self._fallback.notify(key, rest)
        return "template"


# -- the template fallback --------------------------------------------------

# Template values are shown cut short by WeChat; keep ours readable.
TEMPLATE_TEXT_LIMIT = 200
CHINA = ZoneInfo("Asia/Shanghai")


def default_template_data(text: str, at: datetime, *, title: str, remark: str) -> dict[str, Any]:
    """The generic layout: a 服务通知-style template with these fields.

    ``first`` a headline, ``keyword1`` the message text (shortened to
    ``TEMPLATE_TEXT_LIMIT`` characters), ``keyword2`` the time in Beijing
    time, ``remark`` how to continue. Choose a template in the account's
    library with ``{{first.DATA}} {{keyword1.DATA}} {{keyword2.DATA}}
    {{remark.DATA}}`` or pass another ``layout`` to ``TemplateNotifier``.
    """
    if len(text) > TEMPLATE_TEXT_LIMIT:
        text = text[: TEMPLATE_TEXT_LIMIT - 1] + "…"
    return {
        "first": {"value": title},
        "keyword1": {"value": text},
        "keyword2": {"value": at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")},
        "remark": {"value": remark},
    }


TemplateLayout = Callable[[str, datetime], Mapping[str, Any]]


class TemplateNotifier:
    """``FallbackNotifier`` sending a template message (settings:
    ``MINHU_WECHAT_TEMPLATE_ID``); without a template id it gives up."""

    def __init__(
        self,
        api: WeChatAPI,
        *,
        template_id: str | None,
        url: str | None = None,
        clock: Clock = _utcnow,
        title: str = "您反映的事项有新消息",
        remark: str = "如需继续沟通，请在公众号内直接回复。",
        layout: TemplateLayout | None = None,
    ) -> None:
        self._api = api
        self._template_id = template_id
        self._url = url
        self._clock = clock
        self._layout: TemplateLayout = layout or (
            lambda text, at: default_template_data(text, at, title=title, remark=remark)
        )

    async def notify(self, key: ConversationKey, message: OutboundMessage) -> None:
        if not self._template_id:
            raise PermanentDeliveryError("window closed and no template configured")
        data = self._layout(_text_of(message), self._clock())
        try:
            await self._api.send_template(key.user, self._template_id, data, url=self._url)
        except ChannelAPIError as exc:
            raise as_delivery_error(exc) from exc
