"""The work-order pages through HTTP, as dispatchers and departments use them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from bot.types import TicketStatus
from integrations.staff.accounts import StaffAccounts
from integrations.staff.sessions import SessionSigner
from integrations.staff.throttle import SignInThrottle
from integrations.staff.web import StaffWeb
from integrations.storage.repositories import Database
from integrations.ticketing.builtin.catalogue import load_catalogue
from integrations.ticketing.builtin.pages import build_workorder_pages, masked_phone
from integrations.ticketing.builtin.service import (
    FilingRequest,
    WorkOrder,
    WorkOrderService,
)

from .conftest import FakeClock
from .web_helpers import csrf_in, sign_in

HOUSING = "housing_construction"  # 示范区住房和城乡建设局 in the sample catalogue
ENVIRONMENT = "ecology_environment"  # 示范区生态环境局
PHONE = "13812345678"


@dataclass
class Desk:
    service: WorkOrderService
    app: FastAPI

    def browser(self) -> httpx.AsyncClient:
        """A browser of its own (its own cookies)."""
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://test"
        )

    async def file(self, description: str, **fields: object) -> WorkOrder:
        values: dict[str, object] = {
            "service_code": "urban_construction", "request_type": "complain",
            "address": "东湖街道东湖社区3号楼", "phone": PHONE,
        }
        values.update(fields)
        order, _ = await self.service.file(
            FilingRequest(description=description, **values),  # type: ignore[arg-type]
            idempotency_key=None,
        )
        return order


@pytest.fixture
async def desk(
    db: Database,
    clock: FakeClock,
    accounts: StaffAccounts,
    signer: SessionSigner,
    throttle: SignInThrottle,
) -> Desk:
    await accounts.add("disp", "dispatch-pass", display_name="张调度", role="dispatcher")
    await accounts.add(
        "zj01", "housing-pass", display_name="李住建", role="department", department_code=HOUSING
    )
    await accounts.add(
        "hb01", "environ-pass", display_name="王环保", role="department",
        department_code=ENVIRONMENT,
    )
    await accounts.add("root", "admin-pass1", display_name="管理员", role="admin")
    service = WorkOrderService(db, load_catalogue(), clock=clock)
    staff = StaffWeb(accounts, signer, throttle)
    app = FastAPI()
    app.include_router(staff.router())
    app.include_router(build_workorder_pages(service, staff, clock=clock))
    return Desk(service, app)


@pytest.fixture
async def dispatcher(desk: Desk) -> AsyncIterator[httpx.AsyncClient]:
    async with desk.browser() as browser:
        assert (await sign_in(browser, "disp", "dispatch-pass")).status_code == 303
        yield browser


@pytest.fixture
async def housing(desk: Desk) -> AsyncIterator[httpx.AsyncClient]:
    async with desk.browser() as browser:
        assert (await sign_in(browser, "zj01", "housing-pass")).status_code == 303
        yield browser


@pytest.fixture
async def environment(desk: Desk) -> AsyncIterator[httpx.AsyncClient]:
    async with desk.browser() as browser:
        assert (await sign_in(browser, "hb01", "environ-pass")).status_code == 303
        yield browser


async def move(
    browser: httpx.AsyncClient, ticket_id: str, to: TicketStatus | str, **fields: str
) -> httpx.Response:
    """Press one of the buttons of the ticket's form, as shown on its page."""
    page = await browser.get(f"/staff/workorders/{ticket_id}")
    assert page.status_code == 200
    data = {"csrf_token": csrf_in(page.text), "to": str(to), **fields}
    return await browser.post(f"/staff/workorders/{ticket_id}", data=data)


def buttons(html: str) -> list[str]:
    return re.findall(r'name="to" value="([^"]+)"', html)


def row_ids(html: str) -> list[str]:
    table = html.split("<tbody>")[1]
    return re.findall(r'<a href="/staff/workorders/(MH\d+)" class="mono">', table)


async def status_of(desk: Desk, ticket_id: str) -> TicketStatus:
    order = await desk.service.get(ticket_id)
    assert order is not None
    return order.status


