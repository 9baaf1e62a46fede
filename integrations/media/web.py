"""``GET /media/{media_id}?sig=…``: a stored photo, for whoever holds its signed link.

Channels whose photos have no owner-facing API of their own (Telegram) hand
the ticket backend these links. A missing or wrong signature and an unknown
photo get the same 404, so the route tells nothing about what is stored.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse, Response

from .links import MediaLinks
from .store import MEDIA_TYPES, MediaStore

__all__ = ["build_media_router"]


def build_media_router(store: MediaStore, links: MediaLinks) -> APIRouter:
    router = APIRouter()

    @router.get("/media/{media_id}", include_in_schema=False)
    async def media(
        media_id: Annotated[str, Path(max_length=64)],
        sig: Annotated[str | None, Query(max_length=64)] = None,
    ) -> Response:
        found = await store.find(media_id) if links.verify(media_id, sig) else None
        if found is None:
            return PlainTextResponse("照片不存在或链接无效", status_code=404)
        content_type, data = found
        return Response(data, media_type=content_type, headers={
            "Cache-Control": "private, max-age=86400",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'inline; filename="{media_id}.{MEDIA_TYPES[content_type]}"',
        })

    return router
