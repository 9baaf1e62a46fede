"""The default custom menu of the official account.

Top-level button names are at most 4 Chinese characters (16 bytes); a
CLICK button sends its ``key`` back as the EventKey of a CLICK event,
which arrives in the core as ``InboundMessage.payload``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

__all__ = [
    "DEFAULT_MENU",
    "MENU_HUMAN",
    "MENU_MY_TICKETS",
    "MENU_REPORT",
    "install_menu",
]

MENU_REPORT = "MENU_REPORT"
MENU_MY_TICKETS = "MENU_MY_TICKETS"
MENU_HUMAN = "MENU_HUMAN"

DEFAULT_MENU: Mapping[str, Any] = {
    "button": [
        {"type": "click", "name": "我要反映", "key": MENU_REPORT},
        {"type": "click", "name": "我的诉求", "key": MENU_MY_TICKETS},
        {"type": "click", "name": "转人工", "key": MENU_HUMAN},
    ]
}


class _MenuAPI(Protocol):
    async def create_menu(self, menu: Mapping[str, Any]) -> None: ...


async def install_menu(api: _MenuAPI, menu: Mapping[str, Any] = DEFAULT_MENU) -> None:
    """Replace the account's custom menu with ``menu`` (the default one)."""
    await api.create_menu(menu)
