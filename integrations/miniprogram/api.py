"""The REST API the mini-program calls, mounted at ``/mp/v1`` (its own OpenAPI
schema at ``/mp/v1/openapi.json``, docs at ``/mp/v1/docs``).

It is a FastAPI application of its own, so that its error handling (one
JSON shape with a stable code and a Chinese message, 422 for validation)
does not change the other routes. Everything but the login and the options
needs ``Authorization: Bearer <token>``; each user has a rate limit.

The API is another door to the same bot: a chat turn is an
``InboundMessage`` through the same ingest (journal, dispatcher, handlers),
and a form goes to the same ticket desk as the dialogue's confirmation.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the routes'
# annotations at definition time, and some name objects local to the builder.

import hashlib
import json
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import (
    Body,
    Depends,
    FastAPI,
    File,
    Form,
    Path,
    Query,
    Request,
    Security,
    UploadFile,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.errors import (
    BackendRejected,
    BackendUnavailable,
    ChannelAPIError,
    DeliveryError,
    MalformedPayload,
    MinhuError,
    SignatureError,
    StorageError,
    TicketNotFound,
    UnsupportedByBackend,
)
from bot.ingest import Submitter
from bot.logs import mask_identifier
from bot.ports import (
    StaffAlerts,
    SubmissionState,
    SubmitResult,
    TicketRecord,
    Tickets,
    Understanding,
)
from bot.types import (
    EMERGENCY_ADVICE,
    EMERGENCY_NUMBERS,
    RATING_LEVELS,
    REOPEN_AT_OR_BELOW,
    REQUEST_TYPES,
    Channel,
    ConversationKey,
    InboundKind,
    InboundMessage,
    Intent,
    Location,
    OutboundMessage,
    StatusChange,
    Ticket,
    TicketDraft,
    TicketStatus,
    rating_label,
)
from integrations.media.store import AUDIO_TYPES, MEDIA_ID, MEDIA_TYPES, sniff, sniff_audio
from integrations.miniprogram.channel import (
    MAX_JSON_BYTES,
    MAX_PHOTOS,
    MULTIPART_OVERHEAD_BYTES,
    MiniProgramChannel,
)
from integrations.miniprogram.crypto import decrypt_user_data
from integrations.miniprogram.errors import ApiError, FieldError, error_responses
from integrations.miniprogram.schemas import (
    CLIENT_ID_PATTERN,
    PHONE_PATTERN,
    ButtonOut,
    ChatIn,
    ChatOut,
    ConsentOut,
    EmergencyNumber,
    EmergencyOut,
    InboxOut,
    LocationOut,
    MediaOut,
    MessageOut,
    OptionsOut,
    PhoneIn,
    PhoneOut,
    RatingIn,
    RatingOut,
    RequestCreated,
    RequestDetail,
    RequestIn,
    RequestList,
    RequestSummary,
    SessionIn,
    SessionOut,
    SubscriptionsOut,
    SupplementIn,
    TicketUpdateOut,
    TimelineEntry,
    TypeOption,
    WithdrawIn,
    is_ticket_id,
)
from integrations.miniprogram.store import CONSENT_CHOICES, Consent, InboxEntry
from integrations.miniprogram.wxapi import BLOCKED_USER_ERRCODE, LoginRefused
from nlu.keywords import KeywordUnderstanding

__all__ = ["BodyLimit", "build_miniprogram_app"]

log = logging.getLogger("minhu.miniprogram.api")

# Seen by the mini-program as the app's version of this API.
API_VERSION = "1.0.0"
# The most consents one PUT may carry (wx.requestSubscribeMessage takes 3 at a time).
MAX_CONSENT_ITEMS = 20
# The largest voice recording a chat turn may upload (60 s of mp3 is well below).
VOICE_MAX_BYTES = 2 * 1024 * 1024
_TEMPLATE_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_LISTED = 50
# The intent the dialogue answers with the emergency numbers (handlers.emergency).
EMERGENCY_INTENT = "emergency"
# Form types that are never an emergency, whatever words they use (a praise of
# the firefighters, a suggestion about fire safety).
NO_EMERGENCY_TYPES = frozenset({"praise", "suggest"})


class BodyLimit:
    """Cuts a request body off beyond its limit, answering 413 in the API's shape.

    ``uploads`` is the limit of ``POST .../media``; ``default`` of every other
    request. A ``Content-Length`` over the limit is refused before anything
    is read; a body that runs over it while streaming is cut off there (the
    app sees the client go away, and its answer is replaced by the 413).
    """

    def __init__(self, app: ASGIApp, *, default: int, uploads: int) -> None:
        self.app = app
        self.default = default
        self.uploads = uploads

    def _limit(self, scope: Scope) -> int:
        path = str(scope.get("path", "")).rstrip("/")
        return self.uploads if scope.get("method") == "POST" and path.endswith(
            ("/media", "/chat/voice")) else self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(send)
            return
        received = 0
        exceeded = False

        async def limited() -> Message:
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        answered = False

        async def guarded(message: Message) -> None:
            nonlocal answered
            if not exceeded:
                await send(message)
            elif not answered and message["type"] == "http.response.start":
                answered = True
                await _too_large(send)

        await self.app(scope, limited, guarded)
        if exceeded and not answered:
            await _too_large(send)


async def _too_large(send: Send) -> None:
    body = json.dumps(ApiError("payload_too_large").body(), ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]})
    await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True, slots=True)
class Caller:
    openid: str
    key: ConversationKey


def _action_id(action: str, key: ConversationKey, client_id: str | None) -> str:
    """The idempotency key of a user's act: the same for a retried request
    (same client id), a fresh one when the client gave none."""
    seed = f"mp|{action}|{key.as_str()}|{client_id or secrets.token_hex(16)}"
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()[:32]


def _message_id(openid: str, client_msg_id: str) -> str:
    """The journal deduplicates per (channel, account, message id): the
    client's id is made unique per user, so two users' ids never collide."""
    digest = hashlib.sha256(f"{openid}|{client_msg_id}".encode()).hexdigest()[:40]
    return f"mp-{digest}"


def mask_phone(phone: str) -> str:
    digits = phone.replace("-", "")
    if len(digits) == 11 and digits.startswith("1"):
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) > 4:
        return f"{digits[:3]}****{digits[-4:]}"
    return "****"


def _message_out(message: OutboundMessage, entry: InboxEntry | None = None) -> MessageOut:
    change = message.ticket_update
    return MessageOut(
        cursor=entry.cursor if entry else None,
        kind=message.kind.value,
        text=message.text,
        buttons=[ButtonOut(title=b.title, payload=b.payload) for b in message.buttons],
        image_url=message.image_url,
        ticket_update=TicketUpdateOut(
            ticket_id=change.ticket_id, status=change.status.value, at=change.at,
            department=change.department, note=change.note,
        ) if change else None,
        via=entry.via if entry else None,
        created_at=entry.created_at if entry else None,
    )


def _state(record: TicketRecord) -> str:
    if record.state is SubmissionState.REJECTED:
        return "rejected"
    return "filed" if record.ticket_id else "pending"


def _status_label(record: TicketRecord) -> str:
    if record.state is SubmissionState.REJECTED:
        return "已转人工登记"
    if record.ticket_id is None:
        return "登记中"
    return (record.status or TicketStatus.ACCEPTED).value


def _consent_out(consents: Sequence[Consent]) -> list[ConsentOut]:
    return [
        ConsentOut(template_id=c.template_id, choice=c.choice,  # type: ignore[arg-type]
                   remaining=c.remaining)
        for c in consents
    ]


def _rejection(exc: BackendRejected) -> str | None:
    """The backend's reason when it is written for people (Chinese), else None."""
    text = str(exc).strip()
    return text if re.search(r"[\u4e00-\u9fff]", text) else None


