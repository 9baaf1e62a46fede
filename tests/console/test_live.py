"""Live updates: the SSE stream delivers new messages and case changes, and a console
that was away resumes from its cursor (Last-Event-ID) without losing anything."""

from __future__ import annotations

import asyncio

import httpx

from bot.types import HandoffReason
from integrations.console.live import ChangeSignal, LiveEvent, event_stream, format_event

from .conftest import OTHER_RESIDENT, Console
from .support import SSEResult, open_case, read_sse, resident_says, sign_in


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
