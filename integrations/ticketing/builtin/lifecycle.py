"""The closed loop of a work order (domain.md §1) as a state machine, and its texts.

受理 → 派单 → 办理 → 办结 → 回访 → 关闭, with 退单/改派 for a wrongly
dispatched order, 重办 for a poorly answered one, and 撤回 while it is
still being handled. 已关闭 and 已撤回 are final.
"""

from __future__ import annotations

from datetime import datetime

from bot.types import REQUEST_TYPES, TicketStatus

from .records import CLOSED_STATUSES, LOCAL_TZ, WorkOrder

__all__ = [
    "RATEABLE",
    "SUPPLEMENT_CLOSED",
    "TRANSITIONS",
    "WITHDRAWABLE",
    "local_deadline",
    "service_notice",
    "transition_refused",
]

S = TicketStatus

TRANSITIONS: dict[TicketStatus, tuple[TicketStatus, ...]] = {
    S.ACCEPTED: (S.DISPATCHED, S.FINISHED, S.WITHDRAWN),
    S.DISPATCHED: (S.IN_PROGRESS, S.RETURNED, S.WITHDRAWN),
    S.REASSIGNED: (S.IN_PROGRESS, S.RETURNED, S.WITHDRAWN),
    S.RETURNED: (S.REASSIGNED,),
    S.IN_PROGRESS: (S.FINISHED, S.RETURNED, S.WITHDRAWN),
    S.FINISHED: (S.FOLLOWED_UP, S.CLOSED, S.REOPENED),
    S.FOLLOWED_UP: (S.CLOSED, S.REOPENED),
    S.REOPENED: (S.IN_PROGRESS, S.FINISHED),
    S.CLOSED: (),
    S.WITHDRAWN: (),
}
# Where the resident may still withdraw the request.
WITHDRAWABLE = frozenset(s for s, targets in TRANSITIONS.items() if S.WITHDRAWN in targets)
# The department has answered: the resident may rate it (once).
RATEABLE = frozenset({S.FINISHED, S.FOLLOWED_UP, S.CLOSED})
# Nothing may be added to these any more.
SUPPLEMENT_CLOSED = frozenset({S.CLOSED, S.WITHDRAWN})


def transition_refused(order: WorkOrder, to: TicketStatus) -> str:
    """Why ``order`` cannot move to ``to``, for staff and residents alike."""
    allowed = TRANSITIONS[order.status]
    if not allowed:
        return f"工单 {order.ticket_id} 已{order.status.value.removeprefix('已')}，不能再变更状态。"
    options = "、".join(f"“{s.value}”" for s in allowed)
    return (
        f"工单 {order.ticket_id} 当前状态为“{order.status.value}”，不能转为“{to.value}”；"
        f"可转为：{options}。"
    )


def local_deadline(value: datetime) -> str:
    """A time as residents read it: ``11月24日 18:00`` (Asia/Shanghai)."""
    local = value.astimezone(LOCAL_TZ)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def service_notice(order: WorkOrder) -> str:
    """Open311 ``service_notice``: who handles it and by when, as things stand."""
    department = order.department_name or "相关部门"
    deadline = local_deadline(order.due_at)
    if order.status is S.WITHDRAWN:
        return "诉求已撤回。"
    if order.status in CLOSED_STATUSES:
        return f"已由{department}办结。"
    if order.status is S.RETURNED:
        return f"工单正在重新分派承办部门，将于{deadline}前答复。"
    urgency = "已按紧急诉求处理，" if order.urgent else ""
    if order.status is S.ACCEPTED:
        kind = REQUEST_TYPES.get(order.request_type, "诉求")
        return f"您的诉求（{kind}）已受理，{urgency}拟由{department}承办，将于{deadline}前答复。"
    return f"由{department}承办，{urgency}将于{deadline}前答复。"