def _ticket_error(exc: MinhuError) -> ApiError:
    if isinstance(exc, TicketNotFound):
        return ApiError("not_found")
    if isinstance(exc, UnsupportedByBackend):
        return ApiError("not_supported")
    if isinstance(exc, BackendRejected):
        reason = _rejection(exc)
        return ApiError("not_allowed", f"这件诉求目前不能这样操作：{reason}" if reason else None)
    if isinstance(exc, BackendUnavailable):
        return ApiError("backend_busy")
    return ApiError("internal_error")


# -- the timeline -------------------------------------------------------------------


def _same_change(a: StatusChange, b: StatusChange) -> bool:
    return a.status is b.status and abs(a.at - b.at) < timedelta(seconds=1)


def _timeline(ticket: Ticket, updates: Sequence[InboxEntry]) -> list[TimelineEntry]:
    """The backend's history, each step with how the user was told of it;
    steps the backend does not show (it was unreachable) from the pushes."""
    pushed = [(e, e.message.ticket_update) for e in updates if e.message.ticket_update]
    used: set[int] = set()
    entries: list[TimelineEntry] = []

    def told(change: StatusChange) -> InboxEntry | None:
        for entry, update in pushed:
            if entry.cursor not in used and update is not None and _same_change(update, change):
                used.add(entry.cursor)
                return entry
        return None

    for change in ticket.history:
        entry = told(change)
        entries.append(TimelineEntry(
            status=change.status.value, at=change.at, department=change.department,
            note=change.note, message=entry.message.text if entry else None,
            notified="subscribe" if entry and entry.via == "subscribe" else
            "inbox" if entry else None,
        ))
    for entry, update in pushed:
        if entry.cursor in used or update is None:
            continue
        entries.append(TimelineEntry(
            status=update.status.value, at=update.at, department=update.department,
            note=update.note, message=entry.message.text,
            notified="subscribe" if entry.via == "subscribe" else "inbox",
        ))
    entries.sort(key=lambda e: e.at)
    return entries


