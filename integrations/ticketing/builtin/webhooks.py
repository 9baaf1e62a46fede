"""Delivering the work-order service's status webhooks from its durable outbox.

The service writes each status change's webhook into ``workorder_webhooks``
in the same transaction as the change. :class:`WebhookDispatcher` claims the
due rows under a lease (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so replicas
take different rows; SQLite: the single writer), posts the stored body
signed with :func:`integrations.ticketing.signing.signed_headers`, and marks
it sent on a 2xx answer; anything else is retried with exponential backoff
under the same delivery id, until ``max_attempts`` makes it ``dead``.

A ticket's webhooks go out in order: a row waits while an earlier one of the
same ticket is still pending, so the receiver never hears 办结 before 派单.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import httpx
from sqlalchemy import Connection, Table, exists, or_, select, update

from bot.delivery import Backoff
from bot.errors import MinhuError
from integrations.storage.codec import as_utc, utc_now
from integrations.storage.repositories import Database
from integrations.ticketing.signing import signed_headers

from .models import WebhookStatus, WorkOrderWebhookRow

__all__ = ["WebhookDispatcher"]

log = logging.getLogger("minhu.workorders.webhooks")

_webhooks = cast(Table, WorkOrderWebhookRow.__table__)
_ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    delivery_id: str
    ticket_id: str
    url: str
    body: str
    attempts: int


class WebhookDispatcher:
    """Sends the queued status webhooks; ``run`` is the loop, ``kick`` wakes it."""

    def __init__(
        self,
        db: Database,
        http: httpx.AsyncClient,
        *,
        secret: str,
        clock: Callable[[], datetime] = utc_now,
        backoff_first: timedelta = timedelta(seconds=2),
        backoff_cap: timedelta = timedelta(minutes=10),
        max_attempts: int = 20,
        lease_seconds: float = 60.0,
        batch: int = 16,
        timeout: float = 10.0,
        owner: str | None = None,
    ) -> None:
        if not secret:
            raise ValueError("status webhooks need a secret to be signed with")
        self._db = db
        self._http = http
        self._secret = secret
        self._clock = clock
        self._backoff = Backoff(first=backoff_first, cap=backoff_cap, attempts=max_attempts)
        self._lease = timedelta(seconds=lease_seconds)
        self._batch = batch
        self._timeout = timeout
        self.owner = owner or f"webhooks-{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()

    def kick(self) -> None:
        """A webhook was queued: look now rather than at the next poll."""
        self._wake.set()

    async def run_once(self) -> int:
        """Send what is due now; return how many deliveries were attempted."""
        claimed = await self._claim()
        if claimed:
            await asyncio.gather(*(self._send(item) for item in claimed))
        return len(claimed)

    async def run(self, stop: asyncio.Event, idle_poll_seconds: float = 1.0) -> None:
        while not stop.is_set():
            try:
                attempted = await self.run_once()
            except MinhuError:
                log.exception("webhook outbox poll failed; retrying")
                attempted = 0
            if attempted:
                continue
            self._wake.clear()
            await self._idle(stop, idle_poll_seconds)

    async def _idle(self, stop: asyncio.Event, seconds: float) -> None:
        """Wait for a kick, the stop signal or the next poll, whichever comes first."""
        waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    async def _claim(self) -> list[_Claimed]:
        w = _webhooks
        now = as_utc(self._clock())
        earlier = w.alias("earlier")
        blocked = exists(
            select(earlier.c.id).where(
                earlier.c.ticket_id == w.c.ticket_id,
                earlier.c.status == WebhookStatus.PENDING,
                earlier.c.id < w.c.id,
            )
        )
        candidates = (
            select(w.c.id)
            .where(
                w.c.status == WebhookStatus.PENDING,
                w.c.next_attempt_at <= now,
                or_(w.c.lease_until.is_(None), w.c.lease_until <= now),
                ~blocked,
            )
            .order_by(w.c.id)
            .limit(self._batch)
        )
        if not self._db.is_sqlite:
            candidates = candidates.with_for_update(skip_locked=True, of=w)
        lease = {"lease_owner": self.owner, "lease_until": now + self._lease}

        def unit(conn: Connection) -> list[_Claimed]:
            ids = list(conn.execute(candidates).scalars())
            if not ids:
                return []
            conn.execute(update(w).where(w.c.id.in_(ids)).values(**lease))
            rows = conn.execute(
                select(w.c.id, w.c.delivery_id, w.c.ticket_id, w.c.url, w.c.body, w.c.attempts)
                .where(w.c.id.in_(ids))
                .order_by(w.c.id)
            )
            return [_Claimed(*row) for row in rows]

        return await self._db.run("claim webhooks", unit)

    async def _send(self, item: _Claimed) -> None:
        body = item.body.encode("utf-8")
        headers = signed_headers(self._secret, item.delivery_id, body)
        error: str | None = None
        try:
            response = await self._http.post(
                item.url, content=body, headers=headers, timeout=self._timeout
            )
            if not 200 <= response.status_code < 300:
                error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        await self._settle(item, error)

    async def _settle(self, item: _Claimed, error: str | None) -> None:
        w = _webhooks
        now = as_utc(self._clock())
        attempt = item.attempts + 1
        values: dict[str, Any] = {
            "attempts": attempt, "lease_owner": None, "lease_until": None,
        }
        if error is None:
            values.update(status=WebhookStatus.SENT, sent_at=now, last_error=None)
        else:
            delay = self._backoff.delay(attempt)
            values["last_error"] = error[:_ERROR_CHARS]
            if delay is None:
                values["status"] = WebhookStatus.DEAD
            else:
                values["next_attempt_at"] = now + delay
            log.warning(
                "status webhook %s for %s attempt %d failed: %s%s",
                item.delivery_id, item.ticket_id, attempt, error,
                "; giving up" if delay is None else "",
            )
        # Only while this dispatcher still holds the lease: another replica
        # that took the row over after it ran out decides its fate instead.
        statement = (
            update(w)
            .where(
                w.c.id == item.id,
                w.c.status == WebhookStatus.PENDING,
                w.c.lease_owner == self.owner,
            )
            .values(**values)
        )

        def unit(conn: Connection) -> None:
            conn.execute(statement)

        await self._db.run("settle webhook", unit)