async def test_signed_out_visitors_are_sent_to_sign_in(desk: Desk) -> None:
    order = await desk.file("小区路灯坏了")
    async with desk.browser() as browser:
        listing = await browser.get("/staff/workorders?urgent=1")
        assert listing.status_code == 303
        assert listing.headers["location"] == "/staff/login?next=/staff/workorders%3Furgent%3D1"
        path = f"/staff/workorders/{order.ticket_id}"
        detail = await browser.get(path)
        assert detail.headers["location"] == f"/staff/login?next={path}"
        posted = await browser.post(path, data={"to": "已派单"})
        assert posted.status_code == 303
        assert await status_of(desk, order.ticket_id) is TicketStatus.ACCEPTED
        target = "/staff/workorders?urgent=1"
        signed = await sign_in(browser, "disp", "dispatch-pass", next_path=target)
        assert signed.headers["location"] == target


async def test_the_dispatcher_sees_every_ticket_urgent_first(
    desk: Desk, dispatcher: httpx.AsyncClient, clock: FakeClock
) -> None:
    older = await desk.file("楼道灯不亮，晚上看不见路")
    clock.advance(minutes=10)
    urgent = await desk.file(
        "燃气管道有异味，担心泄漏", urgent=True, service_code="environment",
        request_type="seek_help",
    )
    clock.advance(minutes=10)
    newest = await desk.file("建议在小区增设电动车充电桩", request_type="suggest")
    page = await dispatcher.get("/staff/workorders")
    assert page.status_code == 200
    html = page.text
    assert row_ids(html) == [urgent.ticket_id, newest.ticket_id, older.ticket_id]
    for column in ("工单号", "类型", "类别", "摘要", "承办部门", "状态", "时限", "受理时间"):
        assert f"<th>{column}</th>" in html
    table = html.split("<tbody>")[1]
    urgent_row = table.split(f'/staff/workorders/{urgent.ticket_id}" class="mono">')[1]
    assert urgent_row.index('badge-urgent">紧急') < urgent_row.index("</tr>")
    assert "求助" in html and "建议" in html and "投诉" in html  # request types in Chinese
    assert "示范区住房和城乡建设局" in html and "示范区生态环境局" in html
    # Filed at 09:30 Beijing time (01:30 UTC); a complaint is due in 7 days.
    assert "2026-03-02 09:30" in html and "2026-03-09 09:30" in html
    # The urgent filing raised an alert, shown above the list.
    banner = html.split('aria-label="最新提醒"')[1].split("</section>")[0]
    assert urgent.ticket_id in banner and "燃气管道有异味" in banner


async def test_a_department_sees_only_its_own_tickets(
    desk: Desk, housing: httpx.AsyncClient, environment: httpx.AsyncClient
) -> None:
    ours = await desk.file("小区外墙瓷砖脱落")
    theirs = await desk.file(
        "工地夜间施工噪音", service_code="environment", urgent=True
    )
    assert ours.department_code == HOUSING and theirs.department_code == ENVIRONMENT
    listing = (await housing.get("/staff/workorders")).text
    assert row_ids(listing) == [ours.ticket_id]
    assert theirs.ticket_id not in listing  # not in the alerts either
    assert "本部门承办的工单" in listing
    hidden = await housing.get(f"/staff/workorders/{theirs.ticket_id}")
    assert hidden.status_code == 404
    assert "没有找到工单" in hidden.text
    token = csrf_in((await housing.get(f"/staff/workorders/{ours.ticket_id}")).text)
    refused = await housing.post(
        f"/staff/workorders/{theirs.ticket_id}",
        data={"csrf_token": token, "to": "办理中", "note": "我来办"},
    )
    assert refused.status_code == 404
    assert await status_of(desk, theirs.ticket_id) is TicketStatus.ACCEPTED
    assert theirs.ticket_id in (await environment.get("/staff/workorders")).text


