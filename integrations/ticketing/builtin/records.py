"""What the work-order service takes and gives: filings, work orders, events, errors.

Re-exported by :mod:`integrations.ticketing.builtin.service`, which is where
the staff pages and the tests import them from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from bot.errors import AlreadyRated as RatedBefore
from bot.errors import BackendRejected, TicketNotFound
from bot.types import TicketStatus

__all__ = [
    "CLOSED_STATUSES",
    "LOCAL_TZ",
    "AlreadyRated",
    "EventKind",
    "FilingRequest",
    "InvalidFiling",
    "InvalidTransition",
    "UnknownService",
    "WorkOrder",
    "WorkOrderEvent",
    "WorkOrderNotFound",
    "local_iso",
]

# Asia/Shanghai: China keeps one offset all year, so a fixed one needs no tz database.
LOCAL_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")

# Statuses Open311 reports as "closed": the department has answered, or the
# resident withdrew the request.
CLOSED_STATUSES = frozenset(
    {TicketStatus.FINISHED, TicketStatus.FOLLOWED_UP, TicketStatus.CLOSED, TicketStatus.WITHDRAWN}
)


def local_iso(value: datetime, *, seconds: bool = False) -> str:
    """ISO 8601 in Asia/Shanghai time with its offset (``2026-11-23T18:00:00+08:00``)."""
    local = value.astimezone(LOCAL_TZ)
    return local.isoformat(timespec="seconds") if seconds else local.isoformat()


class EventKind:
    """What a timeline entry records."""

    STATUS = "status"
    SUPPLEMENT = "supplement"
    RATING = "rating"
    ALERT = "alert"


class InvalidTransition(BackendRejected):
    """The ticket cannot move that way now (or not without what is missing)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status_code=409)


class AlreadyRated(RatedBefore):
    """One rating per matter (domain.md §1)."""

    def __init__(self, message: str = "每件诉求只能评价一次，该工单已评价过。") -> None:
        super().__init__(message, status_code=409)


class UnknownService(BackendRejected):
    def __init__(self, message: str) -> None:
        super().__init__(message, status_code=400)


class InvalidFiling(BackendRejected):
    """A field of a filing, supplement or rating is missing, too long or malformed."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status_code=400)


class WorkOrderNotFound(TicketNotFound):
    def __init__(self, ticket_id: str) -> None:
        super().__init__(f"没有找到工单 {ticket_id}", status_code=404)
        self.ticket_id = ticket_id


@dataclass(frozen=True)
class FilingRequest:
    """A new request as a client files it (Open311 ``POST requests``)."""

    service_code: str
    description: str
    request_type: str = "seek_help"
    category: str | None = None
    address: str | None = None
    lat: float | None = None
    long: float | None = None
    district: str | None = None
    street: str | None = None
    occurred_at: str | None = None
    phone: str | None = None
    account_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    device_id: str | None = None
    anonymous: bool = False
    urgent: bool = False
    media_urls: tuple[str, ...] = ()
    address_id: str | None = None


@dataclass(frozen=True)
class WorkOrder:
    """A ticket as the service keeps it. ``department_*`` is the routed
    department until dispatch confirms or changes it."""

    id: int
    ticket_id: str
    token: str
    service_code: str
    service_name: str
    request_type: str
    category: str
    description: str
    address: str | None
    lat: float | None
    long: float | None
    district: str | None
    street: str | None
    occurred_at: str | None
    phone: str | None
    account_id: str | None
    anonymous: bool
    urgent: bool
    media_urls: tuple[str, ...]
    status: TicketStatus
    department_code: str | None
    department_name: str | None
    status_note: str | None
    due_at: datetime
    requested_at: datetime
    updated_at: datetime
    rating: int | None
    rating_comment: str | None
    adopted: bool | None
    address_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    device_id: str | None = None

    @property
    def open311_status(self) -> str:
        return "closed" if self.status in CLOSED_STATUSES else "open"

    def overdue(self, now: datetime) -> bool:
        """Past its deadline without an answer (finished or withdrawn ones never are)."""
        return self.status not in CLOSED_STATUSES and now > self.due_at


@dataclass(frozen=True)
class WorkOrderEvent:
    """One entry of a ticket's timeline; ``kind`` is an :class:`EventKind` value."""

    id: int
    ticket_id: str
    kind: str
    status: TicketStatus | None
    previous: TicketStatus | None
    note: str | None
    department_code: str | None
    department_name: str | None
    actor: str
    at: datetime
    adopted: bool | None
    media_urls: tuple[str, ...]
    score: int | None
