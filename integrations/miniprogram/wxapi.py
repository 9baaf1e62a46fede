"""The WeChat calls of the mini-program: login, subscribe messages, phone numbers.

``jscode2session`` needs no access token (it takes the app secret); the
others go through a :class:`integrations.wechat.WeChatAPI` for the
mini-program's own app id and secret, which shares and refreshes the access
token exactly as for the official account. Errors::

    transport error, timeout, HTTP 5xx, errcode -1, 45011 ..... DeliveryError (retry later)
    40029, 40163 (bad or used code) ........................... LoginRefused(code=...)
    40226 (a user WeChat blocks as high-risk) ................. LoginRefused(code=40226)
    any other errcode ......................................... ChannelAPIError(code=...)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from bot.errors import ChannelAPIError, DeliveryError
from bot.logs import mask_identifier
from integrations.wechat import WeChatAPI

__all__ = [
    "BAD_CODE_ERRCODES",
    "BLOCKED_USER_ERRCODE",
    "USER_REFUSED_ERRCODE",
    "LoginRefused",
    "MiniProgramAPI",
    "WeChatSession",
]

log = logging.getLogger("minhu.miniprogram.wxapi")

# jscode2session: invalid code, code already used.
BAD_CODE_ERRCODES = frozenset({40029, 40163})
BLOCKED_USER_ERRCODE = 40226
# subscribeMessage.send: the user refused (or has no consent left for) the template.
USER_REFUSED_ERRCODE = 43101
# System busy and the API's frequency limit: worth trying again later.
_BUSY_ERRCODES = frozenset({-1, 45011})
# WeChat's openids are 28 characters; session keys base64 of 16 bytes (24 characters).
_MAX_ID_CHARS = 128


class LoginRefused(ChannelAPIError):
    """WeChat refused the ``wx.login`` code (bad, used or expired) or the user."""


@dataclass(frozen=True, slots=True)
class WeChatSession:
    openid: str
    session_key: str
    unionid: str | None = None


class MiniProgramAPI:
    def __init__(
        self, http: httpx.AsyncClient, api: WeChatAPI, *, base_url: str, app_id: str,
        app_secret: str,
    ) -> None:
        self._http = http
        self._api = api
        self._base = base_url.rstrip("/")
        self.app_id = app_id
        self._secret = app_secret

    async def code_to_session(self, code: str) -> WeChatSession:
        """``GET /sns/jscode2session``: the user behind a ``wx.login`` code."""
        path = "/sns/jscode2session"
        try:
            response = await self._http.get(
                self._base + path,
                params={
                    "appid": self.app_id,
                    "secret": self._secret,
                    "js_code": code,
                    "grant_type": "authorization_code",
                },
            )
        except httpx.TimeoutException as exc:
            raise DeliveryError("WeChat jscode2session timed out") from exc
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"WeChat jscode2session unreachable: {type(exc).__name__}"
            ) from exc
        if response.status_code >= 500:
            raise DeliveryError(f"WeChat jscode2session answered HTTP {response.status_code}")
        if response.status_code != 200:
            raise ChannelAPIError(f"WeChat jscode2session answered HTTP {response.status_code}")
        data = _object(response)
        code_value = _errcode(data)
        if code_value:
            text = f"WeChat jscode2session errcode {code_value}: {data.get('errmsg')}"
            if code_value in _BUSY_ERRCODES:
                raise DeliveryError(text)
            if code_value in BAD_CODE_ERRCODES or code_value == BLOCKED_USER_ERRCODE:
                raise LoginRefused(text, code=code_value)
            raise ChannelAPIError(text, code=code_value)
        openid, session_key = data.get("openid"), data.get("session_key")
        if not _id(openid) or not _id(session_key):
            raise ChannelAPIError("WeChat jscode2session answered without openid/session_key")
        unionid = data.get("unionid")
        log.info("mini-program login", extra={"openid": mask_identifier(str(openid))})
        return WeChatSession(
            openid=str(openid), session_key=str(session_key),
            unionid=str(unionid) if _id(unionid) else None,
        )

    async def send_subscribe(
        self, openid: str, template_id: str, data: Mapping[str, Any], *,
        page: str | None, state: str, lang: str = "zh_CN",
    ) -> None:
        """``subscribeMessage.send``; raises ``ChannelAPIError(code=43101)`` when
        the user has no consent for the template."""
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": dict(data),
            "miniprogram_state": state,
            "lang": lang,
        }
        if page:
            body["page"] = page
        await self._api.call("POST", "/cgi-bin/message/subscribe/send", body=body)

    async def phone_number(self, code: str) -> str:
        """The phone number behind a ``getPhoneNumber`` code (the newer flow)."""
        answer = await self._api.call(
            "POST", "/wxa/business/getuserphonenumber", body={"code": code}
        )
        info = answer.get("phone_info")
        if not isinstance(info, dict):
            raise ChannelAPIError("WeChat getuserphonenumber answered without phone_info")
        watermark = info.get("watermark")
        if isinstance(watermark, dict) and watermark.get("appid") not in (None, self.app_id):
            raise ChannelAPIError("WeChat getuserphonenumber answered for another app")
        number = info.get("purePhoneNumber") or info.get("phoneNumber")
        if not isinstance(number, str) or not number:
            raise ChannelAPIError("WeChat getuserphonenumber answered without a number")
        return number


def _object(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise ChannelAPIError("WeChat jscode2session answered with invalid JSON") from exc
    if not isinstance(data, dict):
        raise ChannelAPIError("WeChat jscode2session answered with a non-object")
    return data


def _errcode(data: Mapping[str, Any]) -> int:
    value = data.get("errcode", 0)
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= _MAX_ID_CHARS and value.isprintable()