# -- the application -----------------------------------------------------------------


def build_miniprogram_app(
    channel: MiniProgramChannel,
    *,
    ingest: Submitter,
    tickets: Tickets,
    alerts: StaffAlerts,
    understanding: Understanding | None = None,
) -> FastAPI:
    """The ``/mp/v1`` application over ``channel``, feeding chat turns to the
    bot's ``ingest`` and forms to its ticket desk (``tickets``)."""
    config = channel.config
    store = channel.store
    template_id = config.template.template_id if config.template else None
    # Read a form when the Understanding is missing or fails (the dialogue's fallback too).
    keywords = KeywordUnderstanding()

    app = FastAPI(
        title="minhu 小程序接口",
        version=API_VERSION,
        description=(
            "民呼小程序的接口：登录、对话、表单提交诉求、查询进展、补充、撤回、评价、"
            "订阅消息授权、照片上传。除登录与选项外，都需要 Authorization: Bearer <token>。"
            "所有错误都是 JSON：{\"error\": {\"code\": \"...\", \"message\": \"...\"}}。"
        ),
    )
    app.add_middleware(
        BodyLimit, default=MAX_JSON_BYTES,
        uploads=config.media_max_bytes + MULTIPART_OVERHEAD_BYTES,
    )
    bearer = HTTPBearer(auto_error=False, description="POST /mp/v1/session 换到的 token")

    # -- errors: one shape everywhere ------------------------------------------------

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = []
        message = None
        for error in exc.errors()[:10]:
            location = ".".join(str(part) for part in error.get("loc", ()))
            reason = str(error.get("msg", "")).removeprefix("Value error, ")[:200]
            fields.append(FieldError(field=location, reason=reason))
            if message is None:
                # Our own checks explain themselves in Chinese; others name the field.
                chinese = re.search(r"[\u4e00-\u9fff]", reason)
                message = (f"提交的内容不符合要求：{reason}" if chinese
                           else f"提交的内容不符合要求（{location}）")
        return await api_error(_, ApiError("validation_failed", message, fields=fields))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            404: "no_route", 405: "method_not_allowed", 413: "payload_too_large",
            415: "unsupported_media_type", 422: "validation_failed", 429: "rate_limited",
        }.get(exc.status_code, "bad_request" if exc.status_code < 500 else "internal_error")
        error = ApiError(code)
        response = JSONResponse(error.body(), status_code=exc.status_code,
                                headers=getattr(exc, "headers", None))
        return response

    @app.exception_handler(BackendUnavailable)
    async def backend_down(request: Request, exc: BackendUnavailable) -> JSONResponse:
        log.warning("ticket backend unavailable: %s", exc)
        return await api_error(request, ApiError("backend_busy"))

    @app.exception_handler(StorageError)
    async def storage_down(request: Request, exc: StorageError) -> JSONResponse:
        log.error("storage failed during a mini-program request: %s", exc)
        return await api_error(request, ApiError("service_busy"))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("mini-program request failed", exc_info=exc)
        return await api_error(request, ApiError("internal_error"))

    # -- who is calling --------------------------------------------------------------

    def limit(key: str) -> None:
        wait = channel.limiter.take(key)
        if wait is not None:
            raise ApiError("rate_limited",
                           headers={"Retry-After": channel.limiter.retry_after(wait)})

    async def caller(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> Caller:
        if credentials is None:
            raise ApiError("unauthorized", headers={"WWW-Authenticate": "Bearer"})
        session = channel.sessions.verify(credentials.credentials)
        if session is None:
            raise ApiError("session_expired",
                           headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        limit(f"user:{session.openid}")
        return Caller(
            openid=session.openid,
            key=ConversationKey(Channel.MINIPROGRAM, config.app_id, session.openid),
        )

    User = Annotated[Caller, Depends(caller)]
    auth = error_responses("unauthorized", "session_expired")

    # -- login -----------------------------------------------------------------------

    @app.post("/session", response_model=SessionOut, tags=["登录"],
              summary="用 wx.login 的 code 登录，换取 token",
              responses=error_responses("invalid_code", "login_blocked",
                                        "wechat_unavailable", "wechat_error"))
    async def login(body: SessionIn, request: Request) -> SessionOut:
        address = request.client.host if request.client else "unknown"
        limit(f"addr:{address}")
        try:
            session = await channel.api.code_to_session(body.code)
        except LoginRefused as exc:
            raise ApiError(
                "login_blocked" if exc.code == BLOCKED_USER_ERRCODE else "invalid_code"
            ) from exc
        except DeliveryError as exc:
            raise ApiError("wechat_unavailable") from exc
        except ChannelAPIError as exc:
            log.error("jscode2session failed: %s", exc)
            raise ApiError("wechat_error") from exc
        user = await store.login(session.openid, session_key=session.session_key,
                                 unionid=session.unionid)
        token, issued = channel.sessions.issue(session.openid)
        now = channel.clock()
        return SessionOut(
            token=token, expires_at=issued.expires_at,
            expires_in=max(0, int((issued.expires_at - now).total_seconds())),
            phone_bound=user.phone is not None,
        )

    @app.post("/phone", response_model=PhoneOut, tags=["登录"],
              summary="用户同意后，记录其手机号（加密数据或手机号 code）",
              responses={**auth, **error_responses(
                  "bad_encrypted_data", "wrong_app", "invalid_phone_code",
                  "wechat_unavailable", "wechat_error")})
    async def phone(body: PhoneIn, user: User) -> PhoneOut:
        record = await store.user(user.openid)
        if record is None:
            raise ApiError("session_expired")
        if body.code is not None:
            try:
                number = await channel.api.phone_number(body.code)
            except DeliveryError as exc:
                raise ApiError("wechat_unavailable") from exc
            except ChannelAPIError as exc:
                if exc.code in (40029, 40163, 40013, 47001, 40003):
                    raise ApiError("invalid_phone_code") from exc
                log.error("getuserphonenumber failed: %s", exc)
                raise ApiError("wechat_error") from exc
        else:
            assert body.encrypted_data is not None and body.iv is not None
            try:
                data = decrypt_user_data(record.session_key, body.encrypted_data, body.iv,
                                         app_id=config.app_id)
            except SignatureError as exc:
                raise ApiError("wrong_app") from exc
            except MalformedPayload as exc:
                raise ApiError("bad_encrypted_data") from exc
            value = data.get("purePhoneNumber") or data.get("phoneNumber")
            number = value if isinstance(value, str) else ""
        number = number.strip().removeprefix("+86")
        if not re.fullmatch(PHONE_PATTERN, number):
            raise ApiError("bad_encrypted_data", "手机号格式不正确，请重新授权")
        await store.set_phone(user.openid, number)
        log.info("phone number recorded with consent",
                 extra={"openid": mask_identifier(user.openid)})
        return PhoneOut(phone=mask_phone(number))

    # -- chat ------------------------------------------------------------------------

    @app.post("/chat", response_model=ChatOut, tags=["对话"],
              summary="发一条消息（与公众号同一套对话）",
              responses={**auth, **error_responses("unknown_media")})
    async def chat(body: ChatIn, user: User) -> ChatOut:
        kind = InboundKind.TEXT
        location = None
        media_id = media_url = None
        if body.location is not None:
            kind = InboundKind.LOCATION
            location = Location(body.location.latitude, body.location.longitude,
                                label=body.location.address)
        elif body.photo is not None:
            await owned(user, [body.photo])
            kind = InboundKind.IMAGE
            media_id, media_url = body.photo, channel.media_url(body.photo)
        message = InboundMessage(
            key=user.key,
            message_id=_message_id(user.openid, body.client_msg_id),
            kind=kind,
            received_at=channel.clock(),
            text=body.text,
            payload=body.payload,
            media_id=media_id,
            media_url=media_url,
            location=location,
            raw_type="miniprogram",
        )
        return await submit_chat(message)

    async def submit_chat(message: InboundMessage) -> ChatOut:
        """Run the message's turn; the passive answer, and the cursor to read later ones from."""
        cursor = await store.latest_cursor(message.key)
        submission = await ingest.submit(message, passive_budget=config.reply_budget_seconds)
        reply = submission.reply
        return ChatOut(
            messages=[_message_out(reply)] if reply is not None else [],
            duplicate=bool(submission.duplicate), cursor=cursor,
        )

    @app.post("/chat/voice", response_model=ChatOut, tags=["对话"],
              summary="发一段语音（录音 mp3 或 aac，60秒以内）",
              description=(
                  "识别需要一点时间：回复里通常是“正在识别语音…”，识别结果"
                  "（“您说的是：…对吗？”）随后从 GET /mp/v1/chat/messages 取。"
              ),
              responses={**auth, **error_responses(
                  "payload_too_large", "unsupported_media_type")})
    async def chat_voice(
        file: Annotated[UploadFile, File(description="录音文件（mp3 或 aac）")],
        client_msg_id: Annotated[str, Form(pattern=CLIENT_ID_PATTERN,
                                           description="客户端生成的唯一编号，重试时保持不变")],
        user: User,
    ) -> ChatOut:
        data = await file.read(VOICE_MAX_BYTES + 1)
        if len(data) > VOICE_MAX_BYTES:
            raise ApiError("payload_too_large",
                           f"录音太大了（不能超过{VOICE_MAX_BYTES // (1024 * 1024)}MB），"
                           "请说短一些，60秒以内")
        content_type = sniff_audio(data[:16])
        if content_type is None:
            raise ApiError("unsupported_media_type", "只支持 mp3、aac 格式的录音")
        stored = await channel.media.save(data, content_type)
        message = InboundMessage(
            key=user.key,
            message_id=_message_id(user.openid, client_msg_id),
            kind=InboundKind.VOICE,
            received_at=channel.clock(),
            media_id=stored.media_id,
            media_format=AUDIO_TYPES[content_type],
            raw_type="miniprogram:voice",
        )
        return await submit_chat(message)

    @app.get("/chat/messages", response_model=InboxOut, tags=["对话"],
             summary="取机器人之后发来的消息（含办理进展）", responses=auth)
    async def messages(
        user: User,
        after: Annotated[int, Query(ge=0, le=2**62, description="上次得到的 cursor")] = 0,
        limit_: Annotated[int, Query(alias="limit", ge=1, le=100)] = 50,
    ) -> InboxOut:
        entries = await store.inbox(user.key, after=after, limit=limit_)
        return InboxOut(
            messages=[_message_out(e.message, e) for e in entries],
            cursor=entries[-1].cursor if entries else after,
        )

    # -- requests ----------------------------------------------------------------------

    async def owned(user: Caller, ids: Sequence[str]) -> list[str]:
        """Links to the user's own photos ``ids``; 422 for any other."""
        found = await store.owned_media(user.openid, ids)
        missing = [i for i in ids if i not in found]
        if missing:
            raise ApiError("unknown_media", fields=[
                FieldError(field="photos", reason=f"unknown media {m[:12]}…") for m in missing
            ])
        return [channel.media_url(i) for i in ids]

    async def reading_of(body: RequestIn) -> Intent:
        """What the description says, as the dialogue would read it: the
        container's Understanding (Rasa, falling back to the keyword rules),
        or the keyword rules themselves when that is missing or fails."""
        if understanding is not None:
            try:
                return await understanding.parse(body.description)
            except MinhuError:
                log.warning("could not read a form's description; using the keyword rules")
        return keywords.parse_sync(body.description)

    @app.post("/requests", status_code=201, response_model=RequestCreated, tags=["诉求"],
              summary="用表单直接提交诉求",
              responses={**auth, 202: {"model": RequestCreated,
                                       "description": "已收到，正在登记（登记后通知工单编号）"},
                         **error_responses("unknown_media", "backend_busy")})
    async def create_request(body: RequestIn, user: User) -> JSONResponse:
        photos = await owned(user, body.photos)
        reading = await reading_of(body)
        # The dialogue's emergency check (handlers.emergency): the same reading.
        emergency = reading.name == EMERGENCY_INTENT and body.type not in NO_EMERGENCY_TYPES
        phone = body.phone
        if phone is None and not body.anonymous:
            record = await store.user(user.openid)
            phone = record.phone if record is not None else None
        location = None
        address = body.location.address if body.location else None
        if body.location is not None:
            location = Location(body.location.latitude, body.location.longitude, label=address)
        draft = TicketDraft(
            request_type=body.type,
            category=body.category or reading.category or "其他",
            description=body.description,
            address=address,
            location=location,
            occurred_at=body.occurred_at,
            phone=phone,
            photos=tuple(photos),
            anonymous=body.anonymous,
            urgent=emergency,
        )
        result: SubmitResult = await tickets.submit(
            user.key, draft, submission_id=_action_id("form", user.key, body.client_request_id)
        )
        alerted: bool | None = None
        if result.repeated:
            # A retry: the first submission decided (and alerted staff once).
            emergency = result.record.draft.urgent
        elif emergency:
            alerted = True
            try:
                await alerts.alert(kind="emergency", key=user.key, text=body.description,
                                   ticket_id=result.ticket_id)
            except MinhuError:
                alerted = False
                log.exception("could not alert staff to an emergency from a form")
        created = _created(result, emergency=emergency, alerted=alerted)
        return JSONResponse(created.model_dump(mode="json"),
                            status_code=201 if created.ticket_id else 202)

    @app.get("/requests", response_model=RequestList, tags=["诉求"],
             summary="我的诉求（最新的在前）", responses=auth)
    async def list_requests(
        user: User, limit_: Annotated[int, Query(alias="limit", ge=1, le=_LISTED)] = 20,
    ) -> RequestList:
        records = await tickets.mine(user.key, limit=limit_)
        return RequestList(requests=[
            RequestSummary(
                ticket_id=r.ticket_id, type=r.draft.request_type,
                type_label=REQUEST_TYPES.get(r.draft.request_type, "诉求"),
                category=r.draft.category, description=r.draft.description,
                status=_status_label(r), state=_state(r),  # type: ignore[arg-type]
                created_at=r.created_at, updated_at=r.status_at, rating=r.rating,
            )
            for r in records
        ])

    TicketId = Annotated[str, Path(max_length=64, description="工单编号")]

    async def detail(user: Caller, ticket_id: str, ticket: Ticket | None = None) -> RequestDetail:
        if ticket is None or not ticket.history:
            ticket = await tickets.lookup(user.key, ticket_id) if is_ticket_id(ticket_id) else None
        if ticket is None:
            raise ApiError("not_found")
        updates = await store.ticket_updates(user.key, ticket.ticket_id)
        record = next(
            (r for r in await tickets.mine(user.key, limit=_LISTED)
             if r.ticket_id == ticket.ticket_id), None,
        )
        draft = record.draft if record is not None else ticket.draft
        photos = [m for m in (channel.media_id_of(p) for p in draft.photos) if m]
        location = draft.location or ticket.draft.location
        status = ticket.status
        rating = ticket.rating if ticket.rating is not None else (
            record.rating if record else None)
        return RequestDetail(
            ticket_id=ticket.ticket_id,
            type=draft.request_type or ticket.draft.request_type,
            type_label=REQUEST_TYPES.get(draft.request_type or ticket.draft.request_type,
                                         "诉求"),
            category=draft.category, description=draft.description or ticket.draft.description,
            address=draft.address or ticket.draft.address,
            location=LocationOut(latitude=location.latitude, longitude=location.longitude,
                                 address=location.label) if location else None,
            photos=photos, anonymous=draft.anonymous,
            phone=mask_phone(draft.phone) if draft.phone else None,
            status=status.value, department=ticket.department,
            created_at=ticket.created_at, updated_at=ticket.updated_at,
            due_at=ticket.due_at, status_note=ticket.status_note,
            rating=rating, rating_label=rating_label(rating) if rating else None,
            adopted=ticket.adopted,
            can_supplement=status.is_open and not status.is_finished,
            can_withdraw=status.is_open and not status.is_finished,
            can_rate=status.is_finished and rating is None,
            timeline=_timeline(ticket, updates),
        )

    @app.get("/requests/{ticket_id}", response_model=RequestDetail, tags=["诉求"],
             summary="一件诉求的详情与办理进展",
             responses={**auth, **error_responses("not_found", "backend_busy")})
    async def get_request(ticket_id: TicketId, user: User) -> RequestDetail:
        return await detail(user, ticket_id)

    async def own_ticket(user: Caller, ticket_id: str) -> Ticket:
        ticket = await tickets.lookup(user.key, ticket_id) if is_ticket_id(ticket_id) else None
        if ticket is None:
            raise ApiError("not_found")
        return ticket

    @app.post("/requests/{ticket_id}/supplement", response_model=RequestDetail, tags=["诉求"],
              summary="补充材料（文字和照片）",
              responses={**auth, **error_responses(
                  "not_found", "not_allowed", "not_supported", "unknown_media",
                  "backend_busy")})
    async def supplement(ticket_id: TicketId, body: SupplementIn, user: User) -> RequestDetail:
        ticket = await own_ticket(user, ticket_id)
        photos = await owned(user, body.photos)
        try:
            updated = await tickets.supplement(
                user.key, ticket.ticket_id, text=body.text, photos=photos,
                submission_id=_action_id(f"supplement:{ticket_id}", user.key,
                                         body.client_request_id),
            )
        except (BackendRejected, UnsupportedByBackend, BackendUnavailable) as exc:
            raise _ticket_error(exc) from exc
        return await detail(user, ticket_id, updated)

    @app.post("/requests/{ticket_id}/withdraw", response_model=RequestDetail, tags=["诉求"],
              summary="撤回诉求",
              responses={**auth, **error_responses(
                  "not_found", "not_allowed", "not_supported", "backend_busy")})
    async def withdraw(ticket_id: TicketId, body: WithdrawIn, user: User) -> RequestDetail:
        ticket = await own_ticket(user, ticket_id)
        if not ticket.status.is_open or ticket.status.is_finished:
            raise ApiError("not_allowed", f"这件诉求{ticket.status.value}，不能再撤回")
        try:
            updated = await tickets.withdraw(
                user.key, ticket.ticket_id,
                submission_id=_action_id(f"withdraw:{ticket_id}", user.key,
                                         body.client_request_id),
                reason=body.reason,
            )
        except (BackendRejected, UnsupportedByBackend, BackendUnavailable) as exc:
            raise _ticket_error(exc) from exc
        return await detail(user, ticket_id, updated)

    @app.post("/requests/{ticket_id}/rating", response_model=RatingOut, tags=["诉求"],
              summary="评价办理结果（好差评，一件一次）",
              responses={**auth, **error_responses(
                  "not_found", "already_rated", "not_allowed", "not_supported",
                  "backend_busy")})
    async def rate(ticket_id: TicketId, body: RatingIn, user: User) -> RatingOut:
        ticket = await own_ticket(user, ticket_id)
        score = body.value()
        if ticket.rating is not None:
            raise ApiError("already_rated")
        if not ticket.status.is_finished:
            raise ApiError("not_allowed", "诉求办结后才能评价")
        try:
            result = await tickets.rate(
                user.key, ticket.ticket_id, score=score, comment=body.comment,
                submission_id=_action_id(f"rate:{ticket_id}", user.key, body.client_request_id),
            )
        except (BackendRejected, UnsupportedByBackend, BackendUnavailable) as exc:
            raise _ticket_error(exc) from exc
        if result.already_rated:
            raise ApiError("already_rated")
        label = rating_label(score)
        if not result.accepted:
            raise ApiError("not_allowed", "评价没有成功，请稍后再试")
        if score <= REOPEN_AT_OR_BELOW:
            reopened = "，已转重办" if result.reopened else ""
            try:
                await alerts.alert(
                    kind="bad_rating", key=user.key, ticket_id=ticket.ticket_id,
                    text=f"工单{ticket.ticket_id}被评价为“{label}”{reopened}，请回访。",
                )
            except MinhuError:
                log.exception("could not alert staff to a bad rating")
            message = (
                f"非常抱歉没能让您满意。您的诉求（工单{ticket.ticket_id}）将重新办理，"
                "工作人员会尽快与您联系。" if result.reopened else
                f"非常抱歉没能让您满意（{label}）。工作人员会尽快与您联系，了解情况并改进。"
            )
        else:
            message = f"感谢您的评价（{label}）！"
        return RatingOut(accepted=True, reopened=result.reopened, score=score, level=label,
                         message=message)

    # -- subscribe-message consents -----------------------------------------------------

    @app.get("/subscriptions", response_model=SubscriptionsOut, tags=["订阅消息"],
             summary="订阅消息模板与已记录的授权", responses=auth)
    async def get_subscriptions(user: User) -> SubscriptionsOut:
        return SubscriptionsOut(status_template_id=template_id,
                                consents=_consent_out(await store.consents(user.openid)))

    @app.put("/subscriptions", response_model=SubscriptionsOut, tags=["订阅消息"],
             summary="记录 wx.requestSubscribeMessage 的结果",
             description=(
                 "请求体就是 wx.requestSubscribeMessage 的 success 结果："
                 "{\"<模板ID>\": \"accept\" | \"reject\" | \"ban\" | \"filter\", "
                 "\"errMsg\": \"...\"}。每个 accept 可发送一条订阅消息。"
             ),
             responses=auth)
    async def put_subscriptions(
        body: Annotated[dict[str, str], Body()], user: User,
    ) -> SubscriptionsOut:
        choices: dict[str, str] = {}
        bad: list[FieldError] = []
        items = [(k, v) for k, v in body.items() if k != "errMsg"]
        if len(items) > MAX_CONSENT_ITEMS:
            bad.append(FieldError(field="body", reason=f"at most {MAX_CONSENT_ITEMS} templates"))
        for key, value in items[:MAX_CONSENT_ITEMS]:
            if not _TEMPLATE_ID.match(key):
                bad.append(FieldError(field=f"body.{key[:40]}", reason="not a template id"))
            elif value == "filter":
                continue
            elif value not in CONSENT_CHOICES:
                bad.append(FieldError(field=f"body.{key}",
                                      reason="accept, reject, ban or filter"))
            else:
                choices[key] = value
        if bad:
            raise ApiError("validation_failed", fields=bad)
        consents = await store.record_consents(user.openid, choices)
        return SubscriptionsOut(status_template_id=template_id,
                                consents=_consent_out(consents))

    # -- photos ------------------------------------------------------------------------

    media_limit = config.media_max_bytes

    @app.post("/media", status_code=201, response_model=MediaOut, tags=["照片"],
              summary="上传一张照片（JPEG/PNG/WebP）",
              responses={**auth, **error_responses(
                  "payload_too_large", "unsupported_media_type")})
    async def upload(file: Annotated[UploadFile, File(description="照片文件")],
                     user: User) -> MediaOut:
        data = await file.read(media_limit + 1)
        if len(data) > media_limit:
            raise ApiError("payload_too_large",
                           f"照片太大了，不能超过{media_limit // (1024 * 1024) or 1}MB")
        content_type = sniff(data[:16])
        if content_type is None:
            raise ApiError("unsupported_media_type")
        stored = await channel.media.save(data, content_type)
        await store.add_media(user.openid, stored.media_id, content_type=content_type,
                              size=stored.size)
        return MediaOut(media_id=stored.media_id, content_type=content_type, size=stored.size)

    @app.get("/media/{media_id}", tags=["照片"], summary="查看照片（本人，或带签名的链接）",
             response_class=Response,
             responses={200: {"content": {t: {} for t in MEDIA_TYPES}},
                        **auth, **error_responses("media_not_found")})
    async def get_media(
        media_id: Annotated[str, Path(max_length=64)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
        sig: Annotated[str | None, Query(max_length=64)] = None,
    ) -> Response:
        if not MEDIA_ID.match(media_id):
            raise ApiError("media_not_found")
        if channel.signed(media_id, sig):
            content_type = await store.media_type(media_id)
        else:
            user = await caller(credentials)
            owned_media = await store.owned_media(user.openid, [media_id])
            content_type = owned_media[media_id].content_type if owned_media else None
        if content_type is None:
            raise ApiError("media_not_found")
        data = await channel.media.read(media_id, content_type)
        if data is None:
            raise ApiError("media_not_found")
        return Response(data, media_type=content_type, headers={
            "Cache-Control": "private, max-age=86400",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'inline; filename="{media_id}.{MEDIA_TYPES[content_type]}"',
        })

    # -- what the client needs to know -----------------------------------------------

    @app.get("/options", response_model=OptionsOut, tags=["选项"],
             summary="诉求类型、评价等级、照片限制、订阅消息模板")
    async def options() -> OptionsOut:
        return OptionsOut(
            request_types=[TypeOption(code=c, label=label) for c, label in REQUEST_TYPES.items()],
            rating_levels=list(RATING_LEVELS), max_photos=MAX_PHOTOS,
            media_max_bytes=media_limit, media_types=list(MEDIA_TYPES),
            status_template_id=template_id,
        )

    return app


def _created(
    result: SubmitResult, *, emergency: bool = False, alerted: bool | None = None
) -> RequestCreated:
    """``alerted``: whether staff were told just now (None: not this time, a retry)."""
    record = result.record
    state = _state(record)
    if result.ticket_id:
        message = f"您的诉求已登记，工单编号{result.ticket_id}。有进展会通知您。"
    elif state == "rejected":
        message = "工单系统没能自动登记这件诉求，已转工作人员人工登记，请留意通知。"
    else:
        message = "您的诉求已收到，正在登记，登记后会通知您工单编号。"
    notice = None
    if emergency:
        staff_alerted = alerted is not False
        lines = [EMERGENCY_ADVICE]
        if staff_alerted:
            lines.append("已按紧急事项登记，并通知值班工作人员。")
        else:
            lines.append("已按紧急事项登记。请务必直接拨打上面的电话。")
        message = "\n".join([*lines, message])
        notice = EmergencyOut(
            advice=EMERGENCY_ADVICE,
            numbers=[EmergencyNumber(number=n, label=label) for n, label in EMERGENCY_NUMBERS],
            staff_alerted=staff_alerted,
        )
    return RequestCreated(
        ticket_id=result.ticket_id,
        state=state,  # type: ignore[arg-type]
        status=_status_label(record),
        department=result.department,
        due_at=result.due_at,
        repeated=result.repeated,
        message=message,
        emergency=notice,
    )
