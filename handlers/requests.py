"""The six request types (咨询/求助/投诉/举报/建议/表扬) and the menu entries around them."""

from __future__ import annotations

from collections.abc import Sequence

from bot.handling import Turn
from bot.types import REQUEST_TYPES, OutboundMessage
from handlers.clarify import PENDING_TEXT

__all__ = ["HumanHandler", "MyRequestsHandler", "RequestHandler", "StartReportHandler"]

HOTLINE = "12345"


class RequestHandler:
    """Names what was understood (type and category) so the resident can
    correct it. Filing a ticket from here arrives with the ticket loop."""

    name = "request"

    def matches(self, turn: Turn) -> bool:
        return turn.intent is not None and turn.intent.name in REQUEST_TYPES

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        assert turn.intent is not None
        turn.state.unclear_turns = 0
        kind = REQUEST_TYPES[turn.intent.name]
        category = turn.intent.category
        pending = turn.state.context.pop(PENDING_TEXT, None)
        if turn.intent.source == "payload" and isinstance(pending, dict):
            # The resident picked this reading of what they wrote before.
            category = str(pending.get("category") or category)
        about = f"（{category}类）" if category and category != "其他" else ""
        return [
            OutboundMessage.of_text(
                f"已收到您的{kind}{about}，消息已保存。"
                f"在线立案功能正在开通中，如需马上办理，请拨打{HOTLINE}热线。"
            )
        ]


class StartReportHandler:
    name = "start_report"

    def matches(self, turn: Turn) -> bool:
        return turn.payload in ("MENU_REPORT", "/report_start")

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        return [
            OutboundMessage.of_text(
                "请直接描述您要反映的问题：发生了什么、在哪里、什么时候。"
                "也可以发送语音、照片或位置。"
            )
        ]


class MyRequestsHandler:
    name = "my_requests"

    def matches(self, turn: Turn) -> bool:
        return turn.payload == "MENU_MY_TICKETS" or turn.intent_is("query_status")

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        return [OutboundMessage.of_text("您在本平台还没有已登记的诉求。")]


class HumanHandler:
    name = "human"

    def matches(self, turn: Turn) -> bool:
        return turn.payload == "MENU_HUMAN" or turn.intent_is("human")

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        turn.state.unclear_turns = 0
        return [
            OutboundMessage.of_text(
                f"本渠道的人工坐席暂未接入。需要工作人员帮助，请拨打{HOTLINE}热线。"
            )
        ]
