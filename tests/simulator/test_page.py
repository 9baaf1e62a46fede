"""The page and its JSON endpoints."""

from __future__ import annotations

import re

from integrations.simulator.samples import sample_voice_amr

from .conftest import Env

_URL = re.compile(r"""(?:https?:)?//([A-Za-z0-9.\-\[\]:]+)""")
_LOCAL = {"127.0.0.1", "localhost", "[::1]"}


async def _page_sources(env: Env) -> dict[str, str]:
    page = await env.http.get("/simulator")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    sources = {"page.html": page.text}
    for name in ("page.js", "page.css"):
        response = await env.http.get(f"/simulator/static/{name}")
        assert response.status_code == 200
        sources[name] = response.text
    return sources


async def test_page_has_no_external_urls(env: Env) -> None:
    for name, text in (await _page_sources(env)).items():
        hosts = {m.group(1).split(":")[0] for m in _URL.finditer(text)}
        assert hosts <= _LOCAL, f"{name} refers to {hosts - _LOCAL}"
        assert "@import" not in text
    page = await env.http.get("/simulator")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp


async def test_page_escapes_message_text(env: Env) -> None:
    sources = await _page_sources(env)
    js = sources["page.js"]
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in js
    assert "textContent" in js
    assert "<script>" not in sources["page.html"].replace('<script src="/simulator/static/', "")
    # Chinese UI with the default menu entries and push labels.
    assert "客服消息" in js and "模板消息" in js
    assert "发送示例照片" in sources["page.html"]
    assert (await env.http.get("/simulator/static/other.js")).status_code == 404


async def test_page_endpoints_wrap_the_simulator(env: Env) -> None:
    state = (await env.http.get("/simulator/api/state")).json()
    assert state["mode"] == "明文模式"
    zhang = next(r for r in state["residents"] if r["key"] == "zhang")
    openid = zhang["openid"]

    sent = (
        await env.http.post("/simulator/api/text", json={"user": openid, "text": "<b>井盖</b>"})
    ).json()
    assert sent["status"] == "reply" and sent["http_status"] == 200
    assert isinstance(sent["msg_id"], str) and sent["msg_id"].isdigit()
    assert sent["reply"]["options"][0] == {"id": "1", "content": "我要反映"}
    assert "<![CDATA[<b>井盖</b>]]>" in sent["xml"]

    event = await env.http.post(
        "/simulator/api/event", json={"user": openid, "event": "CLICK", "key": "MENU_REPORT"}
    )
    assert event.json()["status"] == "no_reply"
    assert (
        await env.http.post("/simulator/api/event", json={"user": openid, "event": "dance"})
    ).status_code == 400

    place = await env.http.post("/simulator/api/location", json={"user": openid, "place": "park"})
    assert place.json()["status"] == "reply"
    custom = await env.http.post(
        "/simulator/api/location",
        json={"user": openid, "latitude": 30.1, "longitude": 120.2, "label": "这里"},
    )
    assert custom.json()["status"] == "reply"
    assert env.received[-1].fields["Label"] == "这里"

    sample = await env.http.post("/simulator/api/image", data={"user": openid})
    assert sample.json()["msg_type"] == "image"
    upload = await env.http.post(
        "/simulator/api/image",
        data={"user": openid},
        files={"file": ("p.jpg", b"\xff\xd8\xff\xe0fake", "image/jpeg")},
    )
    assert upload.json()["status"] == "reply"
    svg = await env.http.post(
        "/simulator/api/image",
        data={"user": openid},
        files={"file": ("x.svg", b"<svg/>", "image/svg+xml")},
    )
    assert svg.status_code == 400

    voice = await env.http.post(
        "/simulator/api/voice",
        data={"user": openid, "recognition": "楼道灯坏了"},
        files={"file": ("v.amr", sample_voice_amr(1), "audio/amr")},
    )
    assert voice.json()["status"] == "reply"
    assert env.received[-1].fields["Recognition"] == "楼道灯坏了"

    transcript = (
        await env.http.get("/simulator/api/transcript", params={"user": openid, "after": 0})
    ).json()
    entries = transcript["entries"]
    assert entries[0]["text"] == "<b>井盖</b>"  # raw text; the page escapes it
    assert transcript["resident"]["openid"] == openid
    assert transcript["menu_installed"] is False
    last = entries[-1]["seq"]
    later = (
        await env.http.get("/simulator/api/transcript", params={"user": openid, "after": last})
    ).json()
    assert later["entries"] == []
    assert (
        await env.http.get("/simulator/api/transcript", params={"user": "nobody"})
    ).status_code == 404

    stranger = await env.http.post(
        "/simulator/api/text", json={"user": "o" + "z" * 27, "text": "x"}
    )
    assert stranger.status_code == 404

    verified = (await env.http.post("/simulator/api/verify")).json()
    assert verified["ok"] is True

    cleared = await env.http.post("/simulator/api/clear", json={"user": openid})
    assert cleared.json() == {"ok": True}
    assert env.sim.transcript(openid) == []


async def test_add_resident(env: Env) -> None:
    added = (await env.http.post("/simulator/api/residents", json={"name": "刘老师"})).json()
    assert added["name"] == "刘老师" and len(added["openid"]) == 28
    state = (await env.http.get("/simulator/api/state")).json()
    assert added["openid"] in {r["openid"] for r in state["residents"]}


async def test_safe_mode_shown(make_env: object) -> None:
    env: Env = await make_env(safe=True)  # type: ignore[operator]
    state = (await env.http.get("/simulator/api/state")).json()
    assert state["mode"] == "安全模式" and state["safe_mode"] is True
    sent = (
        await env.http.post("/simulator/api/text", json={"user": "zhang", "text": "你好"})
    ).json()
    assert sent["reply_signature_ok"] is True and sent["mode"] == "安全模式"
