"""``bot.ports.StaffAlerts`` adapters: telling staff at once about an
emergency, a bad rating or a request the backend refused.

:class:`LogStaffAlerts` writes a WARNING (where the operators' log alerting
picks it up); :class:`HttpStaffAlerts` posts the alert as JSON to a staff
system, signed like the status webhooks when a secret is set, and falls
back to the log whenever that fails. Neither ever raises into the caller:
an alert must not break the resident's conversation.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from bot.logs import mask, mask_identifier
from bot.types import ConversationKey

from .signing import signed_headers

__all__ = ["DEFAULT_ALERT_TIMEOUT_SECONDS", "HttpStaffAlerts", "LogStaffAlerts"]

log = logging.getLogger("minhu.ticketing.alerts")

DEFAULT_ALERT_TIMEOUT_SECONDS = 5.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _masked_key(key: ConversationKey) -> str:
    return f"{key.channel.value}:{key.account}:{mask_identifier(key.user)}"


class LogStaffAlerts:
    """Staff alerts as WARNING log records, personal data masked."""

    async def alert(
        self, *, kind: str, key: ConversationKey, text: str, ticket_id: str | None = None
    ) -> None:
        log.warning(
            "staff alert (%s): %s", kind, mask(text),
            extra={"alert": kind, "conversation": _masked_key(key), "ticket_id": ticket_id or ""},
        )


class HttpStaffAlerts:
    """Staff alerts posted to ``url`` as ``{"kind", "conversation", "text",
    "ticket_id", "at"}``; the log (``fallback``) takes any that fail."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        url: str,
        secret: str | None,
        fallback: LogStaffAlerts,
        timeout: float = DEFAULT_ALERT_TIMEOUT_SECONDS,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if not url:
            raise ValueError("HttpStaffAlerts needs a URL")
        self._http = http
        self._url = url
        self._secret = secret
        self._fallback = fallback
        self._timeout = timeout
        self._clock = clock

    async def alert(
        self, *, kind: str, key: ConversationKey, text: str, ticket_id: str | None = None
    ) -> None:
        body = json.dumps(
            {
                "kind": kind,
                # Staff need the full key to find the conversation again.
                "conversation": key.as_str(),
                "text": text,
                "ticket_id": ticket_id,
                "at": self._clock().isoformat(),
            },
            ensure_ascii=False,
        ).encode("utf-8")
        delivery_id = uuid.uuid4().hex
        if self._secret:
            headers = signed_headers(self._secret, delivery_id, body)
        else:
            headers = {"Content-Type": "application/json; charset=utf-8"}
        try:
            response = await self._http.post(
                self._url, content=body, headers=headers, timeout=self._timeout
            )
        except Exception as exc:
            # Anything at all: the alert still has to reach someone.
            problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        else:
            if response.is_success:
                return
            problem = f"HTTP {response.status_code}"
        log.error(
            "posting a staff alert failed (%s); logging it instead", mask(problem),
            extra={"alert": kind, "conversation": _masked_key(key)},
        )
        await self._fallback.alert(kind=kind, key=key, text=text, ticket_id=ticket_id)
