"""The closed loop: every transition rule, dispatching, answers, ratings
(once, and reopening on a bad one), supplements and withdrawals."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from bot.types import TicketStatus
from integrations.ticketing.builtin.service import (
    AlreadyRated,
    EventKind,
    InvalidFiling,
    InvalidTransition,
    WorkOrder,
    WorkOrderNotFound,
    WorkOrderService,
)

from .support import FakeClock, filing

S = TicketStatus

# The rules as the brief states them, written out independently of the code.
ALLOWED: dict[TicketStatus, set[TicketStatus]] = {
    S.ACCEPTED: {S.DISPATCHED, S.FINISHED, S.WITHDRAWN},
    S.DISPATCHED: {S.IN_PROGRESS, S.RETURNED, S.WITHDRAWN},
    S.REASSIGNED: {S.IN_PROGRESS, S.RETURNED, S.WITHDRAWN},
    S.RETURNED: {S.REASSIGNED},
    S.IN_PROGRESS: {S.FINISHED, S.RETURNED, S.WITHDRAWN},
    S.FINISHED: {S.FOLLOWED_UP, S.CLOSED, S.REOPENED},
    S.FOLLOWED_UP: {S.CLOSED, S.REOPENED},
    S.REOPENED: {S.IN_PROGRESS, S.FINISHED},
    S.CLOSED: set(),
    S.WITHDRAWN: set(),
}
# How to get a new ticket into each status.
PATHS: dict[TicketStatus, list[TicketStatus]] = {
    S.ACCEPTED: [],
    S.DISPATCHED: [S.DISPATCHED],
    S.RETURNED: [S.DISPATCHED, S.RETURNED],
    S.REASSIGNED: [S.DISPATCHED, S.RETURNED, S.REASSIGNED],
    S.IN_PROGRESS: [S.DISPATCHED, S.IN_PROGRESS],
    S.FINISHED: [S.DISPATCHED, S.IN_PROGRESS, S.FINISHED],
    S.FOLLOWED_UP: [S.DISPATCHED, S.IN_PROGRESS, S.FINISHED, S.FOLLOWED_UP],
    S.CLOSED: [S.DISPATCHED, S.IN_PROGRESS, S.FINISHED, S.CLOSED],
    S.REOPENED: [S.DISPATCHED, S.IN_PROGRESS, S.FINISHED, S.REOPENED],
    S.WITHDRAWN: [S.WITHDRAWN],
}


def _arguments(order: WorkOrder, to: TicketStatus) -> dict[str, Any]:
    """What a member of staff fills in for a move to ``to``."""
    if to is S.REASSIGNED:
        other = "transport" if order.department_code != "transport" else "education"
        return {"department_code": other}
    if to is S.FINISHED:
        return {"note": "已修复，请您查看。"}
    return {}


async def _ticket_in(service: WorkOrderService, status: TicketStatus, **changes: Any) -> WorkOrder:
    order, _ = await service.file(filing(**changes), idempotency_key=None)
    for step in PATHS[status]:
        order = await service.transition(
            order.ticket_id, step, actor="测试员", **_arguments(order, step)
        )
    assert order.status is status
    return order


@pytest.mark.parametrize("start", list(S))
async def test_each_status_moves_only_where_the_rules_allow(
    service: WorkOrderService, start: TicketStatus
) -> None:
    probe = await _ticket_in(service, start)
    assert set(service.allowed_transitions(probe)) == ALLOWED[start]
    for target in S:
        order = await _ticket_in(service, start)
        if target in ALLOWED[start]:
            moved = await service.transition(
                order.ticket_id, target, actor="测试员", **_arguments(order, target)
            )
            assert moved.status is target
        else:
            with pytest.raises(InvalidTransition) as caught:
                await service.transition(
                    order.ticket_id, target, actor="测试员", **_arguments(order, target)
                )
            assert start.value in str(caught.value)
            assert (await service.get(order.ticket_id)).status is start  # type: ignore[union-attr]


async def test_the_full_loop_is_recorded_oldest_first(
    service: WorkOrderService, clock: FakeClock
) -> None:
    order, _ = await service.file(filing(), idempotency_key=None)
    clock.advance(minutes=10)
    dispatched = await service.transition(order.ticket_id, S.DISPATCHED, actor="派单员张三")
    assert dispatched.department_code == "housing_construction"  # the routed one, confirmed
    assert dispatched.updated_at == clock.now
    clock.advance(hours=1)
    await service.transition(order.ticket_id, S.IN_PROGRESS, actor="住建局李四", note="已安排人员")
    clock.advance(days=1)
    finished = await service.transition(
        order.ticket_id, S.FINISHED, actor="住建局李四", note="路灯已更换，恢复照明。"
    )
    assert finished.status_note == "路灯已更换，恢复照明。"
    assert finished.open311_status == "closed"
    assert finished.adopted is None
    await service.transition(order.ticket_id, S.FOLLOWED_UP, actor="回访员")
    closed = await service.transition(order.ticket_id, S.CLOSED, actor="回访员")
    assert closed.status_note == "路灯已更换，恢复照明。"  # kept when no new note is given
    assert service.allowed_transitions(closed) == []
    history = await service.history(order.ticket_id)
    assert [(e.status, e.previous) for e in history] == [
        (S.ACCEPTED, None),
        (S.DISPATCHED, S.ACCEPTED),
        (S.IN_PROGRESS, S.DISPATCHED),
        (S.FINISHED, S.IN_PROGRESS),
        (S.FOLLOWED_UP, S.FINISHED),
        (S.CLOSED, S.FOLLOWED_UP),
    ]
    assert [e.actor for e in history][1:3] == ["派单员张三", "住建局李四"]
    assert all(e.department_name == "示范区住房和城乡建设局" for e in history)
    assert [e.at for e in history] == sorted(e.at for e in history)


async def test_dispatch_can_choose_the_department_and_reassignment_must_change_it(
    service: WorkOrderService,
) -> None:
    order, _ = await service.file(filing(), idempotency_key=None)
    with pytest.raises(InvalidTransition, match="没有代码为"):
        await service.transition(
            order.ticket_id, S.DISPATCHED, actor="派单员", department_code="no_such"
        )
    dispatched = await service.transition(
        order.ticket_id, S.DISPATCHED, actor="派单员", department_code="street_xishan"
    )
    assert (dispatched.department_code, dispatched.department_name) == (
        "street_xishan", "示范区西山街道办事处"
    )
    await service.transition(order.ticket_id, S.RETURNED, actor="西山街道", note="不属于本街道")
    with pytest.raises(InvalidTransition, match="新的承办部门"):
        await service.transition(order.ticket_id, S.REASSIGNED, actor="派单员")
    with pytest.raises(InvalidTransition, match="退单部门以外"):
        await service.transition(
            order.ticket_id, S.REASSIGNED, actor="派单员", department_code="street_xishan"
        )
    reassigned = await service.transition(
        order.ticket_id, S.REASSIGNED, actor="派单员", department_code="transport"
    )
    assert reassigned.department_name == "示范区交通运输局"
    history = await service.history(order.ticket_id)
    assert history[-1].department_code == "transport"
    assert history[-2].note == "不属于本街道"


async def test_finishing_needs_an_answer_and_a_suggestion_needs_its_outcome(
    service: WorkOrderService,
) -> None:
    order = await _ticket_in(service, S.IN_PROGRESS)
    with pytest.raises(InvalidTransition, match="答复"):
        await service.transition(order.ticket_id, S.FINISHED, actor="部门")
    suggestion = await _ticket_in(service, S.IN_PROGRESS, request_type="suggest")
    with pytest.raises(InvalidTransition, match="采纳"):
        await service.transition(suggestion.ticket_id, S.FINISHED, actor="部门", note="已研究")
    done = await service.transition(
        suggestion.ticket_id, S.FINISHED, actor="部门", note="已纳入明年计划", adopted=True
    )
    assert done.adopted is True
    assert (await service.history(suggestion.ticket_id))[-1].adopted is True
    # An outcome given for anything but a suggestion is not recorded.
    other = await service.transition(
        order.ticket_id, S.FINISHED, actor="部门", note="已处理", adopted=True
    )
    assert other.adopted is None


async def test_two_staff_moving_one_ticket_at_once_cannot_both_win(
    service: WorkOrderService,
) -> None:
    order, _ = await service.file(filing(), idempotency_key=None)
    results = await asyncio.gather(
        service.transition(order.ticket_id, S.DISPATCHED, actor="甲"),
        service.transition(order.ticket_id, S.DISPATCHED, actor="乙"),
        return_exceptions=True,
    )
    assert sum(isinstance(r, WorkOrder) for r in results) == 1
    assert sum(isinstance(r, InvalidTransition) for r in results) == 1
    statuses = [e.status for e in await service.history(order.ticket_id)]
    assert statuses == [S.ACCEPTED, S.DISPATCHED]


async def test_unknown_tickets_are_reported_as_not_found(service: WorkOrderService) -> None:
    with pytest.raises(WorkOrderNotFound):
        await service.transition("MH209901010001", S.DISPATCHED, actor="x")
    with pytest.raises(WorkOrderNotFound):
        await service.rate("MH209901010001", score=5, comment=None, idempotency_key=None)
    assert await service.history("MH209901010001") == []


async def test_overdue_is_past_the_deadline_without_an_answer(
    service: WorkOrderService, clock: FakeClock
) -> None:
    order = await _ticket_in(service, S.IN_PROGRESS)
    assert not order.overdue(clock.now)
    late = clock.now + timedelta(days=7, seconds=1)
    assert order.overdue(late)
    finished = await service.transition(order.ticket_id, S.FINISHED, actor="部门", note="已办")
    assert not finished.overdue(late)


# -- ratings ------------------------------------------------------------------------------


async def test_a_rating_is_taken_once_after_the_answer(service: WorkOrderService) -> None:
    order = await _ticket_in(service, S.IN_PROGRESS)
    with pytest.raises(InvalidTransition, match="办结后"):
        await service.rate(order.ticket_id, score=5, comment=None, idempotency_key="r0")
    await service.transition(order.ticket_id, S.FINISHED, actor="部门", note="已修好")
    rated = await service.rate(order.ticket_id, score=5, comment="很快", idempotency_key="r1")
    assert (rated.rating, rated.rating_comment, rated.status) == (5, "很快", S.FINISHED)
    # The same rating sent again (a retry) is not an error and changes nothing.
    again = await service.rate(order.ticket_id, score=5, comment="很快", idempotency_key="r1")
    assert again == rated
    with pytest.raises(AlreadyRated):
        await service.rate(order.ticket_id, score=3, comment=None, idempotency_key="r2")
    ratings = [e for e in await service.history(order.ticket_id) if e.kind == EventKind.RATING]
    assert [(e.score, e.note) for e in ratings] == [(5, "很快")]
    assert await service.alerts() == []


@pytest.mark.parametrize("start", [S.FINISHED, S.FOLLOWED_UP, S.CLOSED])
async def test_a_bad_rating_reopens_the_ticket_and_alerts_staff(
    service: WorkOrderService, start: TicketStatus
) -> None:
    order = await _ticket_in(service, start)
    reopened = await service.rate(
        order.ticket_id, score=2, comment="灯还是不亮", idempotency_key="bad"
    )
    assert reopened.status is S.REOPENED and reopened.rating == 2
    history = await service.history(order.ticket_id)
    status_event = history[-2]
    assert (status_event.status, status_event.previous) == (S.REOPENED, start)
    assert "不满意" in (status_event.note or "") and "灯还是不亮" in (status_event.note or "")
    assert history[-1].kind == EventKind.ALERT
    assert [a.ticket_id for a in await service.alerts()] == [order.ticket_id]
    # Reopened work goes on as usual.
    assert set(service.allowed_transitions(reopened)) == {S.IN_PROGRESS, S.FINISHED}


async def test_scores_outside_one_to_five_are_refused(service: WorkOrderService) -> None:
    order = await _ticket_in(service, S.FINISHED)
    for score in (0, 6, -1):
        with pytest.raises(InvalidFiling):
            await service.rate(order.ticket_id, score=score, comment=None, idempotency_key=None)
    assert (await service.get(order.ticket_id)).rating is None  # type: ignore[union-attr]


# -- supplements and withdrawals ------------------------------------------------------


async def test_supplements_add_to_the_timeline_once_per_key(
    service: WorkOrderService, clock: FakeClock
) -> None:
    order = await _ticket_in(service, S.DISPATCHED)
    clock.advance(minutes=5)
    updated = await service.supplement(
        order.ticket_id, text="晚上十点以后完全不亮", media_urls=["https://img.test/2.jpg"],
        actor="市民", idempotency_key="sup-1",
    )
    again = await service.supplement(
        order.ticket_id, text="晚上十点以后完全不亮", media_urls=["https://img.test/2.jpg"],
        actor="市民", idempotency_key="sup-1",
    )
    assert updated.status is S.DISPATCHED and updated.updated_at == clock.now
    assert again == updated
    supplements = [
        e for e in await service.history(order.ticket_id) if e.kind == EventKind.SUPPLEMENT
    ]
    assert [(e.note, e.media_urls) for e in supplements] == [
        ("晚上十点以后完全不亮", ("https://img.test/2.jpg",))
    ]
    with pytest.raises(InvalidFiling):
        await service.supplement(
            order.ticket_id, text=" ", media_urls=[], actor="市民", idempotency_key=None
        )


@pytest.mark.parametrize("final", [S.CLOSED, S.WITHDRAWN])
async def test_nothing_can_be_added_to_a_closed_or_withdrawn_ticket(
    service: WorkOrderService, final: TicketStatus
) -> None:
    order = await _ticket_in(service, final)
    with pytest.raises(InvalidTransition):
        await service.supplement(
            order.ticket_id, text="还有一件事", media_urls=[], actor="市民", idempotency_key=None
        )


async def test_a_withdrawal_is_final_and_idempotent(service: WorkOrderService) -> None:
    order = await _ticket_in(service, S.IN_PROGRESS)
    withdrawn = await service.withdraw(
        order.ticket_id, reason="已经自己解决了", actor="市民", idempotency_key="w1"
    )
    assert withdrawn.status is S.WITHDRAWN and withdrawn.open311_status == "closed"
    assert "已经自己解决了" in (withdrawn.status_note or "")
    repeat = await service.withdraw(
        order.ticket_id, reason="已经自己解决了", actor="市民", idempotency_key="w1"
    )
    assert repeat == withdrawn
    with pytest.raises(InvalidTransition):
        await service.withdraw(order.ticket_id, reason=None, actor="市民", idempotency_key="w2")
    statuses = [e.status for e in await service.history(order.ticket_id)]
    assert statuses.count(S.WITHDRAWN) == 1


async def test_an_answered_ticket_can_no_longer_be_withdrawn(service: WorkOrderService) -> None:
    order = await _ticket_in(service, S.FINISHED)
    with pytest.raises(InvalidTransition, match="已办结"):
        await service.withdraw(order.ticket_id, reason=None, actor="市民", idempotency_key=None)
