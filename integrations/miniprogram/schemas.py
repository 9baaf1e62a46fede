"""Request and response bodies of ``/mp/v1`` (they make its OpenAPI schema).

Text fields refuse NUL and other control characters (PostgreSQL cannot
store NUL, and nothing a resident types contains them) and are trimmed.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from bot.types import RATING_LEVELS, REQUEST_TYPES

__all__ = [
    "ButtonOut",
    "ChatIn",
    "ChatOut",
    "ConsentOut",
    "EmergencyNumber",
    "EmergencyOut",
    "InboxOut",
    "LocationIn",
    "LocationOut",
    "MediaOut",
    "MessageOut",
    "OptionsOut",
    "PhoneIn",
    "PhoneOut",
    "RatingIn",
    "RatingOut",
    "RequestCreated",
    "RequestDetail",
    "RequestIn",
    "RequestList",
    "RequestSummary",
    "SessionIn",
    "SessionOut",
    "SubscriptionsOut",
    "SupplementIn",
    "TicketUpdateOut",
    "TimelineEntry",
    "TypeOption",
    "WithdrawIn",
]

CLIENT_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MEDIA_ID_PATTERN = r"^[0-9a-f]{64}$"
TICKET_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
PHONE_PATTERN = r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$"
_ALLOWED_CONTROLS = {"\n", "\t"}
# Requests that need no place (the work-order service's rule too): the others
# must say where it happened.
PLACELESS_TYPES = frozenset({"consult", "suggest", "praise"})


def _clean(value: str) -> str:
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    for ch in value:
        if ch not in _ALLOWED_CONTROLS and unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn"):
            raise ValueError("不能包含控制字符")
    value = value.strip()
    if not value:
        raise ValueError("不能为空")
    return value


Text = Annotated[str, AfterValidator(_clean)]
ClientId = Annotated[
    str, Field(pattern=CLIENT_ID_PATTERN, description="客户端生成的唯一编号，重试时保持不变")
]
MediaId = Annotated[
    str, Field(pattern=MEDIA_ID_PATTERN, description="POST /mp/v1/media 返回的照片编号")
]
RequestType = Literal["consult", "seek_help", "complain", "report", "suggest", "praise"]
RatingLevel = Literal["非常满意", "满意", "基本满意", "不满意", "非常不满意"]

# The literals above are the contract; they must name what the core names.
assert set(get_args(RequestType)) == set(REQUEST_TYPES)
assert get_args(RatingLevel) == RATING_LEVELS


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- login ----------------------------------------------------------------------


class SessionIn(_In):
    code: str = Field(pattern=r"^[\x21-\x7e]{1,128}$", description="wx.login 得到的 code")


class SessionOut(BaseModel):
    token: str = Field(description="之后的请求放在 Authorization: Bearer <token> 里")
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the scheme's name
    expires_at: datetime
    expires_in: int = Field(description="token 的有效秒数")
    phone_bound: bool = Field(description="是否已授权手机号")


class PhoneIn(_In):
    """Either the newer ``code`` of the phone-number button, or its
    ``encrypted_data`` and ``iv`` (decrypted with the session key)."""

    code: str | None = Field(default=None, pattern=r"^[\x21-\x7e]{1,128}$")
    encrypted_data: str | None = Field(default=None, min_length=1, max_length=16384)
    iv: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _one_way(self) -> PhoneIn:
        encrypted = self.encrypted_data is not None or self.iv is not None
        if self.code is None and not (self.encrypted_data and self.iv):
            raise ValueError("需要 code，或 encrypted_data 和 iv")
        if self.code is not None and encrypted:
            raise ValueError("code 与 encrypted_data/iv 只能二选一")
        return self


class PhoneOut(BaseModel):
    phone: str = Field(description="打码后的手机号，如 138****5678")


# -- chat -------------------------------------------------------------------------


class LocationIn(_In):
    latitude: float = Field(ge=-90, le=90, allow_inf_nan=False)
    longitude: float = Field(ge=-180, le=180, allow_inf_nan=False)
    address: Annotated[Text, Field(max_length=200)] | None = None


class LocationOut(BaseModel):
    latitude: float
    longitude: float
    address: str | None = None


class ChatIn(_In):
    """One turn: typed ``text``, a pressed button's ``payload`` (with its
    title as ``text`` if wanted), a ``location``, or a ``photo``."""

    client_msg_id: ClientId
    text: Annotated[Text, Field(max_length=2000)] | None = None
    payload: str | None = Field(default=None, pattern=r"^[^\x00-\x1f\x7f]{1,256}$")
    location: LocationIn | None = None
    photo: MediaId | None = None

    @model_validator(mode="after")
    def _one_thing(self) -> ChatIn:
        given = [
            name for name in ("payload", "location", "photo") if getattr(self, name) is not None
        ]
        if len(given) > 1 or (given and given != ["payload"] and self.text is not None):
            raise ValueError("text、payload、location、photo 一次只能发一种（按钮可附带 text）")
        if not given and self.text is None:
            raise ValueError("需要 text、payload、location 或 photo")
        return self


class ButtonOut(BaseModel):
    title: str
    payload: str = Field(description="按下时作为 payload 发回 POST /mp/v1/chat")


class TicketUpdateOut(BaseModel):
    ticket_id: str
    status: str
    at: datetime
    department: str | None = None
    note: str | None = None


class MessageOut(BaseModel):
    cursor: int | None = Field(default=None, description="消息列表中的位置（即时回复没有）")
    kind: Literal["text", "buttons", "image"]
    text: str
    buttons: list[ButtonOut] = []
    image_url: str | None = None
    ticket_update: TicketUpdateOut | None = None
    via: str | None = Field(default=None, description="inbox 或 subscribe（也发了订阅消息）")
    created_at: datetime | None = None


class ChatOut(BaseModel):
    messages: list[MessageOut] = Field(description="机器人的即时回复（之后的消息到消息列表取）")
    duplicate: bool = Field(description="这条消息之前已处理过（重试）")
    cursor: int = Field(description="用 GET /mp/v1/chat/messages?after=cursor 取后续消息")


class InboxOut(BaseModel):
    messages: list[MessageOut]
    cursor: int = Field(description="下次请求用的 after")


# -- requests ---------------------------------------------------------------------


class RequestIn(_In):
    client_request_id: ClientId
    type: RequestType = Field(description="诉求类型：" + "、".join(
        f"{code}={label}" for code, label in REQUEST_TYPES.items()))
    category: Annotated[Text, Field(max_length=32)] | None = Field(
        default=None, description="一级分类，如“城乡建设”；不填由系统根据描述判断"
    )
    description: Annotated[Text, Field(min_length=2, max_length=2000)]
    location: LocationIn | None = Field(
        default=None, description="事发位置；咨询、建议、表扬以外的诉求必填"
    )
    occurred_at: Annotated[Text, Field(max_length=64)] | None = None
    photos: list[MediaId] = Field(default=[], max_length=9)
    anonymous: bool = False
    phone: str | None = Field(
        default=None, pattern=PHONE_PATTERN,
        description="联系电话；不填且未匿名时，使用已授权的手机号",
    )

    @model_validator(mode="after")
    def _complete(self) -> RequestIn:
        if len(set(self.photos)) != len(self.photos):
            raise ValueError("照片重复")
        if self.location is None and self.type not in PLACELESS_TYPES:
            raise ValueError("请提供事发位置（location）")
        return self


class EmergencyNumber(BaseModel):
    number: str = Field(description="紧急电话号码，如 110")
    label: str = Field(description="用途：报警、火警或急救")


class EmergencyOut(BaseModel):
    """描述读起来是紧急情况（着火、燃气泄漏、有人受伤或被困等）时给出，与对话中的判断相同。
    此时诉求按紧急工单登记，并已通知值班工作人员。小程序应在页面最醒目处展示 ``advice``，
    并可为 ``numbers`` 提供一键拨号（wx.makePhoneCall）。"""

    advice: str = Field(description="请居民立即拨打 110/119/120 的提示，原样展示")
    numbers: list[EmergencyNumber] = Field(description="可一键拨打的紧急电话")
    staff_alerted: bool = Field(description="是否已通知值班工作人员（通知失败时为 false）")


class RequestCreated(BaseModel):
    ticket_id: str | None = Field(description="工单编号；正在登记时为 null，登记后会通知")
    state: Literal["filed", "pending", "rejected"]
    status: str
    department: str | None = None
    due_at: datetime | None = None
    repeated: bool = Field(description="同一个 client_request_id 之前已提交过")
    message: str = Field(description="给居民看的结果说明；紧急情况时以拨打 110/119/120 的提示开头")
    emergency: EmergencyOut | None = Field(
        default=None,
        description="描述读起来是紧急情况时给出（见 EmergencyOut），否则为 null",
    )


class RequestSummary(BaseModel):
    ticket_id: str | None
    type: str
    type_label: str
    category: str
    description: str
    status: str
    state: Literal["filed", "pending", "rejected"]
    created_at: datetime
    updated_at: datetime | None = None
    rating: int | None = None


class RequestList(BaseModel):
    requests: list[RequestSummary]


class TimelineEntry(BaseModel):
    status: str
    at: datetime
    department: str | None = None
    note: str | None = None
    message: str | None = Field(default=None, description="当时推送给用户的话")
    notified: Literal["subscribe", "inbox"] | None = Field(
        default=None, description="subscribe：已发订阅消息；inbox：只在小程序里等用户查看"
    )


class RequestDetail(BaseModel):
    ticket_id: str
    type: str
    type_label: str
    category: str
    description: str
    address: str | None = None
    location: LocationOut | None = None
    photos: list[str] = Field(description="照片编号（GET /mp/v1/media/{id} 查看）")
    anonymous: bool
    phone: str | None = Field(default=None, description="打码后的联系电话")
    status: str
    department: str | None = None
    created_at: datetime
    updated_at: datetime | None = None
    due_at: datetime | None = None
    status_note: str | None = None
    rating: int | None = None
    rating_label: str | None = None
    adopted: bool | None = None
    can_supplement: bool
    can_withdraw: bool
    can_rate: bool
    timeline: list[TimelineEntry]


class SupplementIn(_In):
    client_request_id: ClientId | None = None
    text: Annotated[Text, Field(max_length=2000)]
    photos: list[MediaId] = Field(default=[], max_length=9)


class WithdrawIn(_In):
    client_request_id: ClientId | None = None
    reason: Annotated[Text, Field(max_length=200)] | None = Field(
        default=None,
        description="撤回原因，转给承办部门并记入工单办理记录；不填时记为“群众主动撤回”",
    )


class RatingIn(_In):
    """``score`` 5 (非常满意) … 1 (非常不满意), or the ``level`` by name."""

    client_request_id: ClientId | None = None
    score: int | None = Field(default=None, ge=1, le=5)
    level: RatingLevel | None = None
    comment: Annotated[Text, Field(max_length=500)] | None = None

    @model_validator(mode="after")
    def _one_score(self) -> RatingIn:
        if (self.score is None) == (self.level is None):
            raise ValueError("score 与 level 需要且只能给一个")
        return self

    def value(self) -> int:
        if self.score is not None:
            return self.score
        assert self.level is not None
        return 5 - RATING_LEVELS.index(self.level)


class RatingOut(BaseModel):
    accepted: bool
    reopened: bool
    score: int
    level: str
    message: str


# -- consents, photos, options ----------------------------------------------------


class ConsentOut(BaseModel):
    template_id: str
    choice: Literal["accept", "reject", "ban"]
    remaining: int = Field(description="还可以发送的订阅消息条数")


class SubscriptionsOut(BaseModel):
    status_template_id: str | None = Field(
        description="办理进展订阅消息的模板 ID（wx.requestSubscribeMessage 的 tmplIds）"
    )
    consents: list[ConsentOut]


class MediaOut(BaseModel):
    media_id: str
    content_type: str
    size: int


class TypeOption(BaseModel):
    code: str
    label: str


class OptionsOut(BaseModel):
    request_types: list[TypeOption]
    rating_levels: list[str]
    max_photos: int
    media_max_bytes: int
    media_types: list[str]
    status_template_id: str | None


def is_ticket_id(value: str) -> bool:
    return re.fullmatch(TICKET_ID_PATTERN, value) is not None
