"""Against the real Rasa server: targets, the CLI contract, and surviving its death."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from nlu.cli import HELDOUT
from nlu.client import RasaUnderstanding
from nlu.evaluation import case_from_dict, evaluate, prediction_from_parse
from nlu.normalize import normalize_text
from nlu.runtime import RasaServer
from tests.support import running_system, use_postgres

pytestmark = pytest.mark.skipif(use_postgres(), reason="NLU does not depend on the database")


def test_held_out_targets_hold(rasa_server: RasaServer) -> None:
    cases = [
        case_from_dict(json.loads(line))
        for line in HELDOUT.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    with httpx.Client(base_url=rasa_server.url, timeout=30) as http:
        predictions = [
            prediction_from_parse(
                http.post("/model/parse", json={"text": normalize_text(case.text)}).json()
            )
            for case in cases
        ]
    report = evaluate(cases, predictions)
    assert len(cases) >= 300
    assert report.intent_accuracy >= 0.95
    assert report.intent_macro_f1 >= 0.93
    assert report.category_accuracy >= 0.90
    assert report.chitchat_as_request_rate <= 0.05


def test_nlu_parse_command_line_contract(rasa_server: RasaServer) -> None:
    lines = [
        {"text": "我要投訴河邊的化工廠偷偷排廢水，河水都變黑發臭了，電話13812345678"},
        {"text": "ｍｈ２０２６１１２３００１７办到哪一步了"},
        {"text": "今天天气怎么样"},
    ]
    result = subprocess.run(
        [str(Path(sys.executable).with_name("minhu")), "nlu", "parse", "--url", rasa_server.url],
        input="\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n",
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(outputs) == 3
    for line, out in zip(lines, outputs, strict=True):
        assert set(out) == {"text", "intent", "intent_confidence", "category",
                            "category_confidence", "entities"}
        assert out["text"] == line["text"]  # the original, not the normalised text
        for entity in out["entities"]:
            assert set(entity) == {"entity", "value", "start", "end"}
    complaint, status, weather = outputs
    assert complaint["intent"] == "complain" and complaint["category"] == "环境保护"
    phone = next(e for e in complaint["entities"] if e["entity"] == "phone")
    assert complaint["text"][phone["start"]:phone["end"]] == "13812345678"
    assert status["intent"] == "query_status"
    assert any(e["entity"] == "ticket_id" and e["value"] == "MH202611230017"
               for e in status["entities"])
    assert weather["intent"] == "out_of_scope"


class CountingTransport(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.parses = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/model/parse":
            self.parses += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        # The client closes its transport; this one must close what it wraps,
        # or the pooled connection to Rasa is left for the garbage collector.
        await self.inner.aclose()


async def test_one_nlu_call_per_message_and_none_for_buttons(
    rasa_server: RasaServer, tmp_path: Path
) -> None:
    transport = CountingTransport()
    http = httpx.AsyncClient(transport=transport)
    understanding = RasaUnderstanding(http, base_url=rasa_server.url, timeout=10)
    try:
        async with running_system(tmp_path, understanding=understanding) as system:
            residents = system.residents
            reply = await residents.send_text("qian", "投诉隔壁工厂晚上排废气，臭得睡不着")
            assert reply is not None and "投诉" in reply and "环境保护" in reply
            assert transport.parses == 1
            await residents.subscribe("qian")  # an event: no NLU
            await residents.send_text("qian", "1")  # a numbered button answer: no NLU
            await residents.click("qian", "MENU_MY_TICKETS")  # a menu click: no NLU
            assert transport.parses == 1
    finally:
        await http.aclose()


async def test_rasa_killed_mid_conversation_then_back(
    own_rasa_server: RasaServer, tmp_path: Path
) -> None:
    http = httpx.AsyncClient()
    understanding = RasaUnderstanding(
        http, base_url=own_rasa_server.url, timeout=2.0, cooldown=1.0
    )
    try:
        async with running_system(tmp_path, understanding=understanding) as system:
            residents = system.residents
            before = await residents.send_text("sun", "举报有人往河里偷排污水")
            assert before is not None and "举报" in before
            assert understanding.healthy

            own_rasa_server.kill()
            # Each phase is a new resident: "sun" is now inside an intake dialogue.
            during = await residents.send_text("zhou", "我要投诉小区电梯老是坏")
            assert during is not None and "投诉" in during  # answered by the fallback
            assert not understanding.healthy
            metrics = (await system.http.get("/metrics")).text
            assert "minhu_nlu_fallbacks_total" in metrics

            own_rasa_server.start()
            import asyncio

            await asyncio.sleep(1.2)  # the client's rest period
            after = await residents.send_text("wu", "建议在和平路口加一个红绿灯")
            assert after is not None and "建议" in after
            assert understanding.healthy  # recovered by itself
    finally:
        await http.aclose()
