"""What the bare ASGI webhooks (WeChat, Telegram, ticket status) share.

They answer before any framework runs, so each reads its body itself: the
declared length is checked before a byte is read, and the body is cut off
at the cap while it arrives (never buffered whole first).
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import Receive, Scope, Send

from bot.errors import MalformedPayload, PayloadTooLarge

__all__ = ["check_declared_length", "read_body", "send_answer"]


def check_declared_length(scope: Scope, limit: int) -> None:
    """Refuse a request whose Content-Length is not a number or is over ``limit``."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError as exc:
                raise MalformedPayload("bad Content-Length") from exc
            if length > limit:
                raise PayloadTooLarge(f"Content-Length {length} over {limit}")
            return


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole body, or PayloadTooLarge as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        event = await receive()
        if event["type"] == "http.disconnect":
            raise MalformedPayload("the sender went away before the body was read")
        chunk = event.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body over {limit} bytes")
        chunks.append(chunk)
        if not event.get("more_body", False):
            return b"".join(chunks)


async def send_answer(
    send: Send, status: int, content_type: bytes, body: bytes,
    extra_headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """A complete response with a known length."""
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            *extra_headers,
        ],
    })
    await send({"type": "http.response.body", "body": body})
