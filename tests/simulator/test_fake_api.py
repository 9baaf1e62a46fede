"""The simulator as the WeChat API: tokens, windows, templates, menu, media, inbox."""

from __future__ import annotations

import pytest

from .conftest import APP_ID, APP_SECRET, Env, EnvFactory


async def test_token_checks_credentials(env: Env) -> None:
    async def token(grant_type: str, appid: str, secret: str) -> dict[str, object]:
        params = {"grant_type": grant_type, "appid": appid, "secret": secret}
        return dict((await env.api("GET", "/token", params=params)).json())

    grant = "client_credential"
    assert (await token(grant, "wxother", APP_SECRET))["errcode"] == 40013
    assert (await token(grant, APP_ID, "nope"))["errcode"] == 40125
    assert (await token("password", APP_ID, APP_SECRET))["errcode"] == 40002
    good = await token(grant, APP_ID, APP_SECRET)
    assert good["expires_in"] == 7200 and isinstance(good["access_token"], str)


async def test_new_token_invalidates_old(env: Env) -> None:
    openid = env.client.openid("zhang")
    await env.client.send_text("zhang", "你好")
    old = await env.token()
    new = await env.token()
    assert old != new
    assert (await env.push_text(openid, "旧的", token=old))["errcode"] == 40001
    assert (await env.push_text(openid, "新的", token=new))["errcode"] == 0
    missing = await env.api("POST", "/message/custom/send", json={})
    assert missing.json()["errcode"] == 41001


async def test_token_expires(env: Env) -> None:
    openid = env.client.openid("zhang")
    await env.client.send_text("zhang", "你好")
    token = await env.token()
    env.clock.advance(7201)
    assert (await env.push_text(openid, "过期", token=token))["errcode"] == 42001


async def test_message_window_allows_five_pushes_in_48_hours(env: Env) -> None:
    openid = env.client.openid("li")
    token = await env.token()
    assert (await env.push_text(openid, "没说过话", token=token))["errcode"] == 45015
    await env.client.send_text("li", "quiet")
    codes = [(await env.push_text(openid, f"第{i}条", token=token))["errcode"] for i in range(6)]
    assert codes == [0, 0, 0, 0, 0, 45015]
    # A new message opens a new window.
    await env.client.send_text("li", "quiet")
    assert (await env.push_text(openid, "再来", token=token))["errcode"] == 0
    # ... which shuts after 48 hours.
    env.clock.advance(48 * 3600 + 1)
    token = await env.token()
    assert (await env.push_text(openid, "太晚了", token=token))["errcode"] == 45015
    assert len(env.client.pushes("li")) == 6


async def test_event_window_allows_three_pushes_in_a_minute(env: Env) -> None:
    openid = env.client.openid("wang")
    token = await env.token()
    await env.client.click("wang", "MENU_MY_TICKETS")
    codes = [(await env.push_text(openid, f"第{i}条", token=token))["errcode"] for i in range(4)]
    assert codes == [0, 0, 0, 45015]

    await env.client.subscribe("wang")
    env.clock.advance(61)
    token = await env.token()
    assert (await env.push_text(openid, "一分钟后", token=token))["errcode"] == 45015


async def test_unsubscribe_and_view_open_no_window(env: Env) -> None:
    openid = env.client.openid("chen")
    token = await env.token()
    await env.client.send_event("chen", "VIEW", "https://example.invalid/")
    assert (await env.push_text(openid, "x", token=token))["errcode"] == 45015
    await env.client.unsubscribe("chen")
    assert (await env.push_text(openid, "x", token=token))["errcode"] == 43004


async def test_push_errors(env: Env) -> None:
    await env.client.send_text("zhang", "quiet")
    openid = env.client.openid("zhang")
    token = await env.token()
    assert (await env.push_text("o" + "x" * 27, "谁", token=token))["errcode"] == 40003
    assert (await env.push_text(openid, "长" * 683, token=token))["errcode"] == 45002
    bad = await env.api(
        "POST", "/message/custom/send", params={"access_token": token}, content=b"{not json"
    )
    assert bad.json()["errcode"] == 47001
    odd = await env.api(
        "POST",
        "/message/custom/send",
        params={"access_token": token},
        json={"touser": openid, "msgtype": "telepathy", "telepathy": {}},
    )
    assert odd.json()["errcode"] == 40008
    assert env.client.pushes("zhang") == []


