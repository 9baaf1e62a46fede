"""The request being filled in, kept in ``state.slots`` as plain JSON."""

from __future__ import annotations

import enum
from typing import Any

from bot.types import InboundMessage, Location, TicketDraft

__all__ = ["MAX_DESCRIPTION", "MAX_PHOTOS", "IntakeForm", "Slot", "photo_ref"]

# WeChat and the mini-program let a resident attach at most 9 pictures.
MAX_PHOTOS = 9
# Well under Open311's 4000 characters, leaving room for what we add.
MAX_DESCRIPTION = 2000


class Slot(enum.StrEnum):
    """One thing the intake asks for; the value is also the ``awaiting`` name."""

    DESCRIPTION = "description"
    ADDRESS = "address"
    WHEN = "when"
    ANONYMOUS = "anonymous"
    PHONE = "phone"
    PHOTOS = "photos"
    TARGET = "target"


def photo_ref(message: InboundMessage) -> str | None:
    """How a photo is handed to the backend: its URL when there is one."""
    return message.media_url or message.media_id


class IntakeForm:
    """Typed access to the JSON in ``state.slots``; changes write through."""

    def __init__(self, slots: dict[str, Any]) -> None:
        self._slots = slots

    @classmethod
    def new(cls, slots: dict[str, Any], request_type: str, category: str) -> IntakeForm:
        slots.clear()
        slots.update({"type": request_type, "category": category, "photos": [], "asked": []})
        return cls(slots)

    # ------------------------------------------------------------ values

    @property
    def request_type(self) -> str:
        return str(self._slots.get("type") or "seek_help")

    @request_type.setter
    def request_type(self, value: str) -> None:
        self._slots["type"] = value

    @property
    def category(self) -> str:
        return str(self._slots.get("category") or "其他")

    def text(self, slot: Slot) -> str | None:
        value = self._slots.get(slot.value)
        return value if isinstance(value, str) and value else None

    def set_text(self, slot: Slot, value: str | None) -> None:
        self._slots[slot.value] = value

    @property
    def location(self) -> Location | None:
        data = self._slots.get("location")
        if not isinstance(data, dict):
            return None
        return Location(
            latitude=float(data["latitude"]),
            longitude=float(data["longitude"]),
            label=data.get("label") or None,
        )

    def set_location(self, location: Location | None) -> None:
        self._slots["location"] = None if location is None else {
            "latitude": location.latitude,
            "longitude": location.longitude,
            "label": location.label,
        }

    @property
    def photos(self) -> list[str]:
        return [str(p) for p in self._slots.get("photos") or []]

    def add_photo(self, ref: str) -> bool:
        """False when the form already holds the most a request may carry."""
        photos = self.photos
        if len(photos) >= MAX_PHOTOS:
            return False
        photos.append(ref)
        self._slots["photos"] = photos
        return True

    def clear_photos(self) -> None:
        self._slots["photos"] = []

    @property
    def anonymous(self) -> bool | None:
        value = self._slots.get("anonymous")
        return value if isinstance(value, bool) else None

    @anonymous.setter
    def anonymous(self, value: bool | None) -> None:
        self._slots["anonymous"] = value

    def add_to_description(self, addition: str) -> bool:
        """Append what the resident added; False when it would make the
        description too long."""
        current = self.text(Slot.DESCRIPTION) or ""
        combined = f"{current}\n补充：{addition}" if current else addition
        if len(combined) > MAX_DESCRIPTION:
            return False
        self.set_text(Slot.DESCRIPTION, combined)
        return True

    # ------------------------------------------------------------ progress

    def has(self, slot: Slot) -> bool:
        if slot is Slot.ADDRESS:
            return self.text(Slot.ADDRESS) is not None or self.location is not None
        if slot is Slot.PHOTOS:
            return bool(self.photos)
        if slot is Slot.ANONYMOUS:
            return self.anonymous is not None
        return self.text(slot) is not None

    def was_asked(self, slot: Slot) -> bool:
        return slot.value in (self._slots.get("asked") or [])

    def mark_asked(self, slot: Slot) -> None:
        asked = list(self._slots.get("asked") or [])
        if slot.value not in asked:
            asked.append(slot.value)
        self._slots["asked"] = asked

    def skip(self, slot: Slot) -> None:
        """The resident chose not to answer: clear it and do not ask again."""
        if slot is Slot.ADDRESS:
            self.set_text(Slot.ADDRESS, None)
            self.set_location(None)
        elif slot is Slot.PHOTOS:
            pass  # photos already sent stay; "no more" just ends the question
        elif slot is Slot.ANONYMOUS:
            self.anonymous = False
        else:
            self.set_text(slot, None)
        self.mark_asked(slot)

    # ------------------------------------------------------------ result

    def draft(self) -> TicketDraft:
        description = self.text(Slot.DESCRIPTION) or ""
        target = self.text(Slot.TARGET)
        if target:
            description = f"{description}\n表扬对象：{target}"
        return TicketDraft(
            request_type=self.request_type,
            category=self.category,
            description=description,
            address=self.text(Slot.ADDRESS),
            location=self.location,
            occurred_at=self.text(Slot.WHEN),
            phone=self.text(Slot.PHONE),
            photos=tuple(self.photos),
            anonymous=bool(self.anonymous),
            urgent=False,
        )
