"""A fake of the WeChat API endpoints minhu calls (domain.md §2, "API").

Framework-free: every method takes the query/body values and returns the
JSON WeChat would answer (``errcode`` 0 or an error), or the media bytes.
The router in :mod:`.router` only translates HTTP to these calls.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .samples import DEFAULT_MENU
from .state import Media, Push, Resident, World

__all__ = ["ApiCall", "FakeWeChatAPI", "MiniProgramUser"]

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

# Subscribe-message value limits by the field key's type prefix (characters).
SUBSCRIBE_FIELD_LIMITS = {
    "thing": 20,
    "character_string": 32,
    "phrase": 5,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "name": 10,
    "phone_number": 17,
    "car_number": 8,
    "time": 40,
    "date": 40,
    "amount": 12,
}
_FIELD_KEY = re.compile(r"^([a-z_]+?)\d+$")
MINIPROGRAM_STATES = ("developer", "trial", "formal")


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


@dataclass
class MiniProgramUser:
    """A WeChat user of a mini-program, as WeChat's servers know them.

    ``consents`` counts the subscribe-message consents per template the user
    gave through ``wx.requestSubscribeMessage``; each message uses one.
    ``messages`` are the subscribe messages they received, oldest first.
    """

    name: str
    app_id: str
    openid: str
    unionid: str
    session_key: str
    phone: str | None = None
    consents: dict[str, int] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)


class FakeWeChatAPI:
    """Token issuing, customer-service and template pushes, menu and media;
    and for mini-programs (registered with :meth:`register_miniprogram`):
    ``jscode2session``, subscribe messages and phone numbers."""

    def __init__(self, world: World, app_id: str, app_secret: str) -> None:
        self.world = world
        self.app_id = app_id
        self.app_secret = app_secret
        self._token: str | None = None
        self._token_expires_at = 0.0
        self.tokens_issued = 0
        self.calls: deque[ApiCall] = deque(maxlen=100)
        # Mini-programs: secrets, access tokens, users, wx.login codes.
        self.miniprograms: dict[str, str] = {}
        self._mp_tokens: dict[str, tuple[str, float]] = {}
        self.mp_users: dict[tuple[str, str], MiniProgramUser] = {}
        self._mp_codes: dict[str, tuple[str, str]] = {}
        self._mp_phone_codes: dict[str, tuple[str, str]] = {}
        self.subscribe_messages: list[dict[str, Any]] = []

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
        if grant_type == "client_credential" and appid is not None and appid in self.miniprograms:
            answer = self._mp_token(appid, secret)
        elif grant_type != "client_credential":
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

    def _mp_token(self, appid: str, secret: str | None) -> dict[str, Any]:
        if secret is None or not secrets.compare_digest(secret, self.miniprograms[appid]):
            return _error(40125, "invalid appsecret")
        token = f"{self.tokens_issued + 80}_mp_" + secrets.token_urlsafe(96)
        self._mp_tokens[appid] = (token, self.world.clock() + TOKEN_LIFETIME_SECONDS)
        self.tokens_issued += 1
        return {"access_token": token, "expires_in": TOKEN_LIFETIME_SECONDS}

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

    # -- mini-programs -----------------------------------------------------------

    def register_miniprogram(self, app_id: str, app_secret: str) -> None:
        """Make WeChat know a mini-program (its AppID and AppSecret)."""
        self.miniprograms[app_id] = app_secret

    def _mp_app(self, app_id: str | None) -> str:
        if app_id is None:
            if len(self.miniprograms) != 1:
                raise ValueError("name the mini-program (several or none are registered)")
            return next(iter(self.miniprograms))
        if app_id not in self.miniprograms:
            raise ValueError(f"no mini-program {app_id} is registered")
        return app_id

    def mp_user(self, name: str, *, app_id: str | None = None) -> MiniProgramUser:
        """The user called ``name`` (created on first use), with a stable openid."""
        app = self._mp_app(app_id)
        user = self.mp_users.get((app, name))
        if user is None:
            digest = hashlib.sha256(f"{app}|{name}".encode()).digest()
            openid = "o" + base64.urlsafe_b64encode(digest).decode("ascii")[:27]
            union = hashlib.sha256(f"union|{name}".encode()).digest()
            user = MiniProgramUser(
                name=name, app_id=app, openid=openid,
                unionid="u" + base64.urlsafe_b64encode(union).decode("ascii")[:27],
                session_key=_session_key(),
            )
            self.mp_users[(app, name)] = user
        return user

    def _mp_by_openid(self, app_id: str, openid: Any) -> MiniProgramUser | None:
        for (app, _), user in self.mp_users.items():
            if app == app_id and user.openid == openid:
                return user
        return None

    def mp_login(self, name: str, *, app_id: str | None = None) -> str:
        """What ``wx.login`` gives the mini-program: a one-time code (valid 5 minutes)."""
        user = self.mp_user(name, app_id=app_id)
        code = secrets.token_hex(16)
        self._mp_codes[code] = (user.app_id, name)
        return code

    def mp_subscribe(
        self, name: str, results: Mapping[str, str], *, app_id: str | None = None
    ) -> dict[str, str]:
        """What ``wx.requestSubscribeMessage`` records on WeChat's side; returns
        the result the mini-program gets (and passes on to the app)."""
        user = self.mp_user(name, app_id=app_id)
        for template_id, choice in results.items():
            if choice == "accept":
                user.consents[template_id] = user.consents.get(template_id, 0) + 1
            elif choice in ("reject", "ban"):
                user.consents[template_id] = 0
        return {"errMsg": "requestSubscribeMessage:ok", **dict(results)}

    def mp_phone(
        self, name: str, phone: str, *, app_id: str | None = None,
        watermark_app_id: str | None = None,
    ) -> dict[str, str]:
        """What the phone-number button gives the mini-program: the number
        encrypted with the current session key (``encrypted_data``, ``iv``),
        and a ``code`` for ``getuserphonenumber``."""
        user = self.mp_user(name, app_id=app_id)
        user.phone = phone
        plain = {
            "phoneNumber": phone, "purePhoneNumber": phone, "countryCode": "86",
            "watermark": {"appid": watermark_app_id or user.app_id,
                          "timestamp": int(self.world.clock())},
        }
        encrypted, iv = _encrypt(user.session_key, plain)
        code = secrets.token_hex(16)
        self._mp_phone_codes[code] = (user.app_id, name)
        return {"encrypted_data": encrypted, "iv": iv, "code": code}

    def jscode2session(
        self, appid: str | None, secret: str | None, js_code: str | None,
        grant_type: str | None,
    ) -> dict[str, Any]:
        answer, user = self._jscode2session(appid, secret, js_code, grant_type)
        self._log("sns/jscode2session", answer, user)
        return answer

    def _jscode2session(
        self, appid: str | None, secret: str | None, js_code: str | None,
        grant_type: str | None,
    ) -> tuple[dict[str, Any], str | None]:
        if appid is None or appid not in self.miniprograms:
            return _error(40013, "invalid appid"), None
        if secret is None or not secrets.compare_digest(secret, self.miniprograms[appid]):
            return _error(40125, "invalid appsecret"), None
        if grant_type != "authorization_code":
            return _error(40002, "invalid grant_type"), None
        found = self._mp_codes.pop(js_code or "", None)
        if found is None or found[0] != appid:
            return _error(40029, "invalid code"), None
        user = self.mp_users[found]
        # Every login gives a new session key; the old one stops working.
        user.session_key = _session_key()
        return {"openid": user.openid, "session_key": user.session_key,
                "unionid": user.unionid}, user.openid

    def _mp_check_token(self, access_token: str | None) -> str | dict[str, Any]:
        """The mini-program whose token this is, or the error to answer."""
        if not access_token:
            return _error(41001, "access_token missing")
        for app_id, (token, expires_at) in self._mp_tokens.items():
            if secrets.compare_digest(access_token, token):
                if self.world.clock() > expires_at:
                    return _error(42001, "access_token expired")
                return app_id
        return _error(40001, "invalid credential, access_token is invalid or not latest")

    def subscribe_send(self, access_token: str | None, body: bytes | str) -> dict[str, Any]:
        answer, user = self._subscribe_send(access_token, body)
        self._log("message/subscribe/send", answer, user)
        return answer

    def _subscribe_send(
        self, access_token: str | None, body: bytes | str
    ) -> tuple[dict[str, Any], str | None]:
        app_id = self._mp_check_token(access_token)
        if isinstance(app_id, dict):
            return app_id, None
        payload = self._json(body)
        if payload is None:
            return _error(47001, "data format error"), None
        user = self._mp_by_openid(app_id, payload.get("touser"))
        if user is None:
            return _error(40003, "invalid openid"), None
        template_id = payload.get("template_id")
        if not isinstance(template_id, str) or not template_id:
            return _error(40037, "invalid template_id"), user.openid
        state = payload.get("miniprogram_state", "formal")
        if state not in MINIPROGRAM_STATES:
            return _error(47003, "argument invalid! miniprogram_state"), user.openid
        data = payload.get("data")
        if not isinstance(data, dict) or not data:
            return _error(47003, "argument invalid! data"), user.openid
        for key, item in data.items():
            value = item.get("value") if isinstance(item, dict) else None
            match = _FIELD_KEY.match(key)
            limit = SUBSCRIBE_FIELD_LIMITS.get(match.group(1)) if match else None
            if not isinstance(value, str) or not value or limit is None or len(value) > limit:
                return _error(47003, f"argument invalid! data.{key}.value invalid"), user.openid
            if match and match.group(1) == "phrase" and not all(
                "\u4e00" <= ch <= "\u9fff" for ch in value
            ):
                return _error(47003, f"argument invalid! data.{key}.value invalid"), user.openid
        if user.consents.get(template_id, 0) <= 0:
            return _error(43101, "user refuse to accept the msg"), user.openid
        user.consents[template_id] -= 1
        message = {
            "touser": user.openid,
            "template_id": template_id,
            "page": payload.get("page"),
            "miniprogram_state": state,
            "data": {k: v["value"] for k, v in data.items()},
            "at": self.world.clock(),
        }
        user.messages.append(message)
        self.subscribe_messages.append(message)
        return {**OK, "msgid": len(self.subscribe_messages)}, user.openid

    def get_user_phone_number(
        self, access_token: str | None, body: bytes | str
    ) -> dict[str, Any]:
        app_id = self._mp_check_token(access_token)
        answer: dict[str, Any]
        if isinstance(app_id, dict):
            answer = app_id
        elif (payload := self._json(body)) is None:
            answer = _error(47001, "data format error")
        else:
            found = self._mp_phone_codes.pop(str(payload.get("code") or ""), None)
            user = self.mp_users.get(found) if found and found[0] == app_id else None
            if user is None or user.phone is None:
                answer = _error(40029, "invalid code")
            else:
                answer = {**OK, "phone_info": {
                    "phoneNumber": user.phone, "purePhoneNumber": user.phone,
                    "countryCode": "86",
                    "watermark": {"timestamp": int(self.world.clock()), "appid": app_id},
                }}
        self._log("wxa/business/getuserphonenumber", answer)
        return answer

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


def _session_key() -> str:
    return base64.b64encode(os.urandom(16)).decode("ascii")


def _encrypt(session_key: str, data: Mapping[str, Any]) -> tuple[str, str]:
    """Encrypt user data as WeChat does: AES-128-CBC under the session key, PKCS#7."""
    key = base64.b64decode(session_key)
    iv = os.urandom(16)
    plain = json.dumps(data, ensure_ascii=False).encode("utf-8")
    pad = 16 - len(plain) % 16
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    cipher_text = encryptor.update(plain) + encryptor.finalize()
    return base64.b64encode(cipher_text).decode("ascii"), base64.b64encode(iv).decode("ascii")
