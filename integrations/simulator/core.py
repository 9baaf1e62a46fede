"""The simulator core: plays the WeChat server towards the app's ``/wechat``.

Builds the XML WeChat would send for a resident's action, signs it (and in
safe mode encrypts it) exactly as WeChat does, POSTs it over HTTP, retries
like WeChat when no answer comes within the five seconds, and reads the
passive reply. The page's JSON endpoints and :class:`SimulatorClient` are
both thin wrappers over :class:`Simulator`.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from bot.errors import MinhuError
from integrations.wechat.crypto import WeChatCrypto, signature, verify
from integrations.wechat.xml import cdata, parse_xml

from .config import SimulatorConfig
from .fake_api import TEXT_LIMIT_BYTES, FakeWeChatAPI
from .samples import PLACES, sample_photo_png, sample_voice_amr
from .state import Push, Resident, World

__all__ = [
    "EVENTS",
    "UNAVAILABLE",
    "Reply",
    "SendResult",
    "Simulator",
    "numbered_options",
]

# What WeChat shows the resident when the account's server fails.
UNAVAILABLE = "该公众号暂时无法提供服务，请稍后再试"

# Event names as WeChat spells them; which ones open the 1-minute window.
EVENTS = {
    "subscribe": "subscribe",
    "unsubscribe": "unsubscribe",
    "click": "CLICK",
    "view": "VIEW",
    "scan": "SCAN",
    "location": "LOCATION",
}
WINDOW_EVENTS = {"subscribe", "CLICK", "SCAN"}

_OPTION_LINE = re.compile(r"^\s*(\d{1,2})\s*[.．、]\s*(\S.*?)\s*$")

Status = Literal[
    "reply",  # a passive reply came back
    "no_reply",  # "success" or an empty body
    "http_error",  # the app answered an HTTP error
    "timeout",  # no answer within the time limit, every attempt
    "unreachable",  # the webhook URL could not be reached
    "bad_reply",  # an answer WeChat would not accept
    "not_subscribed",  # the resident does not follow the account: nothing sent
]


def numbered_options(text: str) -> list[tuple[str, str]]:
    """The ``1. 我要反映`` lines of a plain-text menu as ``(number, title)``."""
    options = []
    for line in text.splitlines():
        match = _OPTION_LINE.match(line)
        if match:
            options.append((match.group(1), match.group(2)))
    return options


@dataclass(frozen=True, slots=True)
class Reply:
    """A passive reply as the resident sees it."""

    msg_type: str
    text: str
    media_id: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)

    @property
    def options(self) -> list[tuple[str, str]]:
        return numbered_options(self.text)

    def as_dict(self) -> dict[str, Any]:
        return {
            "msg_type": self.msg_type,
            "text": self.text,
            "media_id": self.media_id,
            "options": [{"id": n, "content": t} for n, t in self.options],
        }


@dataclass(slots=True)
class SendResult:
    """What happened to one resident action."""

    status: Status
    user: str
    msg_type: str
    xml: str = ""
    msg_id: int | None = None
    create_time: int = 0
    http_status: int | None = None
    reply: Reply | None = None
    attempts: int = 0
    elapsed_ms: float | None = None
    reply_signature_ok: bool | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("reply", "no_reply")

    def as_dict(self, config: SimulatorConfig) -> dict[str, Any]:
        return {
            "status": self.status,
            "ok": self.ok,
            "user": self.user,
            "msg_type": self.msg_type,
            # As a string: JavaScript numbers cannot hold a 64-bit MsgId exactly.
            "msg_id": str(self.msg_id) if self.msg_id is not None else None,
            "create_time": self.create_time,
            "mode": config.mode_label,
            "safe_mode": config.safe_mode,
            "http_status": self.http_status,
            "reply": self.reply.as_dict() if self.reply else None,
            "attempts": self.attempts,
            "elapsed_ms": self.elapsed_ms,
            "reply_signature_ok": self.reply_signature_ok,
            "warnings": self.warnings,
            "error": self.error,
            "xml": self.xml,
        }


def _xml(fields: Mapping[str, str | int | float | None]) -> str:
    """WeChat's flat XML: strings as CDATA, numbers bare, ``None`` left out."""
    parts = []
    for tag, value in fields.items():
        if value is None:
            continue
        if isinstance(value, bool):
            raise TypeError("booleans have no WeChat XML form")
        if isinstance(value, int):
            inner = str(value)
        elif isinstance(value, float):
            inner = f"{value:.6f}"
        else:
            inner = cdata(value)
        parts.append(f"<{tag}>{inner}</{tag}>")
    return "<xml>" + "".join(parts) + "</xml>"


