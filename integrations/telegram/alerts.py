"""``bot.ports.StaffAlerts`` to a Telegram staff group, through python-telegram-bot.

Configured with ``MINHU_STAFF_TELEGRAM_CHAT_ID`` (the group's chat id, e.g.
``-1001234567890``) and the bot of ``MINHU_TELEGRAM_TOKEN`` /
``MINHU_TELEGRAM_API_BASE`` (add the bot to the group)::

    alerts = TelegramStaffAlerts(api, chat_id="-1001234567890", inner=LogStaffAlerts(),
                                 console_url="https://minhu.example.org/console")

Every alert still goes to ``inner`` (the log, or the HTTP alert URL) first,
so the group is an addition and never the only record. The group message is
plain text (no parse mode: nothing a resident wrote is read as markup), with
the resident's id and phone numbers masked, and a link to the console. Like
the other adapters it never raises into the caller: an alert must not break
the resident's conversation.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from bot.errors import MinhuError
from bot.logs import mask, mask_identifier
from bot.ports import StaffAlerts
from bot.types import ConversationKey

from .api import TelegramAPI

__all__ = ["ALERT_TITLES", "MAX_ALERT_TEXT", "TelegramStaffAlerts", "alert_text"]

log = logging.getLogger("minhu.telegram.alerts")

# What each kind of alert is called in the group; others are shown as "提醒（kind）".
ALERT_TITLES: dict[str, str] = {
    "escalation": "新的转人工会话",
    "supervisor": "转值班长会话",
    "emergency": "紧急情况",
    "bad_rating": "群众差评",
    "rejected": "诉求提交被拒",
    "after_hours": "非工作时间转人工",
}
# Characters of the alert's own text put in the group message (Telegram allows 4096).
MAX_ALERT_TEXT = 600

_CHANNEL_NAMES = {"wechat": "微信公众号", "miniprogram": "微信小程序", "telegram": "Telegram"}


def alert_text(
    *, kind: str, key: ConversationKey, text: str, ticket_id: str | None,
    console_url: str | None,
) -> str:
    """The group message of one alert (plain text)."""
    title = ALERT_TITLES.get(kind, f"提醒（{kind}）")
    body = " ".join(mask(text).split())
    if len(body) > MAX_ALERT_TEXT:
        body = body[:MAX_ALERT_TEXT] + "…"
    channel = _CHANNEL_NAMES.get(key.channel.value, key.channel.value)
    lines = [f"【民呼】{title}", f"渠道：{channel}（用户 {mask_identifier(key.user)}）"]
    if ticket_id:
        lines.append(f"工单：{ticket_id}")
    if body:
        lines.append(f"内容：{body}")
    if console_url:
        lines.append(f"请到坐席工作台处理：{console_url}")
    return "\n".join(lines)


class TelegramStaffAlerts:
    """Alerts posted to one Telegram chat (the staff group), after ``inner`` has them.

    ``kinds`` limits which kinds go to the group (None: every kind)."""

    def __init__(
        self,
        api: TelegramAPI,
        *,
        chat_id: str,
        inner: StaffAlerts,
        console_url: str | None = None,
        kinds: Collection[str] | None = None,
    ) -> None:
        if not chat_id.strip():
            raise ValueError("TelegramStaffAlerts needs the staff group's chat id")
        self._api = api
        self._chat_id = chat_id.strip()
        self._inner = inner
        self._console_url = console_url
        self._kinds = frozenset(kinds) if kinds is not None else None

    async def alert(
        self, *, kind: str, key: ConversationKey, text: str, ticket_id: str | None = None
    ) -> None:
        try:
            await self._inner.alert(kind=kind, key=key, text=text, ticket_id=ticket_id)
        except Exception:
            log.exception("the staff alert's first recipient failed")
        if self._kinds is not None and kind not in self._kinds:
            return
        message = alert_text(
            kind=kind, key=key, text=text, ticket_id=ticket_id, console_url=self._console_url
        )
        try:
            await self._api.send_message(self._chat_id, message)
        except MinhuError as exc:
            log.error("posting a staff alert to Telegram failed: %s", mask(str(exc)),
                      extra={"alert": kind})
        except Exception:
            # Anything at all (a PTB surprise): the conversation goes on.
            log.exception("posting a staff alert to Telegram failed", extra={"alert": kind})
