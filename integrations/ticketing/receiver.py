"""Status changes coming back from the ticket backend.

The webhook (mounted by the composition root at ``/tickets/webhook``)
receives the work-order service's signed ``status_changed`` events. Order
of checks, each refusing before the next step runs::

    not a POST ............................................ 405
    Content-Length, or the body while it streams, too big . 413
    signature missing, wrong or stale (signing.verify) .... 403   nothing parsed
    body not the JSON event we expect ..................... 400
    delivery id in the body differs from the header's ..... 403   (the header is not signed)
    ─ await on_change(change, delivery_id) ─
    it returned ........................................... 200 {"ok": true}
    it raised ............................................. 503   (the sender retries)

The callback is handed the delivery id, which is the same on every retry,
so it can process each event once.

For servers without webhooks, :func:`status_changes` compares two
snapshots of a ticket and names what changed, with an id per change that
is the same however often the same snapshots are compared.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from bot.errors import BadRequest, MalformedPayload, SignatureError
from bot.metrics import WEBHOOK_REJECTED
from bot.types import StatusChange, Ticket, TicketStatus
from integrations.asgi import check_declared_length, read_body, send_answer

from .signing import verify

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "StatusCallback",
    "StatusWebhook",
    "build_status_webhook",
    "parse_status_event",
    "status_changes",
]

log = logging.getLogger("minhu.ticketing.receiver")

DEFAULT_MAX_BODY_BYTES = 64 * 1024
STATUS_EVENT = "status_changed"
# Longest ticket or delivery id accepted; real ones are far shorter.
_MAX_ID_LENGTH = 128
_METRIC_CHANNEL = "tickets"

StatusCallback = Callable[[StatusChange, str], Awaitable[object]]

_JSON = b"application/json"
_ANSWERS = {
    200: b'{"ok": true}',
    400: b'{"ok": false, "error": "bad request"}',
    403: b'{"ok": false, "error": "forbidden"}',
    405: b'{"ok": false, "error": "method not allowed"}',
    413: b'{"ok": false, "error": "payload too large"}',
    503: b'{"ok": false, "error": "try again later"}',
}


def parse_status_event(body: bytes) -> tuple[StatusChange, str]:
    """A ``status_changed`` event's change and delivery id.

    Raises ``MalformedPayload`` for anything but a UTF-8 JSON object with
    the event's fields: known statuses, an ISO 8601 time with an offset.
    """
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedPayload("the status event is not UTF-8 JSON") from exc
    if not isinstance(data, dict):
        raise MalformedPayload("the status event is not a JSON object")
    if data.get("event") != STATUS_EVENT:
        raise MalformedPayload(f"unknown event {data.get('event')!r}")
    delivery_id = _identifier(data, "delivery_id")
    ticket_id = _identifier(data, "service_request_id")
    status = _ticket_status(data.get("status"), "status")
    if status is None:
        raise MalformedPayload("the status event has no status")
    at = _aware_time(data.get("at"))
    adopted = data.get("adopted")
    if adopted is not None and not isinstance(adopted, bool):
        raise MalformedPayload("adopted must be true, false or null")
    change = StatusChange(
        ticket_id=ticket_id,
        status=status,
        at=at,
        note=_optional_text(data, "note"),
        department=_optional_text(data, "department"),
        previous=_ticket_status(data.get("previous"), "previous"),
        adopted=adopted,
    )
    return change, delivery_id


def _identifier(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_ID_LENGTH:
        raise MalformedPayload(f"the status event has no valid {name}")
    return value


def _ticket_status(value: Any, name: str) -> TicketStatus | None:
    if value is None:
        return None
    try:
        return TicketStatus(value)
    except ValueError:
        raise MalformedPayload(f"unknown {name} {value!r}") from None


def _aware_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise MalformedPayload("the status event has no time")
    try:
        at = datetime.fromisoformat(value)
    except ValueError as exc:
        raise MalformedPayload("the status event's time is not ISO 8601") from exc
    if at.tzinfo is None:
        raise MalformedPayload("the status event's time has no UTC offset")
    return at


def _optional_text(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedPayload(f"{name} must be a string or null")
    return value or None


class StatusWebhook:
    """The status webhook as a bare ASGI application (see the module doc)."""

    def __init__(
        self,
        *,
        secret: str,
        on_change: StatusCallback,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        now: Callable[[], float] | None = None,
    ) -> None:
        if not secret:
            raise ValueError("the status webhook needs a shared secret")
        if max_body_bytes <= 0:
            raise ValueError("max_body_bytes must be positive")
        self._secret = secret
        self._on_change = on_change
        self._limit = max_body_bytes
        self._now = now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("the status webhook serves HTTP only")
        extra: list[tuple[bytes, bytes]] = []
        if scope["method"] != "POST":
            status = 405
            extra.append((b"allow", b"POST"))
        else:
            status = await self._handle(scope, receive)
        body = _ANSWERS[status]
        await send_answer(send, status, _JSON, body, extra)

    async def _handle(self, scope: Scope, receive: Receive) -> int:
        headers = Headers(scope=scope)
        try:
            check_declared_length(scope, self._limit)
            body = await read_body(receive, self._limit)
            signed_delivery = verify(
                self._secret, headers, body,
                now=self._now() if self._now is not None else None,
            )
            change, delivery_id = parse_status_event(body)
            if delivery_id != signed_delivery:
                raise SignatureError("the body's delivery id is not the header's")
        except BadRequest as exc:
            reason = type(exc).__name__
            WEBHOOK_REJECTED.labels(_METRIC_CHANNEL, reason).inc()
            log.warning("ticket status webhook refused: %s (%s)", reason, exc)
            return exc.status_code
        try:
            await self._on_change(change, delivery_id)
        except Exception:
            log.exception(
                "handling a ticket status change failed; the sender will retry",
                extra={"ticket_id": change.ticket_id, "delivery_id": delivery_id},
            )
            return 503
        log.info(
            "ticket %s is now %s", change.ticket_id, change.status.value,
            extra={"delivery_id": delivery_id},
        )
        return 200


def build_status_webhook(
    *,
    secret: str,
    on_change: StatusCallback,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> StatusWebhook:
    """The ASGI app for ``POST /tickets/webhook``; mount it with a Starlette
    ``Route(path, endpoint=app)`` or ahead of the framework, as ``bot.wiring.app``
    does."""
    return StatusWebhook(secret=secret, on_change=on_change, max_body_bytes=max_body_bytes)




# ---------------------------------------------------------------- polling


def status_changes(
    previous: Ticket | None, current: Ticket
) -> list[tuple[StatusChange, str]]:
    """What changed from the ``previous`` snapshot of a ticket to ``current``,
    oldest first, each with a stable synthetic event id.

    A backend with history (the built-in service) names every change: the
    entries ``current`` has and ``previous`` had not. A plain Open311 server
    only shows the latest state, so a change is a different status (open →
    closed, say) or, with the same status, a new ``status_notes``. Without a
    previous snapshot, everything ``current`` shows is new.
    """
    if current.history:
        known = {(c.status, c.at) for c in previous.history} if previous is not None else set()
        return [
            (change, _event_id(change))
            for change in current.history
            if (change.status, change.at) not in known
        ]
    previous_status = previous.status if previous is not None else None
    if previous is not None and current.status is previous_status and (
        not current.status_note or current.status_note == previous.status_note
    ):
        return []
    change = StatusChange(
        ticket_id=current.ticket_id,
        status=current.status,
        at=current.updated_at or current.created_at,
        note=current.status_note,
        department=current.department,
        previous=previous_status,
        adopted=current.adopted,
    )
    return [(change, _event_id(change))]


def _event_id(change: StatusChange) -> str:
    """``poll:{ticket}:{status}:{time}:{note digest}``: the digest tells apart two
    notes a server gave the same ``updated_datetime``."""
    digest = hashlib.sha256((change.note or "").encode("utf-8")).hexdigest()[:8]
    return f"poll:{change.ticket_id}:{change.status.value}:{change.at.isoformat()}:{digest}"
