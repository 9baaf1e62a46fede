"""HTTP face of the simulator: the page, its JSON endpoints and the fake API.

Routes (mount with ``app.include_router(build_simulator_router(sim))``)::

    GET  /simulator                         the phone-like chat page
    GET  /simulator/static/{page.js,page.css}
    GET  /simulator/media/{media_id}        PicUrl of photos (and any stored media)
    GET  /simulator/api/state               residents, places, menu, mode
    GET  /simulator/api/transcript          ?user=&after=  (the page polls it every second)
    POST /simulator/api/{text,event,location,image,voice,verify,clear,residents}
    *    /simulator/wechat-api/cgi-bin/...  the fake WeChat API (MINHU_WECHAT_API_BASE)
    GET  /simulator/wechat-api/sns/jscode2session   the mini-program's login
    POST /simulator/wechat-api/wxa/business/getuserphonenumber
    POST /simulator/api/miniprogram/{login,subscribe,phone}   what wx.login,
         wx.requestSubscribeMessage and the phone-number button give a mini-program
    GET  /simulator/api/miniprogram/messages?user=   subscribe messages received

Every page endpoint is a thin wrapper over :class:`Simulator`.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from .core import SendResult, Simulator
from .state import Media

__all__ = ["build_simulator_router"]

API_PREFIX = "/simulator/wechat-api/cgi-bin"
API_ROOT = "/simulator/wechat-api"
MP_PREFIX = "/simulator/api/miniprogram"
IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"}
AUDIO_TYPES = {"audio/amr", "audio/speex", "audio/ogg", "audio/mpeg", "audio/wav", "audio/webm"}
_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/bmp": "bmp",
    "audio/amr": "amr",
    "audio/speex": "speex",
}
# The page only talks to its own origin; nothing inline may run.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' blob:; media-src 'self' blob:; form-action 'none'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_STATIC_TYPES = {"page.js": "text/javascript; charset=utf-8", "page.css": "text/css; charset=utf-8"}


@cache
def _asset(name: str) -> str:
    return (resources.files(__package__) / name).read_text(encoding="utf-8")


class TextIn(BaseModel):
    user: str
    text: str = Field(min_length=1, max_length=4000)
    bizmsgmenuid: str | None = None


class EventIn(BaseModel):
    user: str
    event: str
    key: str | None = None


class LocationIn(BaseModel):
    user: str
    place: str | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    label: str = Field(default="", max_length=200)
    scale: int = Field(default=16, ge=1, le=20)


class UserIn(BaseModel):
    user: str


class MpLoginIn(BaseModel):
    user: str = Field(min_length=1, max_length=64)


class MpSubscribeIn(BaseModel):
    user: str = Field(min_length=1, max_length=64)
    results: dict[str, str]


class MpPhoneIn(BaseModel):
    user: str = Field(min_length=1, max_length=64)
    phone: str = Field(min_length=3, max_length=20)


class ResidentIn(BaseModel):
    name: str = Field(min_length=1, max_length=20)


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _media_response(media: Media, *, attachment: bool) -> Response:
    content_type = media.content_type
    if content_type not in IMAGE_TYPES | AUDIO_TYPES:
        content_type = "application/octet-stream"
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'",
        "Cache-Control": "private, max-age=3600",
    }
    if attachment:
        ext = _EXTENSIONS.get(content_type, "bin")
        headers["Content-disposition"] = f'attachment; filename="{media.media_id}.{ext}"'
    return Response(media.data, media_type=content_type, headers=headers)


def build_simulator_router(sim: Simulator) -> APIRouter:
    """The page + JSON endpoints under ``/simulator`` and the fake API."""
    router = APIRouter(tags=["simulator"])
    config = sim.config

    def result(res: SendResult) -> dict[str, Any]:
        return res.as_dict(config)

    def unknown(user: str) -> JSONResponse | None:
        # The page names residents by openid; it never creates them implicitly.
        return None if sim.world.find(user) is not None else _bad("unknown user", 404)

    # -- the page ----------------------------------------------------------------

    @router.get("/simulator", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(
            _asset("page.html"),
            headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store"},
        )

    @router.get("/simulator/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in _STATIC_TYPES:
            return _bad("not found", 404)
        return Response(
            _asset(name), media_type=_STATIC_TYPES[name], headers={"Cache-Control": "no-store"}
        )

    @router.get("/simulator/media/{media_id}")
    async def media(media_id: str) -> Response:
        found = sim.world.get_media(media_id)
        if found is None:
            return _bad("no such media", 404)
        return _media_response(found, attachment=False)

    # -- JSON for the page -----------------------------------------------------------

    @router.get("/simulator/api/state")
    async def state() -> dict[str, Any]:
        return sim.snapshot()

    @router.get("/simulator/api/transcript")
    async def transcript(
        user: Annotated[str, Query()], after: Annotated[int, Query(ge=0)] = 0
    ) -> Response:
        resident = sim.world.find(user)
        if resident is None:
            return _bad("unknown user", 404)
        menu, installed = sim.api.effective_menu()
        return JSONResponse(
            {
                "entries": sim.transcript(resident.openid, after=after),
                "resident": resident.as_dict(sim.clock()),
                "menu": menu,
                "menu_installed": installed,
            }
        )

    @router.post("/simulator/api/residents")
    async def add_resident(body: ResidentIn) -> dict[str, Any]:
        key = f"guest-{len(sim.world.residents) + 1}-{body.name}"
        return sim.world.add_resident(key, body.name, "新建的模拟居民").as_dict(sim.clock())

    @router.post("/simulator/api/clear")
    async def clear(body: UserIn) -> Response:
        if (missing := unknown(body.user)) is not None:
            return missing
        sim.clear(body.user)
        return JSONResponse({"ok": True})

    @router.post("/simulator/api/verify")
    async def verify_url() -> dict[str, Any]:
        return await sim.verify_url()

    @router.post("/simulator/api/text")
    async def send_text(body: TextIn) -> Response:
        if (missing := unknown(body.user)) is not None:
            return missing
        res = await sim.send_text(body.user, body.text, bizmsgmenuid=body.bizmsgmenuid)
        return JSONResponse(result(res))

    @router.post("/simulator/api/event")
    async def send_event(body: EventIn) -> Response:
        if (missing := unknown(body.user)) is not None:
            return missing
        try:
            res = await sim.send_event(body.user, body.event, body.key)
        except ValueError as exc:
            return _bad(str(exc))
        return JSONResponse(result(res))

    @router.post("/simulator/api/location")
    async def send_location(body: LocationIn) -> Response:
        if (missing := unknown(body.user)) is not None:
            return missing
        try:
            if body.place:
                res = await sim.send_place(body.user, body.place)
            elif body.latitude is not None and body.longitude is not None:
                res = await sim.send_location(
                    body.user, body.latitude, body.longitude, label=body.label, scale=body.scale
                )
            else:
                return _bad("give a place or latitude and longitude")
        except (KeyError, ValueError) as exc:
            return _bad(str(exc))
        return JSONResponse(result(res))

    @router.post("/simulator/api/image")
    async def send_image(
        user: Annotated[str, Form()],
        file: Annotated[UploadFile | None, File()] = None,
    ) -> Response:
        if (missing := unknown(user)) is not None:
            return missing
        if file is None:
            return JSONResponse(result(await sim.send_image(user)))
        content_type = (file.content_type or "").lower()
        if content_type not in IMAGE_TYPES:
            return _bad("只支持 PNG/JPEG/GIF/WebP/BMP 图片")
        data = await file.read(config.media_max_bytes + 1)
        try:
            res = await sim.send_image(
                user, data, content_type=content_type, filename=file.filename or "photo"
            )
        except ValueError as exc:
            return _bad(str(exc), 413)
        return JSONResponse(result(res))

    @router.post("/simulator/api/voice")
    async def send_voice(
        user: Annotated[str, Form()],
        recognition: Annotated[str | None, Form()] = None,
        file: Annotated[UploadFile | None, File()] = None,
    ) -> Response:
        if (missing := unknown(user)) is not None:
            return missing
        recognition = recognition.strip() if recognition and recognition.strip() else None
        if file is None:
            return JSONResponse(result(await sim.send_voice(user, recognition=recognition)))
        name = (file.filename or "voice.amr").lower()
        audio_format = "speex" if name.endswith((".speex", ".spx")) else "amr"
        content_type = "audio/speex" if audio_format == "speex" else "audio/amr"
        data = await file.read(config.media_max_bytes + 1)
        try:
            res = await sim.send_voice(
                user,
                data,
                recognition=recognition,
                audio_format=audio_format,
                content_type=content_type,
                filename=name,
            )
        except ValueError as exc:
            return _bad(str(exc), 413)
        return JSONResponse(result(res))

    # -- the fake WeChat API ----------------------------------------------------------

    @router.get(f"{API_PREFIX}/token")
    async def api_token(
        grant_type: str | None = None, appid: str | None = None, secret: str | None = None
    ) -> dict[str, Any]:
        return sim.api.token(grant_type, appid, secret)

    @router.post(f"{API_PREFIX}/message/custom/send")
    async def api_custom_send(request: Request, access_token: str | None = None) -> dict[str, Any]:
        return sim.api.custom_send(access_token, await request.body())

    @router.post(f"{API_PREFIX}/message/template/send")
    async def api_template_send(
        request: Request, access_token: str | None = None
    ) -> dict[str, Any]:
        return sim.api.template_send(access_token, await request.body())

    @router.post(f"{API_PREFIX}/message/subscribe/send")
    async def api_subscribe_send(
        request: Request, access_token: str | None = None
    ) -> dict[str, Any]:
        return sim.api.subscribe_send(access_token, await request.body())

    @router.get(f"{API_ROOT}/sns/jscode2session")
    async def api_jscode2session(
        appid: str | None = None, secret: str | None = None, js_code: str | None = None,
        grant_type: str | None = None,
    ) -> dict[str, Any]:
        return sim.api.jscode2session(appid, secret, js_code, grant_type)

    @router.post(f"{API_ROOT}/wxa/business/getuserphonenumber")
    async def api_phone_number(
        request: Request, access_token: str | None = None
    ) -> dict[str, Any]:
        return sim.api.get_user_phone_number(access_token, await request.body())

    # -- a mini-program's side of WeChat (what wx.* calls give the mini-program) -------

    @router.post(f"{MP_PREFIX}/login")
    async def mp_login(body: MpLoginIn) -> Response:
        try:
            return JSONResponse({"code": sim.api.mp_login(body.user)})
        except ValueError as exc:
            return _bad(str(exc), 404)

    @router.post(f"{MP_PREFIX}/subscribe")
    async def mp_subscribe(body: MpSubscribeIn) -> Response:
        try:
            return JSONResponse(sim.api.mp_subscribe(body.user, body.results))
        except ValueError as exc:
            return _bad(str(exc), 404)

    @router.post(f"{MP_PREFIX}/phone")
    async def mp_phone(body: MpPhoneIn) -> Response:
        try:
            return JSONResponse(sim.api.mp_phone(body.user, body.phone))
        except ValueError as exc:
            return _bad(str(exc), 404)

    @router.get(f"{MP_PREFIX}/messages")
    async def mp_messages(user: Annotated[str, Query()]) -> Response:
        try:
            found = sim.api.mp_user(user)
        except ValueError as exc:
            return _bad(str(exc), 404)
        return JSONResponse({"openid": found.openid, "messages": found.messages,
                             "consents": found.consents})

    @router.post(f"{API_PREFIX}/menu/create")
    async def api_menu_create(request: Request, access_token: str | None = None) -> dict[str, Any]:
        return sim.api.menu_create(access_token, await request.body())

    @router.get(f"{API_PREFIX}/menu/get")
    async def api_menu_get(access_token: str | None = None) -> dict[str, Any]:
        return sim.api.menu_get(access_token)

    @router.get(f"{API_PREFIX}/menu/delete")
    async def api_menu_delete(access_token: str | None = None) -> dict[str, Any]:
        return sim.api.menu_delete(access_token)

    @router.get(f"{API_PREFIX}/media/get")
    async def api_media_get(
        access_token: str | None = None, media_id: str | None = None
    ) -> Response:
        found = sim.api.media_get(access_token, media_id)
        if isinstance(found, dict):
            # WeChat answers errors of this endpoint as JSON with text/plain.
            return JSONResponse(found, media_type="text/plain")
        return _media_response(found, attachment=True)

    @router.post(f"{API_PREFIX}/media/upload")
    async def api_media_upload(
        media: Annotated[UploadFile, File()],
        access_token: str | None = None,
        type: str | None = None,  # WeChat's parameter name
    ) -> dict[str, Any]:
        data = await media.read(config.media_max_bytes + 1)
        if len(data) > config.media_max_bytes:
            return {"errcode": 40006, "errmsg": "invalid media size"}
        return sim.api.media_upload(
            access_token,
            type,
            data,
            media.filename or "media",
            (media.content_type or "application/octet-stream").lower(),
        )

    return router
