"""A request from the mini-program's form through the whole ticket loop.

The resident logs in and consents to status messages, uploads two photos,
files a request from the form with coordinates; staff move the ticket along
on the work-order pages; each change reaches the resident as a subscribe
message (recorded by the fake WeChat API) while consents last, and waits in
the request's timeline when none is left; the resident rates it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bot.types import TicketStatus
from tests.e2e.test_ticket_loop import staff_member, the_order

from .support import STATUS_TEMPLATE, MiniProgram, fake, jpeg, mini_program, mp_system, png


async def subscribe_messages(mp: MiniProgram, count: int) -> list[dict[str, Any]]:
    """The subscribe messages WeChat delivered to the user, once there are ``count``."""
    async with asyncio.timeout(10):
        while len(mp.user.messages) < count:  # noqa: ASYNC110 - polling the fake's record
            await asyncio.sleep(0.05)
    return mp.user.messages


async def test_a_form_request_goes_round_the_loop_with_subscribe_messages(
    tmp_path: Path,
) -> None:
    async with mp_system(tmp_path) as system, mini_program(system, "li") as mp:
        # Two consents: enough for two status changes.
        consents = await mp.subscribe("accept", "accept")
        assert consents["status_template_id"] == STATUS_TEMPLATE
        assert consents["consents"] == [
            {"template_id": STATUS_TEMPLATE, "choice": "accept", "remaining": 2}]

        photos = []
        for data in (jpeg(1), png(2)):
            uploaded = await mp.upload(data)
            assert uploaded.status_code == 201, uploaded.text
            photos.append(uploaded.json()["media_id"])

        form = {
            "client_request_id": "form-1",
            "type": "seek_help",
            "category": "城乡建设",
            "description": "幸福里小区3号楼门口的路灯坏了一个星期，晚上看不见路",
            "location": {"latitude": 39.9139, "longitude": 116.3912,
                         "address": "幸福里小区3号楼"},
            "photos": photos,
            "anonymous": False,
        }
        created = await mp.ok("POST", "/requests", 201, json=form)
        ticket_id = created["ticket_id"]
        assert ticket_id and created["state"] == "filed" and ticket_id in created["message"]
        order = await the_order(system, ticket_id)
        assert order.status is TicketStatus.ACCEPTED
        assert "路灯" in order.description and len(order.media_urls) == 2
        assert (order.lat, order.long) == (39.9139, 116.3912)
        assert order.address == "幸福里小区3号楼" and order.category == "城乡建设"

        # The same form sent again (a retry) files nothing new.
        again = await mp.ok("POST", "/requests", 201, json=form)
        assert again["ticket_id"] == ticket_id and again["repeated"] is True

        async with staff_member(system, "dispatcher", "minhu-demo-1") as dispatcher:
            await dispatcher.move(ticket_id, TicketStatus.DISPATCHED,
                                  department="housing_construction", note="请尽快核查修复")
        (dispatched,) = await subscribe_messages(mp, 1)
        assert dispatched["template_id"] == STATUS_TEMPLATE
        assert dispatched["data"]["character_string1"] == ticket_id
        assert dispatched["data"]["phrase2"] == "已派单"
        assert dispatched["page"] == f"pages/requests/detail?id={ticket_id}"

        async with staff_member(system, "zhujian", "minhu-demo-2") as department:
            await department.move(ticket_id, TicketStatus.IN_PROGRESS, note="已安排维修人员")
            in_progress = (await subscribe_messages(mp, 2))[1]
            assert in_progress["data"]["phrase2"] == "办理中"
            assert in_progress["data"]["thing3"] == "已安排维修人员"
            # No consent left: the next change must wait in the app.
            await department.move(ticket_id, TicketStatus.FINISHED,
                                  note="路灯已更换，经现场测试恢复照明")

        inbox = await mp.wait_inbox(3)
        await asyncio.sleep(0.2)
        inbox += await mp.inbox()
        finished = inbox[-1]
        assert finished["ticket_update"]["status"] == "已办结"
        assert "路灯已更换" in finished["text"] and finished["via"] == "inbox"
        assert [m["via"] for m in inbox] == ["subscribe", "subscribe", "inbox"]
        await asyncio.sleep(0.2)
        assert len(mp.user.messages) == 2
        assert not any(c.endpoint == "message/subscribe/send" and c.errcode != 0
                       for c in fake(system).calls)

        detail = await mp.ok("GET", f"/requests/{ticket_id}")
        assert detail["status"] == "已办结" and detail["can_rate"] is True
        assert detail["photos"] == photos
        assert detail["location"] == {"latitude": 39.9139, "longitude": 116.3912,
                                      "address": "幸福里小区3号楼"}
        steps = {step["status"]: step for step in detail["timeline"]}
        assert steps["已派单"]["notified"] == "subscribe"
        assert steps["办理中"]["notified"] == "subscribe"
        assert steps["已办结"]["notified"] == "inbox"
        assert "路灯已更换" in steps["已办结"]["message"]

        rated = await mp.ok("POST", f"/requests/{ticket_id}/rating",
                            json={"level": "满意", "comment": "修得很快"})
        assert rated == {"accepted": True, "reopened": False, "score": 4, "level": "满意",
                         "message": "感谢您的评价（满意）！"}
        assert (await the_order(system, ticket_id)).rating == 4
        twice = await mp.call("POST", f"/requests/{ticket_id}/rating", json={"score": 5})
        assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_rated"

        # The photos are the resident's, and staff reach them through signed links.
        for url in order.media_urls:
            path = url.removeprefix("http://minhu.test")
            assert (await system.http.get(path)).status_code == 200
            assert (await system.http.get(path.split("?")[0])).status_code == 401
