"""Errors under /mp/v1: one JSON shape, stable codes, Chinese messages; rate limits; owners."""

from __future__ import annotations

from pathlib import Path

from .support import mini_program, mp_system

FORM = {"client_request_id": "e1", "type": "complain",
        "description": "小区门口的共享单车堆满了人行道，走不过去",
        "location": {"latitude": 39.91, "longitude": 116.39, "address": "和平路12号"}}


async def test_too_many_requests_get_429_with_retry_after(tmp_path: Path) -> None:
    async with mp_system(tmp_path, miniprogram_rate_per_minute=6,
                         miniprogram_rate_burst=3) as system, \
            mini_program(system, "yang") as mp:
        codes = [(await mp.call("GET", "/requests")).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = await mp.call("GET", "/requests")
        assert limited.json() == {"error": {"code": "rate_limited",
                                            "message": "操作太频繁，请稍后再试"}}
        assert 1 <= int(limited.headers["retry-after"]) <= 10
        # Per user: someone else is not slowed down.
        async with mini_program(system, "qin") as other:
            assert (await other.call("GET", "/requests")).status_code == 200


async def test_another_users_ticket_is_not_found(tmp_path: Path) -> None:
    async with mp_system(tmp_path) as system, mini_program(system, "cao") as owner, \
            mini_program(system, "yan") as other:
        ticket_id = (await owner.ok("POST", "/requests", 201, json=FORM))["ticket_id"]
        assert (await owner.call("GET", f"/requests/{ticket_id}")).status_code == 200
        for method, path, body in (
            ("GET", f"/requests/{ticket_id}", None),
            ("POST", f"/requests/{ticket_id}/supplement", {"text": "补充"}),
            ("POST", f"/requests/{ticket_id}/withdraw", {}),
            ("POST", f"/requests/{ticket_id}/rating", {"score": 1}),
        ):
            response = await other.call(method, path, json=body)
            assert response.status_code == 404, (path, response.text)
            assert response.json()["error"] == {"code": "not_found", "message": "没有找到这件诉求"}
        assert (await other.ok("GET", "/requests")) == {"requests": []}
        unknown = await owner.call("GET", "/requests/MH000000000000")
        assert unknown.status_code == 404


async def test_supplement_withdraw_and_rules_of_rating(tmp_path: Path) -> None:
    async with mp_system(tmp_path) as system, mini_program(system, "bai") as mp:
        ticket_id = (await mp.ok("POST", "/requests", 201, json=FORM))["ticket_id"]
        early = await mp.call("POST", f"/requests/{ticket_id}/rating", json={"score": 5})
        assert early.status_code == 409 and early.json()["error"]["code"] == "not_allowed"
        added = await mp.ok("POST", f"/requests/{ticket_id}/supplement",
                            json={"text": "晚上七点以后最严重"})
        assert added["can_withdraw"] is True
        withdrawn = await mp.ok("POST", f"/requests/{ticket_id}/withdraw",
                                json={"reason": "已经解决了"})
        assert withdrawn["status"] == "已撤回" and withdrawn["can_supplement"] is False
        again = await mp.call("POST", f"/requests/{ticket_id}/withdraw", json={})
        assert again.status_code == 409 and again.json()["error"]["code"] == "not_allowed"
        listed = (await mp.ok("GET", "/requests"))["requests"]
        assert [(r["ticket_id"], r["status"]) for r in listed] == [(ticket_id, "已撤回")]


async def test_every_error_has_the_same_shape(tmp_path: Path) -> None:
    async with mp_system(tmp_path) as system, mini_program(system, "lei") as mp:
        cases = [
            (await mp.call("GET", "/no/such/route"), 404, "no_route"),
            (await mp.call("DELETE", "/requests"), 405, "method_not_allowed"),
            (await mp.call("POST", "/requests", content=b"{not json",
                           headers={"Content-Type": "application/json"}),
             422, "validation_failed"),
            (await mp.call("POST", "/requests", json={**FORM, "type": "gossip"}),
             422, "validation_failed"),
            (await mp.call("POST", "/requests", json={**FORM, "location": {
                "latitude": 91, "longitude": 0}}), 422, "validation_failed"),
            (await mp.call("POST", "/requests", json={**FORM, "description": "坏了\x00"}),
             422, "validation_failed"),
            (await mp.call("POST", "/requests", json={**FORM, "extra": 1}),
             422, "validation_failed"),
            (await mp.call("POST", "/requests", json={**FORM, "location": None}),
             422, "validation_failed"),
            (await mp.call("PUT", "/subscriptions", json={"TPL": "maybe"}),
             422, "validation_failed"),
            (await mp.call("POST", "/chat", json={"client_msg_id": "a", "text": "x",
                                                  "location": {"latitude": 1,
                                                               "longitude": 1}}),
             422, "validation_failed"),
        ]
        for response, status, code in cases:
            assert response.status_code == status, response.text
            assert response.headers["content-type"].startswith("application/json")
            error = response.json()["error"]
            assert error["code"] == code and error["message"], error
        validation = cases[3][0].json()["error"]
        assert validation["fields"][0]["field"] == "body.type"
        assert validation["message"] == "提交的内容不符合要求（body.type）"
        # The rest of the app keeps FastAPI's own validation errors.
        other = await system.http.post("/simulator/api/text", json={"user": "x"})
        assert other.status_code == 422 and "detail" in other.json()


async def test_consents_accumulate_and_a_refusal_clears_them(tmp_path: Path) -> None:
    async with mp_system(tmp_path) as system, mini_program(system, "kong") as mp:
        options = await mp.ok("GET", "/options")
        template = options["status_template_id"]
        assert template and options["max_photos"] == 9
        assert {"code": "praise", "label": "表扬"} in options["request_types"]
        result = {"errMsg": "requestSubscribeMessage:ok", template: "accept"}
        for remaining in (1, 2, 3):
            answer = await mp.ok("PUT", "/subscriptions", json=result)
            assert answer["consents"] == [
                {"template_id": template, "choice": "accept", "remaining": remaining}]
        answer = await mp.ok("PUT", "/subscriptions", json={template: "reject",
                                                           "OTHER_TPL": "filter"})
        assert answer["consents"] == [{"template_id": template, "choice": "reject",
                                       "remaining": 0}]
        assert (await mp.ok("GET", "/subscriptions"))["consents"][0]["remaining"] == 0
