"""minhu's built-in work-order service: filing, the closed loop, ratings, webhooks.

Every operation is one unit of work (``Database.run``): it commits whole or
not at all, on SQLite and PostgreSQL alike.

- Ticket ids are ``MH`` + the local (Asia/Shanghai) date + a per-day
  sequence of at least four digits (``MH202611230007``), allocated by an
  upsert on ``workorder_sequences`` inside the filing transaction: the row
  lock serialises concurrent filings on PostgreSQL, the single writer does on
  SQLite, and a filing that rolls back leaves no number behind in use.
- Filing is idempotent on ``idempotency_key``: the row is inserted with
  ``ON CONFLICT (idempotency_key) DO NOTHING`` BEFORE a number is allocated,
  so a concurrent filing with the same key waits for the first, finds its
  ticket and allocates nothing. Supplements, withdrawals and ratings are
  idempotent on their key per ticket (a unique key on the events).
- Changes to one ticket lock its row first (``FOR UPDATE`` on PostgreSQL),
  so two staff members cannot both move it from the same status.
- Each status change after filing also writes its webhook into
  ``workorder_webhooks`` in the same transaction; :mod:`.webhooks` delivers it.
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, select, update

from bot.logs import mask
from bot.types import REOPEN_AT_OR_BELOW, REQUEST_TYPES, TicketStatus, rating_label
from integrations.storage.codec import as_utc, utc_now
from integrations.storage.repositories import Database

from .catalogue import Catalogue, Department
from .checks import (
    FIELD_LIMITS,
    MAX_COMMENT_CHARS,
    MAX_DESCRIPTION_CHARS,
    MAX_MEDIA,
    actor_name,
    clean_idempotency_key,
    coordinates,
    media_references,
    optional_note,
    optional_text,
    required_text,
)
from .lifecycle import (
    RATEABLE,
    SUPPLEMENT_CLOSED,
    TRANSITIONS,
    WITHDRAWABLE,
    local_deadline,
    transition_refused,
)
from .models import (
    WebhookStatus,
    WorkOrderEventRow,
    WorkOrderRow,
    WorkOrderSequenceRow,
    WorkOrderWebhookRow,
)
from .records import (
    LOCAL_TZ,
    AlreadyRated,
    EventKind,
    FilingRequest,
    InvalidFiling,
    InvalidTransition,
    UnknownService,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderNotFound,
    local_iso,
)
from .rows import event_from_row, order_from_row

__all__ = [
    "ACTOR_RESIDENT",
    "ACTOR_SYSTEM",
    "MAX_DESCRIPTION_CHARS",
    "MAX_MEDIA",
    "AlreadyRated",
    "EventKind",
    "FilingRequest",
    "InvalidFiling",
    "InvalidTransition",
    "UnknownService",
    "WorkOrder",
    "WorkOrderEvent",
    "WorkOrderNotFound",
    "WorkOrderService",
]

log = logging.getLogger("minhu.workorders")

Clock = Callable[[], datetime]

ACTOR_RESIDENT = "市民"
ACTOR_SYSTEM = "系统"

_orders = cast(Table, WorkOrderRow.__table__)
_events = cast(Table, WorkOrderEventRow.__table__)
_sequences = cast(Table, WorkOrderSequenceRow.__table__)
_webhooks = cast(Table, WorkOrderWebhookRow.__table__)


class WorkOrderService:
    """The work-order service's API, used by its Open311 router and the staff pages.

    ``webhook_url``: where status changes are posted (signed with
    ``webhook_secret`` by :class:`.webhooks.WebhookDispatcher`); None or
    empty: no webhooks. ``on_webhook_queued`` is called after a change that
    queued one (wire it to the dispatcher's ``kick``).
    """

    def __init__(
        self,
        db: Database,
        catalogue: Catalogue,
        *,
        clock: Clock = utc_now,
        webhook_url: str | None = None,
        webhook_secret: str = "",
        on_webhook_queued: Callable[[], None] | None = None,
    ) -> None:
        if webhook_url and not webhook_secret:
            raise ValueError("status webhooks need a secret to be signed with")
        self.db = db
        self.catalogue = catalogue
        self.clock = clock
        self.webhook_url = webhook_url or None
        self.on_webhook_queued = on_webhook_queued

    def _now(self) -> datetime:
        return as_utc(self.clock())

    # ------------------------------------------------------------------ filing

    async def file(
        self, request: FilingRequest, *, idempotency_key: str | None
    ) -> tuple[WorkOrder, bool]:
        """File a request; ``(order, created)``. The same key again returns the
        first ticket with ``created=False`` and changes nothing."""
        key = clean_idempotency_key(idempotency_key)
        values = self._filing_values(request)
        now = self._now()
        department = self.catalogue.route(values["category"], values["district"], values["street"])
        values.update(
            token=secrets.token_hex(16),
            idempotency_key=key,
            status=TicketStatus.ACCEPTED.value,
            department_code=department.code,
            department_name=department.name,
            due_at=now + self.catalogue.due_in(values["request_type"], values["urgent"]),
            requested_at=now,
            updated_at=now,
        )
        # A unique stand-in until the number is allocated, in the same transaction.
        values["ticket_id"] = "~" + values["token"][:24]
        day = now.astimezone(LOCAL_TZ).strftime("%Y%m%d")
        insert = self.db.insert(_orders).values(**values)
        if key is not None:
            insert = insert.on_conflict_do_nothing(index_elements=[_orders.c.idempotency_key])
        allocate = (
            self.db.insert(_sequences)
            .values(day=day, last_number=1)
            .on_conflict_do_update(
                index_elements=[_sequences.c.day],
                set_={"last_number": _sequences.c.last_number + 1},
            )
            .returning(_sequences.c.last_number)
        )

        def unit(conn: Connection) -> tuple[WorkOrder, bool]:
            if key is not None:
                existing = conn.execute(
                    select(_orders).where(_orders.c.idempotency_key == key)
                ).first()
                if existing is not None:
                    return order_from_row(existing), False
            inserted = conn.execute(insert.returning(_orders.c.id)).first()
            if inserted is None:  # a concurrent filing with the same key won
                row = conn.execute(select(_orders).where(_orders.c.idempotency_key == key)).one()
                return order_from_row(row), False
            number = conn.execute(allocate).scalar_one()
            ticket_id = f"MH{day}{number:04d}"
            conn.execute(
                update(_orders).where(_orders.c.id == inserted.id).values(ticket_id=ticket_id)
            )
            self._add_event(
                conn, inserted.id, now, kind=EventKind.STATUS, actor=ACTOR_RESIDENT,
                status=TicketStatus.ACCEPTED, note="诉求已受理", department=department,
                media_urls=values["media_urls"],
            )
            if values["urgent"]:
                self._add_event(
                    conn, inserted.id, now, kind=EventKind.ALERT, actor=ACTOR_SYSTEM,
                    note=(
                        f"紧急诉求 {ticket_id}，请在{local_deadline(values['due_at'])}前处置："
                        f"{values['description'][:100]}"
                    ),
                    department=department,
                )
            row = conn.execute(select(_orders).where(_orders.c.id == inserted.id)).one()
            return order_from_row(row), True

        order, created = await self.db.run("file work order", unit)
        if created and order.urgent:
            log.warning(
                "urgent work order %s filed for %s: %s",
                order.ticket_id, order.department_name, mask(order.description[:100]),
            )
        elif created:
            log.info("work order %s filed for %s", order.ticket_id, order.department_name)
        return order, created

    def _filing_values(self, request: FilingRequest) -> dict[str, Any]:
        """The validated columns of a new work order (raises ``InvalidFiling``)."""
        service = self.catalogue.service(request.service_code)
        if service is None:
            raise UnknownService(f"没有代码为 {request.service_code} 的服务")
        if request.request_type not in REQUEST_TYPES:
            names = "、".join(REQUEST_TYPES)
            raise InvalidFiling(f"诉求类型 {request.request_type} 无效，应为 {names} 之一")
        description = required_text(request.description, "诉求内容", MAX_DESCRIPTION_CHARS)
        category = optional_text(request.category, "分类", 64) or service.service_name
        fields = {
            name: optional_text(getattr(request, name), label, limit)
            for name, (label, limit) in FIELD_LIMITS.items()
        }
        lat, long = coordinates(request.lat, request.long)
        street = fields["street"] or self.catalogue.street_in(fields["address"])
        district = fields["district"]
        office = self.catalogue.street_office(district, street)
        if district is None and office is not None:
            district = office.district
        return {
            **fields,
            "service_code": service.service_code,
            "service_name": service.service_name,
            "request_type": request.request_type,
            "category": category,
            "description": description,
            "lat": lat,
            "long": long,
            "district": district,
            "street": street,
            "anonymous": bool(request.anonymous),
            "urgent": bool(request.urgent),
            "media_urls": media_references(request.media_urls),
        }

    # ------------------------------------------------------------------ reading

    async def get(self, ticket_id: str) -> WorkOrder | None:
        def unit(conn: Connection) -> WorkOrder | None:
            row = conn.execute(select(_orders).where(_orders.c.ticket_id == ticket_id)).first()
            return order_from_row(row) if row is not None else None

        return await self.db.run("get work order", unit, write=False)

    async def get_by_token(self, token: str) -> WorkOrder | None:
        def unit(conn: Connection) -> WorkOrder | None:
            row = conn.execute(select(_orders).where(_orders.c.token == token)).first()
            return order_from_row(row) if row is not None else None

        return await self.db.run("get work order by token", unit, write=False)

    async def history(self, ticket_id: str) -> list[WorkOrderEvent]:
        """The ticket's timeline, oldest first (empty for an unknown ticket)."""
        query = (
            select(_events, _orders.c.ticket_id)
            .join(_orders, _orders.c.id == _events.c.workorder_id)
            .where(_orders.c.ticket_id == ticket_id)
            .order_by(_events.c.id)
        )

        def unit(conn: Connection) -> list[WorkOrderEvent]:
            return [event_from_row(row) for row in conn.execute(query)]

        return await self.db.run("work order history", unit, write=False)

    async def histories(self, ticket_ids: Sequence[str]) -> dict[str, list[WorkOrderEvent]]:
        """The timelines of several tickets in one query (for ``GET requests``)."""
        if not ticket_ids:
            return {}
        query = (
            select(_events, _orders.c.ticket_id)
            .join(_orders, _orders.c.id == _events.c.workorder_id)
            .where(_orders.c.ticket_id.in_(list(ticket_ids)))
            .order_by(_events.c.id)
        )

        def unit(conn: Connection) -> dict[str, list[WorkOrderEvent]]:
            found: dict[str, list[WorkOrderEvent]] = {ticket_id: [] for ticket_id in ticket_ids}
            for row in conn.execute(query):
                found[row.ticket_id].append(event_from_row(row))
            return found

        return await self.db.run("work order histories", unit, write=False)

    async def search(
        self,
        *,
        ticket_ids: Sequence[str] | None = None,
        service_code: str | None = None,
        statuses: Collection[TicketStatus] | None = None,
        department_code: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 1000,
    ) -> list[WorkOrder]:
        """Work orders matching every filter given: urgent ones first, then newest."""
        o = _orders
        query = select(o)
        if ticket_ids is not None:
            query = query.where(o.c.ticket_id.in_(list(ticket_ids)))
        if service_code is not None:
            query = query.where(o.c.service_code == service_code)
        if statuses is not None:
            query = query.where(o.c.status.in_([TicketStatus(s).value for s in statuses]))
        if department_code is not None:
            query = query.where(o.c.department_code == department_code)
        if start is not None:
            query = query.where(o.c.requested_at >= as_utc(start))
        if end is not None:
            query = query.where(o.c.requested_at <= as_utc(end))
        query = query.order_by(o.c.urgent.desc(), o.c.requested_at.desc(), o.c.id.desc())
        query = query.limit(max(0, limit))

        def unit(conn: Connection) -> list[WorkOrder]:
            return [order_from_row(row) for row in conn.execute(query)]

        return await self.db.run("search work orders", unit, write=False)

    async def alerts(self, *, limit: int = 50) -> list[WorkOrderEvent]:
        """Urgent filings and bad ratings, newest first, for the staff page."""
        query = (
            select(_events, _orders.c.ticket_id)
            .join(_orders, _orders.c.id == _events.c.workorder_id)
            .where(_events.c.kind == EventKind.ALERT)
            .order_by(_events.c.id.desc())
            .limit(max(0, limit))
        )

        def unit(conn: Connection) -> list[WorkOrderEvent]:
            return [event_from_row(row) for row in conn.execute(query)]

        return await self.db.run("work order alerts", unit, write=False)

    # ------------------------------------------------------------------ the closed loop

    def allowed_transitions(self, order: WorkOrder) -> list[TicketStatus]:
        return list(TRANSITIONS[order.status])

    async def transition(
        self,
        ticket_id: str,
        to: TicketStatus,
        *,
        actor: str,
        note: str | None = None,
        department_code: str | None = None,
        adopted: bool | None = None,
    ) -> WorkOrder:
        """Move the ticket along (raises ``InvalidTransition`` with the reason)."""
        to = TicketStatus(to)
        note = optional_note(note)
        who = actor_name(actor)

        def unit(conn: Connection) -> WorkOrder:
            row = self._locked(conn, ticket_id)
            order = order_from_row(row)
            if to not in TRANSITIONS[order.status]:
                raise InvalidTransition(transition_refused(order, to))
            department = self._department_for(order, to, department_code)
            outcome: bool | None = None
            if to is TicketStatus.FINISHED:
                if note is None:
                    raise InvalidTransition("办结时请填写答复内容，这是给市民的答复。")
                if order.request_type == "suggest":
                    if adopted is None:
                        raise InvalidTransition("建议类工单办结时，请注明是否采纳。")
                    outcome = bool(adopted)
            return self._change_status(
                conn, row, to, actor=who, note=note, department=department, adopted=outcome
            )

        return await self._run_change("transition work order", unit)

    def _department_for(
        self, order: WorkOrder, to: TicketStatus, code: str | None
    ) -> Department | None:
        """The department a dispatch (已派单/改派) sends the ticket to; None: unchanged."""
        if to is TicketStatus.DISPATCHED:
            chosen = code or order.department_code
            if chosen is None:
                return self.catalogue.route(order.category, order.district, order.street)
        elif to is TicketStatus.REASSIGNED:
            if not code:
                raise InvalidTransition("改派时请选择新的承办部门。")
            if code == order.department_code:
                raise InvalidTransition("改派须派给退单部门以外的部门。")
            chosen = code
        else:
            return None
        department = self.catalogue.department(chosen)
        if department is None:
            raise InvalidTransition(f"没有代码为 {chosen} 的部门。")
        return department

    async def supplement(
        self,
        ticket_id: str,
        *,
        text: str,
        media_urls: Sequence[str],
        actor: str,
        idempotency_key: str | None,
    ) -> WorkOrder:
        """Add the resident's further information (no status change)."""
        key = clean_idempotency_key(idempotency_key)
        content = optional_text(text, "补充内容", MAX_DESCRIPTION_CHARS)
        media = media_references(media_urls)
        if content is None and not media:
            raise InvalidFiling("请填写补充内容或附上图片。")
        who = actor_name(actor)

        def unit(conn: Connection) -> WorkOrder:
            row = self._locked(conn, ticket_id)
            if _seen(conn, row.id, key):
                return order_from_row(row)
            order = order_from_row(row)
            if order.status in SUPPLEMENT_CLOSED:
                raise InvalidTransition(
                    f"工单 {ticket_id} 已{order.status.value.removeprefix('已')}，不能再补充材料。"
                )
            now = self._now()
            self._add_event(
                conn, row.id, now, kind=EventKind.SUPPLEMENT, actor=who, note=content,
                media_urls=media, idempotency_key=key,
            )
            return self._touch(conn, row.id, now)

        return await self.db.run("supplement work order", unit)

    async def withdraw(
        self, ticket_id: str, *, reason: str | None, actor: str, idempotency_key: str | None
    ) -> WorkOrder:
        """The resident withdraws the request (while it is still being handled)."""
        key = clean_idempotency_key(idempotency_key)
        note = optional_text(reason, "撤回原因", MAX_COMMENT_CHARS)
        who = actor_name(actor)

        def unit(conn: Connection) -> WorkOrder:
            row = self._locked(conn, ticket_id)
            if _seen(conn, row.id, key):
                return order_from_row(row)
            order = order_from_row(row)
            if order.status not in WITHDRAWABLE:
                raise InvalidTransition(transition_refused(order, TicketStatus.WITHDRAWN))
            return self._change_status(
                conn, row, TicketStatus.WITHDRAWN, actor=who,
                note=f"市民撤回诉求：{note}" if note else "市民撤回诉求",
                idempotency_key=key,
            )

        return await self._run_change("withdraw work order", unit)

    async def rate(
        self, ticket_id: str, *, score: int, comment: str | None, idempotency_key: str | None
    ) -> WorkOrder:
        """The resident's rating (好差评), once per ticket. At or below
        ``REOPEN_AT_OR_BELOW`` the ticket is reopened (重办) and staff alerted —
        even when it was closed, since every bad rating is followed up."""
        key = clean_idempotency_key(idempotency_key)
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise InvalidFiling("评分应为 1 到 5 的整数（5 为非常满意）。")
        remark = optional_text(comment, "评价意见", MAX_COMMENT_CHARS)
        label = rating_label(score)

        def unit(conn: Connection) -> WorkOrder:
            row = self._locked(conn, ticket_id)
            if _seen(conn, row.id, key):
                return order_from_row(row)
            order = order_from_row(row)
            if order.rating is not None:
                raise AlreadyRated()
            if order.status not in RATEABLE:
                raise InvalidTransition(f"工单 {ticket_id} 尚未办结，办结后才能评价。")
            now = self._now()
            conn.execute(
                update(_orders)
                .where(_orders.c.id == row.id)
                .values(rating=score, rating_comment=remark, updated_at=now)
            )
            self._add_event(
                conn, row.id, now, kind=EventKind.RATING, actor=ACTOR_RESIDENT,
                note=remark, score=score, idempotency_key=key,
            )
            if score > REOPEN_AT_OR_BELOW:
                rated = conn.execute(select(_orders).where(_orders.c.id == row.id)).one()
                return order_from_row(rated)
            reason = f"市民评价“{label}”（{score}分），工单转重办"
            if remark:
                reason += f"：{remark}"
            fresh = conn.execute(select(_orders).where(_orders.c.id == row.id)).one()
            reopened = self._change_status(
                conn, fresh, TicketStatus.REOPENED, actor=ACTOR_SYSTEM, note=reason
            )
            self._add_event(
                conn, row.id, now, kind=EventKind.ALERT, actor=ACTOR_SYSTEM,
                note=f"差评：工单 {ticket_id} 评价“{label}”，请回访并整改。",
                department=self.catalogue.department(order.department_code),
            )
            return reopened

        order = await self._run_change("rate work order", unit)
        if order.rating is not None and order.rating <= REOPEN_AT_OR_BELOW:
            log.warning("work order %s rated %d and reopened", order.ticket_id, order.rating)
        return order

    # ------------------------------------------------------------------ units' parts

    async def _run_change(self, what: str, unit: Callable[[Connection], WorkOrder]) -> WorkOrder:
        """Run a unit that may change the status; then wake the webhook sender
        (a wake-up with nothing queued costs one empty poll)."""
        order = await self.db.run(what, unit)
        if self.webhook_url is not None and self.on_webhook_queued is not None:
            self.on_webhook_queued()
        return order

    def _locked(self, conn: Connection, ticket_id: str) -> Any:
        query = select(_orders).where(_orders.c.ticket_id == ticket_id)
        if not self.db.is_sqlite:  # SQLite's single writer already serialises changes
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise WorkOrderNotFound(ticket_id)
        return row

    def _touch(self, conn: Connection, order_id: int, now: datetime) -> WorkOrder:
        conn.execute(update(_orders).where(_orders.c.id == order_id).values(updated_at=now))
        return order_from_row(conn.execute(select(_orders).where(_orders.c.id == order_id)).one())

    def _change_status(
        self,
        conn: Connection,
        row: Any,
        to: TicketStatus,
        *,
        actor: str,
        note: str | None,
        department: Department | None = None,
        adopted: bool | None = None,
        idempotency_key: str | None = None,
    ) -> WorkOrder:
        """Write the new status, its timeline entry and its webhook."""
        now = self._now()
        changes: dict[str, Any] = {"status": to.value, "updated_at": now}
        if department is not None:
            changes.update(department_code=department.code, department_name=department.name)
        if note is not None:
            changes["status_note"] = note
        if adopted is not None:
            changes["adopted"] = adopted
        conn.execute(update(_orders).where(_orders.c.id == row.id).values(**changes))
        after = order_from_row(conn.execute(select(_orders).where(_orders.c.id == row.id)).one())
        previous = TicketStatus(row.status)
        self._add_event(
            conn, row.id, now, kind=EventKind.STATUS, actor=actor, status=to, previous=previous,
            note=note, department_code=after.department_code,
            department_name=after.department_name, adopted=adopted,
            idempotency_key=idempotency_key,
        )
        if self.webhook_url is not None:
            self._queue_webhook(conn, after, previous, note=note, adopted=adopted, at=now)
        return after

    def _queue_webhook(
        self,
        conn: Connection,
        order: WorkOrder,
        previous: TicketStatus,
        *,
        note: str | None,
        adopted: bool | None,
        at: datetime,
    ) -> None:
        assert self.webhook_url is not None
        delivery_id = uuid.uuid4().hex
        body = {
            "event": "status_changed",
            "delivery_id": delivery_id,
            "service_request_id": order.ticket_id,
            "status": order.status.value,
            "previous": previous.value,
            "open311_status": order.open311_status,
            "note": note,
            "department": order.department_name,
            "department_code": order.department_code,
            "adopted": adopted,
            "at": local_iso(at),
        }
        conn.execute(
            _webhooks.insert().values(
                delivery_id=delivery_id,
                ticket_id=order.ticket_id,
                url=self.webhook_url,
                body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
                status=WebhookStatus.PENDING,
                attempts=0,
                next_attempt_at=at,
                created_at=at,
            )
        )

    def _add_event(
        self,
        conn: Connection,
        order_id: int,
        at: datetime,
        *,
        kind: str,
        actor: str,
        status: TicketStatus | None = None,
        previous: TicketStatus | None = None,
        note: str | None = None,
        department: Department | None = None,
        department_code: str | None = None,
        department_name: str | None = None,
        adopted: bool | None = None,
        media_urls: Sequence[str] = (),
        score: int | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        if department is not None:
            department_code, department_name = department.code, department.name
        conn.execute(
            _events.insert().values(
                workorder_id=order_id,
                kind=kind,
                status=status.value if status is not None else None,
                previous=previous.value if previous is not None else None,
                note=note,
                department_code=department_code,
                department_name=department_name,
                actor=actor,
                at=at,
                adopted=adopted,
                media_urls=list(media_urls),
                score=score,
                idempotency_key=idempotency_key,
            )
        )


def _seen(conn: Connection, order_id: int, key: str | None) -> bool:
    """Whether an event of this ticket already carries ``key`` (a repeat)."""
    if key is None:
        return False
    found = conn.execute(
        select(_events.c.id).where(
            _events.c.workorder_id == order_id, _events.c.idempotency_key == key
        )
    ).first()
    return found is not None
