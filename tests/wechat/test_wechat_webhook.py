"""The webhook end to end through ASGI, with a recording submitter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bot.types import Button, InboundKind, OutboundKind, OutboundMessage
from integrations.wechat.crypto import WeChatCrypto, signature
from integrations.wechat.messages import to_inbound
from integrations.wechat.webhook import WeChatWebhookConfig, build_wechat_router
from integrations.wechat.xml import parse_xml

from . import samples as s
from .conftest import FakeClock, RecordingSubmitter
from .test_wechat_xml import BILLION_LAUGHS

TOKEN = "pamtest"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wxb11529c136998cb6"
TS, NONCE = "1714550400", "123456789"


def signed_params(**extra: str) -> dict[str, str]:
    return {
        "signature": signature(TOKEN, TS, NONCE),
        "timestamp": TS,
        "nonce": NONCE,
        "openid": s.USER,
        **extra,
    }


def make_client(
    submitter: RecordingSubmitter, clock: FakeClock, **config: Any
) -> httpx.AsyncClient:
    cfg = WeChatWebhookConfig(token=TOKEN, app_id=APP_ID, clock=clock, **config)
    app = FastAPI()
    app.include_router(build_wechat_router(cfg, submitter))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def client(
    submitter: RecordingSubmitter, clock: FakeClock
) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(submitter, clock) as c:
        yield c


@pytest.fixture
async def safe_client(
    submitter: RecordingSubmitter, clock: FakeClock
) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(submitter, clock, encoding_aes_key=AES_KEY) as c:
        yield c


# -- GET verification ---------------------------------------------------------


async def test_get_verification_echoes(client: httpx.AsyncClient) -> None:
    r = await client.get("/wechat", params=signed_params(echostr="5837397520375487093"))
    assert r.status_code == 200
    assert r.text == "5837397520375487093"
    assert r.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        {"timestamp": TS, "nonce": NONCE, "echostr": "x"},
        {"signature": "0" * 40, "timestamp": TS, "nonce": NONCE, "echostr": "x"},
        {
            "signature": signature(TOKEN, TS, NONCE),
            "timestamp": "1",
            "nonce": NONCE,
            "echostr": "x",
        },
        {"signature": signature(TOKEN, TS, NONCE), "nonce": NONCE, "echostr": "x"},
    ],
)
async def test_get_verification_refuses_bad_signature(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    r = await client.get("/wechat", params=params)
    assert r.status_code == 403
    assert "x" not in r.text


async def test_get_safe_mode_echostr_wecom_vector(
    vectors: dict[str, Any], submitter: RecordingSubmitter, clock: FakeClock
) -> None:
    v = vectors["wework_official_sample_verify_url"]
    cfg = WeChatWebhookConfig(
        token=v["token"], encoding_aes_key=v["encoding_aes_key"], app_id=v["corp_id"]
    )
    app = FastAPI()
    app.include_router(build_wechat_router(cfg, submitter))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        params = {k: v[k] for k in ("msg_signature", "timestamp", "nonce", "echostr")}
        r = await c.get("/wechat", params=params)
        assert r.status_code == 200
        assert r.text == v["expected_echo_plaintext"]
        # a sender that left '+' unescaped: it arrives as a space
        raw = "&".join(f"{k}={val}" for k, val in params.items())
        r = await c.get(f"/wechat?{raw}")
        assert r.text == v["expected_echo_plaintext"]
        bad = {**params, "msg_signature": "0" * 40}
        assert (await c.get("/wechat", params=bad)).status_code == 403


# -- POST refusals: nothing reaches the submitter ---------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"timestamp": TS, "nonce": NONCE},
        {"signature": "0" * 40, "timestamp": TS, "nonce": NONCE},
        {"signature": signature("other-token", TS, NONCE), "timestamp": TS, "nonce": NONCE},
    ],
)
async def test_forged_or_missing_signature_is_403(
    client: httpx.AsyncClient, submitter: RecordingSubmitter, params: dict[str, str]
) -> None:
    r = await client.post("/wechat", params=params, content=s.TEXT.encode())
    assert r.status_code == 403
    assert submitter.calls == []


@pytest.mark.parametrize(
    "body",
    [b"", b"not xml at all", b"<xml><Content>x</Conten></xml>", b"<html></html>", BILLION_LAUGHS],
)
async def test_malformed_or_hostile_xml_is_400(
    client: httpx.AsyncClient, submitter: RecordingSubmitter, body: bytes
) -> None:
    r = await client.post("/wechat", params=signed_params(), content=body)
    assert r.status_code == 400
    assert submitter.calls == []


async def test_missing_fields_are_400(
    client: httpx.AsyncClient, submitter: RecordingSubmitter
) -> None:
    r = await client.post("/wechat", params=signed_params(), content=s.xml("image", MsgId="1"))
    assert r.status_code == 400
    assert submitter.calls == []


async def test_ten_megabyte_body_is_413(
    client: httpx.AsyncClient, submitter: RecordingSubmitter
) -> None:
    body = b"<xml>" + b"A" * (10 * 1024 * 1024) + b"</xml>"
    r = await client.post("/wechat", params=signed_params(), content=body)
    assert r.status_code == 413
    assert submitter.calls == []


async def test_large_body_is_413_before_the_signature_check(
    client: httpx.AsyncClient, submitter: RecordingSubmitter
) -> None:
    r = await client.post("/wechat", content=b"x" * (64 * 1024 + 1))
    assert r.status_code == 413
    assert submitter.calls == []


async def test_streamed_body_without_length_is_capped(
    client: httpx.AsyncClient, submitter: RecordingSubmitter
) -> None:
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(200):
            sent.append(1)
            yield b"A" * 1024

    r = await client.post("/wechat", params=signed_params(), content=chunks())
    assert r.status_code == 413
    assert submitter.calls == []


async def test_body_exactly_at_the_cap_is_read(
    submitter: RecordingSubmitter, clock: FakeClock
) -> None:
    body = s.TEXT.encode()
    async with make_client(submitter, clock, max_body_bytes=len(body)) as c:
        r = await c.post("/wechat", params=signed_params(), content=body)
        assert r.status_code == 200
        r = await c.post("/wechat", params=signed_params(), content=body + b" ")
        assert r.status_code == 413
    assert len(submitter.calls) == 1


async def test_unknown_encrypt_type_is_400(
    client: httpx.AsyncClient, submitter: RecordingSubmitter
) -> None:
    r = await client.post(
        "/wechat", params=signed_params(encrypt_type="rot13"), content=s.TEXT.encode()
    )
    assert r.status_code == 400
    assert submitter.calls == []


async def test_message_for_another_account_is_refused(
    submitter: RecordingSubmitter, clock: FakeClock
) -> None:
    async with make_client(submitter, clock, account_id="gh_other") as c:
        r = await c.post("/wechat", params=signed_params(), content=s.TEXT.encode())
    assert r.status_code == 403
    assert submitter.calls == []


# -- POST plaintext mode ----------------------------------------------------------

ALL_SAMPLES = [
    s.TEXT,
    s.IMAGE,
    s.VOICE,
    s.VOICE_NO_RECOGNITION,
    s.VIDEO,
    s.SHORTVIDEO,
    s.LOCATION,
    s.LINK,
    s.SUBSCRIBE,
    s.SUBSCRIBE_SCENE,
    s.UNSUBSCRIBE,
    s.SCAN,
    s.LOCATION_EVENT,
    s.CLICK,
    s.VIEW,
    s.UNKNOWN_TYPE,
    s.UNKNOWN_EVENT,
]


@pytest.mark.parametrize("body", ALL_SAMPLES)
async def test_every_type_is_submitted_converted(
    client: httpx.AsyncClient, submitter: RecordingSubmitter, body: str
) -> None:
    r = await client.post("/wechat", params=signed_params(), content=body.encode())
    assert r.status_code == 200
    assert r.text == "success"
    assert r.headers["content-type"].startswith("text/plain")
    [(message, budget)] = submitter.calls
    assert message == to_inbound(parse_xml(body))
    assert budget == 4.0


async def test_unknown_type_is_not_a_crash(
    client: httpx.AsyncClient, submitter: RecordingSubmitter
) -> None:
    r = await client.post("/wechat", params=signed_params(), content=s.UNKNOWN_TYPE.encode())
    assert r.status_code == 200
    assert submitter.calls[0][0].kind is InboundKind.UNKNOWN
    assert submitter.calls[0][0].raw_type == "miniprogrampage"


async def test_passive_text_reply(
    client: httpx.AsyncClient, submitter: RecordingSubmitter, clock: FakeClock
) -> None:
    submitter.reply = OutboundMessage.of_text("已收到]]>您的反映")
    r = await client.post("/wechat", params=signed_params(), content=s.TEXT.encode())
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/xml")
    fields = parse_xml(r.content)
    assert fields == {
        "ToUserName": s.USER,
        "FromUserName": s.ACCOUNT,
        "CreateTime": str(int(clock().timestamp())),
        "MsgType": "text",
        "Content": "已收到]]>您的反映",
    }


async def test_passive_buttons_become_numbered_text(
    client: httpx.AsyncClient, submitter: RecordingSubmitter
) -> None:
    reply = OutboundMessage.with_buttons(
        "请选择类型", (Button("投诉", "complain"), Button("咨询", "consult"))
    )
    submitter.reply = reply
    r = await client.post("/wechat", params=signed_params(), content=s.TEXT.encode())
    assert parse_xml(r.content)["Content"] == reply.plain_text()


async def test_passive_image_reply(
    client: httpx.AsyncClient, submitter: RecordingSubmitter
) -> None:
    submitter.reply = OutboundMessage(OutboundKind.IMAGE, image_media_id="MEDIA1")
    r = await client.post("/wechat", params=signed_params(), content=s.TEXT.encode())
    fields = parse_xml(r.content)
    assert (fields["MsgType"], fields["MediaId"]) == ("image", "MEDIA1")


async def test_overlong_passive_reply_stays_within_the_limit(
    client: httpx.AsyncClient, submitter: RecordingSubmitter
) -> None:
    submitter.reply = OutboundMessage.of_text("路灯已报修。" * 400)
    r = await client.post("/wechat", params=signed_params(), content=s.TEXT.encode())
    content = parse_xml(r.content)["Content"]
    assert len(content.encode()) <= 2048
    assert content.endswith("。")


async def test_empty_reply_is_success(
    client: httpx.AsyncClient, submitter: RecordingSubmitter
) -> None:
    submitter.reply = OutboundMessage.of_text("  ")
    r = await client.post("/wechat", params=signed_params(), content=s.TEXT.encode())
    assert r.text == "success"


async def test_core_failure_is_500_without_details(
    client: httpx.AsyncClient, submitter: RecordingSubmitter
) -> None:
    submitter.error = RuntimeError("database password is hunter2")
    r = await client.post("/wechat", params=signed_params(), content=s.TEXT.encode())
    assert r.status_code == 500
    assert "hunter2" not in r.text


# -- safe and compatible mode ---------------------------------------------------------


def encrypted_request(inner: str, *, plain_too: str | None = None) -> tuple[dict[str, str], bytes]:
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    enc = crypto.encrypt(inner)
    params = signed_params(encrypt_type="aes", msg_signature=crypto.sign(TS, NONCE, enc))
    if plain_too is None:
        body = (
            f"<xml><ToUserName><![CDATA[{s.ACCOUNT}]]></ToUserName>"
            f"<Encrypt><![CDATA[{enc}]]></Encrypt></xml>"
        )
    else:  # compatible mode: the plaintext fields and Encrypt side by side
        body = plain_too.replace("</xml>", f"<Encrypt><![CDATA[{enc}]]></Encrypt></xml>")
    return params, body.encode()


async def test_safe_mode_round_trip(
    safe_client: httpx.AsyncClient, submitter: RecordingSubmitter, clock: FakeClock
) -> None:
    submitter.reply = OutboundMessage.of_text("您好，已为您登记。")
    params, body = encrypted_request(s.TEXT)
    r = await safe_client.post("/wechat", params=params, content=body)
    assert r.status_code == 200
    [(message, _)] = submitter.calls
    assert message == to_inbound(parse_xml(s.TEXT))

    envelope = parse_xml(r.content)
    assert set(envelope) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    assert envelope["TimeStamp"] == str(int(clock().timestamp()))
    assert envelope["MsgSignature"] == signature(
        TOKEN, envelope["TimeStamp"], envelope["Nonce"], envelope["Encrypt"]
    )
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    reply = parse_xml(crypto.decrypt(envelope["Encrypt"]))
    assert reply["Content"] == "您好，已为您登记。"
    assert (reply["ToUserName"], reply["FromUserName"]) == (s.USER, s.ACCOUNT)


async def test_safe_mode_without_reply_is_success(
    safe_client: httpx.AsyncClient, submitter: RecordingSubmitter
) -> None:
    params, body = encrypted_request(s.CLICK)
    r = await safe_client.post("/wechat", params=params, content=body)
    assert r.text == "success"
    assert submitter.calls[0][0].payload == "MENU_REPORT"


async def test_compatible_mode_uses_the_encrypted_message(
    safe_client: httpx.AsyncClient, submitter: RecordingSubmitter
) -> None:
    decoy = s.xml("text", Content="plaintext decoy", MsgId="999")
    params, body = encrypted_request(s.TEXT, plain_too=decoy)
    r = await safe_client.post("/wechat", params=params, content=body)
    assert r.status_code == 200
    assert submitter.calls[0][0].text == "小区路灯坏了三天了"


async def test_compatible_mode_without_aes_reads_plaintext(
    safe_client: httpx.AsyncClient, submitter: RecordingSubmitter
) -> None:
    _, body = encrypted_request(s.CLICK, plain_too=s.TEXT)
    r = await safe_client.post("/wechat", params=signed_params(), content=body)
    assert r.status_code == 200
    assert submitter.calls[0][0].text == "小区路灯坏了三天了"


@pytest.mark.parametrize(
    "tamper",
    ["msg_signature", "signature", "drop_signature_and_msg_signature"],
)
async def test_safe_mode_bad_signatures_are_403(
    safe_client: httpx.AsyncClient, submitter: RecordingSubmitter, tamper: str
) -> None:
    params, body = encrypted_request(s.TEXT)
    if tamper == "drop_signature_and_msg_signature":
        params.pop("signature")
        params.pop("msg_signature")
    else:
        params[tamper] = "0" * 40
    r = await safe_client.post("/wechat", params=params, content=body)
    assert r.status_code == 403
    assert submitter.calls == []


async def test_safe_mode_for_another_app_is_refused(
    safe_client: httpx.AsyncClient, submitter: RecordingSubmitter
) -> None:
    other = WeChatCrypto(TOKEN, AES_KEY, "wxSOMEONEELSE")
    enc = other.encrypt(s.TEXT)
    params = signed_params(encrypt_type="aes", msg_signature=other.sign(TS, NONCE, enc))
    body = f"<xml><Encrypt><![CDATA[{enc}]]></Encrypt></xml>".encode()
    r = await safe_client.post("/wechat", params=params, content=body)
    assert r.status_code == 403
    assert submitter.calls == []


async def test_safe_mode_garbage_ciphertext_is_400(
    safe_client: httpx.AsyncClient, submitter: RecordingSubmitter
) -> None:
    enc = "AAAA" * 8
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    params = signed_params(encrypt_type="aes", msg_signature=crypto.sign(TS, NONCE, enc))
    body = f"<xml><Encrypt>{enc}</Encrypt></xml>".encode()
    r = await safe_client.post("/wechat", params=params, content=body)
    assert r.status_code == 400
    assert submitter.calls == []


async def test_safe_mode_without_a_key_is_refused(
    client: httpx.AsyncClient, submitter: RecordingSubmitter
) -> None:
    params, body = encrypted_request(s.TEXT)
    r = await client.post("/wechat", params=params, content=body)
    assert r.status_code == 403
    assert submitter.calls == []


def test_config_rejects_a_bad_aes_key(submitter: RecordingSubmitter) -> None:
    cfg = WeChatWebhookConfig(token=TOKEN, app_id=APP_ID, encoding_aes_key="too-short")
    with pytest.raises(ValueError, match="EncodingAESKey"):
        build_wechat_router(cfg, submitter)
