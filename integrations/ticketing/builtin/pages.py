"""The staff pages of the built-in work-order service: the list and one ticket.

``build_workorder_pages(service, staff)`` gives a router with absolute paths
(include it without a prefix)::

    GET  /staff/workorders               the list: filters, urgent first, recent alerts
    GET  /staff/workorders/{ticket_id}   details, timeline, and the form to move it along
    POST /staff/workorders/{ticket_id}   the form (CSRF checked), then back to the GET

Dispatchers and admins see every ticket; a department account sees only
the tickets of its department (another department's ticket is "not found"),
and may only take them on, finish them or return them, once the centre has
dispatched them. The phone number is shown only when the resident did not
ask to stay anonymous, and in full to dispatchers only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from bot.errors import BackendRejected
from bot.types import REQUEST_TYPES, TicketStatus, rating_label
from integrations.staff.accounts import StaffAccount, StaffRole
from integrations.staff.templating import StaffTemplates
from integrations.staff.web import SignedIn, StaffRefusal, StaffWeb, form_text
from integrations.storage.codec import as_utc, utc_now

from .catalogue import DEPARTMENT_KINDS, Department
from .records import CLOSED_STATUSES
from .service import (
    EventKind,
    InvalidTransition,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderNotFound,
    WorkOrderService,
)

__all__ = [
    "ACTION_LABELS",
    "DEPARTMENT_ACTIONS",
    "LIST_PATH",
    "build_workorder_pages",
    "masked_phone",
]

LIST_PATH = "/staff/workorders"
# Rows on one list page; the filters narrow it down.
SHOWN_ROWS = 200
# Alerts newer than this are shown above the list.
ALERT_WINDOW = timedelta(hours=24)
SHOWN_ALERTS = 5
SUMMARY_CHARS = 40
MAX_TICKET_ID_CHARS = 32
MAX_NOTE_CHARS = 2000

S = TicketStatus

# What a department may do to its own tickets: take them on, answer, or
# send back a wrong dispatch. Dispatching, closing and the rest are the centre's.
DEPARTMENT_ACTIONS = frozenset({S.IN_PROGRESS, S.FINISHED, S.RETURNED})
# Needs a department chosen on the form.
_DISPATCHING = frozenset({S.DISPATCHED, S.REASSIGNED})

ACTION_LABELS: dict[TicketStatus, str] = {
    S.ACCEPTED: "受理",
    S.DISPATCHED: "派单",
    S.IN_PROGRESS: "开始办理",
    S.FINISHED: "办结",
    S.FOLLOWED_UP: "回访完成",
    S.CLOSED: "关闭",
    S.RETURNED: "退单",
    S.REASSIGNED: "改派",
    S.REOPENED: "重办",
    S.WITHDRAWN: "撤回",
}

_STATUS_STYLES: dict[TicketStatus, str] = {
    S.FINISHED: "badge-done",
    S.FOLLOWED_UP: "badge-done",
    S.CLOSED: "badge-done",
    S.RETURNED: "badge-back",
    S.REASSIGNED: "badge-back",
    S.REOPENED: "badge-back",
    S.WITHDRAWN: "badge-off",
}


def masked_phone(phone: str) -> str:
    """``138****5678``: enough to recognise a number, not to call it."""
    digits = phone.strip()
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


def _web_address(value: str) -> bool:
    return value.startswith(("https://", "http://"))


def _summary(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SUMMARY_CHARS else flat[:SUMMARY_CHARS] + "…"


@dataclass(frozen=True, slots=True)
class _Row:
    """One line of the list, ready to show."""

    order: WorkOrder
    type_name: str
    summary: str
    overdue: bool
    status_style: str


@dataclass(frozen=True, slots=True)
class _Entry:
    """One timeline entry, ready to show."""

    at: datetime
    kind: str
    title: str
    note: str | None
    actor: str
    department: str | None
    photos: tuple[str, ...]
    media_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Filters:
    status: TicketStatus | None
    overdue: bool
    urgent: bool
    query: str

    @property
    def active(self) -> bool:
        return bool(self.status or self.overdue or self.urgent or self.query)


def _entry(event: WorkOrderEvent) -> _Entry:
    if event.kind == EventKind.STATUS and event.status is not None:
        title = (
            f"{event.previous.value} → {event.status.value}"
            if event.previous is not None
            else event.status.value
        )
        if event.adopted is not None:
            title += "（建议已采纳）" if event.adopted else "（建议未采纳）"
    elif event.kind == EventKind.SUPPLEMENT:
        title = "群众补充材料"
    elif event.kind == EventKind.RATING:
        title = "群众评价"
        if event.score is not None and 1 <= event.score <= 5:
            title += f"：{rating_label(event.score)}"
    elif event.kind == EventKind.ALERT:
        title = "提醒"
    else:
        title = event.kind
    return _Entry(
        at=event.at,
        kind=event.kind,
        title=title,
        note=event.note,
        actor=event.actor,
        department=event.department_name,
        photos=tuple(u for u in event.media_urls if _web_address(u)),
        media_ids=tuple(u for u in event.media_urls if not _web_address(u)),
    )


class _WorkOrderPages:
    def __init__(
        self, service: WorkOrderService, staff: StaffWeb, clock: Callable[[], datetime]
    ) -> None:
        self.service = service
        self.staff = staff
        self.clock = clock
        self.templates = StaffTemplates("integrations.ticketing.builtin")

    def now(self) -> datetime:
        return as_utc(self.clock())

    # -- who sees and does what

    @staticmethod
    def visible(account: StaffAccount, order: WorkOrder) -> bool:
        return account.sees_all or (
            account.department_code is not None
            and order.department_code == account.department_code
        )

    def actions(self, account: StaffAccount, order: WorkOrder) -> list[TicketStatus]:
        allowed = self.service.allowed_transitions(order)
        if account.sees_all:
            return allowed
        if order.status is S.ACCEPTED:
            return []  # not dispatched to the department yet
        return [status for status in allowed if status in DEPARTMENT_ACTIONS]

    def phone_shown(self, account: StaffAccount, order: WorkOrder) -> str | None:
        if order.anonymous or not order.phone:
            return None
        if account.role is StaffRole.DISPATCHER:
            return order.phone
        return masked_phone(order.phone)

    def departments(self) -> list[Department]:
        kinds = list(DEPARTMENT_KINDS)
        return sorted(
            self.service.catalogue.departments.values(),
            key=lambda d: (kinds.index(d.kind) if d.kind in kinds else len(kinds), d.code),
        )

    async def visible_order(self, who: SignedIn, ticket_id: str) -> WorkOrder:
        order = None
        if 0 < len(ticket_id) <= MAX_TICKET_ID_CHARS:
            order = await self.service.get(ticket_id)
        if order is None or not self.visible(who.account, order):
            raise StaffRefusal(
                404, "没有找到工单", f"没有找到工单 {ticket_id[:MAX_TICKET_ID_CHARS]}，"
                "或它不由本部门承办。", signed_in=who,
            )
        return order

    # -- the list

    def filters(self, request: Request, who: SignedIn) -> _Filters:
        params = request.query_params
        raw_status = params.get("status", "").strip()
        status = None
        if raw_status:
            try:
                status = TicketStatus(raw_status)
            except ValueError:
                raise StaffRefusal(
                    400, "筛选条件有误", f"没有“{raw_status[:20]}”这个状态，请重新选择。",
                    signed_in=who,
                ) from None
        query = "".join(params.get("q", "").split()).upper()[:MAX_TICKET_ID_CHARS]
        return _Filters(
            status=status,
            overdue=params.get("overdue") == "1",
            urgent=params.get("urgent") == "1",
            query=query,
        )

    async def list_page(self, request: Request) -> Response:
        who = await self.staff.signed_in(request)
        account = who.account
        filters = self.filters(request, who)
        department = None if account.sees_all else account.department_code
        statuses: list[TicketStatus] | None = [filters.status] if filters.status else None
        if filters.overdue and statuses is None:
            # Only open tickets can be overdue: leave the others out of the query.
            statuses = [s for s in TicketStatus if s not in CLOSED_STATUSES]
        orders: list[WorkOrder] = []
        if account.sees_all or department is not None:
            orders = await self.service.search(statuses=statuses, department_code=department)
        if filters.query and (account.sees_all or department is not None):
            exact = await self.service.search(
                ticket_ids=[filters.query], statuses=statuses, department_code=department
            )
            seen = {o.ticket_id for o in exact}
            orders = exact + [
                o for o in orders if filters.query in o.ticket_id and o.ticket_id not in seen
            ]
        now = self.now()
        if filters.urgent:
            orders = [o for o in orders if o.urgent]
        if filters.overdue:
            orders = [o for o in orders if o.overdue(now)]
        rows = [
            _Row(
                order=o,
                type_name=REQUEST_TYPES.get(o.request_type, o.request_type),
                summary=_summary(o.description),
                overdue=o.overdue(now),
                status_style=_STATUS_STYLES.get(o.status, ""),
            )
            for o in orders[:SHOWN_ROWS]
        ]
        return self.staff.render(
            self.templates, "workorders/list.html", who,
            title="工单", current_nav=LIST_PATH, rows=rows, total=len(orders),
            shown=SHOWN_ROWS, filters=filters, statuses=list(TicketStatus),
            alerts=await self.recent_alerts(account, now), list_path=LIST_PATH,
        )

    async def recent_alerts(self, account: StaffAccount, now: datetime) -> list[WorkOrderEvent]:
        recent = [
            a for a in await self.service.alerts(limit=50) if a.at >= now - ALERT_WINDOW
        ]
        if not account.sees_all:
            mine = await self.service.search(
                ticket_ids=sorted({a.ticket_id for a in recent}),
                department_code=account.department_code,
            )
            ours = {o.ticket_id for o in mine}
            recent = [a for a in recent if a.ticket_id in ours]
        return recent[:SHOWN_ALERTS]

    @staticmethod
    def moved_notice(request: Request) -> str | None:
        try:
            status = TicketStatus(request.query_params.get("moved", ""))
        except ValueError:
            return None
        return f"工单已更新为“{status.value}”。"

    # -- one ticket

    async def detail_page(self, request: Request, ticket_id: str) -> Response:
        who = await self.staff.signed_in(request)
        order = await self.visible_order(who, ticket_id)
        return await self.render_detail(who, order, moved=self.moved_notice(request))

    async def render_detail(
        self,
        who: SignedIn,
        order: WorkOrder,
        *,
        moved: str | None = None,
        error: str | None = None,
        status_code: int = 200,
        note: str = "",
        chosen_department: str | None = None,
        adopted: bool | None = None,
    ) -> Response:
        account = who.account
        now = self.now()
        actions = self.actions(account, order)
        history = [_entry(e) for e in await self.service.history(order.ticket_id)]
        return self.staff.render(
            self.templates, "workorders/detail.html", who, status_code=status_code,
            title=f"工单 {order.ticket_id}", current_nav=LIST_PATH, order=order,
            type_name=REQUEST_TYPES.get(order.request_type, order.request_type),
            overdue=order.overdue(now), status_style=_STATUS_STYLES.get(order.status, ""),
            phone=self.phone_shown(account, order),
            photos=[u for u in order.media_urls if _web_address(u)],
            media_ids=[u for u in order.media_urls if not _web_address(u)],
            history=history, actions=actions, action_labels=ACTION_LABELS,
            dispatching=[s for s in actions if s in _DISPATCHING],
            departments=self.departments(),
            chosen_department=chosen_department or order.department_code,
            asks_adoption=order.request_type == "suggest" and S.FINISHED in actions,
            adopted=adopted, note=note, error=error, moved=moved,
            waiting_for_dispatch=not account.sees_all and order.status is S.ACCEPTED,
            form_path=f"{LIST_PATH}/{quote(order.ticket_id)}", list_path=LIST_PATH,
            rating_text=rating_label(order.rating) if order.rating else None,
        )

    async def move(self, request: Request, ticket_id: str) -> Response:
        who, form = await self.staff.checked_form(request)
        order = await self.visible_order(who, ticket_id)
        note = form_text(form, "note", limit=MAX_NOTE_CHARS + 1)
        department = form_text(form, "department", limit=64) or None
        adopted = {"yes": True, "no": False}.get(form_text(form, "adopted"))

        async def refused(message: str, status_code: int) -> Response:
            return await self.render_detail(
                who, order, error=message, status_code=status_code, note=note,
                chosen_department=department, adopted=adopted,
            )

        problem = self.check_move(who.account, order, form, note, department, adopted)
        if problem is not None:
            return await refused(problem, 400)
        to = TicketStatus(form_text(form, "to"))
        try:
            changed = await self.service.transition(
                order.ticket_id, to, actor=who.account.label, note=note or None,
                department_code=department if to in _DISPATCHING else None,
                adopted=adopted if to is S.FINISHED and order.request_type == "suggest" else None,
            )
        except WorkOrderNotFound:
            raise StaffRefusal(
                404, "没有找到工单", f"没有找到工单 {order.ticket_id}。", signed_in=who
            ) from None
        except InvalidTransition as exc:
            # Someone else may have moved it meanwhile: show it as it is now.
            order = await self.visible_order(who, order.ticket_id)
            return await refused(str(exc), 409)
        except BackendRejected as exc:
            return await refused(str(exc), exc.status_code or 400)
        # A department's own moves never take the ticket away from it.
        target = f"{LIST_PATH}/{quote(changed.ticket_id)}?{urlencode({'moved': to.value})}"
        return RedirectResponse(target, status_code=303)

    def check_move(
        self,
        account: StaffAccount,
        order: WorkOrder,
        form: FormData,
        note: str,
        department: str | None,
        adopted: bool | None,
    ) -> str | None:
        """Why the form cannot be carried out as filled in; None when it can be tried."""
        raw = form_text(form, "to")
        try:
            to = TicketStatus(raw)
        except ValueError:
            return "请选择要执行的操作。"
        if len(note) > MAX_NOTE_CHARS:
            return f"处理意见不能超过 {MAX_NOTE_CHARS} 个字。"
        if not account.sees_all and to not in self.actions(account, order):
            if order.status is S.ACCEPTED:
                return "工单尚未派单，请待派单中心派单后再办理。"
            return f"承办部门不能将工单改为“{to.value}”，请联系派单中心。"
        if to in _DISPATCHING:
            if department is None:
                return "派单或改派时请选择承办部门。"
            if self.service.catalogue.department(department) is None:
                return "所选的承办部门不存在，请重新选择。"
        if to is S.FINISHED and order.request_type == "suggest" and adopted is None:
            return "建议类工单办结时，请选择是否采纳。"
        return None


def build_workorder_pages(
    service: WorkOrderService,
    staff: StaffWeb,
    *,
    clock: Callable[[], datetime] = utc_now,
) -> APIRouter:
    """The staff pages of the work-order service, guarded by ``staff``."""
    pages = _WorkOrderPages(service, staff, clock)
    router = APIRouter(route_class=staff.route_class)
    router.add_api_route(LIST_PATH, pages.list_page, methods=["GET"], include_in_schema=False)
    router.add_api_route(
        LIST_PATH + "/{ticket_id}", pages.detail_page, methods=["GET"], include_in_schema=False
    )
    router.add_api_route(
        LIST_PATH + "/{ticket_id}", pages.move, methods=["POST"], include_in_schema=False
    )
    return router
