"""WeChatAPI, WeChatSender and TemplateNotifier against a fake WeChat at the
httpx transport seam (any request not expected by a test fails it)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from bot.errors import (
    ChannelAPIError,
    DeliveryError,
    PermanentDeliveryError,
    TokenExpired,
    WindowClosed,
)
from bot.ports import ChannelSender
from bot.types import Button, Channel, ConversationKey, OutboundKind, OutboundMessage
from integrations.wechat.api import TemplateNotifier, WeChatAPI, WeChatSender
from integrations.wechat.menu import DEFAULT_MENU, install_menu

from .conftest import FakeClock, FakeWeChatServer, FakeWindows, MemoryTokenStore, RecordingNotifier

KEY = ConversationKey(Channel.WECHAT, "gh_minhu", "oUSER")
CUSTOM = "/cgi-bin/message/custom/send"
TEMPLATE = "/cgi-bin/message/template/send"


def make_api(http: httpx.AsyncClient, tokens: MemoryTokenStore, clock: FakeClock) -> WeChatAPI:
    return WeChatAPI(http, app_id="wxAPP", app_secret="SECRET", tokens=tokens, clock=clock)


@pytest.fixture
def api(http: httpx.AsyncClient, token_store: MemoryTokenStore, clock: FakeClock) -> WeChatAPI:
    return make_api(http, token_store, clock)


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content.decode("utf-8"))


def ok(_: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})


def errcode(code: int) -> httpx.Response:
    return httpx.Response(200, json={"errcode": code, "errmsg": f"error {code}"})


def custom_endpoint(server: FakeWeChatServer, *codes: int) -> list[Any]:
    """Answers valid tokens with the next code (0 when none left); returns the bodies sent."""
    bodies: list[Any] = []
    queue = list(codes)

    def handler(request: httpx.Request) -> httpx.Response:
        if not server.token_ok(request):
            return errcode(40001)
        bodies.append(body_of(request))
        return errcode(queue.pop(0) if queue else 0)

    server.route("POST", CUSTOM, handler)
    return bodies


# -- the access token -------------------------------------------------------------


async def test_concurrent_callers_share_one_token(
    api: WeChatAPI, wechat_server: FakeWeChatServer, token_store: MemoryTokenStore
) -> None:
    wechat_server.install_token_endpoint(delay=0.01)
    custom_endpoint(wechat_server)
    msg = OutboundMessage.of_text("hi")
    await asyncio.gather(*(api.send_custom("oUSER", msg) for _ in range(20)))
    assert wechat_server.token_fetches == 1
    assert token_store.tokens["wechat:wxAPP"][0] == "tok-1"
    tokens = {r.url.params["access_token"] for r in wechat_server.calls(CUSTOM)}
    assert tokens == {"tok-1"}


async def test_replicas_share_the_token_through_the_store(
    http: httpx.AsyncClient,
    wechat_server: FakeWeChatServer,
    token_store: MemoryTokenStore,
    clock: FakeClock,
) -> None:
    wechat_server.install_token_endpoint()
    custom_endpoint(wechat_server)
    a, b = make_api(http, token_store, clock), make_api(http, token_store, clock)
    await a.send_custom("oUSER", OutboundMessage.of_text("1"))
    await b.send_custom("oUSER", OutboundMessage.of_text("2"))
    assert wechat_server.token_fetches == 1


async def test_token_is_refreshed_ahead_of_expiry(
    api: WeChatAPI, wechat_server: FakeWeChatServer, clock: FakeClock
) -> None:
    wechat_server.install_token_endpoint()
    assert await api.access_token() == "tok-1"
    clock.advance(seconds=7200 - 400)
    assert await api.access_token() == "tok-1"
    clock.advance(seconds=200)  # inside the 5-minute margin
    assert await api.access_token() == "tok-2"
    assert wechat_server.token_fetches == 2


async def test_losing_the_refresh_race_adopts_the_other_replicas_token(
    api: WeChatAPI,
    wechat_server: FakeWeChatServer,
    token_store: MemoryTokenStore,
    clock: FakeClock,
) -> None:
    wechat_server.install_token_endpoint()
    real_replace = token_store.replace

    async def replica_b_wins(name: str, token: str, expires_at: Any, *, previous: Any) -> bool:
        token_store.tokens[name] = ("tok-B", clock() + timedelta(seconds=7200))
        return await real_replace(name, token, expires_at, previous=previous)

    token_store.replace = replica_b_wins  # type: ignore[method-assign]
    assert await api.access_token() == "tok-B"
    token_store.replace = real_replace  # type: ignore[method-assign]
    assert await api.access_token() == "tok-B"
    assert wechat_server.token_fetches == 1


@pytest.mark.parametrize("code", [40001, 40014, 42001])
async def test_invalid_token_is_refreshed_exactly_once_and_the_call_retried(
    api: WeChatAPI, wechat_server: FakeWeChatServer, token_store: MemoryTokenStore, code: int
) -> None:
    wechat_server.install_token_endpoint()
    await api.access_token()
    wechat_server.valid_tokens = set()  # WeChat forgot tok-1 (another app refreshed)

    def handler(request: httpx.Request) -> httpx.Response:
        if not server_ok(request):
            return errcode(code)
        return ok(request)

    def server_ok(request: httpx.Request) -> bool:
        return request.url.params["access_token"] == "tok-2"

    wechat_server.route("POST", CUSTOM, handler)
    await api.send_custom("oUSER", OutboundMessage.of_text("hi"))
    assert wechat_server.token_fetches == 2
    assert [r.url.params["access_token"] for r in wechat_server.calls(CUSTOM)] == [
        "tok-1",
        "tok-2",
    ]
    assert token_store.tokens["wechat:wxAPP"][0] == "tok-2"


async def test_concurrent_401s_refresh_once(
    api: WeChatAPI, wechat_server: FakeWeChatServer
) -> None:
    wechat_server.install_token_endpoint(delay=0.01)
    await api.access_token()
    wechat_server.valid_tokens = set()
    custom_endpoint(wechat_server)
    # tok-1 is now refused; the first refresh makes tok-2 valid
    await asyncio.gather(
        *(api.send_custom("oUSER", OutboundMessage.of_text(str(i))) for i in range(10))
    )
    assert wechat_server.token_fetches == 2


async def test_a_token_refused_twice_is_not_refreshed_again(
    api: WeChatAPI, wechat_server: FakeWeChatServer
) -> None:
    wechat_server.install_token_endpoint()
    wechat_server.route("POST", CUSTOM, lambda r: errcode(42001))
    with pytest.raises(TokenExpired):
        await api.send_custom("oUSER", OutboundMessage.of_text("hi"))
    assert wechat_server.token_fetches == 2
    assert len(wechat_server.calls(CUSTOM)) == 2


async def test_bad_app_secret_is_a_channel_error(
    api: WeChatAPI, wechat_server: FakeWeChatServer
) -> None:
    wechat_server.route("GET", "/cgi-bin/token", lambda r: errcode(40001))
    with pytest.raises(ChannelAPIError) as info:
        await api.access_token()
    assert not isinstance(info.value, TokenExpired)
    assert info.value.code == 40001


# -- errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (45015, WindowClosed),
        (45047, WindowClosed),
        (43004, PermanentDeliveryError),
        (40003, PermanentDeliveryError),
        (-1, DeliveryError),
        (40008, ChannelAPIError),
    ],
)
async def test_errcodes_are_converted(
    api: WeChatAPI, wechat_server: FakeWeChatServer, code: int, error: type[Exception]
) -> None:
    wechat_server.install_token_endpoint()
    custom_endpoint(wechat_server, code)
    with pytest.raises(error):
        await api.send_custom("oUSER", OutboundMessage.of_text("hi"))


async def test_timeouts_become_delivery_errors_with_cause(
    api: WeChatAPI, wechat_server: FakeWeChatServer
) -> None:
    wechat_server.install_token_endpoint()

    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    wechat_server.route("POST", CUSTOM, boom)
    with pytest.raises(DeliveryError) as info:
        await api.send_custom("oUSER", OutboundMessage.of_text("hi"))
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert "SECRET" not in str(info.value)


async def test_connection_errors_become_delivery_errors(
    api: WeChatAPI, wechat_server: FakeWeChatServer
) -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    wechat_server.route("GET", "/cgi-bin/token", boom)
    with pytest.raises(DeliveryError) as info:
        await api.access_token()
    assert isinstance(info.value.__cause__, httpx.ConnectError)


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(502, text="bad gateway"), DeliveryError),
        (httpx.Response(404, text="nope"), ChannelAPIError),
        (httpx.Response(200, text="<html>"), ChannelAPIError),
        (httpx.Response(200, json=[1, 2]), ChannelAPIError),
    ],
)
async def test_http_failures_are_converted(
    api: WeChatAPI, wechat_server: FakeWeChatServer, response: httpx.Response, error: type
) -> None:
    wechat_server.install_token_endpoint()
    wechat_server.route("POST", CUSTOM, lambda r: response)
    with pytest.raises(error):
        await api.send_custom("oUSER", OutboundMessage.of_text("hi"))


# -- endpoints ---------------------------------------------------------------------


async def test_send_custom_shapes(api: WeChatAPI, wechat_server: FakeWeChatServer) -> None:
    wechat_server.install_token_endpoint()
    bodies = custom_endpoint(wechat_server)
    await api.send_custom("oUSER", OutboundMessage.of_text("路灯"))
    await api.send_custom("oUSER", OutboundMessage(OutboundKind.IMAGE, image_media_id="M1"))
    buttons = OutboundMessage.with_buttons("选", (Button("是", "yes"), Button("否", "no")))
    await api.send_custom("oUSER", buttons)
    assert bodies == [
        {"touser": "oUSER", "msgtype": "text", "text": {"content": "路灯"}},
        {"touser": "oUSER", "msgtype": "image", "image": {"media_id": "M1"}},
        {"touser": "oUSER", "msgtype": "text", "text": {"content": buttons.plain_text()}},
    ]
    # UTF-8 as is, not \u escapes
    assert "路灯".encode() in wechat_server.calls(CUSTOM)[0].content


async def test_send_template(api: WeChatAPI, wechat_server: FakeWeChatServer) -> None:
    wechat_server.install_token_endpoint()
    sent: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(body_of(request))
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "msgid": 200228332})

    wechat_server.route("POST", TEMPLATE, handler)
    msgid = await api.send_template("oUSER", "TPL", {"first": {"value": "x"}}, url="https://e/x")
    assert msgid == 200228332
    assert sent == [
        {
            "touser": "oUSER",
            "template_id": "TPL",
            "data": {"first": {"value": "x"}},
            "url": "https://e/x",
        }
    ]


async def test_install_menu(api: WeChatAPI, wechat_server: FakeWeChatServer) -> None:
    wechat_server.install_token_endpoint()
    sent: list[httpx.Request] = []
    wechat_server.route("POST", "/cgi-bin/menu/create", lambda r: (sent.append(r), ok(r))[1])
    await install_menu(api)
    menu = body_of(sent[0])
    assert menu == DEFAULT_MENU
    assert [(b["name"], b["key"]) for b in menu["button"]] == [
        ("我要反映", "MENU_REPORT"),
        ("我的诉求", "MENU_MY_TICKETS"),
        ("转人工", "MENU_HUMAN"),
    ]
    assert all(len(b["name"].encode()) <= 16 for b in menu["button"])
    assert "我要反映".encode() in sent[0].content


async def test_download_media(api: WeChatAPI, wechat_server: FakeWeChatServer) -> None:
    wechat_server.install_token_endpoint()
    audio = b"#!AMR\n" + bytes(range(256))

    def media(request: httpx.Request) -> httpx.Response:
        if not wechat_server.token_ok(request):
            return httpx.Response(200, json={"errcode": 40001, "errmsg": "invalid credential"})
        if request.url.params["media_id"] != "MEDIA_VOICE":
            return httpx.Response(200, json={"errcode": 40007, "errmsg": "invalid media_id"})
        return httpx.Response(200, content=audio, headers={"content-type": "audio/amr"})

    wechat_server.route("GET", "/cgi-bin/media/get", media)
    assert await api.download_media("MEDIA_VOICE") == audio
    with pytest.raises(ChannelAPIError) as info:
        await api.download_media("GONE")
    assert info.value.code == 40007
    # a stale token is refreshed once for media too
    wechat_server.valid_tokens = set()
    wechat_server.install_token_endpoint()
    assert await api.download_media("MEDIA_VOICE") == audio


# -- the sender and its fallback -------------------------------------------------------


def make_sender(
    api: WeChatAPI, windows: FakeWindows, fallback: RecordingNotifier, clock: FakeClock
) -> WeChatSender:
    return WeChatSender(api, windows, fallback, clock=clock)


async def test_sender_is_a_channel_sender(api: WeChatAPI, clock: FakeClock) -> None:
    sender = make_sender(api, FakeWindows(), RecordingNotifier(), clock)
    assert isinstance(sender, ChannelSender)
    assert sender.channel is Channel.WECHAT


async def test_sender_sends_inside_the_window(
    api: WeChatAPI, wechat_server: FakeWeChatServer, clock: FakeClock
) -> None:
    wechat_server.install_token_endpoint()
    bodies = custom_endpoint(wechat_server)
    windows, fallback = FakeWindows(left=5), RecordingNotifier()
    via = await make_sender(api, windows, fallback, clock).send(KEY, OutboundMessage.of_text("好"))
    assert via == "custom"
    assert bodies[0]["touser"] == "oUSER"
    assert (windows.reserved, windows.released, fallback.calls) == (1, 0, [])


async def test_long_text_is_split_into_several_pushes(
    api: WeChatAPI, wechat_server: FakeWeChatServer, clock: FakeClock
) -> None:
    wechat_server.install_token_endpoint()
    bodies = custom_endpoint(wechat_server)
    windows = FakeWindows(left=5)
    text = "您反映的问题已转交街道办理。" * 200  # 8400 bytes
    via = await make_sender(api, windows, RecordingNotifier(), clock).send(
        KEY, OutboundMessage.of_text(text)
    )
    assert via == "custom"
    contents = [b["text"]["content"] for b in bodies]
    assert len(contents) == 5
    assert "".join(contents) == text
    assert all(len(c.encode()) <= 2048 for c in contents)
    assert windows.reserved == 5


async def test_closed_window_goes_to_the_template_fallback(
    api: WeChatAPI, wechat_server: FakeWeChatServer, clock: FakeClock
) -> None:
    windows, fallback = FakeWindows(left=0), RecordingNotifier()
    message = OutboundMessage.of_text("您的诉求已办结")
    via = await make_sender(api, windows, fallback, clock).send(KEY, message)
    assert via == "template"
    assert fallback.calls == [(KEY, message)]
    assert wechat_server.requests == []


@pytest.mark.parametrize("code", [45015, 45047])
async def test_window_closed_errcode_releases_and_falls_back(
    api: WeChatAPI, wechat_server: FakeWeChatServer, clock: FakeClock, code: int
) -> None:
    wechat_server.install_token_endpoint()
    custom_endpoint(wechat_server, code)
    windows, fallback = FakeWindows(left=5), RecordingNotifier()
    message = OutboundMessage.of_text("您的诉求已办结")
    via = await make_sender(api, windows, fallback, clock).send(KEY, message)
    assert via == "template"
    assert fallback.calls == [(KEY, message)]
    assert (windows.reserved, windows.released) == (1, 1)


async def test_window_closing_midway_sends_the_rest_by_template(
    api: WeChatAPI, wechat_server: FakeWeChatServer, clock: FakeClock
) -> None:
    wechat_server.install_token_endpoint()
    bodies = custom_endpoint(wechat_server)
    windows, fallback = FakeWindows(left=1), RecordingNotifier()
    text = "第一句话。" * 300 + "最后一句。"
    via = await make_sender(api, windows, fallback, clock).send(KEY, OutboundMessage.of_text(text))
    assert via == "template"
    [(_, rest)] = fallback.calls
    assert bodies[0]["text"]["content"] + rest.text == text


@pytest.mark.parametrize(
    ("code", "error"),
    [(43004, PermanentDeliveryError), (40003, PermanentDeliveryError), (-1, DeliveryError)],
)
async def test_sender_errors_release_the_reservation(
    api: WeChatAPI,
    wechat_server: FakeWeChatServer,
    clock: FakeClock,
    code: int,
    error: type[Exception],
) -> None:
    wechat_server.install_token_endpoint()
    custom_endpoint(wechat_server, code)
    windows, fallback = FakeWindows(left=5), RecordingNotifier()
    with pytest.raises(error):
        await make_sender(api, windows, fallback, clock).send(KEY, OutboundMessage.of_text("x"))
    assert (windows.reserved, windows.released, fallback.calls) == (1, 1, [])


async def test_sender_maps_other_api_errors_to_delivery_errors(
    api: WeChatAPI, wechat_server: FakeWeChatServer, clock: FakeClock
) -> None:
    wechat_server.install_token_endpoint()
    custom_endpoint(wechat_server, 40008, 99999)
    sender = make_sender(api, FakeWindows(), RecordingNotifier(), clock)
    with pytest.raises(PermanentDeliveryError):  # invalid message type: never deliverable
        await sender.send(KEY, OutboundMessage.of_text("x"))
    with pytest.raises(DeliveryError) as info:  # unknown: retry later
        await sender.send(KEY, OutboundMessage.of_text("x"))
    assert not isinstance(info.value, PermanentDeliveryError)
    assert isinstance(info.value.__cause__, ChannelAPIError)


async def test_empty_message_is_permanent(api: WeChatAPI, clock: FakeClock) -> None:
    sender = make_sender(api, FakeWindows(), RecordingNotifier(), clock)
    with pytest.raises(PermanentDeliveryError):
        await sender.send(KEY, OutboundMessage.of_text(""))


async def test_sender_with_real_template_notifier(
    api: WeChatAPI, wechat_server: FakeWeChatServer, clock: FakeClock
) -> None:
    wechat_server.install_token_endpoint()
    custom_endpoint(wechat_server, 45015)
    sent: list[Any] = []
    wechat_server.route("POST", TEMPLATE, lambda r: (sent.append(body_of(r)), ok(r))[1])
    notifier = TemplateNotifier(api, template_id="TPL_ID", clock=clock)
    sender = WeChatSender(api, FakeWindows(), notifier, clock=clock)
    assert await sender.send(KEY, OutboundMessage.of_text("您的诉求已办结")) == "template"
    [body] = sent
    assert body["touser"] == "oUSER"
    assert body["template_id"] == "TPL_ID"
    assert body["data"]["keyword1"]["value"] == "您的诉求已办结"
    assert body["data"]["keyword2"]["value"] == "2024-05-01 16:00"  # Beijing time
    assert set(body["data"]) == {"first", "keyword1", "keyword2", "remark"}


async def test_template_text_is_shortened(
    api: WeChatAPI, wechat_server: FakeWeChatServer, clock: FakeClock
) -> None:
    wechat_server.install_token_endpoint()
    sent: list[Any] = []
    wechat_server.route("POST", TEMPLATE, lambda r: (sent.append(body_of(r)), ok(r))[1])
    await TemplateNotifier(api, template_id="T", clock=clock).notify(
        KEY, OutboundMessage.of_text("长" * 500)
    )
    value = sent[0]["data"]["keyword1"]["value"]
    assert len(value) == 200
    assert value.endswith("…")


async def test_template_errors_are_delivery_errors(
    api: WeChatAPI, wechat_server: FakeWeChatServer, clock: FakeClock
) -> None:
    wechat_server.install_token_endpoint()
    codes = [43004, 40037, 12345]
    wechat_server.route("POST", TEMPLATE, lambda r: errcode(codes.pop(0)))
    notifier = TemplateNotifier(api, template_id="T", clock=clock)
    msg = OutboundMessage.of_text("x")
    with pytest.raises(PermanentDeliveryError):
        await notifier.notify(KEY, msg)
    with pytest.raises(PermanentDeliveryError):  # invalid template id
        await notifier.notify(KEY, msg)
    with pytest.raises(DeliveryError):
        await notifier.notify(KEY, msg)


async def test_no_template_configured_gives_up(
    api: WeChatAPI, wechat_server: FakeWeChatServer, clock: FakeClock
) -> None:
    notifier = TemplateNotifier(api, template_id=None, clock=clock)
    sender = WeChatSender(api, FakeWindows(left=0), notifier, clock=clock)
    with pytest.raises(PermanentDeliveryError, match="no template configured"):
        await sender.send(KEY, OutboundMessage.of_text("x"))
    assert wechat_server.requests == []


async def test_unexpected_urls_fail_loudly(
    http: httpx.AsyncClient, wechat_server: FakeWeChatServer
) -> None:
    with pytest.raises(AssertionError, match="unexpected"):
        await http.get("https://api.weixin.qq.com/cgi-bin/unknown")
    with pytest.raises(AssertionError, match="unexpected host"):
        await http.get("https://evil.example/")
    wechat_server.unexpected.clear()  # the fixture's teardown check would fail otherwise
