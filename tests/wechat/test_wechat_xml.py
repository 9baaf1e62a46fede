"""Safe XML parsing and the reply builders."""

from __future__ import annotations

import time

import pytest

from bot.errors import MalformedPayload
from integrations.wechat.xml import build_xml, cdata, image_reply, parse_xml, text_reply

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<xml><Content>&lol9;</Content></xml>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><Content>&xxe;</Content></xml>"""


def test_parses_flat_wechat_xml() -> None:
    body = (
        "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><CreateTime>1348831860</CreateTime>"
        "<Content><![CDATA[  路灯坏了 ]]></Content><Empty></Empty></xml>"
    ).encode()
    assert parse_xml(body) == {
        "ToUserName": "gh_1",
        "CreateTime": "1348831860",
        "Content": "  路灯坏了 ",
        "Empty": "",
    }


def test_nested_elements_are_flattened_without_overriding() -> None:
    body = (
        "<xml><Event>location_select</Event><SendLocationInfo><Location_X>23.1</Location_X>"
        "<Event>inner</Event></SendLocationInfo></xml>"
    )
    assert parse_xml(body) == {"Event": "location_select", "Location_X": "23.1"}


def test_billion_laughs_is_refused_quickly() -> None:
    started = time.perf_counter()
    with pytest.raises(MalformedPayload):
        parse_xml(BILLION_LAUGHS)
    assert time.perf_counter() - started < 0.5


def test_external_entities_are_refused() -> None:
    with pytest.raises(MalformedPayload):
        parse_xml(EXTERNAL_ENTITY)


@pytest.mark.parametrize(
    "body",
    [b"", b"   ", b"not xml", b"<xml><a>1</b></xml>", b"<root><a>1</a></root>", b"<xml>"],
)
def test_malformed_is_refused(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        parse_xml(body)


@pytest.mark.parametrize(
    "content",
    ["]]>", "a]]>b", "]]]]>", "<![CDATA[x]]>", "</Content></xml>", "&amp; <b>", "民呼 😀\n第二行"],
)
def test_cdata_round_trips_tricky_content(content: str) -> None:
    xml = text_reply(to_user="oUSER", from_user="gh_1", content=content, create_time=1)
    fields = parse_xml(xml)
    assert fields["Content"] == content
    assert fields["MsgType"] == "text"
    assert fields["CreateTime"] == "1"


def test_control_characters_are_dropped_so_the_xml_stays_valid() -> None:
    assert cdata("a\x00b\x1fc\td\n") == "<![CDATA[abc\td\n]]>"
    xml = text_reply(to_user="o", from_user="g", content="x\x0by", create_time=1)
    assert parse_xml(xml)["Content"] == "xy"


def test_text_reply_shape() -> None:
    xml = text_reply(to_user="oUSER", from_user="gh_1", content="你好", create_time=1700000000)
    assert xml == (
        "<xml><ToUserName><![CDATA[oUSER]]></ToUserName>"
        "<FromUserName><![CDATA[gh_1]]></FromUserName>"
        "<CreateTime>1700000000</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        "<Content><![CDATA[你好]]></Content></xml>"
    )


def test_image_reply_by_media_id() -> None:
    xml = image_reply(to_user="oUSER", from_user="gh_1", media_id="MEDIA", create_time=5)
    assert "<Image><MediaId><![CDATA[MEDIA]]></MediaId></Image>" in xml
    fields = parse_xml(xml)
    assert fields["MsgType"] == "image"
    assert fields["MediaId"] == "MEDIA"


def test_build_xml_refuses_bad_tags() -> None:
    with pytest.raises(ValueError):
        build_xml({"bad tag": "x"})
    with pytest.raises(TypeError):
        build_xml({"Flag": True})
