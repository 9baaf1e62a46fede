"""From a Bot API ``Update`` (JSON) to the core ``InboundMessage``.

Two registries, in the manner of the WeChat one:

- ``UPDATE_TYPES`` maps the field an update carries (``message``,
  ``callback_query``) to a converter. Any other update (an edited message, a
  channel post, a member change, …) is acknowledged and ignored: it gives
  no message at all.
- ``MESSAGE_CONTENTS`` maps what a message holds (``text``, ``voice``,
  ``photo``, ``location``, ``contact``, …) to a converter. Content not
  registered (a sticker, a poll, a dice) becomes an explicit
  ``InboundKind.UNKNOWN`` message that keeps its raw type, so the resident
  hears that we cannot read it.

Delivery identity: Telegram numbers every update per bot (``update_id``), and
resends the same update until the webhook answers 2xx, so the update id is
the message id; the journal scopes it to the bot (the account of the key).

Commands: ``/start`` is the resident opening the chat, like following the
official account (``EventKind.SUBSCRIBE``, a deep-link parameter as its
scene); ``/status``, ``/help`` and ``/cancel`` become the payloads the
WeChat menu and buttons already send.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.errors import MalformedPayload
from bot.types import Channel, ConversationKey, EventKind, InboundKind, InboundMessage, Location

__all__ = [
    "COMMAND_PAYLOADS",
    "MESSAGE_CONTENTS",
    "UPDATE_TYPES",
    "Chat",
    "ParsedUpdate",
    "bot_id_of",
    "message_content",
    "parse_update",
    "update_type",
]

JSON = Mapping[str, Any]

# The payloads the WeChat menu and the handlers' buttons send (kept equal to
# integrations.wechat.menu and handlers; adapters do not import handlers).
MY_TICKETS_PAYLOAD = "MENU_MY_TICKETS"
# "/<intent>" names an intent directly (bot.handling.INTENT_PAYLOAD_PREFIX).
HELP_PAYLOAD = "/greet"
CANCEL_PAYLOAD = "/cancel"

# ``/start`` is not here: it is an event (see ``_command``).
COMMAND_PAYLOADS: dict[str, str] = {
    "status": MY_TICKETS_PAYLOAD,
    "help": HELP_PAYLOAD,
    "cancel": CANCEL_PAYLOAD,
    # The rider fast path's quick buttons (handlers.voice.rider).
    "rider": "RIDER",
}
_COMMAND = re.compile(
    r"/(?P<name>[A-Za-z0-9_]{1,32})(?:@(?P<bot>[A-Za-z0-9_]+))?(?:\s+(?P<arg>.*))?", re.S
)


def bot_id_of(token: str) -> str:
    """The bot's numeric id: the part of its token before the colon."""
    bot_id, sep, _ = token.partition(":")
    if not sep or not bot_id.isdigit():
        raise ValueError("a Telegram bot token looks like 123456789:AAE...")
    return bot_id


@dataclass(frozen=True, slots=True)
class Chat:
    """The private chat an update belongs to."""

    chat_id: str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class ParsedUpdate:
    """What one update means: zero or more messages for the core, and the id
    of the inline-keyboard press to answer (so the client's spinner stops)."""

    update_id: int
    kind: str
    messages: tuple[InboundMessage, ...] = ()
    callback_query_id: str | None = None
    ignored: str | None = None
    chat_id: str | None = field(default=None)


Clock = Callable[[], datetime]
UpdateConverter = Callable[[JSON, int, str, Clock], ParsedUpdate]
ContentConverter = Callable[[JSON, "_Common"], Sequence[InboundMessage]]

UPDATE_TYPES: dict[str, UpdateConverter] = {}
MESSAGE_CONTENTS: dict[str, ContentConverter] = {}


def update_type(name: str) -> Callable[[UpdateConverter], UpdateConverter]:
    """Register a converter for updates carrying the field ``name``."""

    def register(fn: UpdateConverter) -> UpdateConverter:
        UPDATE_TYPES[name] = fn
        return fn

    return register


