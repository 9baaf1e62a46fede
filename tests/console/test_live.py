"""Live updates: the SSE stream delivers new messages and case changes, and a console
that was away resumes from its cursor (Last-Event-ID) without losing anything."""

from __future__ import annotations

import asyncio

import httpx

from bot.delivery import DeliveryWorker
from bot.errors import PermanentDeliveryError
from bot.types import Channel, ConversationKey, HandoffReason, OutboundMessage
from integrations.console.live import ChangeSignal, LiveEvent, event_stream, format_event

from .conftest import OTHER_RESIDENT, Console
from .support import SSEResult, open_case, page, read_sse, resident_says, sign_in


def texts(result: SSEResult) -> list[str]:
    return [e.data["text"] for e in result.named("entry")]


async def test_a_new_resident_message_arrives_at_once(
    console: Console, agent: httpx.AsyncClient
) -> None:
    case = await open_case(console.desk)
    # The stream polls every 30 s here: only the in-process wake-up delivers in time.
    assert console.config.poll_seconds >= 30

    async def resident_writes() -> None:
        await resident_says(console, "<script>alert(1)</script> 电梯又坏了")

    result = await read_sse(
        console.app, agent, f"/console/events?case={case.case_id}",
        on_ready=resident_writes,
        until=lambda r: any("电梯又坏了" in t for t in texts(r)), within=5,
    )
    assert result.status == 200
    assert result.headers["content-type"].startswith("text/event-stream")
    assert result.headers["cache-control"] == "no-store"
    [ready] = result.named("ready")
    [entry] = [e for e in result.named("entry") if e.data["author_kind"] == "resident"]
    # Raw in the JSON: the page script puts it in with textContent.
    assert entry.data["text"] == "<script>alert(1)</script> 电梯又坏了"
    assert entry.data["author_label"] == "居民" and "complain" in entry.data["intent"]
    assert entry.data["category"] == "城乡建设"
    assert int(entry.id or 0) > int(ready.id or 0)


async def test_a_console_that_was_away_gets_everything_it_missed(
    console: Console, agent: httpx.AsyncClient
) -> None:
    case = await open_case(console.desk)
    path = f"/console/events?case={case.case_id}"
    first = await read_sse(
        console.app, agent, path,
        on_ready=lambda: resident_says(console, "第一条"),
        until=lambda r: "第一条" in texts(r),
    )
    cursor = first.named("entry")[-1].id
    assert cursor is not None
    # The console is down (or the server restarts) while the resident writes on.
    await resident_says(console, "第二条")
    await console.desk.claim(case.case_id, "agent2")
    await resident_says(console, "第三条")
    await resident_says(console, "一位别的居民", key=OTHER_RESIDENT)

    resumed = await read_sse(
        console.app, agent, path, last_event_id=cursor,
        until=lambda r: "第三条" in texts(r),
    )
    assert texts(resumed) == ["第二条", "agent2 接入会话", "第三条"]
    [change] = resumed.named("case")
    assert change.data["case_id"] == case.case_id and change.data["status"] == "active"
    assert change.data["claimed_by"] == "agent2"
    assert "一位别的居民" not in str(resumed.events)  # other conversations stay out

    # ?cursor= does the same for a page that starts a new EventSource itself.
    again = await read_sse(
        console.app, agent, f"{path}&cursor={cursor}", until=lambda r: "第三条" in texts(r)
    )
    assert texts(again) == texts(resumed)


async def test_the_queue_stream_reports_case_changes_by_role(console: Console) -> None:
    async with console.client() as client:
        await sign_in(client, "agent1")

        async def changes() -> None:
            await open_case(console.desk, summary="普通求助")
            await open_case(console.desk, OTHER_RESIDENT, reason=HandoffReason.SENSITIVE,
                            summary="涉及干部作风")

        result = await read_sse(
            console.app, client, "/console/events", on_ready=changes,
            until=lambda r: len(r.named("case")) >= 2,
        )
    ordinary, sensitive = (e.data for e in result.named("case"))
    assert ordinary["summary"] == "普通求助" and ordinary["status"] == "waiting"
    assert sensitive == {
        "case_id": sensitive["case_id"], "queue": "supervisor", "status": "waiting",
        "status_label": "等待接入", "hidden": True,
    }
    assert not result.named("entry")  # the queue page gets case changes only


async def test_heartbeats_keep_a_quiet_stream_open(
    console: Console, agent: httpx.AsyncClient
) -> None:
    result = await read_sse(
        console.app, agent, "/console/events", until=lambda r: "heartbeat" in r.comments,
        within=5,
    )
    assert result.named("ready")


async def test_a_case_the_viewer_may_not_see_has_no_stream(
    console: Console, agent: httpx.AsyncClient
) -> None:
    case = await open_case(console.desk, reason=HandoffReason.SENSITIVE, summary="敏感")
    result = await read_sse(
        console.app, agent, f"/console/events?case={case.case_id}", until=lambda r: True
    )
    assert result.status == 404


