"""The simulator's in-memory world: residents, their windows, inboxes and media.

Everything is capped; nothing survives a restart (this is a dev tool).
"""

from __future__ import annotations

import itertools
import secrets
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .samples import RESIDENTS, make_openid

__all__ = [
    "EVENT_WINDOW_QUOTA",
    "EVENT_WINDOW_SECONDS",
    "MEDIA_LIFETIME_SECONDS",
    "MESSAGE_WINDOW_QUOTA",
    "MESSAGE_WINDOW_SECONDS",
    "Media",
    "Push",
    "Resident",
    "TranscriptEntry",
    "Window",
    "World",
]

# WeChat's customer-service windows (domain.md §2).
MESSAGE_WINDOW_SECONDS = 48 * 3600
MESSAGE_WINDOW_QUOTA = 5
EVENT_WINDOW_SECONDS = 60
EVENT_WINDOW_QUOTA = 3
# Temporary media lives three days.
MEDIA_LIFETIME_SECONDS = 3 * 24 * 3600

PushVia = Literal["custom", "template"]


@dataclass(slots=True)
class Window:
    """One opening of the customer-service window: ``quota`` pushes in ``seconds``."""

    kind: Literal["message", "event"]
    opened_at: float
    seconds: float
    quota: int
    used: int = 0

    @property
    def closes_at(self) -> float:
        return self.opened_at + self.seconds

    def usable(self, now: float) -> bool:
        return now <= self.closes_at and self.used < self.quota

    def as_dict(self, now: float) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "remaining": max(0, self.quota - self.used) if now <= self.closes_at else 0,
            "closes_in": max(0.0, round(self.closes_at - now, 1)),
        }


@dataclass(frozen=True, slots=True)
class Push:
    """One message the app pushed through the (fake) WeChat API."""

    seq: int
    user: str
    via: PushVia
    msg_type: str
    at: float
    text: str = ""
    media_id: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    template_id: str | None = None
    url: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "user": self.user,
            "via": self.via,
            "msg_type": self.msg_type,
            "at": self.at,
            "text": self.text,
            "media_id": self.media_id,
            "options": [{"id": i, "content": c} for i, c in self.options],
            "template_id": self.template_id,
            "url": self.url,
        }


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    """A line of the chat as the page shows it.

    ``direction`` is ``in`` (the resident did something), ``out`` (the
    account answered: passive reply or push) or ``sys`` (a notice from the
    simulator, e.g. WeChat's "service unavailable").
    """

    seq: int
    at: float
    direction: Literal["in", "out", "sys"]
    kind: str
    text: str = ""
    via: str | None = None
    media_id: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "direction": self.direction,
            "kind": self.kind,
            "text": self.text,
            "via": self.via,
            "media_id": self.media_id,
            "options": [{"id": i, "content": c} for i, c in self.options],
            "extra": self.extra,
        }


@dataclass(slots=True)
class Resident:
    key: str
    name: str
    note: str
    openid: str
    inbox: deque[Push]
    transcript: deque[TranscriptEntry]
    subscribed: bool = True
    message_window: Window | None = None
    event_window: Window | None = None
    last_event_time: int = 0

    def open_window(self, kind: Literal["message", "event"], now: float) -> None:
        if kind == "message":
            self.message_window = Window(
                "message", now, MESSAGE_WINDOW_SECONDS, MESSAGE_WINDOW_QUOTA
            )
        else:
            self.event_window = Window("event", now, EVENT_WINDOW_SECONDS, EVENT_WINDOW_QUOTA)

    def take_window_slot(self, now: float) -> bool:
        """Use one push of whichever open window closes first; false if none is open."""
        usable = [w for w in (self.event_window, self.message_window) if w and w.usable(now)]
        if not usable:
            return False
        min(usable, key=lambda w: w.closes_at).used += 1
        return True

    def as_dict(self, now: float) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "note": self.note,
            "openid": self.openid,
            "subscribed": self.subscribed,
            "windows": [
                w.as_dict(now) for w in (self.message_window, self.event_window) if w is not None
            ],
            "last_seq": self.transcript[-1].seq if self.transcript else 0,
        }


@dataclass(frozen=True, slots=True)
class Media:
    media_id: str
    kind: str
    content_type: str
    filename: str
    data: bytes
    created_at: float


class World:
    """Residents by openid, the global sequence, media and the installed menu."""

    def __init__(
        self,
        app_id: str,
        clock: Callable[[], float],
        *,
        inbox_size: int = 200,
        transcript_size: int = 500,
        media_limit: int = 200,
    ) -> None:
        self.app_id = app_id
        self.clock = clock
        self._inbox_size = inbox_size
        self._transcript_size = transcript_size
        self._media_limit = media_limit
        self._seq = itertools.count(1)
        self.last_seq = 0
        self.residents: dict[str, Resident] = {}
        self.media: OrderedDict[str, Media] = OrderedDict()
        self.menu: dict[str, Any] | None = None
        for profile in RESIDENTS:
            self.add_resident(profile.key, profile.name, profile.note)

    def next_seq(self) -> int:
        self.last_seq = next(self._seq)
        return self.last_seq

    # -- residents ------------------------------------------------------------

    def add_resident(self, key: str, name: str | None = None, note: str = "") -> Resident:
        openid = make_openid(self.app_id, key)
        existing = self.residents.get(openid)
        if existing is not None:
            return existing
        resident = Resident(
            key=key,
            name=name or key,
            note=note,
            openid=openid,
            inbox=deque(maxlen=self._inbox_size),
            transcript=deque(maxlen=self._transcript_size),
        )
        self.residents[openid] = resident
        return resident

    def find(self, who: str) -> Resident | None:
        """A resident by openid, key or display name."""
        if who in self.residents:
            return self.residents[who]
        for resident in self.residents.values():
            if who in (resident.key, resident.name):
                return resident
        return None

    def resident(self, who: str) -> Resident:
        """A resident by openid, key or name; an unknown key makes a new one."""
        found = self.find(who)
        if found is not None:
            return found
        if who.startswith("o") and len(who) == 28:
            raise KeyError(f"unknown openid {who!r}")
        return self.add_resident(who)

    def record(
        self,
        resident: Resident,
        direction: Literal["in", "out", "sys"],
        kind: str,
        text: str = "",
        *,
        via: str | None = None,
        media_id: str | None = None,
        options: tuple[tuple[str, str], ...] = (),
        **extra: Any,
    ) -> TranscriptEntry:
        entry = TranscriptEntry(
            seq=self.next_seq(),
            at=self.clock(),
            direction=direction,
            kind=kind,
            text=text,
            via=via,
            media_id=media_id,
            options=options,
            extra=extra,
        )
        resident.transcript.append(entry)
        return entry

    # -- media ----------------------------------------------------------------

    def store_media(self, kind: str, data: bytes, content_type: str, filename: str) -> Media:
        media_id = secrets.token_urlsafe(48)[:64]
        media = Media(media_id, kind, content_type, filename, data, self.clock())
        self.media[media_id] = media
        while len(self.media) > self._media_limit:
            self.media.popitem(last=False)
        return media

    def get_media(self, media_id: str) -> Media | None:
        media = self.media.get(media_id)
        if media is None or self.clock() - media.created_at > MEDIA_LIFETIME_SECONDS:
            return None
        return media