def message_content(name: str) -> Callable[[ContentConverter], ContentConverter]:
    """Register a converter for messages holding the field ``name`` (first match wins,
    in registration order)."""

    def register(fn: ContentConverter) -> ContentConverter:
        MESSAGE_CONTENTS[name] = fn
        return fn

    return register


def _utcnow() -> datetime:
    return datetime.now(UTC)


def parse_update(update: Any, *, bot_id: str, clock: Clock = _utcnow) -> ParsedUpdate:
    """Convert one decoded update; ``MalformedPayload`` when it is not one.

    ``clock`` dates what carries no date of its own (a button press)."""
    if not isinstance(update, Mapping):
        raise MalformedPayload("a Telegram update is a JSON object")
    update_id = update.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool) or update_id < 0:
        raise MalformedPayload("Telegram update without a valid update_id")
    for name, converter in UPDATE_TYPES.items():
        body = update.get(name)
        if body is not None:
            if not isinstance(body, Mapping):
                raise MalformedPayload(f"Telegram update field {name} is not an object")
            return converter(body, update_id, bot_id, clock)
    kinds = sorted(k for k in update if k != "update_id")
    kind = kinds[0] if kinds else "empty"
    return ParsedUpdate(update_id, kind, ignored=f"update type {kind} is not handled")


# -- helpers ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Common:
    key: ConversationKey
    update_id: int
    received_at: datetime


def _object(data: JSON, name: str) -> JSON:
    value = data.get(name)
    if not isinstance(value, Mapping):
        raise MalformedPayload(f"Telegram field {name} missing or not an object")
    return value


def _int(data: JSON, name: str) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedPayload(f"Telegram field {name} missing or not an integer")
    return value