async def test_pushes_land_in_inbox_and_transcript(env: Env) -> None:
    await env.client.send_text("zhang", "quiet")
    openid = env.client.openid("zhang")
    token = await env.token()
    await env.push_text(openid, "您的诉求已受理", token=token)
    image = {"touser": openid, "msgtype": "image", "image": {"media_id": "M1"}}
    await env.api("POST", "/message/custom/send", params={"access_token": token}, json=image)
    menu = {
        "touser": openid,
        "msgtype": "msgmenu",
        "msgmenu": {
            "head_content": "对处理结果满意吗？",
            "list": [{"id": "101", "content": "满意"}, {"id": "102", "content": "不满意"}],
            "tail_content": "",
        },
    }
    await env.api("POST", "/message/custom/send", params={"access_token": token}, json=menu)
    template = {
        "touser": openid,
        "template_id": "TPL1",
        "url": "http://127.0.0.1:8000/t/1",
        "data": {"first": {"value": "有新进展"}, "keyword1": {"value": "已办结"}},
    }
    answer = await env.api(
        "POST", "/message/template/send", params={"access_token": token}, json=template
    )
    assert answer.json()["errcode"] == 0 and isinstance(answer.json()["msgid"], int)

    pushes = env.client.pushes("zhang")
    assert [(p.via, p.msg_type) for p in pushes] == [
        ("custom", "text"),
        ("custom", "image"),
        ("custom", "msgmenu"),
        ("template", "template"),
    ]
    assert pushes[0].text == "您的诉求已受理"
    assert pushes[1].media_id == "M1"
    assert pushes[2].options == (("101", "满意"), ("102", "不满意"))
    assert pushes[3].text == "有新进展\nkeyword1：已办结"
    assert pushes[3].at == env.clock.now
    out = [e for e in env.sim.transcript("zhang") if e["direction"] == "out"]
    assert [e["via"] for e in out] == ["custom", "custom", "custom", "template"]

    # Tapping a menu item sends its text with bizmsgmenuid, as WeChat does.
    await env.client.send_text("zhang", "满意", bizmsgmenuid="101")
    assert env.received[-1].fields["bizmsgmenuid"] == "101"


async def test_templates_ignore_the_window_but_not_unsubscribe(env: Env) -> None:
    openid = env.client.openid("zhao")
    token = await env.token()
    body = {"touser": openid, "template_id": "TPL1", "data": {"first": {"value": "通知"}}}
    for _ in range(7):
        answer = await env.api(
            "POST", "/message/template/send", params={"access_token": token}, json=body
        )
        assert answer.json()["errcode"] == 0
    no_id = {**body, "template_id": ""}
    answer = await env.api(
        "POST", "/message/template/send", params={"access_token": token}, json=no_id
    )
    assert answer.json()["errcode"] == 40037
    await env.client.unsubscribe("zhao")
    answer = await env.api(
        "POST", "/message/template/send", params={"access_token": token}, json=body
    )
    assert answer.json()["errcode"] == 43004


async def test_inbox_is_capped(make_env: EnvFactory) -> None:
    env: Env = await make_env(inbox_size=3, transcript_size=4)
    openid = env.client.openid("zhang")
    token = await env.token()
    for i in range(5):
        body = {"touser": openid, "template_id": "T", "data": {"first": {"value": str(i)}}}
        await env.api("POST", "/message/template/send", params={"access_token": token}, json=body)
    assert [p.text for p in env.client.pushes("zhang")] == ["2", "3", "4"]
    assert len(env.sim.transcript("zhang")) == 4


