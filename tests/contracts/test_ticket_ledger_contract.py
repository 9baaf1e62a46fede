"""The TicketLedger contract, run against memory, SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.ports import SubmissionState
from bot.types import Channel, ConversationKey, Location, TicketDraft, TicketStatus

from .conftest import Backend, FakeClock

KEY = ConversationKey(Channel.WECHAT, "gh_minhu", "o-resident-1")
OTHER = ConversationKey(Channel.WECHAT, "gh_minhu", "o-resident-2")
DRAFT = TicketDraft(
    request_type="complain",
    category="城乡建设",
    description="小区门口路灯坏了一个星期",
    address="和平路12号",
    location=Location(39.9, 116.4, "和平路"),
    occurred_at="上周",
    phone="13812345678",
    photos=("http://img/1.jpg",),
)


async def test_add_is_idempotent_on_the_submission_id(backend: Backend) -> None:
    ledger = backend.replica().tickets
    first, created = await ledger.add(KEY, DRAFT, submission_id="s1")
    again, created_again = await ledger.add(KEY, DRAFT, submission_id="s1")
    assert created and not created_again
    assert again == first
    assert first.state is SubmissionState.PENDING
    assert first.draft == DRAFT  # every field round-trips
    assert first.key == KEY


async def test_pending_requests_are_claimed_once_until_the_lease_runs_out(
    backend: Backend, clock: FakeClock
) -> None:
    one, two = backend.replica().tickets, backend.replica().tickets
    await one.add(KEY, DRAFT, submission_id="s1")
    claimed = await one.claim_pending(owner="a", now=clock(), lease_seconds=30, limit=10)
    assert [r.submission_id for r in claimed] == ["s1"]
    assert await two.claim_pending(owner="b", now=clock(), lease_seconds=30, limit=10) == []
    later = clock.advance(seconds=31)
    again = await two.claim_pending(owner="b", now=later, lease_seconds=30, limit=10)
    assert [r.submission_id for r in again] == ["s1"]


async def test_a_failed_attempt_waits_for_its_retry_time_and_rejection_is_final(
    backend: Backend, clock: FakeClock
) -> None:
    ledger = backend.replica().tickets
    await ledger.add(KEY, DRAFT, submission_id="s1")
    await ledger.add(KEY, DRAFT, submission_id="s2")
    await ledger.claim_pending(owner="a", now=clock(), lease_seconds=30, limit=10)
    await ledger.mark_retry("s1", error="backend down", retry_at=clock() + timedelta(minutes=1))
    await ledger.mark_retry("s2", error="bad service code", retry_at=None)
    assert await ledger.claim_pending(owner="a", now=clock(), lease_seconds=30, limit=10) == []
    due = await ledger.claim_pending(
        owner="a", now=clock.advance(minutes=2), lease_seconds=30, limit=10
    )
    assert [r.submission_id for r in due] == ["s1"]
    assert due[0].attempts == 1 and due[0].error == "backend down"
    rejected = await ledger.get("s2")
    assert rejected is not None and rejected.state is SubmissionState.REJECTED


async def test_filing_links_the_ticket_to_the_conversation(
    backend: Backend, clock: FakeClock
) -> None:
    ledger = backend.replica().tickets
    await ledger.add(KEY, DRAFT, submission_id="s1")
    await ledger.add(OTHER, DRAFT, submission_id="s2")
    await ledger.add(KEY, DRAFT, submission_id="s3")
    filed = await ledger.mark_filed(
        "s1", ticket_id="MH202611230001", token=None, status=TicketStatus.ACCEPTED
    )
    assert filed.state is SubmissionState.FILED and filed.status is TicketStatus.ACCEPTED
    found = await ledger.by_ticket("MH202611230001")
    assert found is not None and found.key == KEY and found.submission_id == "s1"
    assert await ledger.by_ticket("MH209901010001") is None
    mine = await ledger.for_conversation(KEY)
    assert [r.submission_id for r in mine] == ["s3", "s1"]  # newest first
    # Filed ones are no longer due.
    due = await ledger.claim_pending(owner="a", now=clock(), lease_seconds=30, limit=10)
    assert sorted(r.submission_id for r in due) == ["s2", "s3"]


async def test_a_request_known_only_by_its_token_is_looked_up_again(
    backend: Backend, clock: FakeClock
) -> None:
    ledger = backend.replica().tickets
    await ledger.add(KEY, DRAFT, submission_id="s1")
    await ledger.mark_filed("s1", ticket_id=None, token="tok-1", status=None)
    assert await ledger.claim_pending(owner="a", now=clock(), lease_seconds=30, limit=10) == []
    due = await ledger.claim_pending(
        owner="a", now=clock.advance(seconds=6), lease_seconds=30, limit=10
    )
    assert [(r.submission_id, r.token, r.ticket_id) for r in due] == [("s1", "tok-1", None)]
    await ledger.mark_filed("s1", ticket_id="MH202611230002", token="tok-1", status=None)
    assert await ledger.claim_pending(
        owner="a", now=clock.advance(seconds=60), lease_seconds=30, limit=10
    ) == []


async def test_status_moves_forward_only_and_rating_is_kept_once(
    backend: Backend, clock: FakeClock
) -> None:
    ledger = backend.replica().tickets
    await ledger.add(KEY, DRAFT, submission_id="s1")
    await ledger.mark_filed("s1", ticket_id="MH202611230003", token=None, status=None)
    t0 = clock()
    assert await ledger.record_status("MH202611230003", TicketStatus.DISPATCHED, t0)
    assert not await ledger.record_status("MH202611230003", TicketStatus.ACCEPTED, t0)
    assert await ledger.record_status(
        "MH202611230003", TicketStatus.FINISHED, t0 + timedelta(hours=2)
    )
    assert not await ledger.record_status("MH209901010001", TicketStatus.FINISHED, t0)
    record = await ledger.by_ticket("MH202611230003")
    assert record is not None and record.status is TicketStatus.FINISHED
    assert await ledger.record_rating("MH202611230003", 4)
    assert not await ledger.record_rating("MH202611230003", 1)
    record = await ledger.by_ticket("MH202611230003")
    assert record is not None and record.rating == 4


async def test_open_tickets_skip_final_ones_and_rotate(backend: Backend, clock: FakeClock) -> None:
    ledger = backend.replica().tickets
    for n in range(1, 5):
        await ledger.add(KEY, DRAFT, submission_id=f"s{n}")
        await ledger.mark_filed(f"s{n}", ticket_id=f"MH2026112300{n:02d}", token=None,
                                status=TicketStatus.ACCEPTED)
    await ledger.record_status("MH202611230003", TicketStatus.CLOSED, clock.advance(seconds=1))
    await ledger.record_status("MH202611230004", TicketStatus.WITHDRAWN, clock())
    first = await ledger.open_tickets(limit=1)
    clock.advance(seconds=1)
    second = await ledger.open_tickets(limit=1)
    clock.advance(seconds=1)
    third = await ledger.open_tickets(limit=5)
    assert {first[0].ticket_id, second[0].ticket_id} == {"MH202611230001", "MH202611230002"}
    assert third[0].ticket_id == first[0].ticket_id  # least recently checked
    assert {r.ticket_id for r in third} == {"MH202611230001", "MH202611230002"}


async def test_concurrent_claims_never_share_a_submission(
    backend: Backend, clock: FakeClock
) -> None:
    for n in range(20):
        await backend.replica().tickets.add(KEY, DRAFT, submission_id=f"s{n}")
    replicas = [backend.replica().tickets for _ in range(4)]
    batches = await asyncio.gather(*(
        r.claim_pending(owner=f"o{i}", now=clock(), lease_seconds=30, limit=8)
        for i, r in enumerate(replicas)
    ))
    claimed = [r.submission_id for batch in batches for r in batch]
    assert len(claimed) == len(set(claimed)) == 20


async def test_a_held_submission_is_not_due_until_the_hold_ends(
    backend: Backend, clock: FakeClock
) -> None:
    ledger = backend.replica().tickets
    await ledger.add(KEY, DRAFT, submission_id="s1", hold_seconds=10)
    assert await ledger.claim_pending(owner="a", now=clock(), lease_seconds=30, limit=10) == []
    due = await ledger.claim_pending(
        owner="a", now=clock.advance(seconds=11), lease_seconds=30, limit=10
    )
    assert [r.submission_id for r in due] == ["s1"]
