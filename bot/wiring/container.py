"""Builds the running system from :class:`bot.settings.Settings`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bot.caching import CachingConversationStore
from bot.delivery import Backoff, DeliveryWorker
from bot.dispatcher import Dispatcher
from bot.errors import SpeechError, SpeechUnavailable
from bot.handoff import HandoffDesk
from bot.ingest import Ingest, Submission
from bot.ports import (
    ChannelSender,
    ConversationStore,
    HealthCheck,
    InboundPreparer,
    KnowledgeBase,
    SpeechToText,
    StaffAlerts,
    TicketBackend,
    Transcript,
    Understanding,
)
from bot.settings import Settings
from bot.tickets import TicketDesk
from bot.types import Channel, InboundMessage
from bot.voice import AudioSource, VoiceNotes
from handlers import build_handlers
from handlers.texts import FLOW_EXPIRED_NOTICE
from integrations.knowledge import FileKnowledgeBase, default_knowledge_dir
from integrations.media import MediaLinks, MediaStore
from integrations.miniprogram.channel import MiniProgramChannel, MiniProgramConfig
from integrations.miniprogram.voice import MiniProgramAudioSource
from integrations.speech import pool_from_settings
from integrations.staff.accounts import StaffAccounts
from integrations.staff.admin import parse_demo_accounts, seed_demo_accounts
from integrations.storage import Storage, build_storage
from integrations.telegram import TelegramChannel, TelegramConfig
from integrations.telegram.alerts import TelegramStaffAlerts
from integrations.telegram.voice import TelegramAudioSource
from integrations.ticketing.alerts import HttpStaffAlerts, LogStaffAlerts
from integrations.ticketing.builtin.catalogue import load_catalogue
from integrations.ticketing.builtin.service import WorkOrderService
from integrations.ticketing.builtin.webhooks import WebhookDispatcher
from integrations.ticketing.open311 import BuiltinClient, Open311Client
from integrations.wechat import (
    TEXT_LIMIT_BYTES,
    TemplateNotifier,
    WeChatAPI,
    WeChatSender,
    WeChatWebhookConfig,
)
from integrations.wechat.voice import WeChatAudioSource
from nlu.client import RasaHealth, RasaUnderstanding
from nlu.keywords import KeywordUnderstanding
from nlu.normalize import normalize_text

__all__ = ["Container", "utc_now"]

log = logging.getLogger("minhu.container")


def utc_now() -> datetime:
    return datetime.now(UTC)


class _NoSpeech:
    """Stands in when no speech engine can be built: every voice note without a
    channel transcript is answered "语音识别暂时用不了" (and typed text works)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def transcribe(
        self, audio: bytes, *, audio_format: str | None = None, max_seconds: float = 60.0
    ) -> Transcript:
        raise SpeechUnavailable(self.reason)


def _speech_from_settings(settings: Settings) -> SpeechToText:
    """The faster-whisper pool (``MINHU_ASR_*``); the model loads on first use."""
    try:
        return pool_from_settings(settings)
    except SpeechError as exc:
        log.warning("speech recognition is off: %s", exc)
        return _NoSpeech(str(exc))


