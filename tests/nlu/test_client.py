"""The Rasa client at the transport seam: mapping, fallback, rest and recovery."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from nlu.client import RasaUnderstanding, intent_from_parse

PARSE = {
    "text": "我要投诉小区门口的烧烤摊油烟太大",
    "intent": {"name": "complain", "confidence": 0.93},
    "intent_ranking": [
        {"name": "complain", "confidence": 0.93},
        {"name": "report", "confidence": 0.04},
        {"name": "seek_help", "confidence": 0.02},
    ],
    "category": {"name": "环境保护", "confidence": 0.88},
    "entities": [{"entity": "location", "value": "小区门口", "start": 4, "end": 8}],
}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def rasa(handler: Callable[[httpx.Request], httpx.Response]) -> tuple[httpx.AsyncClient, list[str]]:
    seen: list[str] = []

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path != "/model/parse":
            raise AssertionError(f"unexpected call {request.url}")
        seen.append(json.loads(request.content)["text"])
        return handler(request)

    return httpx.AsyncClient(transport=httpx.MockTransport(route)), seen


def test_parse_response_mapping() -> None:
    intent = intent_from_parse(PARSE)
    assert (intent.name, intent.category, intent.source) == ("complain", "环境保护", "rasa")
    assert intent.alternatives == (("report", 0.04), ("seek_help", 0.02))
    assert intent.entity("location") == "小区门口"


async def test_text_is_normalised_before_rasa_sees_it() -> None:
    http, seen = rasa(lambda r: httpx.Response(200, json=PARSE))
    client = RasaUnderstanding(http, base_url="http://rasa.test")
    intent = await client.parse("我要投訴　小區門口的燒烤攤油煙太大😡")
    assert intent.name == "complain"
    assert seen == ["我要投诉 小区门口的烧烤摊油烟太大"]


async def test_phone_numbers_the_model_missed_are_added() -> None:
    http, _ = rasa(lambda r: httpx.Response(200, json=PARSE))
    intent = await RasaUnderstanding(http, base_url="http://rasa.test").parse(
        "油烟太大 电话13812345678"
    )
    assert intent.entity("phone") == "13812345678"


async def test_down_rasa_falls_back_rests_and_recovers() -> None:
    state = {"up": False}

    def handler(request: httpx.Request) -> httpx.Response:
        if not state["up"]:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json=PARSE)

    http, seen = rasa(handler)
    clock = Clock()
    client = RasaUnderstanding(
        http, base_url="http://rasa.test", retries=1, cooldown=5.0, monotonic=clock
    )
    first = await client.parse("我要投诉油烟太大")
    assert first.source == "keywords" and first.name == "complain"
    assert len(seen) == 2 and not client.healthy  # one retry, then the fallback
    # While resting, Rasa is not asked at all.
    clock.now += 1
    assert (await client.parse("我要投诉油烟太大")).source == "keywords"
    assert len(seen) == 2
    # Rasa comes back: after the rest the next message goes to it again.
    state["up"] = True
    clock.now += 5
    assert (await client.parse("我要投诉油烟太大")).source == "rasa"
    assert client.healthy


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(500, text="boom"),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"no": "intent"}),
    ],
    ids=["5xx", "bad-json", "no-intent"],
)
async def test_broken_answers_fall_back(response: httpx.Response) -> None:
    http, _ = rasa(lambda r: response)
    intent = await RasaUnderstanding(http, base_url="http://rasa.test").parse("救命 着火了")
    assert intent.source == "keywords" and intent.name == "emergency"


async def test_slow_rasa_is_abandoned_without_a_retry() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    http, seen = rasa(handler)
    intent = await RasaUnderstanding(http, base_url="http://rasa.test", retries=3).parse("你好")
    assert intent.source == "keywords" and len(seen) == 1
