"""Emergencies: the numbers to call first, then an urgent ticket and staff alerted."""

from __future__ import annotations

from handlers.emergency import EMERGENCY_ADVICE
from tests.handlers.harness import conversation, reading, scripted

FIRE = "救命，楼道里着火了，烟很大"


async def test_an_emergency_points_to_the_numbers_files_urgently_and_alerts_staff() -> None:
    chat = conversation(scripted({FIRE: reading("emergency")}))
    await chat.send_location(39.91, 116.40, "幸福里小区3号楼")
    reply = await chat.say(FIRE)
    assert reply.text.startswith(EMERGENCY_ADVICE)
    assert "已通知值班工作人员，紧急工单编号MH202611230001。" in reply.text
    ((_, draft),) = chat.tickets.calls
    assert draft.urgent is True and draft.request_type == "seek_help"
    assert draft.description == FIRE
    assert draft.address == "幸福里小区3号楼" and draft.location is not None
    (alert,) = chat.alerts.sent
    assert alert.kind == "emergency" and alert.text == FIRE
    assert alert.ticket_id == "MH202611230001" and alert.key == chat.key


async def test_backend_down_still_alerts_and_says_the_number_follows() -> None:
    chat = conversation(scripted({FIRE: reading("emergency")}))
    chat.tickets.down = True
    reply = await chat.say(FIRE)
    assert reply.text.startswith(EMERGENCY_ADVICE)
    assert "紧急工单正在登记，编号稍后发给您" in reply.text
    assert chat.alerts.sent[0].ticket_id is None


async def test_an_emergency_typed_during_a_flow_is_not_taken_as_an_answer() -> None:
    text = "楼下饭店油烟太大，天天熏得开不了窗"
    chat = conversation(scripted({text: reading("complain", "环境保护")}))
    where = await chat.say(text)
    assert "什么地方" in where.text
    reply = await chat.say("救命 楼道里着火了")
    assert reply.text.startswith(EMERGENCY_ADVICE)
    assert "刚才未填完的事项已取消" in reply.text
    assert [d.urgent for _, d in chat.tickets.calls] == [True]
    assert chat.alerts.sent[0].kind == "emergency"
    state = await chat.state()
    assert state.flow is None
    # NLU was never asked: the words alone were enough.
    assert chat.understanding.calls == [text]


async def test_ordinary_answers_mentioning_no_danger_stay_in_the_flow() -> None:
    text = "楼下饭店油烟太大，天天熏得开不了窗"
    chat = conversation(scripted({text: reading("complain")}))
    await chat.say(text)
    reply = await chat.say("和平路12号火锅店")
    assert EMERGENCY_ADVICE not in reply.text
    assert chat.alerts.sent == []
