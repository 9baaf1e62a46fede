"""WeChat's flat ``<xml>`` documents: safe parsing and reply builders.

Parsing drives ``xml.parsers.expat`` directly with handlers that refuse any
document type declaration, entity declaration or external entity reference,
so a billion-laughs document is refused at its ``<!DOCTYPE`` before any
expansion (as defusedxml's ``forbid_dtd``/``forbid_entities``/``forbid_external``
would, without building an element tree for a flat document). Without a DTD
only XML's five predefined entities and character references exist; any
other reference is a parse error. The webhook enforces the body size limit
before this module sees the bytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NoReturn
from xml.parsers import expat

from bot.errors import MalformedPayload

__all__ = [
    "build_envelope",
    "build_xml",
    "cdata",
    "image_reply",
    "parse_xml",
    "text_reply",
]

# Characters XML 1.0 does not allow, even inside CDATA.
_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_TAG = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")

XmlValue = str | int | Mapping[str, "XmlValue"]


class _Forbidden(Exception):
    """A DTD, an entity declaration or an external reference: never expanded."""


def _forbid(*_: object) -> NoReturn:
    raise _Forbidden


class _Flat:
    """Expat handlers that collect the leaves of a WeChat ``<xml>`` document.

    A leaf's text is its character data (CDATA included); an element with
    children keeps none, as ElementTree's ``text`` of a leaf. Top-level
    leaves go to ``fields`` (the first of a name wins), deeper ones to
    ``nested`` (likewise), in document order. Namespaced names are spelt as
    ElementTree spells them, ``{uri}local``.
    """

    __slots__ = ("depth", "fields", "nested", "text")

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.nested: dict[str, str] = {}
        self.depth = 0
        # The text of the innermost open element while it has no child; None otherwise.
        self.text: str | None = None

    def start(self, tag: str, _attributes: object) -> None:
        if not self.depth and tag != "xml":
            raise MalformedPayload("XML root is not <xml>")
        self.depth += 1
        self.text = ""

    def end(self, tag: str) -> None:
        self.depth = depth = self.depth - 1
        text = self.text
        if text is not None and depth:
            into = self.fields if depth == 1 else self.nested
            if "}" in tag:
                tag = "{" + tag
            if tag not in into:
                into[tag] = text
        self.text = None

    def data(self, text: str) -> None:
        if self.text is not None:
            self.text += text


def parse_xml(body: bytes | str) -> dict[str, str]:
    """Parse a WeChat ``<xml>`` document into a flat ``{tag: text}`` dict.

    Nested elements (as in some menu events) are flattened: their leaves are
    added under their own tag unless a top-level field has that name.
    Raises ``MalformedPayload`` for anything that is not such a document.
    """
    if not body or not body.strip():
        raise MalformedPayload("empty XML body")
    flat = _Flat()
    parser = expat.ParserCreate(None, "}")
    parser.buffer_text = True
    parser.StartDoctypeDeclHandler = _forbid
    parser.EntityDeclHandler = _forbid
    parser.UnparsedEntityDeclHandler = _forbid
    parser.ExternalEntityRefHandler = _forbid
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = flat.start
    parser.EndElementHandler = flat.end
    parser.CharacterDataHandler = flat.data
    try:
        parser.Parse(body, True)
    except MalformedPayload:
        raise
    except (expat.ExpatError, _Forbidden, ValueError, UnicodeError) as exc:
        raise MalformedPayload("XML body could not be parsed safely") from exc
    fields = flat.fields
    for tag, text in flat.nested.items():
        fields.setdefault(tag, text)
    return fields


def cdata(text: str) -> str:
    """Wrap ``text`` in CDATA; a ``]]>`` inside is split across two sections."""
    clean = _INVALID_XML_CHARS.sub("", text) if _INVALID_XML_CHARS.search(text) else text
    return "<![CDATA[" + clean.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _render(tag: str, value: XmlValue) -> str:
    if not _TAG.match(tag):
        raise ValueError(f"bad XML tag name: {tag!r}")
    if isinstance(value, Mapping):
        inner = "".join(_render(k, v) for k, v in value.items())
    elif isinstance(value, bool):
        raise TypeError("booleans have no WeChat XML form")
    elif isinstance(value, int):
        inner = str(value)
    else:
        inner = cdata(value)
    return f"<{tag}>{inner}</{tag}>"


def build_xml(fields: Mapping[str, XmlValue]) -> str:
    """Render a WeChat ``<xml>`` document: strings as CDATA, ints bare."""
    return "<xml>" + "".join(_render(tag, value) for tag, value in fields.items()) + "</xml>"


def text_reply(*, to_user: str, from_user: str, content: str, create_time: int) -> str:
    """A passive text reply (``to_user`` is the resident's openid).

    The same document as ``build_xml`` of these fields, from a fixed template
    (it is built for every passive reply)."""
    if isinstance(create_time, bool) or not isinstance(create_time, int):
        raise TypeError("create_time must be an int")
    return (
        f"<xml><ToUserName>{cdata(to_user)}</ToUserName>"
        f"<FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{create_time}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{cdata(content)}</Content></xml>"
    )


def image_reply(*, to_user: str, from_user: str, media_id: str, create_time: int) -> str:
    """A passive image reply by the MediaId of an uploaded image."""
    return build_xml(
        {
            "ToUserName": to_user,
            "FromUserName": from_user,
            "CreateTime": create_time,
            "MsgType": "image",
            "Image": {"MediaId": media_id},
        }
    )


def build_envelope(*, encrypt: str, msg_signature: str, timestamp: str, nonce: str) -> str:
    """The outer XML of an encrypted passive reply."""
    numeric = timestamp.isascii() and timestamp.isdigit()
    return build_xml(
        {
            "Encrypt": encrypt,
            "MsgSignature": msg_signature,
            "TimeStamp": int(timestamp) if numeric else timestamp,
            "Nonce": nonce,
        }
    )