async def test_a_ticket_goes_round_the_loop_with_notes_on_its_timeline(
    desk: Desk, dispatcher: httpx.AsyncClient, housing: httpx.AsyncClient, clock: FakeClock
) -> None:
    order = await desk.file("小区门口路灯坏了一个星期")
    page = await dispatcher.get(f"/staff/workorders/{order.ticket_id}")
    assert buttons(page.text) == ["已派单", "已办结", "已撤回"]
    # The routed department is chosen already in the department list.
    assert f'<option value="{HOUSING}" selected>示范区住房和城乡建设局</option>' in page.text

    clock.advance(minutes=5)
    dispatched = await move(
        dispatcher, order.ticket_id, TicketStatus.DISPATCHED,
        note="请住建局核实维修", department=HOUSING,
    )
    assert dispatched.status_code == 303
    assert dispatched.headers["location"].startswith(f"/staff/workorders/{order.ticket_id}?moved=")
    shown = await dispatcher.get(dispatched.headers["location"])
    assert "工单已更新为“已派单”" in shown.text

    # The department takes it on, then answers.
    page = await housing.get(f"/staff/workorders/{order.ticket_id}")
    assert buttons(page.text) == ["办理中", "退单"]
    clock.advance(hours=1)
    assert (
        await move(housing, order.ticket_id, TicketStatus.IN_PROGRESS, note="已安排电工")
    ).status_code == 303
    clock.advance(hours=5)
    finished = await move(
        housing, order.ticket_id, TicketStatus.FINISHED, note="路灯已更换，恢复照明"
    )
    assert finished.status_code == 303

    detail = (await housing.get(f"/staff/workorders/{order.ticket_id}")).text
    timeline = detail.split('<ol class="timeline">')[1].split("</ol>")[0]
    steps = [
        ("受理", "诉求已受理", "市民"),
        ("受理 → 已派单", "请住建局核实维修", "张调度（disp）"),
        ("已派单 → 办理中", "已安排电工", "李住建（zj01）"),
        ("办理中 → 已办结", "路灯已更换，恢复照明", "李住建（zj01）"),
    ]
    entries = timeline.split("<li")[1:]
    assert len(entries) == len(steps)
    for entry, (title, note, actor) in zip(entries, steps, strict=True):
        assert f'<div class="what">{title}</div>' in entry
        assert note in entry and actor in entry
    assert "2026-03-02 09:35 · 张调度（disp）" in timeline  # Beijing time
    assert "已办结" in (await dispatcher.get("/staff/workorders")).text
    stored = await desk.service.get(order.ticket_id)
    assert stored is not None and stored.status is TicketStatus.FINISHED
    assert stored.status_note == "路灯已更换，恢复照明"


async def test_an_impossible_move_is_explained_on_the_page(
    desk: Desk, dispatcher: httpx.AsyncClient
) -> None:
    order = await desk.file("小区门口路灯坏了")
    await move(dispatcher, order.ticket_id, TicketStatus.DISPATCHED, department=HOUSING)
    # A stale page still offering 已办结: the service refuses, the page says why.
    refused = await move(dispatcher, order.ticket_id, TicketStatus.FINISHED, note="已修好")
    assert refused.status_code == 409
    assert "当前状态为“已派单”，不能转为“已办结”" in refused.text
    assert "已修好" in refused.text  # what was typed is kept
    assert buttons(refused.text) == ["办理中", "退单", "已撤回"]
    # Finishing needs the answer to the resident.
    await move(dispatcher, order.ticket_id, TicketStatus.IN_PROGRESS)
    unanswered = await move(dispatcher, order.ticket_id, TicketStatus.FINISHED)
    assert unanswered.status_code == 409
    assert "办结时请填写答复内容" in unanswered.text
    nonsense = await move(dispatcher, order.ticket_id, "完成啦")
    assert nonsense.status_code == 400 and "请选择要执行的操作" in nonsense.text
    stored = await desk.service.get(order.ticket_id)
    assert stored is not None and stored.status is TicketStatus.IN_PROGRESS


async def test_a_department_cannot_dispatch_or_act_before_dispatch(
    desk: Desk, housing: httpx.AsyncClient
) -> None:
    order = await desk.file("小区门口路灯坏了")
    page = await housing.get(f"/staff/workorders/{order.ticket_id}")
    assert buttons(page.text) == []
    assert "待派单中心派单后即可办理" in page.text
    refused = await move(housing, order.ticket_id, TicketStatus.FINISHED, note="自己办了")
    assert refused.status_code == 400 and "工单尚未派单" in refused.text
    refused = await move(
        housing, order.ticket_id, TicketStatus.DISPATCHED, department=ENVIRONMENT
    )
    assert refused.status_code == 400
    stored = await desk.service.get(order.ticket_id)
    assert stored is not None and stored.status is TicketStatus.ACCEPTED


