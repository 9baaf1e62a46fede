"""WeChat official-account channel: webhook, crypto, message registry, API.

Wiring (see the names below)::

    router = build_wechat_router(WeChatWebhookConfig(token=..., app_id=...), ingest)
    api = WeChatAPI(http, app_id=..., app_secret=..., tokens=token_store)
    sender = WeChatSender(api, reply_windows, TemplateNotifier(api, template_id=...))
"""

from __future__ import annotations

from .api import (
    DEFAULT_BASE_URL,
    TEXT_LIMIT_BYTES,
    TemplateNotifier,
    WeChatAPI,
    WeChatSender,
    default_template_data,
    split_text,
)
from .crypto import EncryptedEnvelope, WeChatCrypto, signature, verify
from .menu import DEFAULT_MENU, MENU_HUMAN, MENU_MY_TICKETS, MENU_REPORT, install_menu
from .messages import EVENT_TYPES, MESSAGE_TYPES, event_type, message_type, to_inbound
from .webhook import WeChatWebhook, WeChatWebhookConfig, build_wechat_router
from .xml import build_xml, image_reply, parse_xml, text_reply

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MENU",
    "EVENT_TYPES",
    "MENU_HUMAN",
    "MENU_MY_TICKETS",
    "MENU_REPORT",
    "MESSAGE_TYPES",
    "TEXT_LIMIT_BYTES",
    "EncryptedEnvelope",
    "TemplateNotifier",
    "WeChatAPI",
    "WeChatCrypto",
    "WeChatSender",
    "WeChatWebhook",
    "WeChatWebhookConfig",
    "build_wechat_router",
    "build_xml",
    "default_template_data",
    "event_type",
    "image_reply",
    "install_menu",
    "message_type",
    "parse_xml",
    "signature",
    "split_text",
    "text_reply",
    "to_inbound",
    "verify",
]
