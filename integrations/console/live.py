"""Live updates for the console: Server-Sent Events read from durable changes.

The stream never holds state of its own: each round it asks ``fetch`` for
what changed after the cursor (the desk's ``changes_since``, read from the
database), sends it, and moves the cursor on. Between rounds it sleeps until
:class:`ChangeSignal` says this process changed something, or the poll
interval passes (changes made by another replica), sending a heartbeat
comment now and then so that proxies keep the connection open.

Each event carries its cursor as the SSE ``id``; a browser that reconnects
(EventSource does it by itself) sends it back as ``Last-Event-ID``, so a
console that lost its connection, or whose server restarted, gets every
change it missed. A stream ends after ``lifetime`` seconds (the browser
reconnects at once), which spreads long-lived connections over replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "RECONNECT_MILLISECONDS",
    "ChangeSignal",
    "LiveEvent",
    "event_stream",
    "format_event",
]

# How long a browser waits before reconnecting (the SSE ``retry`` field).
RECONNECT_MILLISECONDS = 2000
# Longer Last-Event-ID / cursor values are not ours.
_MAX_CURSOR_LENGTH = 64


class ChangeSignal:
    """Wakes every waiting stream of this process when something changed.

    ``notify`` is the desk's in-process change callback. A stream takes
    :meth:`ticket` *before* it reads the changes, then waits on that ticket,
    so a change made between the read and the wait is not slept through."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self, *_: Any, **__: Any) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    def ticket(self) -> asyncio.Event:
        return self._event

    @staticmethod
    async def wait(ticket: asyncio.Event, seconds: float) -> bool:
        """True when woken, False when ``seconds`` passed."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ticket.wait(), timeout=seconds)
            return True
        return False


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One SSE event: its name, its JSON data, and the cursor after it."""

    event: str
    data: Any
    cursor: str


def format_event(event: str, data: Any, *, event_id: str | None = None) -> bytes:
    """One SSE event; the JSON data is on one line (no newline can split it)."""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"event: {event}")
    lines.append(f"data: {payload}")
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def clean_cursor(value: str | None) -> str | None:
    """A cursor as given by a client, when it looks like one (digits, ``:`` and ``-``)."""
    if not value:
        return None
    value = value.strip()
    if len(value) > _MAX_CURSOR_LENGTH or not all(ch.isdigit() or ch in ":-" for ch in value):
        return None
    return value


Fetch = Callable[[str], Awaitable[tuple[Sequence[LiveEvent], str]]]


async def event_stream(
    fetch: Fetch,
    cursor: str,
    *,
    signal: ChangeSignal,
    poll_seconds: float,
    heartbeat_seconds: float,
    lifetime_seconds: float,
    hello: Any = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> AsyncIterator[bytes]:
    """The SSE body: ``ready`` first (with ``hello`` and the cursor), then every
    change ``fetch`` reports after ``cursor``, heartbeats in between."""
    started = monotonic()
    yield f"retry: {RECONNECT_MILLISECONDS}\n\n".encode("ascii")
    yield format_event("ready", {"cursor": cursor, **(hello or {})}, event_id=cursor)
    last_sent = monotonic()
    while monotonic() - started < lifetime_seconds:
        ticket = signal.ticket()
        events, cursor_after = await fetch(cursor)
        for item in events:
            yield format_event(item.event, item.data, event_id=item.cursor)
            last_sent = monotonic()
        if cursor_after != cursor:
            cursor = cursor_after
            if not events:
                # Skipped entries (not for this console): remember the position anyway.
                yield format_event("cursor", {"cursor": cursor}, event_id=cursor)
            continue  # there may be more right away
        if monotonic() - last_sent >= heartbeat_seconds:
            yield b": heartbeat\n\n"
            last_sent = monotonic()
        until_heartbeat = heartbeat_seconds - (monotonic() - last_sent)
        await signal.wait(ticket, max(0.01, min(poll_seconds, until_heartbeat)))
