"""The outbox worker: pushes queued messages to residents, with retries.

Messages are queued in the same transaction as the turn that produced
them (see :meth:`bot.ports.ConversationStore.complete_turn`), so a crash
loses none; the worker delivers them in order per conversation and retries
with exponential backoff until the channel accepts or refuses for good. A
channel that says when to try again (``DeliveryError.retry_after``, e.g.
Telegram's flood control) is not tried sooner: the delay is the longer of
the backoff and that hint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Mapping
from datetime import timedelta

from bot.errors import DeliveryError, MinhuError, PermanentDeliveryError
from bot.metrics import DELIVERIES
from bot.ports import ChannelSender, Clock, DeliveryQueue, PendingDelivery
from bot.types import Channel

__all__ = ["Backoff", "DeliveryWorker"]

log = logging.getLogger("minhu.delivery")

# A channel's "retry after" beyond this is taken as this (a day).
MAX_RETRY_HINT_SECONDS = 86_400.0


class Backoff:
    """Exponential backoff: ``first``, doubling, capped at ``cap``; gives up after ``attempts``."""

    def __init__(
        self,
        *,
        first: timedelta = timedelta(seconds=2),
        cap: timedelta = timedelta(minutes=10),
        attempts: int = 20,
    ) -> None:
        self.first, self.cap, self.attempts = first, cap, attempts

    def delay(self, attempt: int) -> timedelta | None:
        """Delay before retrying after failed attempt number ``attempt`` (1-based)."""
        if attempt >= self.attempts:
            return None
        delay: timedelta = min(self.first * (2 ** (attempt - 1)), self.cap)
        return delay


class DeliveryWorker:
    def __init__(
        self,
        *,
        queue: DeliveryQueue,
        senders: Mapping[Channel, ChannelSender],
        clock: Clock,
        owner: str,
        backoff: Backoff | None = None,
        lease_seconds: float = 60.0,
        batch: int = 32,
        idle_poll_seconds: float = 1.0,
        on_settled: Callable[[], None] | None = None,
    ) -> None:
        self._queue = queue
        self._senders = dict(senders)
        self._clock = clock
        self._owner = owner
        self._backoff = backoff or Backoff()
        self._lease_seconds = lease_seconds
        self._batch = batch
        self._idle_poll = idle_poll_seconds
        self._wake = asyncio.Event()
        # Called after each batch of attempts (e.g. the staff console shows
        # a reply's delivery at once rather than at its next poll).
        self._on_settled = on_settled

    def kick(self) -> None:
        """Something was queued: look now rather than at the next poll."""
        self._wake.set()

    async def run_once(self) -> int:
        """Deliver what is due now; return how many deliveries were attempted."""
        due = await self._queue.claim_due(
            owner=self._owner, now=self._clock(), lease_seconds=self._lease_seconds,
            limit=self._batch,
        )
        if due:
            await asyncio.gather(*(self._deliver(item) for item in due))
            if self._on_settled is not None:
                try:
                    self._on_settled()
                except Exception:
                    log.exception("the outbox's on_settled callback failed")
        return len(due)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                attempted = await self.run_once()
            except MinhuError:
                log.exception("outbox poll failed; retrying")
                attempted = 0
            if attempted:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._idle_poll)

    async def _deliver(self, item: PendingDelivery) -> None:
        channel = item.key.channel
        sender = self._senders.get(channel)
        attempt = item.attempts + 1
        if sender is None:
            await self._queue.mark_failed(
                item.delivery_id, error=f"no sender for channel {channel}", retry_at=None
            )
            DELIVERIES.labels(channel.value, "dead", "none").inc()
            return
        try:
            via = await sender.send(item.key, item.message)
        except PermanentDeliveryError as exc:
            log.warning("delivery %s given up: %s", item.delivery_id, exc,
                        extra={"conversation": item.key.as_str()})
            await self._queue.mark_failed(item.delivery_id, error=str(exc), retry_at=None)
            DELIVERIES.labels(channel.value, "dead", "none").inc()
            return
        except (DeliveryError, MinhuError) as exc:
            delay = _with_hint(self._backoff.delay(attempt), exc)
            retry_at = self._clock() + delay if delay is not None else None
            log.warning("delivery %s attempt %d failed: %s", item.delivery_id, attempt, exc,
                        extra={"conversation": item.key.as_str()})
            await self._queue.mark_failed(item.delivery_id, error=str(exc), retry_at=retry_at)
            DELIVERIES.labels(channel.value, "retry" if retry_at else "dead", "none").inc()
            return
        await self._queue.mark_sent(item.delivery_id, via=via)
        DELIVERIES.labels(channel.value, "sent", via).inc()


def _with_hint(delay: timedelta | None, exc: MinhuError) -> timedelta | None:
    """The backoff's delay, or the channel's "not before" when that is later
    (None, giving up, stays None)."""
    hint = exc.retry_after if isinstance(exc, DeliveryError) else None
    if delay is None or hint is None or not (hint > 0 and math.isfinite(hint)):
        return delay
    return max(delay, timedelta(seconds=min(hint, MAX_RETRY_HINT_SECONDS)))
