"""The ticket loop, end to end: residents in the simulator, staff on the work-order page.

Every scenario runs the whole system in-process (``tests.support``): the
resident's messages are real WeChat XML posted to ``/wechat``; the bot files
over HTTP to the built-in Open311 service at ``/open311/v2``; staff sign in
to ``/staff/workorders`` and move tickets along; the service's signed
webhooks reach ``/tickets/webhook``; progress comes back to the resident as
customer-service messages through the simulator's fake WeChat API.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from bot.types import TicketStatus
from integrations.ticketing.builtin.service import WorkOrder, WorkOrderService
from integrations.ticketing.signing import signed_headers
from tests.e2e.test_wechat_e2e import signed_query, text_xml
from tests.support import BASE_URL, System, running_system
from tests.ticketing.builtin.support import assert_valid

DEMO_ACCOUNTS = (
    "dispatcher:minhu-demo-1:dispatcher::12345值班员;"
    "zhujian:minhu-demo-2:department:housing_construction:住建值班员"
)
TICKET_ID = re.compile(r"MH\d{12}")


@asynccontextmanager
async def loop_system(tmp_path: Path, **overrides: Any) -> AsyncIterator[System]:
    async with running_system(tmp_path, staff_demo_accounts=DEMO_ACCOUNTS, **overrides) as system:
        yield system


def service(system: System) -> WorkOrderService:
    assert system.container.workorders is not None
    return system.container.workorders


# -- the resident's side ----------------------------------------------------------------

# How a resident answers the intake's questions when the scenario does not care.
_DEFAULT_ANSWERS = (
    ("请核对", "确认提交"),
    ("联系电话", "不留电话"),
    ("照片", "没有照片"),
    ("匿名", "匿名"),
    ("什么时候", "不清楚"),
    ("在哪里", "和平路12号"),
)


def option_number(reply: str, title: str) -> str:
    """The number of the option titled ``title`` in a numbered plain-text reply."""
    for number, label in re.findall(r"^(\d+)\. (.+)$", reply, re.M):
        if title in label:
            return str(number)
    raise AssertionError(f"no option {title!r} in: {reply}")


async def file_request(system: System, user: str, first: str,
                       answers: tuple[tuple[str, str], ...] = ()) -> str:
    """Say ``first`` and answer every question until the bot confirms the filing."""
    reply = await system.residents.send_text(user, first)
    for _ in range(10):
        assert reply is not None, "the bot did not answer passively"
        if "工单编号" in reply or "正在登记" in reply:
            return reply
        for cue, answer in (*answers, *_DEFAULT_ANSWERS):
            if cue in reply:
                if re.search(r"^\d+\. ", reply, re.M) and answer in reply:
                    answer = option_number(reply, answer)
                reply = await system.residents.send_text(user, answer)
                break
        else:
            raise AssertionError(f"the scenario has no answer for: {reply}")
    raise AssertionError("the intake never ended")


async def next_push(system: System, user: str) -> str:
    return (await system.residents.wait_for_push(user, timeout=10.0)).text


async def no_more_pushes(system: System, user: str) -> None:
    try:
        push = await system.residents.wait_for_push(user, timeout=0.5)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected push: {push.text}")


# -- the staff side -----------------------------------------------------------------------

class StaffBrowser:
    """A staff member using the work-order pages, with cookies and CSRF tokens."""

    def __init__(self, system: System) -> None:
        self.http = httpx.AsyncClient(transport=system.transport, base_url=BASE_URL)

    async def close(self) -> None:
        await self.http.aclose()

    @staticmethod
    def _csrf(page: str) -> str:
        match = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert match, "the page has no CSRF token"
        return match.group(1)

    async def sign_in(self, username: str, password: str) -> None:
        page = await self.http.get("/staff/login")
        response = await self.http.post("/staff/login", data={
            "csrf_token": self._csrf(page.text), "next": "/staff/workorders",
            "username": username, "password": password,
        })
        assert response.status_code in (302, 303), response.text
        listing = await self.http.get("/staff/workorders")
        assert listing.status_code == 200 and "工单" in listing.text

    async def move(self, ticket_id: str, to: TicketStatus, *, note: str = "",
                   department: str | None = None, adopted: bool | None = None) -> str:
        page = await self.http.get(f"/staff/workorders/{ticket_id}")
        assert page.status_code == 200, page.text
        form = {"csrf_token": self._csrf(page.text), "note": note, "to": to.value}
        if department is not None:
            form["department"] = department
        if adopted is not None:
            form["adopted"] = "yes" if adopted else "no"
        response = await self.http.post(f"/staff/workorders/{ticket_id}", data=form,
                                        follow_redirects=True)
        assert response.status_code == 200, response.text
        return response.text


@asynccontextmanager
async def staff_member(system: System, username: str, password: str
                       ) -> AsyncIterator[StaffBrowser]:
    browser = StaffBrowser(system)
    try:
        await browser.sign_in(username, password)
        yield browser
    finally:
        await browser.close()


async def the_order(system: System, ticket_id: str) -> WorkOrder:
    order = await service(system).get(ticket_id)
    assert order is not None, f"{ticket_id} is not in the work-order service"
    return order


# -- scenarios ------------------------------------------------------------------------------

async def test_complaint_to_rating_through_the_simulator_and_the_staff_pages(
    tmp_path: Path,
) -> None:
    async with loop_system(tmp_path) as system:
        user = "alice"
        confirmation = await file_request(
            system, user, "幸福里小区3号楼门口的路灯坏了一个星期了，晚上黑得看不见路")
        match = TICKET_ID.search(confirmation)
        assert match, confirmation
        ticket_id = match.group(0)
        order = await the_order(system, ticket_id)
        assert order.status is TicketStatus.ACCEPTED
        assert "路灯" in order.description and order.department_code == "housing_construction"

        async with staff_member(system, "dispatcher", "minhu-demo-1") as dispatcher:
            await dispatcher.move(ticket_id, TicketStatus.DISPATCHED,
                                  department="housing_construction", note="请尽快核查修复")
        dispatched = await next_push(system, user)
        assert ticket_id in dispatched and "住房和城乡建设" in dispatched

        async with staff_member(system, "zhujian", "minhu-demo-2") as department:
            await department.move(ticket_id, TicketStatus.IN_PROGRESS, note="已安排维修人员")
            assert "已安排维修人员" in await next_push(system, user)
            await department.move(ticket_id, TicketStatus.FINISHED,
                                  note="路灯已更换，经现场测试恢复照明")
        finished = await next_push(system, user)
        assert "路灯已更换" in finished and "满意" in finished

        thanks = await system.residents.send_text(user, option_number(finished, "基本满意"))
        assert thanks is not None and "感谢" in thanks
        order = await the_order(system, ticket_id)
        assert order.rating == 3 and order.status is TicketStatus.FINISHED

        # One rating per matter.
        again = await system.residents.send_text(user, "非常满意")
        assert again is not None and "只能评价一次" in again
        assert (await the_order(system, ticket_id)).rating == 3
        await no_more_pushes(system, user)


async def test_a_bad_rating_reopens_the_ticket_and_alerts_staff(tmp_path: Path) -> None:
    async with loop_system(tmp_path) as system:
        user = "bob"
        ticket_id = TICKET_ID.findall(await file_request(
            system, user, "和平路菜市场门口的下水道堵了，污水流到人行道上"))[0]
        svc = service(system)
        await svc.transition(ticket_id, TicketStatus.DISPATCHED, actor="test")
        await svc.transition(ticket_id, TicketStatus.IN_PROGRESS, actor="test")
        await svc.transition(ticket_id, TicketStatus.FINISHED, actor="test", note="已疏通")
        pushes = [await next_push(system, user) for _ in range(3)]
        assert "已疏通" in pushes[-1]
        reply = await system.residents.send_text(user, option_number(pushes[-1], "非常不满意"))
        assert reply is not None and "重办" in reply
        order = await the_order(system, ticket_id)
        assert order.status is TicketStatus.REOPENED and order.rating == 1
        alerts = await svc.alerts()
        assert any(a.ticket_id == ticket_id for a in alerts)
        # The reopening was the resident's own doing: no push about it.
        await no_more_pushes(system, user)


async def test_a_suggestion_is_told_whether_it_was_adopted(tmp_path: Path) -> None:
    async with loop_system(tmp_path) as system:
        user = "carol"
        reply = await file_request(
            system, user, "建议在和平路和解放街路口加装红绿灯，上下学时太危险")
        ticket_id = TICKET_ID.findall(reply)[0]
        order = await the_order(system, ticket_id)
        assert order.request_type == "suggest"
        svc = service(system)
        await svc.transition(ticket_id, TicketStatus.DISPATCHED, actor="test")
        await svc.transition(ticket_id, TicketStatus.IN_PROGRESS, actor="test")
        await svc.transition(ticket_id, TicketStatus.FINISHED, actor="test", adopted=True,
                             note="已纳入明年路口改造计划")
        pushes = [await next_push(system, user) for _ in range(3)]
        assert "采纳" in pushes[-1] and "路口改造" in pushes[-1]


async def test_an_inquiry_is_answered_from_the_knowledge_base_or_filed(tmp_path: Path) -> None:
    async with loop_system(tmp_path) as system:
        answered = await system.residents.send_text("dave", "请问居住证怎么办理？")
        assert answered is not None and "居住证" in answered and "解决了" in answered
        assert await service(system).search() == []

        reply = await file_request(system, "erin", "咨询一下，我们小区的二次供水水箱多久清洗一次？")
        ticket_id = TICKET_ID.findall(reply)[0]
        order = await the_order(system, ticket_id)
        assert order.request_type == "consult" and "水箱" in order.description


async def test_an_emergency_points_to_119_and_files_an_urgent_ticket(tmp_path: Path) -> None:
    async with loop_system(tmp_path) as system:
        reply = await system.residents.send_text("frank", "救命，楼道里着火了，好大的烟")
        assert reply is not None and "119" in reply
        orders = await service(system).search()
        assert len(orders) == 1 and orders[0].urgent
        assert orders[0].due_at - orders[0].requested_at <= timedelta(hours=2)
        assert any(a.ticket_id == orders[0].ticket_id for a in await service(system).alerts())


async def test_withdraw_and_supplement(tmp_path: Path) -> None:
    async with loop_system(tmp_path) as system:
        user = "grace"
        first = TICKET_ID.findall(await file_request(
            system, user, "东湖街道光明小区里有人占用消防通道停车"))[0]
        reply = await system.residents.send_text(user, f"补充材料 {first}")
        assert reply is not None
        if "补充" in reply and first not in reply:
            reply = await system.residents.send_text(user, first)
        reply = await system.residents.send_text(user, "车牌是京A12345，每天晚上都停在这里")
        assert reply is not None and "补充" in reply
        history = await service(system).history(first)
        assert any(e.kind == "supplement" and "京A12345" in (e.note or "") for e in history)

        reply = await system.residents.send_text(user, f"我要撤回诉求 {first}")
        assert reply is not None
        reply = await system.residents.send_text(user, option_number(reply, "确认撤回"))
        assert reply is not None and "撤回" in reply
        assert (await the_order(system, first)).status is TicketStatus.WITHDRAWN
        await no_more_pushes(system, user)


async def test_my_requests_lists_tickets_and_finds_one_by_number(tmp_path: Path) -> None:
    async with loop_system(tmp_path) as system:
        user = "heidi"
        ticket_id = TICKET_ID.findall(await file_request(
            system, user, "南桥街道幸福路上的井盖松动了，车压过去哐哐响"))[0]
        await service(system).transition(ticket_id, TicketStatus.DISPATCHED, actor="test")
        await next_push(system, user)
        listing = await system.residents.click(user, "MENU_MY_TICKETS")
        assert listing is not None and ticket_id in listing and "已派单" in listing
        detail = await system.residents.send_text(user, f"查一下{ticket_id}")
        assert detail is not None and ticket_id in detail and "已派单" in detail
        # Someone else's number finds nothing.
        stranger = await system.residents.send_text("ivan", f"查一下{ticket_id}")
        assert stranger is not None and "没有找到" in stranger


async def test_during_a_backend_outage_every_request_is_filed_exactly_once(
    tmp_path: Path,
) -> None:
    async with loop_system(tmp_path) as system:
        outage = system.transport.fail("/open311/v2/requests", times=4)
        users = ["judy", "ken"]
        replies = await asyncio.gather(*(
            file_request(system, user, f"{place}的路面塌了一个大坑，很危险")
            for user, place in zip(users, ["光明路18号", "解放街3号"], strict=True)
        ))
        assert all("正在登记" in reply for reply in replies), replies
        numbers = [TICKET_ID.findall(await next_push(system, user))[0] for user in users]
        assert outage.hits == 4
        orders = await service(system).search()
        assert sorted(o.ticket_id for o in orders) == sorted(numbers)
        assert len(set(numbers)) == 2


async def test_a_lost_answer_does_not_make_a_second_ticket(tmp_path: Path) -> None:
    async with loop_system(tmp_path) as system:
        lost = system.transport.fail("/open311/v2/requests", times=1, mode="lost_answer")
        reply = await file_request(system, "leo", "西山街道文化广场的健身器材坏了，有尖角")
        assert "正在登记" in reply
        number = TICKET_ID.findall(await next_push(system, "leo"))[0]
        assert lost.hits == 1
        orders = await service(system).search()
        assert [o.ticket_id for o in orders] == [number]


async def test_duplicate_deliveries_are_processed_once(tmp_path: Path) -> None:
    async with loop_system(tmp_path) as system:
        user = "oscar"
        await system.residents.subscribe(user)
        openid = system.residents.openid(user)
        body = text_xml(openid, "救命，楼下着火了", "24000000000000077")
        responses = await asyncio.gather(*(
            system.http.post("/wechat", params=signed_query(), content=body) for _ in range(3)))
        assert [r.status_code for r in responses] == [200, 200, 200]
        orders = await service(system).search()
        assert len(orders) == 1 and orders[0].urgent

        # A status webhook delivered twice reaches the resident once.
        secret = system.settings.ticket_webhook_secret.get_secret_value()
        payload = json.dumps({
            "event": "status_changed", "delivery_id": "dup-1",
            "service_request_id": orders[0].ticket_id, "status": "已派单", "previous": "受理",
            "open311_status": "open", "note": "已派消防部门", "department": "示范区消防救援大队",
            "department_code": None, "adopted": None,
            "at": "2099-01-01T00:00:00+08:00",
        }, ensure_ascii=False).encode()
        for _ in range(2):
            response = await system.http.post(
                "/tickets/webhook", content=payload,
                headers=signed_headers(secret, "dup-1", payload))
            assert response.status_code == 200
        pushed = await next_push(system, user)
        assert "已派消防部门" in pushed and orders[0].ticket_id in pushed
        await no_more_pushes(system, user)


async def test_a_forged_status_webhook_is_refused(tmp_path: Path) -> None:
    async with loop_system(tmp_path) as system:
        user = "mallory-victim"
        ticket_id = TICKET_ID.findall(await file_request(
            system, user, "和平路12号楼顶的水箱漏水，楼道里全是水"))[0]
        payload = json.dumps({
            "event": "status_changed", "delivery_id": "forged-1",
            "service_request_id": ticket_id, "status": "已办结", "previous": "受理",
            "open311_status": "closed", "note": "已处理完毕", "department": None,
            "department_code": None, "adopted": None, "at": "2099-01-01T00:00:00+08:00",
        }, ensure_ascii=False).encode()
        forged = signed_headers("not-the-secret", "forged-1", payload)
        response = await system.http.post("/tickets/webhook", content=payload, headers=forged)
        assert response.status_code == 403
        unsigned = await system.http.post("/tickets/webhook", content=payload,
                                          headers={"Content-Type": "application/json"})
        assert unsigned.status_code == 403
        await no_more_pushes(system, user)
        record = await system.storage.tickets.by_ticket(ticket_id)
        assert record is not None and record.status is TicketStatus.ACCEPTED


async def test_an_external_open311_client_can_use_the_builtin_service(tmp_path: Path) -> None:
    validate = assert_valid

    async with loop_system(tmp_path) as system:
        client = system.http
        services = await client.get("/open311/v2/services.json")
        assert services.status_code == 200
        validate(services.json(), "services.json")
        codes = [s["service_code"] for s in services.json()]
        key = system.settings.open311_api_key.get_secret_value()
        filed = await client.post("/open311/v2/requests.json", data={
            "api_key": key, "service_code": codes[0], "lat": "39.91", "long": "116.40",
            "description": "公园东门的垃圾桶满了没人清理",
        })
        assert filed.status_code == 200, filed.text
        ticket_id = filed.json()[0]["service_request_id"]
        one = await client.get(f"/open311/v2/requests/{ticket_id}.json")
        validate(one.json(), "requests.json")
        assert one.json()[0]["description"] == "公园东门的垃圾桶满了没人清理"
        listed = await client.get("/open311/v2/requests.json")
        validate(listed.json(), "requests.json")
        assert ticket_id in [r["service_request_id"] for r in listed.json()]
        refused = await client.post("/open311/v2/requests.json", data={
            "api_key": "wrong", "service_code": codes[0], "lat": "39.91", "long": "116.40",
            "description": "x",
        })
        assert refused.status_code == 403
