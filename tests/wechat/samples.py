"""WeChat message and event bodies, shaped like the documented examples."""

from __future__ import annotations

ACCOUNT = "gh_minhu"
USER = "oUSER1234567890abcdefghijklm"


def xml(msg_type: str, *, create_time: int = 1714550400, **fields: str) -> str:
    inner = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{USER}]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime>"
        f"<MsgType><![CDATA[{msg_type}]]></MsgType>{inner}</xml>"
    )


TEXT = xml("text", Content="小区路灯坏了三天了", MsgId="1000000001")
IMAGE = xml("image", PicUrl="http://mmbiz.qpic.cn/x.jpg", MediaId="MEDIA_IMG", MsgId="1000000002")
VOICE = xml(
    "voice", MediaId="MEDIA_VOICE", Format="AMR", Recognition="楼道漏水", MsgId="1000000003"
)
VOICE_NO_RECOGNITION = xml("voice", MediaId="MEDIA_VOICE", Format="speex", MsgId="1000000004")
VOICE_EMPTY_RECOGNITION = xml(
    "voice", MediaId="MEDIA_VOICE", Format="amr", Recognition="", MsgId="1000000005"
)
VIDEO = xml("video", MediaId="MEDIA_VIDEO", ThumbMediaId="THUMB", MsgId="1000000006")
SHORTVIDEO = xml("shortvideo", MediaId="MEDIA_SV", ThumbMediaId="THUMB", MsgId="1000000007")
LOCATION = (
    f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
    f"<FromUserName><![CDATA[{USER}]]></FromUserName><CreateTime>1714550400</CreateTime>"
    "<MsgType><![CDATA[location]]></MsgType><Location_X>23.134521</Location_X>"
    "<Location_Y>113.358803</Location_Y><Scale>20</Scale>"
    "<Label><![CDATA[广州市天河区某街道]]></Label><MsgId>1000000008</MsgId></xml>"
)
LINK = xml(
    "link",
    Title="停车难问题",
    Description="小区周边乱停车",
    Url="https://example.org/a",
    MsgId="1000000009",
)
SUBSCRIBE = xml("event", Event="subscribe")
SUBSCRIBE_SCENE = xml("event", Event="subscribe", EventKey="qrscene_street42", Ticket="TICKET")
UNSUBSCRIBE = xml("event", Event="unsubscribe")
SCAN = xml("event", Event="SCAN", EventKey="street42", Ticket="TICKET")
LOCATION_EVENT = (
    f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
    f"<FromUserName><![CDATA[{USER}]]></FromUserName><CreateTime>1714550400</CreateTime>"
    "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[LOCATION]]></Event>"
    "<Latitude>23.137466</Latitude><Longitude>113.352425</Longitude>"
    "<Precision>119.385040</Precision></xml>"
)
CLICK = xml("event", Event="CLICK", EventKey="MENU_REPORT")
VIEW = xml("event", Event="VIEW", EventKey="https://example.org/menu")
UNKNOWN_TYPE = xml("miniprogrampage", Title="x", MsgId="1000000010")
UNKNOWN_EVENT = xml("event", Event="TEMPLATESENDJOBFINISH", Status="success")