async def test_the_stream_reads_durable_changes_even_without_a_wake_up() -> None:
    """Changes made by another replica wake nobody here: the poll finds them."""
    feed: list[LiveEvent] = []

    async def fetch(cursor: str) -> tuple[list[LiveEvent], str]:
        fresh = [e for e in feed if int(e.cursor) > int(cursor)]
        return fresh, fresh[-1].cursor if fresh else cursor

    chunks: list[bytes] = []
    stream = event_stream(
        fetch, "0", signal=ChangeSignal(), poll_seconds=0.05, heartbeat_seconds=10,
        lifetime_seconds=0.5,
    )

    async def later() -> None:
        await asyncio.sleep(0.1)
        feed.append(LiveEvent("entry", {"text": "别的副本写入的"}, "7"))

    task = asyncio.create_task(later())
    async for chunk in stream:
        chunks.append(chunk)
    await task
    body = b"".join(chunks).decode()
    assert body.startswith("retry: 2000\n\n")
    assert 'id: 7\nevent: entry\ndata: {"text":"别的副本写入的"}\n\n' in body


def test_event_data_stays_on_one_line() -> None:
    event = format_event("entry", {"text": "第一行\n\ndata: 伪造\r\nid: 9"}, event_id="3")
    lines = event.decode().split("\n")
    assert lines[:2] == ["id: 3", "event: entry"]
    assert lines[2].startswith("data: ") and lines[3:] == ["", ""]


# -- the delivery of staff replies ---------------------------------------------------------


class Channels:
    """The residents' channels as the outbox worker sees them."""

    channel = Channel.TELEGRAM

    def __init__(self, *, refuse: bool = False) -> None:
        self.refuse = refuse
        self.sent: list[str] = []

    async def send(self, key: ConversationKey, message: OutboundMessage) -> str:
        if self.refuse:
            raise PermanentDeliveryError("the resident blocked the bot")
        self.sent.append(message.plain_text())
        return "custom"


def outbox_worker(console: Console, channels: Channels) -> DeliveryWorker:
    """The outbox worker as the container wires it: it wakes the console when it
    has delivered (or given up on) something."""
    return DeliveryWorker(
        queue=console.storage.outbox, senders={Channel.TELEGRAM: channels},
        clock=console.clock, owner="test", on_settled=console.desk.notify,
    )


async def test_a_staff_reply_shows_delivered_without_a_reload(
    console: Console, agent: httpx.AsyncClient
) -> None:
    case = await open_case(console.desk, OTHER_RESIDENT)
    reply = await console.desk.reply(case.case_id, "agent1", "您好，我是坐席小王")
    path = f"/console/cases/{case.case_id}"
    [shown] = [m for m in page((await agent.get(path)).text).find_all("message")
               if m.attrs["data-entry-id"] == str(reply.entry_id)]
    mark = shown.find("message-delivery")
    assert (mark.full_text, mark.attrs["data-delivery"]) == ("发送中", "queued")
    channels = Channels()
    wake_ups: list[None] = []
    console.desk.add_listener(lambda: wake_ups.append(None))

    async def delivered() -> None:
        await outbox_worker(console, channels).run_once()

    # The page asks to watch what it shows as 发送中 (?watch=).
    result = await read_sse(
        console.app, agent, f"/console/events?case={case.case_id}&watch={reply.entry_id}",
        on_ready=delivered, until=lambda r: bool(r.named("delivery")), within=5,
    )
    assert channels.sent == ["【人工客服】您好，我是坐席小王"]
    assert wake_ups  # the worker woke the streams at once, not at their next poll
    [update] = result.named("delivery")
    assert update.data == {
        "entry_id": reply.entry_id, "case_id": case.case_id,
        "delivery": "sent", "delivery_label": "已送达渠道",
    }
    assert not result.named("entry")  # the line itself is not sent again


async def test_a_reply_made_while_watching_reports_its_failure(
    console: Console, agent: httpx.AsyncClient
) -> None:
    case = await open_case(console.desk, OTHER_RESIDENT)
    await console.desk.claim(case.case_id, "agent1")

    async def reply_then_deliver() -> None:
        await console.desk.reply(case.case_id, "agent1", "请问您还在吗？")
        await asyncio.sleep(0.2)  # the stream sends the line, 发送中
        await outbox_worker(console, Channels(refuse=True)).run_once()

    result = await read_sse(
        console.app, agent, f"/console/events?case={case.case_id}",
        on_ready=reply_then_deliver, until=lambda r: bool(r.named("delivery")), within=5,
    )
    [line] = [e for e in result.named("entry") if e.data["author_kind"] == "staff"]
    assert (line.data["delivery"], line.data["delivery_label"]) == ("queued", "发送中")
    [update] = result.named("delivery")
    assert update.data["entry_id"] == line.data["entry_id"]
    assert (update.data["delivery"], update.data["delivery_label"]) == ("failed", "发送失败")
    assert int(update.id or 0) >= int(line.id or 0)


async def test_a_stream_reports_no_other_conversations_delivery(
    console: Console, agent: httpx.AsyncClient
) -> None:
    mine = await open_case(console.desk, OTHER_RESIDENT)
    theirs = await open_case(console.desk)
    await resident_says(console, "在吗")  # opens the WeChat window
    reply = await console.desk.reply(theirs.case_id, "agent2", "别的坐席的回复")
    await console.storage.outbox.mark_sent(
        (await console.storage.outbox.claim_due(
            owner="t", now=console.clock(), lease_seconds=30, limit=10))[0].delivery_id,
        via="custom",
    )
    result = await read_sse(
        console.app, agent, f"/console/events?case={mine.case_id}&watch={reply.entry_id}",
        until=lambda r: "heartbeat" in r.comments, within=5,
    )
    assert not result.named("delivery") and not result.named("entry")
