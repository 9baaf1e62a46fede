"""The Telegram channel put together: API, sender, inbound path, webhook, poller."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .api import DEFAULT_API_BASE, TelegramAPI
from .inbound import TelegramInbound
from .media import TelegramPhotos
from .polling import TelegramPoller
from .sender import TelegramSender
from .webhook import DEFAULT_MAX_BODY_BYTES, TelegramWebhook, TelegramWebhookConfig

if TYPE_CHECKING:
    from bot.ingest import Submitter
    from integrations.media import MediaLinks, MediaStore

__all__ = ["BOT_COMMANDS", "TelegramChannel", "TelegramConfig"]

# The command menu (setMyCommands), in the order the client lists it.
BOT_COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", "开始使用民呼"),
    ("status", "我的诉求：查看办理进度"),
    ("help", "使用帮助"),
    ("cancel", "取消正在填写的诉求"),
    ("rider", "骑手通道：选问题、发位置、说一句话"),
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class TelegramConfig:
    token: str
    secret: str = ""
    api_base: str = DEFAULT_API_BASE
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def __post_init__(self) -> None:
        if not self.token:
            raise ValueError("the Telegram channel needs a bot token")


class TelegramChannel:
    """Everything the Telegram channel needs, owned by the container.

    ``sender`` goes into the outbox's senders, ``webhook`` is mounted at
    ``/telegram``, ``poller()`` runs long polling instead; ``photos`` (given a
    media store and its links) goes into the ingest's preparers, to fetch the
    photos residents send; :meth:`close` closes the HTTP clients PTB opened."""

    def __init__(
        self,
        config: TelegramConfig,
        submitter: Submitter,
        *,
        clock: Callable[[], datetime] = _utcnow,
        media: tuple[MediaStore, MediaLinks] | None = None,
    ) -> None:
        self.config = config
        self.api = TelegramAPI(config.token, api_base=config.api_base)
        self.bot_id = self.api.bot_id
        self.sender = TelegramSender(self.api)
        self.photos = TelegramPhotos(self.api, *media) if media is not None else None
        self.inbound = TelegramInbound(self.api, submitter, clock=clock)
        self.webhook = TelegramWebhook(
            TelegramWebhookConfig(secret=config.secret, max_body_bytes=config.max_body_bytes),
            self.inbound,
        )

    def poller(self, *, wait: int | None = None) -> TelegramPoller:
        return TelegramPoller(self.api, self.inbound, wait=wait)

    async def close(self) -> None:
        await self.inbound.drain()
        await self.api.close()
