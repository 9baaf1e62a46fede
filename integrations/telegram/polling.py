"""Long polling (``minhu telegram poll``): for a machine Telegram cannot reach.

deleteWebhook (Telegram refuses getUpdates while a webhook is set), then
getUpdates in a loop. Each update goes through the same parse and submit
path as the webhook; the offset moves past an update only once it is
durable, so a crash or a database outage makes Telegram send it again and
the journal drops the repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.errors import MalformedPayload, MinhuError

from .api import TelegramAPI
from .inbound import TelegramInbound

__all__ = ["TelegramPoller"]

log = logging.getLogger("minhu.telegram.polling")


class TelegramPoller:
    def __init__(
        self,
        api: TelegramAPI,
        inbound: TelegramInbound,
        *,
        wait: int | None = None,
        first_backoff: float = 1.0,
        max_backoff: float = 60.0,
    ) -> None:
        self._api = api
        self._inbound = inbound
        self._wait = wait
        self._first_backoff = first_backoff
        self._max_backoff = max_backoff
        self.offset: int | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set (or the task is cancelled)."""
        failures = 0
        while not stop.is_set():
            try:
                await self._api.delete_webhook()
                break
            except MinhuError as exc:
                failures += 1
                log.warning("deleteWebhook failed (%s); retrying", exc)
                await self._pause(stop, failures)
        log.info("polling Telegram for updates")
        failures = 0
        while not stop.is_set():
            try:
                updates = await self._api.get_updates(self.offset, wait=self._wait)
            except MinhuError as exc:
                failures += 1
                log.warning("getUpdates failed (%s); retrying", exc)
                await self._pause(stop, failures)
                continue
            if await self.feed(updates):
                failures = 0
            else:
                failures += 1
                await self._pause(stop, failures)

    async def feed(self, updates: list[object]) -> bool:
        """Submit ``updates`` in order, moving the offset past each one taken;
        False when the core failed (the rest come again with the next call)."""
        for update in updates:
            update_id = update.get("update_id") if isinstance(update, dict) else None
            try:
                await self._inbound.handle(update)
            except MalformedPayload as exc:
                log.warning("Telegram update skipped: %s", exc)
            except Exception:
                log.exception("submitting a Telegram update failed; it will be fetched again")
                return False
            if isinstance(update_id, int):
                self.offset = update_id + 1
        return True

    async def _pause(self, stop: asyncio.Event, failures: int) -> None:
        delay = min(self._first_backoff * 2 ** (failures - 1), self._max_backoff)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
