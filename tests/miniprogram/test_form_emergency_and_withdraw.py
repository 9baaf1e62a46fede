"""Forms that read as an emergency, and a withdrawal's reason reaching the work order."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.types import EMERGENCY_ADVICE, TicketStatus
from tests.e2e.test_ticket_loop import service, the_order

from .support import mini_program, mp_system

PLACE = {"latitude": 39.9139, "longitude": 116.3912, "address": "幸福里小区3号楼"}


def _alerts(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "alert", None) == "emergency"]


async def test_a_form_that_reads_as_an_emergency_is_urgent_and_alerts_staff(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="minhu.ticketing.alerts")
    async with mp_system(tmp_path) as system, mini_program(system, "zhao") as mp:
        form = {
            "client_request_id": "gas-1",
            "type": "seek_help",
            "description": "楼道里燃气泄漏了，味道很大，邻居家没人应门",
            "location": PLACE,
        }
        created = await mp.ok("POST", "/requests", 201, json=form)
        ticket_id = created["ticket_id"]
        assert ticket_id and created["repeated"] is False
        emergency = created["emergency"]
        assert emergency["advice"] == EMERGENCY_ADVICE
        assert [n["number"] for n in emergency["numbers"]] == ["110", "119", "120"]
        assert [n["label"] for n in emergency["numbers"]] == ["报警", "火警", "急救"]
        assert emergency["staff_alerted"] is True
        # The advice comes first in the message too (a client that knows no `emergency`).
        assert created["message"].startswith(EMERGENCY_ADVICE)
        assert ticket_id in created["message"]

        order = await the_order(system, ticket_id)
        assert order.urgent is True and order.request_type == "seek_help"
        [alert] = _alerts(caplog)
        assert getattr(alert, "ticket_id", None) == ticket_id

        # A retry gets the same advice but does not alert staff again.
        again = await mp.ok("POST", "/requests", 201, json=form)
        assert again["repeated"] is True and again["ticket_id"] == ticket_id
        assert again["emergency"]["advice"] == EMERGENCY_ADVICE
        assert len(_alerts(caplog)) == 1

        # The schema documents the field for the mini-program.
        schema = (await system.http.get("/mp/v1/openapi.json")).json()
        created_schema = schema["components"]["schemas"]["RequestCreated"]["properties"]
        assert "emergency" in created_schema and "110" in str(schema["components"]["schemas"]
                                                               ["EmergencyOut"])


async def test_ordinary_forms_and_praise_are_not_emergencies(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="minhu.ticketing.alerts")
    async with mp_system(tmp_path) as system, mini_program(system, "qian") as mp:
        lamp = await mp.ok("POST", "/requests", 201, json={
            "client_request_id": "lamp-1", "type": "seek_help",
            "description": "幸福里小区3号楼门口的路灯坏了一个星期，晚上看不见路",
            "location": PLACE,
        })
        assert lamp["emergency"] is None and not lamp["message"].startswith("情况紧急")
        assert (await the_order(system, lamp["ticket_id"])).urgent is False

        # Words of a fire in a praise are thanks, not an emergency.
        praise = await mp.ok("POST", "/requests", 201, json={
            "client_request_id": "praise-1", "type": "praise",
            "description": "感谢消防员昨晚及时扑灭了小区的火灾",
        })
        assert praise["emergency"] is None
        assert (await the_order(system, praise["ticket_id"])).urgent is False
        assert _alerts(caplog) == []


async def test_the_withdrawal_reason_reaches_the_work_order_history(tmp_path: Path) -> None:
    async with mp_system(tmp_path) as system, mini_program(system, "sun") as mp:
        created = await mp.ok("POST", "/requests", 201, json={
            "client_request_id": "noise-1", "type": "complain",
            "description": "楼下烧烤店每天凌晨还在营业，噪音太大",
            "location": PLACE,
        })
        ticket_id = created["ticket_id"]
        reason = "店家已经主动整改，不需要再处理了"
        detail = await mp.ok("POST", f"/requests/{ticket_id}/withdraw",
                             json={"reason": reason})
        assert detail["status"] == TicketStatus.WITHDRAWN.value
        history = await service(system).history(ticket_id)
        withdrawn = [e for e in history if e.status is TicketStatus.WITHDRAWN]
        assert [e.note for e in withdrawn] == [f"市民撤回诉求：{reason}"]


async def test_a_withdrawal_without_reason_keeps_the_standard_wording(tmp_path: Path) -> None:
    async with mp_system(tmp_path) as system, mini_program(system, "li2") as mp:
        created = await mp.ok("POST", "/requests", 201, json={
            "client_request_id": "noise-2", "type": "complain",
            "description": "楼下烧烤店每天凌晨还在营业，噪音太大",
            "location": PLACE,
        })
        ticket_id = created["ticket_id"]
        await mp.ok("POST", f"/requests/{ticket_id}/withdraw", json={})
        history = await service(system).history(ticket_id)
        notes = [e.note for e in history if e.status is TicketStatus.WITHDRAWN]
        assert notes == ["市民撤回诉求：群众主动撤回"]
