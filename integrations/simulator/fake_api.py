"""A fake of the WeChat API endpoints minhu calls (domain.md §2, "API").

Framework-free: every method takes the query/body values and returns the
JSON WeChat would answer (``errcode`` 0 or an error), or the media bytes.
The router in :mod:`.router` only translates HTTP to these calls.
"""

from __future__ import annotations

import json
import secrets
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .samples import DEFAULT_MENU
from .state import Media, Push, Resident, World

__all__ = ["ApiCall", "FakeWeChatAPI"]

TOKEN_LIFETIME_SECONDS = 7200
TEXT_LIMIT_BYTES = 2048
MENU_TYPES = {
    "click",
    "view",
    "scancode_push",
    "scancode_waitmsg",
    "pic_sysphoto",
    "pic_photo_or_album",
    "pic_weixin",
    "location_select",
    "media_id",
    "article_id",
    "article_view_limited",
    "miniprogram",
}

OK: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}


def _error(code: int, message: str) -> dict[str, Any]:
    return {"errcode": code, "errmsg": f"{message} rid: {secrets.token_hex(4)}"}


@dataclass(frozen=True, slots=True)
class ApiCall:
    at: float
    endpoint: str
    errcode: int
    user: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "endpoint": self.endpoint,
            "errcode": self.errcode,
            "user": self.user,
        }


