"""User-facing wording shared by several handlers (Simplified Chinese)."""

from __future__ import annotations

from bot.handling import intent_button
from bot.types import Button, OutboundMessage

__all__ = [
    "BACKEND_BUSY",
    "CANCELLED",
    "FLOW_EXPIRED_NOTICE",
    "HELP",
    "HOTLINE",
    "INTENT_LABELS",
    "MAIN_MENU_BUTTONS",
    "TICKET_NOT_FOUND",
    "help_message",
    "offer_human",
]

HOTLINE = "12345"

# Put in front of the reply when the dispatcher ended a flow the resident
# left unfinished for too long (the lead passes it to the dispatcher).
FLOW_EXPIRED_NOTICE = "您之前未填完的诉求已超时，已自动取消。"

CANCELLED = "已取消，本次内容没有提交。"
TICKET_NOT_FOUND = "没有找到这个工单，请核对工单编号。"
BACKEND_BUSY = f"工单系统暂时连接不上，请稍后再试；着急的话可以拨打{HOTLINE}热线。"

# How an intent is named to the resident on a button.
INTENT_LABELS: dict[str, str] = {
    "consult": "咨询政策或办事",
    "seek_help": "求助",
    "complain": "投诉",
    "report": "举报",
    "suggest": "提建议",
    "praise": "表扬/感谢",
    "query_status": "查询诉求进度",
    "supplement": "补充材料",
    "withdraw": "撤回诉求",
    "rate": "评价办理结果",
    "human": "转人工",
    "emergency": "紧急情况",
}

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


def offer_human(prefix: str) -> OutboundMessage:
    """After two unclear turns in a row: a person, or another try."""
    return OutboundMessage.with_buttons(
        f"{prefix}需要为您转接人工服务吗？",
        (intent_button("转人工", "human"), intent_button("我再说一遍", "report_start")),
    )
