"""Builds the running system from :class:`bot.settings.Settings`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from bot.caching import CachingConversationStore
from bot.delivery import DeliveryWorker
from bot.dispatcher import Dispatcher
from bot.ingest import Ingest
from bot.ports import ChannelSender, ConversationStore, HealthCheck, Understanding
from bot.settings import Settings
from bot.types import Channel
from handlers import build_handlers
from integrations.storage import Storage, build_storage
from integrations.wechat import (
    TEXT_LIMIT_BYTES,
    TemplateNotifier,
    WeChatAPI,
    WeChatSender,
    WeChatWebhookConfig,
)
from nlu.client import RasaHealth, RasaUnderstanding
from nlu.keywords import KeywordUnderstanding

__all__ = ["Container", "utc_now"]

log = logging.getLogger("minhu.container")


def utc_now() -> datetime:
    return datetime.now(UTC)


class Container:
    """Owns every long-lived object and the background loops."""

    def __init__(
        self,
        settings: Settings,
        *,
        http_transport: httpx.AsyncBaseTransport | None = None,
        understanding: Understanding | None = None,
        storage: Storage | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.owner = (
            settings.instance_name
            or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        )
        # One client for every outbound call: WeChat API, Rasa, the ticket backend.
        self.http = httpx.AsyncClient(
            transport=http_transport, timeout=httpx.Timeout(10.0, connect=3.0)
        )
        self.storage: Storage = storage or build_storage(settings.database_url, clock=clock)
        self.understanding: Understanding = understanding or RasaUnderstanding(
            self.http,
            base_url=settings.rasa_url,
            timeout=settings.rasa_timeout_seconds,
            fallback=KeywordUnderstanding(),
        )

        self.wechat_api = WeChatAPI(
            self.http,
            base_url=settings.wechat_api_base,
            app_id=settings.wechat_app_id,
            app_secret=settings.wechat_app_secret.get_secret_value(),
            tokens=self.storage.tokens,
            clock=clock,
        )
        self.senders: dict[Channel, ChannelSender] = {
            Channel.WECHAT: WeChatSender(
                self.wechat_api,
                self.storage.windows,
                TemplateNotifier(self.wechat_api, template_id=settings.wechat_template_id,
                                 clock=clock),
                clock=clock,
            ),
        }
        # Turns read through a cache of the states this replica saved (off
        # with several workers, whose caches would keep going stale).
        size = settings.state_cache_size
        self.conversations: ConversationStore = (
            CachingConversationStore(self.storage.conversations, capacity=size)
            if size > 0
            else self.storage.conversations
        )
        self.dispatcher = Dispatcher(
            store=self.conversations,
            understanding=self.understanding,
            handlers=build_handlers(),
            clock=clock,
        )
        self.worker = DeliveryWorker(
            queue=self.storage.outbox,
            senders=self.senders,
            clock=clock,
            owner=self.owner,
            idle_poll_seconds=settings.outbox_poll_seconds,
        )
        self.ingest = Ingest(
            journal=self.storage.journal,
            store=self.conversations,
            outbox=self.storage.outbox,
            dispatcher=self.dispatcher,
            owner=self.owner,
            lease_seconds=settings.lease_seconds,
            on_pushes=self.worker.kick,
            passive_limits={Channel.WECHAT: TEXT_LIMIT_BYTES},
        )
        self.wechat_webhook = WeChatWebhookConfig(
            token=settings.wechat_token.get_secret_value(),
            encoding_aes_key=(
                settings.wechat_aes_key.get_secret_value() if settings.wechat_aes_key else None
            ),
            app_id=settings.wechat_app_id,
            account_id=settings.wechat_account_id or None,
            max_body_bytes=settings.wechat_max_body_bytes,
            passive_budget_seconds=settings.wechat_reply_budget_seconds,
            clock=clock,
        )
        self.health_checks: list[HealthCheck] = [self.storage.health]
        # Reported by /readyz but not required: the keyword fallback covers for Rasa.
        self.optional_checks: list[HealthCheck] = [
            RasaHealth(self.http, base_url=settings.rasa_url)
        ]
        self._stop = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if self.settings.migrate_on_start:
            await self.storage.migrate()
        self._stop.clear()
        self._loops = [
            asyncio.create_task(self.worker.run(self._stop), name="outbox"),
            asyncio.create_task(self._recovery_loop(), name="recovery"),
        ]

    async def stop(self) -> None:
        self._stop.set()
        await self.ingest.drain()
        for task in self._loops:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loops = []
        await self.http.aclose()
        await self.storage.close()

    async def _recovery_loop(self) -> None:
        """Pick up messages a crashed replica accepted but never finished."""
        interval = max(self.settings.lease_seconds / 2, 1.0)
        while not self._stop.is_set():
            try:
                await self.ingest.recover()
            except Exception:
                log.exception("recovery pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=interval)