class FakeWeChatAPI:
    """Token issuing, customer-service and template pushes, menu and media."""

    def __init__(self, world: World, app_id: str, app_secret: str) -> None:
        self.world = world
        self.app_id = app_id
        self.app_secret = app_secret
        self._token: str | None = None
        self._token_expires_at = 0.0
        self.tokens_issued = 0
        self.calls: deque[ApiCall] = deque(maxlen=100)

    @property
    def current_token(self) -> str | None:
        return self._token

    def _log(self, endpoint: str, answer: Mapping[str, Any], user: str | None = None) -> None:
        code = answer.get("errcode", 0)
        self.calls.append(
            ApiCall(self.world.clock(), endpoint, code if isinstance(code, int) else -1, user)
        )

    # -- access token ---------------------------------------------------------

    def token(
        self, grant_type: str | None, appid: str | None, secret: str | None
    ) -> dict[str, Any]:
        if grant_type != "client_credential":
            answer = _error(40002, "invalid grant_type")
        elif appid != self.app_id:
            answer = _error(40013, "invalid appid")
        elif secret != self.app_secret:
            answer = _error(40125, "invalid appsecret")
        else:
            # A new token invalidates the previous one at once.
            self._token = f"{self.tokens_issued + 80}_" + secrets.token_urlsafe(96)
            self._token_expires_at = self.world.clock() + TOKEN_LIFETIME_SECONDS
            self.tokens_issued += 1
            answer = {"access_token": self._token, "expires_in": TOKEN_LIFETIME_SECONDS}
        self._log("token", answer)
        return answer

    def expire_token(self) -> None:
        """Make the current token expired (for tests of the refresh path)."""
        self._token_expires_at = self.world.clock() - 1

    def _check_token(self, access_token: str | None) -> dict[str, Any] | None:
        if not access_token:
            return _error(41001, "access_token missing")
        if self._token is None or not secrets.compare_digest(access_token, self._token):
            return _error(
                40001,
                "invalid credential, access_token is invalid or not latest",
            )
        if self.world.clock() > self._token_expires_at:
            return _error(42001, "access_token expired")
        return None

    @staticmethod
    def _json(body: bytes | str) -> dict[str, Any] | None:
        try:
            value = json.loads(body or b"")
        except (ValueError, UnicodeDecodeError):
            return None
        return value if isinstance(value, dict) else None

    def _push_request(
        self, access_token: str | None, body: bytes | str
    ) -> tuple[dict[str, Any], Resident] | dict[str, Any]:
        """What every push checks first, in WeChat's order: token, JSON body,
        recipient. Returns (payload, resident), or the error to answer."""
        if (bad := self._check_token(access_token)) is not None:
            return bad
        payload = self._json(body)
        if payload is None:
            return _error(47001, "data format error")
        target = self._recipient(payload)
        if isinstance(target, dict):
            return target
        return payload, target

    def _recipient(self, payload: Mapping[str, Any]) -> Resident | dict[str, Any]:
        touser = payload.get("touser")
        resident = self.world.residents.get(touser) if isinstance(touser, str) else None
        if resident is None:
            return _error(40003, "invalid openid")
        if not resident.subscribed:
            return _error(43004, "require subscribe")
        return resident

    def _deliver(self, resident: Resident, push: Push) -> None:
        resident.inbox.append(push)
        self.world.record(
            resident,
            "out",
            push.msg_type,
            push.text,
            via=push.via,
            media_id=push.media_id,
            options=push.options,
            push_seq=push.seq,
            template_id=push.template_id,
            url=push.url,
        )

    # -- customer-service messages ---------------------------------------------

    def custom_send(self, access_token: str | None, body: bytes | str) -> dict[str, Any]:
        answer, user = self._custom_send(access_token, body)
        self._log("message/custom/send", answer, user)
        return answer

    def _custom_send(
        self, access_token: str | None, body: bytes | str
    ) -> tuple[dict[str, Any], str | None]:
        checked = self._push_request(access_token, body)
        if isinstance(checked, dict):
            return checked, None
        payload, target = checked
        parsed = self._parse_custom(payload)
        if isinstance(parsed, dict):
            return parsed, target.openid
        msg_type, text, media_id, options = parsed
        now = self.world.clock()
        if not target.take_window_slot(now):
            return _error(45015, "response out of time limit or subscription is canceled"), (
                target.openid
            )
        self._deliver(
            target,
            Push(
                seq=self.world.next_seq(),
                user=target.openid,
                via="custom",
                msg_type=msg_type,
                at=now,
                text=text,
                media_id=media_id,
                options=options,
                payload=payload,
            ),
        )
        return dict(OK), target.openid

    @staticmethod
    def _parse_custom(
        payload: Mapping[str, Any],
    ) -> tuple[str, str, str | None, tuple[tuple[str, str], ...]] | dict[str, Any]:
        msg_type = payload.get("msgtype")
        section = payload.get(msg_type) if isinstance(msg_type, str) else None
        if not isinstance(section, dict):
            return _error(40008, "invalid message type")
        if msg_type == "text":
            content = section.get("content")
            if not isinstance(content, str) or not content:
                return _error(44003, "empty content")
            if len(content.encode("utf-8")) > TEXT_LIMIT_BYTES:
                return _error(45002, "content size out of limit")
            return "text", content, None, ()
        if msg_type in ("image", "voice"):
            media_id = section.get("media_id")
            if not isinstance(media_id, str) or not media_id:
                return _error(40007, "invalid media_id")
            return msg_type, "[图片]" if msg_type == "image" else "[语音]", media_id, ()
        if msg_type == "msgmenu":
            items = section.get("list")
            if not isinstance(items, list) or not items:
                return _error(40008, "invalid message type")
            options = tuple(
                (str(item.get("id", "")), str(item.get("content", "")))
                for item in items
                if isinstance(item, dict)
            )
            text = "\n".join(
                str(part)
                for part in (section.get("head_content"), section.get("tail_content"))
                if part
            )
            return "msgmenu", text, None, options
        return _error(40008, "invalid message type")

    # -- template messages ------------------------------------------------------

    def template_send(self, access_token: str | None, body: bytes | str) -> dict[str, Any]:
        answer, user = self._template_send(access_token, body)
        self._log("message/template/send", answer, user)
        return answer

    def _template_send(
        self, access_token: str | None, body: bytes | str
    ) -> tuple[dict[str, Any], str | None]:
        checked = self._push_request(access_token, body)
        if isinstance(checked, dict):
            return checked, None
        payload, target = checked
        template_id = payload.get("template_id")
        if not isinstance(template_id, str) or not template_id:
            return _error(40037, "invalid template_id"), target.openid
        data = payload.get("data")
        if not isinstance(data, dict):
            return _error(47001, "data format error"), target.openid
        url = payload.get("url")
        push = Push(
            seq=self.world.next_seq(),
            user=target.openid,
            via="template",
            msg_type="template",
            at=self.world.clock(),
            text=render_template(data),
            template_id=template_id,
            url=url if isinstance(url, str) else None,
            payload=payload,
        )
        self._deliver(target, push)
        return {**OK, "msgid": push.seq}, target.openid

    # -- menu -------------------------------------------------------------------

    def menu_create(self, access_token: str | None, body: bytes | str) -> dict[str, Any]:
        answer = self._menu_create(access_token, body)
        self._log("menu/create", answer)
        return answer

    def _menu_create(self, access_token: str | None, body: bytes | str) -> dict[str, Any]:
        if (bad := self._check_token(access_token)) is not None:
            return bad
        payload = self._json(body)
        if payload is None:
            return _error(47001, "data format error")
        buttons = payload.get("button")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            return _error(40016, "invalid button size")
        for button in buttons:
            if not isinstance(button, dict) or not button.get("name"):
                return _error(40018, "invalid button name size")
            if len(str(button["name"]).encode("utf-8")) > 16:
                return _error(40018, "invalid button name size")
            subs = button.get("sub_button")
            if subs:
                if not isinstance(subs, list) or len(subs) > 5:
                    return _error(40023, "invalid sub button size")
                for sub in subs:
                    if not isinstance(sub, dict) or not sub.get("name"):
                        return _error(40025, "invalid sub button name size")
                    if len(str(sub["name"]).encode("utf-8")) > 60:
                        return _error(40025, "invalid sub button name size")
                    if (bad := _check_leaf(sub)) is not None:
                        return bad
            elif (bad := _check_leaf(button)) is not None:
                return bad
        self.world.menu = {"button": buttons}
        return dict(OK)

    def menu_get(self, access_token: str | None) -> dict[str, Any]:
        if (bad := self._check_token(access_token)) is not None:
            return bad
        if self.world.menu is None:
            return _error(46003, "menu no exist")
        return {"menu": self.world.menu}

    def menu_delete(self, access_token: str | None) -> dict[str, Any]:
        if (bad := self._check_token(access_token)) is not None:
            return bad
        self.world.menu = None
        return dict(OK)

    def effective_menu(self) -> tuple[dict[str, Any], bool]:
        """The menu the page shows, and whether the app installed it."""
        if self.world.menu is not None:
            return self.world.menu, True
        return dict(DEFAULT_MENU), False

    # -- media ------------------------------------------------------------------

    def media_get(self, access_token: str | None, media_id: str | None) -> Media | dict[str, Any]:
        answer: Media | dict[str, Any]
        if (bad := self._check_token(access_token)) is not None:
            answer = bad
        else:
            media = self.world.get_media(media_id or "")
            answer = media if media is not None else _error(40007, "invalid media_id")
        self._log("media/get", answer if isinstance(answer, dict) else OK)
        return answer

    def media_upload(
        self,
        access_token: str | None,
        kind: str | None,
        data: bytes,
        filename: str,
        content_type: str,
    ) -> dict[str, Any]:
        answer: dict[str, Any]
        if (bad := self._check_token(access_token)) is not None:
            answer = bad
        elif kind not in ("image", "voice", "video", "thumb"):
            answer = _error(40004, "invalid media type")
        elif not data:
            answer = _error(41005, "media data missing")
        else:
            media = self.world.store_media(kind, data, content_type, filename)
            answer = {"type": kind, "media_id": media.media_id, "created_at": int(media.created_at)}
        self._log("media/upload", answer)
        return answer


def _check_leaf(button: Mapping[str, Any]) -> dict[str, Any] | None:
    kind = button.get("type")
    if kind not in MENU_TYPES:
        return _error(40017, "invalid button type")
    if kind == "view" and not button.get("url"):
        return _error(40055, "invalid button url domain")
    if kind not in ("view", "media_id", "article_id", "article_view_limited", "miniprogram") and (
        not button.get("key")
    ):
        return _error(40019, "invalid button key size")
    return None


def render_template(data: Mapping[str, Any]) -> str:
    """Template fields as the resident would read them, one per line."""
    lines = []
    for key, field_value in data.items():
        value = field_value.get("value") if isinstance(field_value, dict) else field_value
        if value is None:
            continue
        lines.append(str(value) if key in ("first", "remark") else f"{key}：{value}")
    return "\n".join(lines)
