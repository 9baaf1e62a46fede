"""The JSON the Open311 router answers with (GeoReport v2, plus minhu's extensions).

Standard responses keep to the GeoReport v2 JSON schemas; the extensions add
only ``extended_attributes`` to a request, which the schemas allow. What a
GET returns is public in Open311 (no API key), so it never carries the
resident's phone, account or name, and phone numbers written into the free
text are masked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.logs import mask
from bot.types import REQUEST_TYPES

from .catalogue import Service
from .lifecycle import service_notice
from .records import WorkOrder, WorkOrderEvent, local_iso

__all__ = [
    "error_body",
    "filing_receipt",
    "public_media_url",
    "request_json",
    "service_definition",
    "service_json",
]

_BOOLEAN_VALUES = [{"key": "true", "name": "是"}, {"key": "false", "name": "否"}]


def error_body(code: int, description: str) -> list[dict[str, Any]]:
    return [{"code": code, "description": description}]


def service_json(service: Service) -> dict[str, Any]:
    return {
        "service_code": service.service_code,
        "service_name": service.service_name,
        "description": service.description or None,
        "metadata": True,
        "type": "realtime",
        "keywords": ",".join(service.keywords) or None,
        "group": service.group,
    }


def _attribute(
    code: str, order: int, description: str, *, datatype: str = "string",
    values: list[dict[str, str]] | None = None, help_text: str | None = None,
) -> dict[str, Any]:
    attribute: dict[str, Any] = {
        "variable": True,
        "code": code,
        "datatype": datatype,
        "required": False,
        "datatype_description": help_text,
        "order": order,
        "description": description,
    }
    if values is not None:
        attribute["values"] = values
    return attribute


def service_definition(service: Service) -> dict[str, Any]:
    """The attributes ``POST requests`` takes as ``attribute[code]``."""
    request_types = [{"key": key, "name": name} for key, name in REQUEST_TYPES.items()]
    return {
        "service_code": service.service_code,
        "attributes": [
            _attribute("request_type", 1, "诉求类型", datatype="singlevaluelist",
                       values=request_types, help_text="不填时按“求助”处理"),
            _attribute("category", 2, "诉求分类",
                       help_text=f"不填时为“{service.service_name}”"),
            _attribute("occurred_at", 3, "发生时间", help_text="如：昨天晚上8点"),
            _attribute("anonymous", 4, "是否匿名", datatype="singlevaluelist",
                       values=_BOOLEAN_VALUES),
            _attribute("urgent", 5, "是否紧急", datatype="singlevaluelist",
                       values=_BOOLEAN_VALUES, help_text="危及安全、需要立即处置的诉求"),
            _attribute("district", 6, "所在区"),
            _attribute("street", 7, "所在街道", help_text="如：东湖街道"),
        ],
    }


def filing_receipt(order: WorkOrder) -> list[dict[str, Any]]:
    return [{
        "service_request_id": order.ticket_id,
        "service_notice": service_notice(order),
        "account_id": order.account_id,
    }]


def public_media_url(media_urls: Sequence[str]) -> str | None:
    """The first photo that is a web address (a channel's media id is not one)."""
    for url in media_urls:
        if url.startswith(("https://", "http://")):
            return url
    return None


def _masked(text: str | None) -> str | None:
    return mask(text) if text else text


def request_json(
    order: WorkOrder, history: Sequence[WorkOrderEvent] | None = None
) -> dict[str, Any]:
    """One request as ``GET requests`` shows it; with ``history``, also minhu's
    ``extended_attributes``."""
    body: dict[str, Any] = {
        "service_request_id": order.ticket_id,
        "status": order.open311_status,
        "status_notes": _masked(order.status_note),
        "service_name": order.service_name,
        "service_code": order.service_code,
        "description": _masked(order.description),
        "agency_responsible": order.department_name,
        "service_notice": service_notice(order),
        "requested_datetime": local_iso(order.requested_at, seconds=True),
        "updated_datetime": local_iso(order.updated_at, seconds=True),
        "expected_datetime": local_iso(order.due_at, seconds=True),
        "address": order.address,
        "address_id": order.address_id,
        "zipcode": None,
        "lat": order.lat,
        "long": order.long,
        "media_url": public_media_url(order.media_urls),
    }
    if history is not None:
        body["extended_attributes"] = {
            "status": order.status.value,
            "request_type": order.request_type,
            "category": order.category,
            "department_code": order.department_code,
            "due_datetime": local_iso(order.due_at),
            "urgent": order.urgent,
            "anonymous": order.anonymous,
            "rating": order.rating,
            "adopted": order.adopted,
            "history": [_history_item(event) for event in history],
        }
    return body


def _history_item(event: WorkOrderEvent) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "status": event.status.value if event.status is not None else None,
        "previous": event.previous.value if event.previous is not None else None,
        "note": _masked(event.note),
        "department": event.department_name,
        "at": local_iso(event.at),
        "adopted": event.adopted,
        "score": event.score,
        "media_urls": list(event.media_urls),
    }
