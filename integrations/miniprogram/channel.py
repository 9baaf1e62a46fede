"""The mini-program channel's parts, built once from the settings.

:class:`MiniProgramChannel` owns what lives as long as the process: the
store, the WeChat API client for the mini-program's app id, the session
token signer, the photo store, the rate limiters and the outbox sender.
The web layer (:mod:`integrations.miniprogram.api`) is built over it with
the bot's ingest and ticket desk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from bot.ports import TokenStore
from bot.settings import Settings
from integrations.media import MediaLinks, MediaStore
from integrations.miniprogram.ratelimit import RateLimiter
from integrations.miniprogram.sender import MiniProgramSender, StatusTemplate, parse_template_keys
from integrations.miniprogram.store import MiniProgramStore
from integrations.miniprogram.tokens import SessionTokens
from integrations.miniprogram.wxapi import MiniProgramAPI
from integrations.storage.codec import utc_now
from integrations.storage.repositories import Database
from integrations.wechat import WeChatAPI

__all__ = ["MAX_PHOTOS", "MiniProgramChannel", "MiniProgramConfig"]

# The same limit as the dialogue's (handlers.intake.form.MAX_PHOTOS).
MAX_PHOTOS = 9
# Seconds a chat turn waits for the bot's first answer to return it in the
# HTTP response; a later answer is fetched from the inbox.
REPLY_BUDGET_SECONDS = 4.0
# JSON bodies are small; only photo uploads are big.
MAX_JSON_BYTES = 64 * 1024
# Room for the multipart envelope around a photo.
MULTIPART_OVERHEAD_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class MiniProgramConfig:
    app_id: str
    app_secret: str
    api_base: str
    session_secret: str
    session_lifetime: timedelta
    public_base_url: str
    media_dir: Path
    media_max_bytes: int
    rate_per_minute: int
    rate_burst: int
    template: StatusTemplate | None
    reply_budget_seconds: float = REPLY_BUDGET_SECONDS

    @classmethod
    def from_settings(cls, settings: Settings) -> MiniProgramConfig:
        template = None
        if settings.miniprogram_status_template_id:
            template = StatusTemplate(
                template_id=settings.miniprogram_status_template_id,
                keys=parse_template_keys(settings.miniprogram_status_template_keys),
                page=settings.miniprogram_page,
                state=settings.miniprogram_state,
                long_term=settings.miniprogram_long_term_consent,
            )
        return cls(
            app_id=settings.miniprogram_app_id,
            app_secret=settings.miniprogram_app_secret.get_secret_value(),
            api_base=settings.miniprogram_api_url(),
            session_secret=settings.miniprogram_session_secret.get_secret_value(),
            session_lifetime=timedelta(minutes=settings.miniprogram_session_minutes),
            public_base_url=settings.public_base_url.rstrip("/"),
            media_dir=Path(settings.media_dir),
            media_max_bytes=settings.media_max_bytes,
            rate_per_minute=settings.miniprogram_rate_per_minute,
            rate_burst=settings.miniprogram_rate_burst,
            template=template,
        )


class MiniProgramChannel:
    def __init__(
        self,
        config: MiniProgramConfig,
        *,
        http: httpx.AsyncClient,
        db: Database,
        tokens: TokenStore,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.config = config
        self.clock = clock
        self.store = MiniProgramStore(db, app_id=config.app_id)
        self.wechat = WeChatAPI(
            http, base_url=config.api_base, app_id=config.app_id,
            app_secret=config.app_secret, tokens=tokens, clock=clock,
        )
        self.api = MiniProgramAPI(
            http, self.wechat, base_url=config.api_base, app_id=config.app_id,
            app_secret=config.app_secret,
        )
        self.sessions = SessionTokens(
            config.session_secret, app_id=config.app_id, lifetime=config.session_lifetime,
            clock=clock,
        )
        self.media = MediaStore(config.media_dir, max_bytes=config.media_max_bytes)
        self.limiter = RateLimiter(per_minute=config.rate_per_minute, burst=config.rate_burst)
        self.sender = MiniProgramSender(self.store, self.api, template=config.template,
                                        clock=clock)
        # Links to photos, for staff and the ticket backend (served by GET /mp/v1/media).
        self.links = MediaLinks.derived(
            config.session_secret,
            b"minhu mini-program media links v1|" + config.app_id.encode("utf-8"),
            prefix=f"{config.public_base_url}/mp/v1/media/",
        )

    # -- links to photos, for staff and the ticket backend ---------------------

    def media_signature(self, media_id: str) -> str:
        return self.links.signature(media_id)

    def media_url(self, media_id: str) -> str:
        """A link that shows the photo to whoever has it (the ticket's handlers)."""
        return self.links.url(media_id)

    def media_id_of(self, reference: str) -> str | None:
        """The media id behind one of our photo links, else None."""
        return self.links.media_id_of(reference)

    def signed(self, media_id: str, signature: str | None) -> bool:
        return self.links.verify(media_id, signature)