async def test_a_returned_ticket_is_reassigned_and_leaves_the_department(
    desk: Desk, dispatcher: httpx.AsyncClient, housing: httpx.AsyncClient,
    environment: httpx.AsyncClient,
) -> None:
    order = await desk.file("河道里有人倾倒垃圾")
    await move(dispatcher, order.ticket_id, TicketStatus.DISPATCHED, department=HOUSING)
    returned = await move(
        housing, order.ticket_id, TicketStatus.RETURNED, note="属于环保职责"
    )
    assert returned.status_code == 303
    page = await dispatcher.get(f"/staff/workorders/{order.ticket_id}")
    assert buttons(page.text) == ["改派"]
    no_department = await dispatcher.post(
        f"/staff/workorders/{order.ticket_id}",
        data={"csrf_token": csrf_in(page.text), "to": "改派"},
    )
    assert no_department.status_code == 400 and "请选择承办部门" in no_department.text
    unknown = await move(dispatcher, order.ticket_id, TicketStatus.REASSIGNED, department="nope")
    assert unknown.status_code == 400 and "所选的承办部门不存在" in unknown.text
    same = await move(dispatcher, order.ticket_id, TicketStatus.REASSIGNED, department=HOUSING)
    assert same.status_code == 409 and "退单部门以外" in same.text
    moved = await move(
        dispatcher, order.ticket_id, TicketStatus.REASSIGNED, department=ENVIRONMENT
    )
    assert moved.status_code == 303
    assert (await housing.get(f"/staff/workorders/{order.ticket_id}")).status_code == 404
    assert row_ids((await environment.get("/staff/workorders")).text) == [order.ticket_id]


async def test_finishing_a_suggestion_asks_whether_it_was_adopted(
    desk: Desk, dispatcher: httpx.AsyncClient
) -> None:
    order = await desk.file("建议在小区增设电动车充电桩", request_type="suggest")
    page = await dispatcher.get(f"/staff/workorders/{order.ticket_id}")
    assert 'name="adopted" value="yes"' in page.text and 'name="adopted" value="no"' in page.text
    undecided = await move(dispatcher, order.ticket_id, TicketStatus.FINISHED, note="已研究")
    assert undecided.status_code == 400 and "请选择是否采纳" in undecided.text
    adopted = await move(
        dispatcher, order.ticket_id, TicketStatus.FINISHED, note="将在年内加装", adopted="yes"
    )
    assert adopted.status_code == 303
    detail = (await dispatcher.get(f"/staff/workorders/{order.ticket_id}")).text
    assert "已办结（建议已采纳）" in detail
    stored = await desk.service.get(order.ticket_id)
    assert stored is not None and stored.adopted is True
    complaint = await desk.file("路面坑洼")
    page = await dispatcher.get(f"/staff/workorders/{complaint.ticket_id}")
    assert 'name="adopted"' not in page.text


async def test_moving_a_ticket_needs_the_csrf_token(
    desk: Desk, dispatcher: httpx.AsyncClient
) -> None:
    order = await desk.file("小区门口路灯坏了")
    refused = await dispatcher.post(
        f"/staff/workorders/{order.ticket_id}",
        data={"to": "已派单", "department": HOUSING},
    )
    assert refused.status_code == 403
    forged = await dispatcher.post(
        f"/staff/workorders/{order.ticket_id}",
        data={"to": "已派单", "department": HOUSING, "csrf_token": "forged"},
    )
    assert forged.status_code == 403
    stored = await desk.service.get(order.ticket_id)
    assert stored is not None and stored.status is TicketStatus.ACCEPTED


