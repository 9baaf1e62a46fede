"""WeChat's flat ``<xml>`` documents: safe parsing and reply builders.

Parsing goes through defusedxml with DTDs, entities and external references
forbidden, so a billion-laughs document is refused at its ``<!DOCTYPE``
before any expansion. The webhook enforces the body size limit before this
module sees the bytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

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


def parse_xml(body: bytes | str) -> dict[str, str]:
    """Parse a WeChat ``<xml>`` document into a flat ``{tag: text}`` dict.

    Nested elements (as in some menu events) are flattened: their leaves are
    added under their own tag unless a top-level field has that name.
    Raises ``MalformedPayload`` for anything that is not such a document.
    """
    if not body or not body.strip():
        raise MalformedPayload("empty XML body")
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise MalformedPayload("XML body could not be parsed safely") from exc
    if root.tag != "xml":
        raise MalformedPayload("XML root is not <xml>")
    fields: dict[str, str] = {}
    nested: dict[str, str] = {}
    for child in root:
        if len(child):
            _flatten(child, nested)
        else:
            fields.setdefault(child.tag, child.text or "")
    for tag, text in nested.items():
        fields.setdefault(tag, text)
    return fields


def _flatten(element: Element, into: dict[str, str]) -> None:
    for child in element:
        if len(child):
            _flatten(child, into)
        else:
            into.setdefault(child.tag, child.text or "")


def cdata(text: str) -> str:
    """Wrap ``text`` in CDATA; a ``]]>`` inside is split across two sections."""
    clean = _INVALID_XML_CHARS.sub("", text)
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
    """A passive text reply (``to_user`` is the resident's openid)."""
    return build_xml(
        {
            "ToUserName": to_user,
            "FromUserName": from_user,
            "CreateTime": create_time,
            "MsgType": "text",
            "Content": content,
        }
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
