"""How times, phone numbers and tickets are written for residents."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bot.types import REQUEST_TYPES, TicketStatus

__all__ = ["LOCAL_TIME", "local_time", "mask_phone", "status_label", "type_label"]

# China Standard Time has had no daylight saving since 1991, so a fixed
# offset is exact and needs no time-zone database in the container.
LOCAL_TIME = timezone(timedelta(hours=8), "Asia/Shanghai")


def local_time(moment: datetime) -> str:
    """"11月24日 18:00" in Beijing time."""
    local = moment.astimezone(LOCAL_TIME)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def mask_phone(phone: str) -> str:
    """138****1234; a landline keeps its area code and last four digits."""
    digits = phone.replace("-", "")
    if len(digits) == 11 and digits.startswith("1"):
        return f"{digits[:3]}****{digits[-4:]}"
    if "-" in phone:
        area, number = phone.split("-", 1)
        return f"{area}-****{number[-4:]}"
    return f"{digits[:4]}****{digits[-4:]}"


def type_label(request_type: str) -> str:
    return REQUEST_TYPES.get(request_type, "诉求")


def status_label(status: TicketStatus | None) -> str:
    """A status as the resident reads it; a request not yet filed is 登记中."""
    return status.value if status is not None else "登记中"
