"""Settings from ``MINHU_*`` environment variables and an optional ``.env``.

Every field here is listed, with a comment, in ``.env.example``; a test
keeps the two in step.
"""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.handoff import ServiceHours

__all__ = ["Settings"]

# The bot id, a colon, then the secret part (BotFather's format).
_TELEGRAM_TOKEN = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{20,100}")
# What Telegram allows in a webhook's secret_token (domain.md §3).
_TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MINHU_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Service
    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str = "http://127.0.0.1:8000"
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    database_url: str = "sqlite+aiosqlite:///var/minhu.db"
    migrate_on_start: bool = True
    instance_name: str = ""

    # WeChat official account
    wechat_token: SecretStr = SecretStr("minhu-dev-token")
    wechat_aes_key: SecretStr | None = None
    wechat_app_id: str = "wx0000000000000000"
    wechat_app_secret: SecretStr = SecretStr("minhu-dev-secret")
    wechat_account_id: str = ""
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_template_id: str | None = None
    wechat_reply_budget_seconds: float = Field(default=4.0, gt=0, lt=5)
    wechat_max_body_bytes: int = Field(default=64 * 1024, gt=0)

    # WeChat mini-program
    miniprogram_app_id: str = "wx0000000000000001"
    miniprogram_app_secret: SecretStr = SecretStr("minhu-dev-miniprogram-secret")
    # Base URL of jscode2session and the mini-program's API calls; empty: wechat_api_base.
    miniprogram_api_base: str = ""
    miniprogram_session_secret: SecretStr = SecretStr(
        "minhu-dev-miniprogram-session-secret-change-me"
    )
    miniprogram_session_minutes: float = Field(default=120.0, gt=0, le=24 * 60)
    miniprogram_status_template_id: str = ""
    miniprogram_status_template_keys: str = "character_string1,phrase2,thing3,time4"
    miniprogram_long_term_consent: bool = False
    miniprogram_page: str = "pages/requests/detail"
    miniprogram_state: Literal["developer", "trial", "formal"] = "formal"
    miniprogram_rate_per_minute: int = Field(default=60, gt=0)
    miniprogram_rate_burst: int = Field(default=20, gt=0)
    media_dir: str = "var/media"
    media_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    # Key of the signed links /media/{id}?sig=... (Telegram's photos in tickets).
    media_link_secret: SecretStr = SecretStr("minhu-dev-media-link-secret-change-me")

    # Telegram
    # The bot's token from @BotFather ("123456:ABC-..."); empty: the channel is off.
    telegram_token: SecretStr = SecretStr("")
    # The webhook's secret_token, echoed in X-Telegram-Bot-Api-Secret-Token.
    telegram_secret: SecretStr = SecretStr("")
    telegram_api_base: str = "https://api.telegram.org"
    telegram_max_body_bytes: int = Field(default=256 * 1024, gt=0)

    # Understanding
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_timeout_seconds: float = Field(default=1.5, gt=0)

    # Speech-to-text (voice notes)
    # A model name ("base") or the path of a faster-whisper model folder.
    asr_model: str = "base"
    # Where `scripts/asr-env.sh` assembles named models (and downloads go, when allowed).
    asr_model_dir: str = "var/models"
    # Production only: fetch a named model once from the Hugging Face hub when absent.
    asr_allow_download: bool = False
    asr_workers: int = Field(default=1, ge=1, le=16)
    asr_queue_limit: int = Field(default=8, ge=0)
    asr_cpu_threads: int = Field(default=2, ge=0)
    # Niceness of the transcription threads: the event loop comes first.
    asr_nice: int = Field(default=10, ge=0, le=19)
    asr_max_seconds: float = Field(default=60.0, gt=0, le=600)
    asr_max_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    asr_decode_timeout_seconds: float = Field(default=20.0, gt=0)
    # A file of place and service words for the recognition prompt; empty: the built-in one.
    asr_prompt_file: str = ""

    # Delivery
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    lease_seconds: float = Field(default=60.0, gt=0)

    # Conversation states kept in each process's cache (0: no cache)
    state_cache_size: int = Field(default=10_000, ge=0)

    # Dialogue
    flow_expiry_minutes: float = Field(default=30.0, gt=0)
    knowledge_dir: str = ""

    # Ticket backend
    ticket_backend: Literal["builtin", "open311"] = "builtin"
    open311_base_url: str = ""
    open311_api_key: SecretStr = SecretStr("minhu-dev-open311-key")
    open311_jurisdiction_id: str = ""
    ticket_webhook_secret: SecretStr = SecretStr("minhu-dev-webhook-secret")
    ticket_poll_seconds: float = Field(default=60.0, ge=0)
    ticket_inline_timeout_seconds: float = Field(default=2.0, gt=0, lt=4)
    ticket_retry_seconds: float = Field(default=2.0, gt=0)
    staff_alert_url: str = ""

    # Staff sign-in (work-order pages, escalation console)
    staff_session_secret: SecretStr = SecretStr("minhu-dev-staff-session-secret-change-me")
    staff_demo_accounts: str = ""

    # Staff console (/console: escalated chats)
    # Waiting time (seconds) under which a case is green, then amber, then red.
    console_sla_amber_seconds: float = Field(default=120.0, gt=0)
    console_sla_red_seconds: float = Field(default=300.0, gt=0)
    console_quick_replies: str = ""
    console_heartbeat_seconds: float = Field(default=15.0, gt=0)
    console_poll_seconds: float = Field(default=2.0, gt=0)
    staff_telegram_chat_id: str = ""

    # Staff handoff (bot.handoff)
    service_hours: str = "mon-fri 09:00-18:00"
    service_timezone: str = "Asia/Shanghai"
    handoff_avg_handle_minutes: float = Field(default=5.0, gt=0)
    handoff_idle_minutes: float = Field(default=30.0, gt=0)
    handoff_idle_poll_seconds: float = Field(default=30.0, gt=0)

    # Built-in work-order service
    workorder_webhook_url: str = ""
    workorder_catalogue: str = ""

    # Local simulator of the WeChat server and API (development only)
    simulator_enabled: bool = False

    @field_validator("wechat_aes_key", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value

    @field_validator("wechat_aes_key")
    @classmethod
    def _aes_key_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) != 43:
            raise ValueError("MINHU_WECHAT_AES_KEY (EncodingAESKey) must be 43 characters")
        return value

    @field_validator("telegram_token")
    @classmethod
    def _telegram_token_format(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value()
        if token and not _TELEGRAM_TOKEN.fullmatch(token):
            raise ValueError(
                "MINHU_TELEGRAM_TOKEN must look like 123456789:AAE... (from @BotFather)"
            )
        return value

    @field_validator("telegram_secret")
    @classmethod
    def _telegram_secret_format(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if secret and not _TELEGRAM_SECRET.fullmatch(secret):
            raise ValueError(
                "MINHU_TELEGRAM_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -"
            )
        return value

    @field_validator("service_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"MINHU_SERVICE_TIMEZONE: unknown time zone {value!r}") from exc
        return value

    @field_validator("service_hours")
    @classmethod
    def _service_hours_format(cls, value: str) -> str:
        ServiceHours(value)  # raises ValueError with what is wrong
        return value

    def service_hours_schedule(self) -> ServiceHours:
        return ServiceHours(self.service_hours, timezone=self.service_timezone)

    @field_validator("telegram_api_base")
    @classmethod
    def _telegram_api_base(cls, value: str) -> str:
        return value.rstrip("/")

    def miniprogram_api_url(self) -> str:
        """Where the mini-program's WeChat calls go: its own base, else the account's."""
        return (self.miniprogram_api_base or self.wechat_api_base).rstrip("/")

    def open311_url(self) -> str:
        """Where the bot files tickets: the configured server, or our own built-in one."""
        if self.open311_base_url:
            return self.open311_base_url.rstrip("/")
        return f"{self.public_base_url.rstrip('/')}/open311/v2"

    def workorder_webhook_target(self) -> str:
        """Where the built-in service posts status changes: the bot's own receiver."""
        if self.workorder_webhook_url:
            return self.workorder_webhook_url
        return f"{self.public_base_url.rstrip('/')}/tickets/webhook"