def _nonce() -> str:
    return str(secrets.randbelow(9 * 10**9) + 10**9)


class Simulator:
    """State, XML building, signing and posting; plus the fake WeChat API."""

    def __init__(
        self,
        config: SimulatorConfig,
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.http = http
        self.clock = clock
        self.world = World(
            config.app_id,
            clock,
            inbox_size=config.inbox_size,
            transcript_size=config.transcript_size,
            media_limit=config.media_limit,
        )
        self.api = FakeWeChatAPI(self.world, config.app_id, config.app_secret)
        self.crypto = (
            WeChatCrypto(config.token, config.encoding_aes_key, config.app_id)
            if config.encoding_aes_key
            else None
        )
        # Real MsgIds are 64-bit numbers around 2.4e16; keep them unique per run.
        self._msg_ids = itertools.count(24_000_000_000_000_000 + secrets.randbelow(10**15))
        self.places = PLACES

    # -- residents ------------------------------------------------------------

    def resident(self, who: str) -> Resident:
        """A resident by openid, key or name (an unknown key makes a new one)."""
        return self.world.resident(who)

    def residents(self) -> list[Resident]:
        return list(self.world.residents.values())

    def media_url(self, media_id: str) -> str:
        return f"{self.config.base_url}/simulator/media/{media_id}"

    def clear(self, who: str) -> None:
        resident = self.resident(who)
        resident.transcript.clear()
        resident.inbox.clear()

    # -- resident actions -------------------------------------------------------

    async def send_text(
        self, who: str, text: str, *, bizmsgmenuid: str | None = None
    ) -> SendResult:
        resident = self.resident(who)
        fields = self._message_fields(resident, "text")
        fields["Content"] = text
        fields["MsgId"] = next(self._msg_ids)
        if bizmsgmenuid is not None:
            fields["bizmsgmenuid"] = bizmsgmenuid
        return await self._act(resident, "text", fields, text=text)

    async def send_image(
        self,
        who: str,
        data: bytes | None = None,
        *,
        content_type: str = "image/png",
        filename: str = "photo.png",
    ) -> SendResult:
        """Send a photo (the built-in sample without ``data``)."""
        resident = self.resident(who)
        if data is None:
            data, content_type, filename = sample_photo_png(), "image/png", "sample.png"
        self._check_size(data)
        media = self.world.store_media("image", data, content_type, filename)
        fields = self._message_fields(resident, "image")
        fields["PicUrl"] = self.media_url(media.media_id)
        fields["MediaId"] = media.media_id
        fields["MsgId"] = next(self._msg_ids)
        return await self._act(resident, "image", fields, text="[图片]", media_id=media.media_id)

    async def send_voice(
        self,
        who: str,
        data: bytes | None = None,
        *,
        recognition: str | None = None,
        audio_format: str = "amr",
        content_type: str = "audio/amr",
        filename: str = "voice.amr",
    ) -> SendResult:
        """Send a voice note (two seconds of AMR silence without ``data``).

        ``recognition`` is WeChat's own transcript; ``None`` leaves the
        ``Recognition`` field out, as when the account has it switched off.
        """
        resident = self.resident(who)
        if data is None:
            data, content_type, filename = sample_voice_amr(), "audio/amr", "sample.amr"
        self._check_size(data)
        media = self.world.store_media("voice", data, content_type, filename)
        fields = self._message_fields(resident, "voice")
        fields["MediaId"] = media.media_id
        fields["Format"] = audio_format
        fields["MsgId"] = next(self._msg_ids)
        fields["Recognition"] = recognition
        shown = f"[语音] {recognition}" if recognition else "[语音]"
        return await self._act(resident, "voice", fields, text=shown, media_id=media.media_id)

    async def send_location(
        self,
        who: str,
        latitude: float,
        longitude: float,
        *,
        label: str = "",
        scale: int = 16,
    ) -> SendResult:
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise ValueError("latitude/longitude out of range")
        resident = self.resident(who)
        fields = self._message_fields(resident, "location")
        fields["Location_X"] = float(latitude)
        fields["Location_Y"] = float(longitude)
        fields["Scale"] = int(scale)
        fields["Label"] = label
        fields["MsgId"] = next(self._msg_ids)
        shown = f"[位置] {label or ''} ({latitude:.6f}, {longitude:.6f})"
        return await self._act(
            resident,
            "location",
            fields,
            text=shown,
            latitude=latitude,
            longitude=longitude,
            label=label,
        )

    async def send_place(self, who: str, place_key: str) -> SendResult:
        for place in self.places:
            if place.key == place_key:
                return await self.send_location(
                    who, place.latitude, place.longitude, label=place.label, scale=place.scale
                )
        raise KeyError(f"unknown place {place_key!r}")

    async def send_event(self, who: str, event: str, key: str | None = None) -> SendResult:
        """An event: subscribe, unsubscribe, CLICK (key = EventKey), VIEW (key = URL), SCAN."""
        name = EVENTS.get(event.lower())
        if name is None:
            raise ValueError(f"unknown event {event!r}")
        resident = self.resident(who)
        now = self.clock()
        create_time = int(now)
        if self.config.unique_event_times:
            create_time = max(create_time, resident.last_event_time + 1)
        resident.last_event_time = create_time
        fields: dict[str, str | int | float | None] = {
            "ToUserName": self.config.account_id,
            "FromUserName": resident.openid,
            "CreateTime": create_time,
            "MsgType": "event",
            "Event": name,
            "EventKey": key or "",
        }
        if name == "subscribe":
            resident.subscribed = True
        elif name == "unsubscribe":
            resident.subscribed = False
        return await self._act(
            resident, "event", fields, text=self._event_label(name, key), event=name, key=key
        )

    def _event_label(self, name: str, key: str | None) -> str:
        if name == "subscribe":
            return "关注了公众号"
        if name == "unsubscribe":
            return "取消关注了公众号"
        if name == "CLICK":
            title = self._menu_title(key) or key or ""
            return f"点击菜单「{title}」"
        if name == "VIEW":
            return f"点击菜单链接 {key or ''}"
        return f"事件 {name} {key or ''}".strip()

    def _menu_title(self, key: str | None) -> str | None:
        menu, _ = self.api.effective_menu()
        buttons = menu.get("button", [])
        for button in buttons if isinstance(buttons, list) else []:
            if not isinstance(button, dict):
                continue
            for item in [button, *(button.get("sub_button") or [])]:
                if isinstance(item, dict) and item.get("key") == key:
                    return str(item.get("name"))
        return None

    # -- URL verification ---------------------------------------------------------

    async def verify_url(self) -> dict[str, Any]:
        """WeChat's server check: a GET with ``echostr`` that must be echoed."""
        timestamp, nonce, echostr = str(int(self.clock())), _nonce(), _nonce() + _nonce()
        params = {
            "signature": signature(self.config.token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "echostr": echostr,
        }
        try:
            response = await asyncio.wait_for(
                self.http.get(self.config.webhook_url, params=params), self.config.reply_timeout
            )
        except TimeoutError:
            return {"ok": False, "error": "timeout"}
        except httpx.HTTPError as exc:
            return {"ok": False, "error": f"unreachable: {type(exc).__name__}"}
        ok = response.status_code == 200 and response.text.strip() == echostr
        return {"ok": ok, "http_status": response.status_code}

    # -- the WeChat server side ---------------------------------------------------

    def _message_fields(
        self, resident: Resident, msg_type: str
    ) -> dict[str, str | int | float | None]:
        return {
            "ToUserName": self.config.account_id,
            "FromUserName": resident.openid,
            "CreateTime": int(self.clock()),
            "MsgType": msg_type,
        }

    def _check_size(self, data: bytes) -> None:
        if len(data) > self.config.media_max_bytes:
            raise ValueError(f"media over {self.config.media_max_bytes} bytes")

    async def _act(
        self,
        resident: Resident,
        msg_type: str,
        fields: dict[str, str | int | float | None],
        *,
        text: str,
        media_id: str | None = None,
        **extra: Any,
    ) -> SendResult:
        xml = _xml(fields)
        msg_id = fields.get("MsgId")
        create_time = fields["CreateTime"]
        result = SendResult(
            status="no_reply",
            user=resident.openid,
            msg_type=msg_type,
            xml=xml,
            msg_id=msg_id if isinstance(msg_id, int) else None,
            create_time=create_time if isinstance(create_time, int) else 0,
        )
        event = fields.get("Event")
        if msg_type != "event" and not resident.subscribed:
            result.status = "not_subscribed"
            result.error = "未关注公众号：请先关注再发消息"
            self.world.record(resident, "sys", "notice", result.error)
            return result

        self.world.record(
            resident,
            "in",
            msg_type,
            text,
            media_id=media_id,
            msg_id=str(result.msg_id) if result.msg_id is not None else None,
            **extra,
        )
        # WeChat opens the customer-service window when the action arrives.
        now = self.clock()
        if msg_type != "event":
            resident.open_window("message", now)
        elif event in WINDOW_EVENTS:
            resident.open_window("event", now)

        await self._post(resident, xml, result)
        self._record_outcome(resident, result, unsubscribed=event == "unsubscribe")
        return result

    def _signed_request(self, resident: Resident, xml: str) -> tuple[dict[str, str], str]:
        timestamp, nonce = str(int(self.clock())), _nonce()
        params = {
            "signature": signature(self.config.token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "openid": resident.openid,
        }
        if not self.config.safe_mode:
            return params, xml
        assert self.crypto is not None
        encrypt = self.crypto.encrypt(xml)
        params["encrypt_type"] = "aes"
        params["msg_signature"] = signature(self.config.token, timestamp, nonce, encrypt)
        envelope = _xml({"ToUserName": self.config.account_id, "Encrypt": encrypt})
        return params, envelope

    async def _post(self, resident: Resident, xml: str, result: SendResult) -> None:
        response: httpx.Response | None = None
        for attempt in range(1, self.config.attempts + 1):
            result.attempts = attempt
            params, body = self._signed_request(resident, xml)
            started = time.perf_counter()
            try:
                response = await asyncio.wait_for(
                    self.http.post(
                        self.config.webhook_url,
                        params=params,
                        content=body.encode("utf-8"),
                        headers={"Content-Type": "text/xml; charset=utf-8"},
                    ),
                    self.config.reply_timeout,
                )
            except TimeoutError:
                result.elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
                continue  # WeChat tries again with the same message
            except httpx.HTTPError as exc:
                result.status = "unreachable"
                result.error = f"无法连接 {self.config.webhook_url}：{type(exc).__name__}"
                return
            result.elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
            break
        if response is None:
            result.status = "timeout"
            result.error = (
                f"{result.attempts} 次投递都没有在 {self.config.reply_timeout:g} 秒内得到应答"
            )
            return
        result.http_status = response.status_code
        if response.status_code != 200:
            result.status = "http_error"
            result.error = f"webhook 返回 HTTP {response.status_code}"
            return
        body_text = response.text.strip()
        if body_text in ("", "success"):
            result.status = "no_reply"
            return
        try:
            self._read_reply(resident, body_text, result)
        except MinhuError as exc:
            result.status = "bad_reply"
            result.error = f"无法解析被动回复：{exc}"

    def _read_reply(self, resident: Resident, body: str, result: SendResult) -> None:
        outer = parse_xml(body)
        if self.config.safe_mode:
            if "Encrypt" not in outer:
                result.status = "bad_reply"
                result.error = "安全模式下收到了明文回复"
                return
            assert self.crypto is not None
            result.reply_signature_ok = verify(
                outer.get("MsgSignature"),
                self.config.token,
                outer.get("TimeStamp"),
                outer.get("Nonce"),
                outer["Encrypt"],
            )
            if not result.reply_signature_ok:
                result.status = "bad_reply"
                result.error = "被动回复的 MsgSignature 校验失败"
                return
            fields = parse_xml(self.crypto.decrypt(outer["Encrypt"]))
        else:
            if "Encrypt" in outer:
                result.status = "bad_reply"
                result.error = "明文模式下收到了加密回复"
                return
            fields = outer
        reply = self._reply_of(fields)
        if reply is None:
            result.status = "bad_reply"
            result.error = f"不支持的回复类型 {fields.get('MsgType')!r}"
            return
        if fields.get("ToUserName") != resident.openid:
            result.warnings.append("回复的 ToUserName 不是该用户的 openid")
        if fields.get("FromUserName") != self.config.account_id:
            result.warnings.append("回复的 FromUserName 不是公众号原始ID")
        if not fields.get("CreateTime", "").isdigit():
            result.warnings.append("回复缺少 CreateTime")
        if len(reply.text.encode("utf-8")) > TEXT_LIMIT_BYTES:
            result.warnings.append(f"回复超过 {TEXT_LIMIT_BYTES} 字节，微信不会显示")
        result.status = "reply"
        result.reply = reply

    @staticmethod
    def _reply_of(fields: Mapping[str, str]) -> Reply | None:
        msg_type = fields.get("MsgType", "")
        if msg_type == "text":
            return Reply("text", fields.get("Content", ""), fields=dict(fields))
        if msg_type in ("image", "voice", "video"):
            label = {"image": "[图片]", "voice": "[语音]", "video": "[视频]"}[msg_type]
            return Reply(msg_type, label, media_id=fields.get("MediaId"), fields=dict(fields))
        if msg_type == "news":
            text = "\n".join(v for v in (fields.get("Title"), fields.get("Description")) if v)
            return Reply("news", text or "[图文]", fields=dict(fields))
        if msg_type == "transfer_customer_service":
            return Reply(msg_type, "", fields=dict(fields))
        return None

    def _record_outcome(
        self, resident: Resident, result: SendResult, *, unsubscribed: bool
    ) -> None:
        world = self.world
        if result.status == "reply" and result.reply is not None:
            reply = result.reply
            if reply.msg_type == "transfer_customer_service":
                world.record(resident, "sys", "notice", "已转接人工客服（模拟器中没有坐席）")
            elif unsubscribed:
                world.record(resident, "sys", "notice", "已取消关注：被动回复不会显示给用户")
            else:
                world.record(
                    resident,
                    "out",
                    reply.msg_type,
                    reply.text,
                    via="passive",
                    media_id=reply.media_id,
                    options=tuple(reply.options),
                )
        elif not result.ok and result.status != "not_subscribed":
            # What the resident sees, and (for the developer) why.
            world.record(resident, "sys", "unavailable", UNAVAILABLE, detail=result.error)
        for warning in result.warnings:
            world.record(resident, "sys", "warning", warning)

    # -- pushes ---------------------------------------------------------------------

    def last_seq(self) -> int:
        return self.world.last_seq

    def pushes(self, who: str, *, after: int = 0) -> list[Push]:
        return [p for p in self.resident(who).inbox if p.seq > after]

    async def wait_for_push(
        self,
        who: str,
        *,
        after: int = 0,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the test API
    ) -> Push:
        """The first push to ``who`` with a sequence number above ``after``."""
        resident = self.resident(who)
        deadline = time.monotonic() + timeout
        while True:
            for push in resident.inbox:
                if push.seq > after:
                    return push
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no push to {resident.name} within {timeout:g} s")
            await asyncio.sleep(0.01)

    # -- the page's view of the world ---------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        now = self.clock()
        menu, installed = self.api.effective_menu()
        return {
            "mode": self.config.mode_label,
            "safe_mode": self.config.safe_mode,
            "account_id": self.config.account_id,
            "webhook_url": self.config.webhook_url,
            "api_base": f"{self.config.base_url}/simulator/wechat-api",
            "residents": [r.as_dict(now) for r in self.residents()],
            "places": [
                {
                    "key": p.key,
                    "label": p.label,
                    "latitude": p.latitude,
                    "longitude": p.longitude,
                    "scale": p.scale,
                }
                for p in self.places
            ],
            "menu": menu,
            "menu_installed": installed,
            "token_issued": self.api.tokens_issued,
            "api_calls": [c.as_dict() for c in list(self.api.calls)[-10:]],
        }

    def transcript(self, who: str, *, after: int = 0) -> list[dict[str, Any]]:
        return [e.as_dict() for e in self.resident(who).transcript if e.seq > after]
