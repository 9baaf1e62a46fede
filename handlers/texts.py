"""User-facing wording shared by several handlers (Simplified Chinese)."""

from __future__ import annotations

from bot.handling import intent_button
from bot.types import Button, OutboundMessage

__all__ = ["HELP", "MAIN_MENU_BUTTONS", "help_message"]

MAIN_MENU_BUTTONS: tuple[Button, ...] = (
    intent_button("我要反映", "report_start"),
    intent_button("我的诉求", "query_status"),
    intent_button("转人工", "human"),
)

HELP = (
    "您可以直接用文字或语音告诉我遇到的问题，例如：\n"
    "· “幸福里小区门口路灯坏了一个星期”\n"
    "· “咨询一下居住证怎么办理”\n"
    "· “建议在和平路口加个红绿灯”\n"
    "发送位置或照片可以帮助我们更快处理。紧急情况请直接拨打110、119或120。"
)


def help_message(prefix: str = "") -> OutboundMessage:
    text = f"{prefix}\n{HELP}" if prefix else HELP
    return OutboundMessage.with_buttons(text, MAIN_MENU_BUTTONS)
