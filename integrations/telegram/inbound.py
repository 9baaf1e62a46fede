"""One path from an update to the core, shared by the webhook and long polling.

parse → ``submit(message, passive_budget=None)`` for each message (the
journal makes a repeated ``update_id`` a no-op) → for a new button press,
answer the callback query in the background so the client's spinner stops.
Nothing is answered in the HTTP response: the replies follow through the
outbox and ``sendMessage``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.errors import MinhuError

from .updates import ParsedUpdate, parse_update

if TYPE_CHECKING:
    from bot.ingest import Submitter

    from .api import TelegramAPI

__all__ = ["TelegramInbound"]

log = logging.getLogger("minhu.telegram.inbound")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TelegramInbound:
    def __init__(
        self,
        api: TelegramAPI,
        submitter: Submitter,
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._api = api
        self._submitter = submitter
        self._clock = clock
        self.bot_id = api.bot_id
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, update: Any) -> ParsedUpdate:
        """Parse and submit one decoded update. Raises ``MalformedPayload`` for
        something that is not an update; errors of the core propagate (the
        caller answers 500 or retries, and the journal keeps it exactly-once)."""
        parsed = parse_update(update, bot_id=self.bot_id, clock=self._clock)
        if parsed.ignored:
            log.info("Telegram update %d ignored: %s", parsed.update_id, parsed.ignored)
        new = False
        for message in parsed.messages:
            submission = await self._submitter.submit(message, passive_budget=None)
            new = new or not submission.duplicate
        if parsed.callback_query_id is not None and (new or not parsed.messages):
            self._spawn(self._answer_callback(parsed.callback_query_id))
        return parsed

    async def _answer_callback(self, query_id: str) -> None:
        try:
            await self._api.answer_callback_query(query_id)
        except MinhuError as exc:
            # The spinner stops by itself after a while; the press was taken anyway.
            log.info("answering a Telegram button press failed: %s", exc)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the callback answers still in flight (shutdown, tests)."""
        while self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
