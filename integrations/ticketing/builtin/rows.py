"""Database rows of the work-order tables as the service's records."""

from __future__ import annotations

from typing import Any

from bot.types import TicketStatus
from integrations.storage.codec import as_utc

from .records import WorkOrder, WorkOrderEvent

__all__ = ["event_from_row", "order_from_row"]


def order_from_row(row: Any) -> WorkOrder:
    return WorkOrder(
        id=row.id,
        ticket_id=row.ticket_id,
        token=row.token,
        service_code=row.service_code,
        service_name=row.service_name,
        request_type=row.request_type,
        category=row.category,
        description=row.description,
        address=row.address,
        lat=row.lat,
        long=row.long,
        district=row.district,
        street=row.street,
        occurred_at=row.occurred_at,
        phone=row.phone,
        account_id=row.account_id,
        anonymous=bool(row.anonymous),
        urgent=bool(row.urgent),
        media_urls=tuple(row.media_urls or ()),
        status=TicketStatus(row.status),
        department_code=row.department_code,
        department_name=row.department_name,
        status_note=row.status_note,
        due_at=as_utc(row.due_at),
        requested_at=as_utc(row.requested_at),
        updated_at=as_utc(row.updated_at),
        rating=row.rating,
        rating_comment=row.rating_comment,
        adopted=None if row.adopted is None else bool(row.adopted),
        address_id=row.address_id,
        first_name=row.first_name,
        last_name=row.last_name,
        email=row.email,
        device_id=row.device_id,
    )


def event_from_row(row: Any) -> WorkOrderEvent:
    return WorkOrderEvent(
        id=row.id,
        ticket_id=row.ticket_id,
        kind=row.kind,
        status=TicketStatus(row.status) if row.status else None,
        previous=TicketStatus(row.previous) if row.previous else None,
        note=row.note,
        department_code=row.department_code,
        department_name=row.department_name,
        actor=row.actor,
        at=as_utc(row.at),
        adopted=None if row.adopted is None else bool(row.adopted),
        media_urls=tuple(row.media_urls or ()),
        score=row.score,
    )
