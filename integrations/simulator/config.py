"""Configuration of the local WeChat simulator (a development tool)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["SimulatorConfig"]


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """What the simulator needs to play WeChat towards the app.

    ``token``, ``encoding_aes_key``, ``app_id`` and ``app_secret`` must be the
    same values the app is configured with (``MINHU_WECHAT_*``);
    ``account_id`` is the official account's ``gh_`` id, sent as
    ``ToUserName``. ``webhook_url`` is where the app's ``/wechat`` route
    listens. ``public_base_url`` is where the simulator's own routes can be
    reached (for ``PicUrl`` links); by default the origin of ``webhook_url``.

    ``reply_timeout`` and ``attempts`` model WeChat's five-second rule: a
    delivery that gets no HTTP answer in time is retried, three tries in all,
    with the same message. ``unique_event_times`` keeps each resident's event
    ``CreateTime`` strictly increasing, so two events fired by a test within
    one second do not collide on the ``FromUserName`` + ``CreateTime``
    deduplication key (real people are not that fast).
    """

    token: str
    app_id: str
    app_secret: str
    account_id: str
    webhook_url: str = "http://127.0.0.1:8000/wechat"
    encoding_aes_key: str | None = None
    safe_mode: bool = False
    public_base_url: str | None = None
    reply_timeout: float = 5.0
    attempts: int = 3
    unique_event_times: bool = True
    inbox_size: int = 200
    transcript_size: int = 500
    media_limit: int = 200
    media_max_bytes: int = 10 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.safe_mode and not self.encoding_aes_key:
            raise ValueError("safe mode needs an EncodingAESKey")
        if self.encoding_aes_key is not None and len(self.encoding_aes_key) != 43:
            raise ValueError("EncodingAESKey must be 43 characters")
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.reply_timeout <= 0:
            raise ValueError("reply_timeout must be positive")

    @property
    def base_url(self) -> str:
        """Where the simulator's routes are reached from outside, without a slash."""
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        parts = urlsplit(self.webhook_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def mode_label(self) -> str:
        return "安全模式" if self.safe_mode else "明文模式"
