"""The ticket backend: Open311 client, minhu's built-in work-order service, webhooks.

Wiring (see the names below)::

    backend = BuiltinClient(http, base_url=".../open311/v2", api_key=...)   # or Open311Client
    app = build_status_webhook(secret=..., on_change=desk_callback)        # POST /tickets/webhook
    alerts = HttpStaffAlerts(http, url=..., secret=None, fallback=LogStaffAlerts())
"""

from __future__ import annotations

from .alerts import HttpStaffAlerts, LogStaffAlerts
from .open311 import BuiltinClient, Open311Client, Service
from .receiver import StatusWebhook, build_status_webhook, parse_status_event, status_changes

__all__ = [
    "BuiltinClient",
    "HttpStaffAlerts",
    "LogStaffAlerts",
    "Open311Client",
    "Service",
    "StatusWebhook",
    "build_status_webhook",
    "parse_status_event",
    "status_changes",
]