def _str(data: JSON, name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedPayload(f"Telegram field {name} missing or not a string")
    return value


def _optional_str(data: JSON, name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedPayload(f"Telegram field {name} is not a string")
    return value.strip() or None


def _float(data: JSON, name: str) -> float:
    value = data.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise MalformedPayload(f"Telegram field {name} missing or not a number")
    return float(value)


def _received_at(message: JSON) -> datetime:
    try:
        return datetime.fromtimestamp(_int(message, "date"), tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise MalformedPayload("Telegram date is not a Unix time") from exc


def _private_chat(message: JSON) -> tuple[str, str]:
    chat = _object(message, "chat")
    chat_type = chat.get("type")
    return str(_int(chat, "id")), chat_type if isinstance(chat_type, str) else ""


def _message(common: _Common, kind: InboundKind, raw_type: str, *, suffix: str = "",
             **extra: Any) -> InboundMessage:
    return InboundMessage(
        key=common.key,
        message_id=f"{common.update_id}{suffix}",
        kind=kind,
        received_at=common.received_at,
        raw_type=raw_type,
        **extra,
    )


# -- updates ------------------------------------------------------------------------


@update_type("message")
def _message_update(message: JSON, update_id: int, bot_id: str, clock: Clock) -> ParsedUpdate:
    chat_id, chat_type = _private_chat(message)
    if chat_type != "private":
        # Residents talk to us one to one; what is said in groups stays there.
        return ParsedUpdate(update_id, "message", ignored=f"{chat_type or 'unknown'} chat",
                            chat_id=chat_id)
    common = _Common(
        key=ConversationKey(Channel.TELEGRAM, account=bot_id, user=chat_id),
        update_id=update_id,
        received_at=_received_at(message),
    )
    for name, converter in MESSAGE_CONTENTS.items():
        if message.get(name) is not None:
            return ParsedUpdate(update_id, "message", messages=tuple(converter(message, common)),
                                chat_id=chat_id)
    raw = next(
        (k for k in sorted(message) if k not in _MESSAGE_META and message[k] not in (None, False)),
        "unknown",
    )
    return ParsedUpdate(
        update_id, "message",
        messages=(_message(common, InboundKind.UNKNOWN, f"message:{raw}"),),
        chat_id=chat_id,
    )


@update_type("callback_query")
def _callback_query(query: JSON, update_id: int, bot_id: str, clock: Clock) -> ParsedUpdate:
    query_id = _str(query, "id")
    sender = _object(query, "from")
    message = query.get("message")
    if isinstance(message, Mapping):
        chat_id, chat_type = _private_chat(message)
    else:
        # A button under an inline-mode message: no chat is named; it is the user's own.
        chat_id, chat_type = str(_int(sender, "id")), "private"
    if chat_type != "private":
        return ParsedUpdate(update_id, "callback_query", callback_query_id=query_id,
                            ignored=f"{chat_type or 'unknown'} chat", chat_id=chat_id)
    data = query.get("data")
    if not isinstance(data, str) or not data:
        # A game button or an expired keyboard: nothing to act on.
        return ParsedUpdate(update_id, "callback_query", callback_query_id=query_id,
                            ignored="callback without data", chat_id=chat_id)
    # The press happens now; the message it belongs to may be days old.
    common = _Common(
        key=ConversationKey(Channel.TELEGRAM, account=bot_id, user=chat_id),
        update_id=update_id,
        received_at=clock(),
    )
    # Like an option answered by its title on WeChat: the title as text, the
    # button's value as payload (which spares the NLU call).
    title = _button_title(message, data) if isinstance(message, Mapping) else None
    pressed = _message(common, InboundKind.TEXT, "callback_query", text=title, payload=data)
    return ParsedUpdate(update_id, "callback_query", messages=(pressed,),
                        callback_query_id=query_id, chat_id=chat_id)


def _button_title(message: JSON, data: str) -> str | None:
    """The title of the pressed button, from the keyboard of the message it was under."""
    markup = message.get("reply_markup")
    rows = markup.get("inline_keyboard") if isinstance(markup, Mapping) else None
    for row in rows if isinstance(rows, list) else ():
        for button in row if isinstance(row, list) else ():
            if isinstance(button, Mapping) and button.get("callback_data") == data:
                text = button.get("text")
                return text if isinstance(text, str) and text else None
    return None


# -- message contents (first registered match wins) --------------------------------

# Fields every message may carry besides its content.
_MESSAGE_META = frozenset({
    "message_id", "message_thread_id", "from", "sender_chat", "sender_boost_count",
    "sender_business_bot", "date", "business_connection_id", "chat", "forward_origin",
    "is_topic_message", "is_automatic_forward", "reply_to_message", "external_reply", "quote",
    "reply_to_story", "via_bot", "edit_date", "has_protected_content", "is_from_offline",
    "media_group_id", "author_signature", "entities", "caption_entities", "link_preview_options",
    "effect_id", "show_caption_above_media", "has_media_spoiler", "reply_markup", "caption",
})


@message_content("text")
def _text(message: JSON, common: _Common) -> Sequence[InboundMessage]:
    text = message.get("text")
    if not isinstance(text, str):
        raise MalformedPayload("Telegram text is not a string")
    command = _COMMAND.fullmatch(text.strip()) if text.startswith("/") else None
    if command is not None:
        converted = _command(common, command.group("name").lower(), command.group("arg"))
        if converted is not None:
            return (converted,)
    return (_message(common, InboundKind.TEXT, "text", text=text),)


def _command(common: _Common, name: str, argument: str | None) -> InboundMessage | None:
    """A known command as an event or a payload; None for one we do not know
    (it is then read as text, and the resident is offered help)."""
    if name == "start":
        # A deep link (t.me/<bot>?start=<param>) is the scene of a QR code.
        scene = (argument or "").strip() or None
        return _message(common, InboundKind.EVENT, "command:start", event=EventKind.SUBSCRIBE,
                        event_key=scene)
    payload = COMMAND_PAYLOADS.get(name)
    if payload is None:
        return None
    # Read like a tapped menu item or button: the payload decides, no NLU.
    return _message(common, InboundKind.TEXT, f"command:{name}", text=f"/{name}",
                    payload=payload)


@message_content("voice")
def _voice(message: JSON, common: _Common) -> Sequence[InboundMessage]:
    voice = _object(message, "voice")
    # Voice notes are OGG/Opus (domain.md §3). No transcript yet: the core
    # answers as it does for WeChat voice without Recognition.
    return (_message(common, InboundKind.VOICE, "voice", media_id=_str(voice, "file_id"),
                     media_format="ogg"),)


@message_content("photo")
def _photo(message: JSON, common: _Common) -> Sequence[InboundMessage]:
    sizes = message.get("photo")
    if not isinstance(sizes, list) or not sizes:
        raise MalformedPayload("Telegram photo without sizes")
    best = max(sizes, key=_photo_area)
    photo = _message(common, InboundKind.IMAGE, "photo", media_id=_str(best, "file_id"))
    return (photo, *_caption(message, common))


def _photo_area(size: Any) -> int:
    if not isinstance(size, Mapping):
        raise MalformedPayload("Telegram photo size is not an object")
    width, height = size.get("width"), size.get("height")
    if isinstance(width, int) and isinstance(height, int):
        return width * height
    file_size = size.get("file_size")
    return file_size if isinstance(file_size, int) else 0


@message_content("document")
def _document(message: JSON, common: _Common) -> Sequence[InboundMessage]:
    document = _object(message, "document")
    mime = _optional_str(document, "mime_type") or ""
    if mime.startswith("image/"):
        # A photo sent "as a file" (uncompressed) is still a photo.
        image = _message(common, InboundKind.IMAGE, "document:image",
                         media_id=_str(document, "file_id"))
        return (image, *_caption(message, common))
    return (_message(common, InboundKind.UNKNOWN, "document"),)


@message_content("video")
def _video(message: JSON, common: _Common) -> Sequence[InboundMessage]:
    video = _object(message, "video")
    return (_message(common, InboundKind.VIDEO, "video", media_id=_str(video, "file_id")),)


@message_content("venue")
def _venue(message: JSON, common: _Common) -> Sequence[InboundMessage]:
    # A place picked from the map: checked before ``location``, which it also carries.
    venue = _object(message, "venue")
    point = _object(venue, "location")
    parts = [p for p in (_optional_str(venue, "title"), _optional_str(venue, "address")) if p]
    label = " ".join(dict.fromkeys(parts)) or None
    location = Location(latitude=_latitude(point), longitude=_longitude(point), label=label)
    return (_message(common, InboundKind.LOCATION, "venue", location=location, text=label),)


@message_content("location")
def _location(message: JSON, common: _Common) -> Sequence[InboundMessage]:
    point = _object(message, "location")
    accuracy = point.get("horizontal_accuracy")
    location = Location(
        latitude=_latitude(point),
        longitude=_longitude(point),
        precision=float(accuracy) if isinstance(accuracy, int | float) else None,
    )
    return (_message(common, InboundKind.LOCATION, "location", location=location),)


def _latitude(point: JSON) -> float:
    value = _float(point, "latitude")
    if not -90 <= value <= 90:
        raise MalformedPayload("Telegram latitude out of range")
    return value


def _longitude(point: JSON) -> float:
    value = _float(point, "longitude")
    if not -180 <= value <= 180:
        raise MalformedPayload("Telegram longitude out of range")
    return value


@message_content("contact")
def _contact(message: JSON, common: _Common) -> Sequence[InboundMessage]:
    contact = _object(message, "contact")
    phone = _str(contact, "phone_number")
    return (_message(common, InboundKind.CONTACT, "contact", text=phone),)


def _caption(message: JSON, common: _Common) -> tuple[InboundMessage, ...]:
    """A caption under a photo is the resident's words about it: a text message
    of its own, after the photo."""
    caption = _optional_str(message, "caption")
    if caption is None:
        return ()
    return (_message(common, InboundKind.TEXT, "caption", suffix=":caption", text=caption),)