async def test_the_phone_is_masked_except_for_dispatchers_and_hidden_when_anonymous(
    desk: Desk, dispatcher: httpx.AsyncClient, housing: httpx.AsyncClient
) -> None:
    named = await desk.file("外墙脱落")
    anonymous = await desk.file("物业乱收费", phone="13900001111", anonymous=True)
    full = (await dispatcher.get(f"/staff/workorders/{named.ticket_id}")).text
    assert PHONE in full
    masked = (await housing.get(f"/staff/workorders/{named.ticket_id}")).text
    assert PHONE not in masked and "138****5678" in masked
    for browser in (dispatcher, housing):
        page = (await browser.get(f"/staff/workorders/{anonymous.ticket_id}")).text
        assert "13900001111" not in page and "1111" not in page
        assert "匿名诉求，不显示联系方式" in page
    assert masked_phone("02812345678") == "028****5678"
    assert masked_phone("12345") == "*****"


async def test_details_show_place_photos_and_escape_what_residents_wrote(
    desk: Desk, dispatcher: httpx.AsyncClient
) -> None:
    order = await desk.file(
        "<script>alert('x')</script> 井盖丢了", lat=30.123456, long=120.654321,
        occurred_at="昨天晚上", media_urls=(
            "https://media.example/photo1.jpg", "javascript:alert(1)", "MEDIA_ID_42",
        ),
    )
    html = (await dispatcher.get(f"/staff/workorders/{order.ticket_id}")).text
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert "30.123456, 120.654321" in html and "昨天晚上" in html
    assert '<img src="https://media.example/photo1.jpg"' in html
    assert 'href="javascript:' not in html and 'src="javascript:' not in html
    assert "媒体编号 MEDIA_ID_42" in html


async def test_the_list_filters(
    desk: Desk, dispatcher: httpx.AsyncClient, clock: FakeClock
) -> None:
    question = await desk.file("垃圾分类怎么投放", request_type="consult")  # due in 24 h
    complaint = await desk.file("路面坑洼")  # due in 7 days
    urgent = await desk.file("井盖丢了", urgent=True)  # due in 2 h
    await move(dispatcher, complaint.ticket_id, TicketStatus.DISPATCHED, department=HOUSING)
    clock.advance(hours=3)

    async def ids(query: str) -> list[str]:
        page = await dispatcher.get(f"/staff/workorders?{query}")
        assert page.status_code == 200
        return row_ids(page.text)

    assert await ids("status=已派单") == [complaint.ticket_id]
    assert await ids("urgent=1") == [urgent.ticket_id]
    assert await ids("overdue=1") == [urgent.ticket_id]
    page = (await dispatcher.get("/staff/workorders?overdue=1")).text
    assert 'class="nowrap overdue"' in page and "（已超时）" in page
    clock.advance(hours=22)
    await sign_in(dispatcher, "disp", "dispatch-pass")  # sessions last 8 hours
    assert await ids("overdue=1") == [urgent.ticket_id, question.ticket_id]
    assert await ids(f"q={complaint.ticket_id.lower()}") == [complaint.ticket_id]
    assert await ids(f"q={question.ticket_id[-3:]}") == [question.ticket_id]
    empty = await dispatcher.get("/staff/workorders?q=NOPE")
    assert "没有符合条件的工单" in empty.text
    bad = await dispatcher.get("/staff/workorders?status=飞走了")
    assert bad.status_code == 400 and "没有“飞走了”这个状态" in bad.text


async def test_an_admin_sees_all_without_the_full_phone(
    desk: Desk,
) -> None:
    order = await desk.file("外墙脱落", service_code="environment")
    async with desk.browser() as admin:
        await sign_in(admin, "root", "admin-pass1")
        assert row_ids((await admin.get("/staff/workorders")).text) == [order.ticket_id]
        page = (await admin.get(f"/staff/workorders/{order.ticket_id}")).text
        assert "138****5678" in page and PHONE not in page


async def test_an_unknown_or_absurd_ticket_id_is_not_found(dispatcher: httpx.AsyncClient) -> None:
    for ticket_id in ("MH209901010001", "x" * 200):
        page = await dispatcher.get(f"/staff/workorders/{ticket_id}")
        assert page.status_code == 404 and "没有找到工单" in page.text