async def test_wait_for_push(env: Env) -> None:
    assert await env.client.send_text("zhang", "push me") is None
    push = await env.client.wait_for_push("zhang", timeout=2)
    assert push.text == "推送：你好" and push.via == "custom"
    with pytest.raises(TimeoutError):
        await env.client.wait_for_push("zhang", timeout=0.1)  # already returned
    # Pushes to others are not ours.
    with pytest.raises(TimeoutError):
        await env.client.wait_for_push("li", timeout=0.05)


async def test_menu_create_is_stored_and_shown(env: Env) -> None:
    token = await env.token()
    state = (await env.http.get("/simulator/api/state")).json()
    assert state["menu_installed"] is False
    assert [b["key"] for b in state["menu"]["button"]] == [
        "MENU_REPORT",
        "MENU_MY_TICKETS",
        "MENU_HUMAN",
    ]
    menu = {
        "button": [
            {"type": "click", "name": "我要反映", "key": "MENU_REPORT"},
            {
                "name": "更多",
                "sub_button": [
                    {"type": "click", "name": "我的诉求", "key": "MENU_MY_TICKETS"},
                    {"type": "view", "name": "办事指南", "url": "http://127.0.0.1:8000/guide"},
                ],
            },
        ]
    }
    created = await env.api("POST", "/menu/create", params={"access_token": token}, json=menu)
    assert created.json() == {"errcode": 0, "errmsg": "ok"}
    state = (await env.http.get("/simulator/api/state")).json()
    assert state["menu_installed"] is True and state["menu"] == menu
    got = await env.api("GET", "/menu/get", params={"access_token": token})
    assert got.json()["menu"] == menu
    # Clicking a sub-button names it in the chat.
    await env.client.click("zhang", "MENU_MY_TICKETS")
    assert env.sim.transcript("zhang")[0]["text"] == "点击菜单「我的诉求」"

    too_many = {"button": [{"type": "click", "name": f"b{i}", "key": f"K{i}"} for i in range(4)]}
    answer = await env.api("POST", "/menu/create", params={"access_token": token}, json=too_many)
    assert answer.json()["errcode"] == 40016
    bad_type = {"button": [{"type": "teleport", "name": "x", "key": "K"}]}
    answer = await env.api("POST", "/menu/create", params={"access_token": token}, json=bad_type)
    assert answer.json()["errcode"] == 40017
    stale = await env.api("POST", "/menu/create", params={"access_token": "old"}, json=menu)
    assert stale.json()["errcode"] == 40001


async def test_media_get_and_upload(env: Env) -> None:
    await env.client.send_voice("zhao", b"#!AMR\n\x7c\x7c", recognition=None)
    media_id = env.received[-1].fields["MediaId"]
    token = await env.token()
    got = await env.api("GET", "/media/get", params={"access_token": token, "media_id": media_id})
    assert got.status_code == 200
    assert got.content == b"#!AMR\n\x7c\x7c"
    assert got.headers["content-type"] == "audio/amr"
    assert media_id in got.headers["content-disposition"]

    missing = await env.api("GET", "/media/get", params={"access_token": token, "media_id": "x"})
    assert missing.headers["content-type"].startswith("text/plain")
    assert missing.json()["errcode"] == 40007
    stale = await env.api("GET", "/media/get", params={"access_token": "bad", "media_id": media_id})
    assert stale.json()["errcode"] == 40001

    uploaded = await env.api(
        "POST",
        "/media/upload",
        params={"access_token": token, "type": "image"},
        files={"media": ("a.png", b"\x89PNG....", "image/png")},
    )
    new_id = uploaded.json()["media_id"]
    assert uploaded.json()["type"] == "image"
    assert (await env.http.get(f"/simulator/media/{new_id}")).content == b"\x89PNG...."

    # Temporary media lives three days.
    env.clock.advance(3 * 24 * 3600 + 1)
    token = await env.token()
    gone = await env.api("GET", "/media/get", params={"access_token": token, "media_id": new_id})
    assert gone.json()["errcode"] == 40007