class _LateSubmitter:
    """Breaks the cycle ingest → dispatcher → handlers → ticket desk → ingest:
    the desk gets this now, the ingest once it exists."""

    def __init__(self) -> None:
        self.target: Ingest | None = None

    async def submit(
        self, message: InboundMessage, *, passive_budget: float | None
    ) -> Submission:
        assert self.target is not None, "the ingest is not wired yet"
        return await self.target.submit(message, passive_budget=passive_budget)


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
        speech: SpeechToText | None = None,
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
        # Photos minhu keeps itself, and the signed links (GET /media/{id}?sig=...)
        # tickets carry for channels without a photo API of their own (Telegram).
        self.media = MediaStore(Path(settings.media_dir), max_bytes=settings.media_max_bytes)
        self.media_links = MediaLinks.derived(
            settings.media_link_secret.get_secret_value(), b"minhu media links v1",
            prefix=f"{settings.public_base_url.rstrip('/')}/media/",
        )
        self.preparers: dict[Channel, InboundPreparer] = {}
        # Telegram: on when a bot token is set; its updates reach the ingest
        # once that exists (below).
        self.telegram: TelegramChannel | None = None
        # `minhu telegram poll` sets this before start(): getUpdates instead of the webhook.
        self.telegram_polling = False
        self._telegram_submitter = _LateSubmitter()
        if settings.telegram_token.get_secret_value():
            self.telegram = TelegramChannel(
                TelegramConfig(
                    token=settings.telegram_token.get_secret_value(),
                    secret=settings.telegram_secret.get_secret_value(),
                    api_base=settings.telegram_api_base,
                    max_body_bytes=settings.telegram_max_body_bytes,
                ),
                self._telegram_submitter,
                clock=clock,
                media=(self.media, self.media_links),
            )
            self.senders[Channel.TELEGRAM] = self.telegram.sender
            if self.telegram.photos is not None:
                self.preparers[Channel.TELEGRAM] = self.telegram.photos
        # WeChat mini-program: needs the SQL database (sessions, consents, inbox);
        # its API is mounted at /mp/v1 by the app.
        self.miniprogram: MiniProgramChannel | None = None
        if self.storage.database is not None:
            self.miniprogram = MiniProgramChannel(
                MiniProgramConfig.from_settings(settings), http=self.http,
                db=self.storage.database, tokens=self.storage.tokens, clock=clock,
            )
            self.senders[Channel.MINIPROGRAM] = self.miniprogram.sender
        self.alerts: StaffAlerts = (
            HttpStaffAlerts(self.http, url=settings.staff_alert_url, secret=None,
                            fallback=LogStaffAlerts())
            if settings.staff_alert_url
            else LogStaffAlerts()
        )
        if settings.staff_telegram_chat_id:
            # New escalations (and the other alerts) to a Telegram staff group too.
            if self.telegram is None:
                raise ValueError("MINHU_STAFF_TELEGRAM_CHAT_ID needs MINHU_TELEGRAM_TOKEN "
                                 "(the bot that posts to the staff group)")
            self.alerts = TelegramStaffAlerts(
                self.telegram.api, chat_id=settings.staff_telegram_chat_id, inner=self.alerts,
                console_url=f"{settings.public_base_url.rstrip('/')}/console",
            )
        self.knowledge: KnowledgeBase = FileKnowledgeBase(
            Path(settings.knowledge_dir) if settings.knowledge_dir else default_knowledge_dir()
        )
        self.workorders: WorkOrderService | None = None
        self.workorder_webhooks: WebhookDispatcher | None = None
        self.staff: StaffAccounts | None = None
        if self.storage.database is not None:
            self.staff = StaffAccounts(self.storage.database, clock=clock)
        api_key = settings.open311_api_key.get_secret_value()
        webhook_secret = settings.ticket_webhook_secret.get_secret_value()
        if settings.ticket_backend == "builtin":
            if self.storage.database is None:
                raise ValueError("the built-in work-order service needs a SQL database "
                                 "(MINHU_DATABASE_URL=sqlite+aiosqlite:///... or postgresql)")
            catalogue = load_catalogue(
                Path(settings.workorder_catalogue) if settings.workorder_catalogue else None
            )
            self.workorders = WorkOrderService(
                self.storage.database, catalogue, clock=clock,
                webhook_url=settings.workorder_webhook_target(), webhook_secret=webhook_secret,
            )
            self.workorder_webhooks = WebhookDispatcher(
                self.storage.database, self.http, secret=webhook_secret, clock=clock
            )
            self.workorders.on_webhook_queued = self.workorder_webhooks.kick
            self.backend: TicketBackend = BuiltinClient(
                self.http, base_url=settings.open311_url(), api_key=api_key
            )
        else:
            self.backend = Open311Client(
                self.http, base_url=settings.open311_url(), api_key=api_key,
                jurisdiction_id=settings.open311_jurisdiction_id or None,
            )
        self._events = _LateSubmitter()
        self.tickets = TicketDesk(
            backend=self.backend,
            ledger=self.storage.tickets,
            events=self._events,
            alerts=self.alerts,
            clock=clock,
            owner=self.owner,
            inline_timeout=settings.ticket_inline_timeout_seconds,
            # Until filed: a week of retries at the 10-minute cap.
            backoff=Backoff(first=timedelta(seconds=settings.ticket_retry_seconds),
                            cap=timedelta(minutes=10), attempts=1000),
            idle_poll_seconds=settings.outbox_poll_seconds,
        )
        # Turns read through a cache of the states this replica saved (off
        # with several workers, whose caches would keep going stale).
        size = settings.state_cache_size
        self.conversations: ConversationStore = (
            CachingConversationStore(self.storage.conversations, capacity=size)
            if size > 0
            else self.storage.conversations
        )
        # Staff take over escalated chats (bot.handoff); the console calls it.
        self.handoff = HandoffDesk(
            store=self.storage.handoff,
            windows=self.storage.windows,
            events=self._events,
            clock=clock,
            hours=settings.service_hours_schedule(),
            avg_handle_minutes=settings.handoff_avg_handle_minutes,
            idle_minutes=settings.handoff_idle_minutes,
            idle_poll_seconds=settings.handoff_idle_poll_seconds,
            on_pushes=lambda: self.worker.kick(),
            alerts=self.alerts,
        )
        self.dispatcher = Dispatcher(
            store=self.conversations,
            understanding=self.understanding,
            handlers=build_handlers(
                tickets=self.tickets, knowledge=self.knowledge, alerts=self.alerts,
                understanding=self.understanding,
                handoff=self.handoff, normalise=normalize_text,
            ),
            clock=clock,
            flow_expiry=timedelta(minutes=settings.flow_expiry_minutes),
            flow_expired_notice=FLOW_EXPIRED_NOTICE,
            handoff=self.handoff,
        )
        self.worker = DeliveryWorker(
            queue=self.storage.outbox,
            senders=self.senders,
            clock=clock,
            owner=self.owner,
            idle_poll_seconds=settings.outbox_poll_seconds,
            # A staff reply's delivery state changed: the console shows it live.
            on_settled=self.handoff.notify,
        )
        # Voice notes without a channel transcript: fetched from their channel
        # and transcribed in the turn, off the request path (bot.voice).
        self.speech: SpeechToText = speech or _speech_from_settings(settings)
        sources: dict[Channel, AudioSource] = {Channel.WECHAT: WeChatAudioSource(self.wechat_api)}
        if self.telegram is not None:
            sources[Channel.TELEGRAM] = TelegramAudioSource(self.telegram.api)
        if self.miniprogram is not None:
            sources[Channel.MINIPROGRAM] = MiniProgramAudioSource(self.miniprogram.media)
        self.voice = VoiceNotes(self.speech, sources, max_seconds=settings.asr_max_seconds)
        self.ingest = Ingest(
            journal=self.storage.journal,
            store=self.conversations,
            outbox=self.storage.outbox,
            dispatcher=self.dispatcher,
            owner=self.owner,
            lease_seconds=settings.lease_seconds,
            on_pushes=self.worker.kick,
            passive_limits={Channel.WECHAT: TEXT_LIMIT_BYTES},
            voice=self.voice,
            on_recorded=self.handoff.notify,
            preparers=self.preparers,
            on_state_read=(
                self.conversations.offer
                if isinstance(self.conversations, CachingConversationStore)
                else None
            ),
        )
        self._events.target = self.ingest
        self._telegram_submitter.target = self.ingest
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
        if self.staff is not None and self.settings.staff_demo_accounts:
            await seed_demo_accounts(
                self.staff, parse_demo_accounts(self.settings.staff_demo_accounts)
            )
        self._stop.clear()
        self._loops = [
            asyncio.create_task(self.worker.run(self._stop), name="outbox"),
            asyncio.create_task(self._recovery_loop(), name="recovery"),
            asyncio.create_task(self.tickets.run(self._stop), name="ticket-outbox"),
            asyncio.create_task(self.handoff.run_idle(self._stop), name="handoff-idle"),
        ]
        if self.workorder_webhooks is not None:
            self._loops.append(asyncio.create_task(
                self.workorder_webhooks.run(self._stop,
                                            idle_poll_seconds=self.settings.outbox_poll_seconds),
                name="workorder-webhooks",
            ))
        if self.settings.ticket_backend == "open311" and self.settings.ticket_poll_seconds > 0:
            self._loops.append(asyncio.create_task(
                self.tickets.run_polling(self._stop, interval=self.settings.ticket_poll_seconds),
                name="ticket-polling",
            ))
        if self.telegram is not None and self.telegram_polling:
            self._loops.append(asyncio.create_task(
                self.telegram.poller().run(self._stop), name="telegram-polling"
            ))

    async def stop(self) -> None:
        self._stop.set()
        await self.ingest.drain()
        for task in self._loops:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loops = []
        if self.telegram is not None:
            await self.telegram.close()
        close_speech = getattr(self.speech, "close", None)
        if close_speech is not None:
            await close_speech()
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
