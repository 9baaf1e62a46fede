"""Login through jscode2session, the API's own tokens, and the phone number."""

from __future__ import annotations

import base64
import json
import logging
import os
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from integrations.miniprogram.tokens import SessionTokens
from tests.support import running_system

from .support import MP_APP_ID, channel, fake, mini_program, mp_system


async def test_login_exchanges_the_code_and_keeps_the_session_key_on_the_server(
    tmp_path: Path,
) -> None:
    async with mp_system(tmp_path) as system, mini_program(system, "wang", login=False) as mp:
        body = await mp.login()
        assert set(body) == {"token", "token_type", "expires_at", "expires_in", "phone_bound"}
        assert body["token_type"] == "Bearer" and body["phone_bound"] is False
        assert 7100 < body["expires_in"] <= 7200
        user = mp.user
        assert user.session_key not in json.dumps(body)
        stored = await channel(system).store.user(user.openid)
        assert stored is not None and stored.session_key == user.session_key
        assert stored.unionid == user.unionid
        # The token works.
        assert (await mp.ok("GET", "/requests")) == {"requests": []}
        # The fake WeChat saw one jscode2session with our app id.
        assert any(c.endpoint == "sns/jscode2session" and c.errcode == 0
                   for c in fake(system).calls)


async def test_a_bad_or_used_code_is_refused_with_a_json_error(tmp_path: Path) -> None:
    async with mp_system(tmp_path) as system, mini_program(system, "wang", login=False) as mp:
        bad = await mp.http.post("/mp/v1/session", json={"code": "not-a-real-code"})
        assert bad.status_code == 401
        assert bad.json()["error"]["code"] == "invalid_code"
        assert bad.json()["error"]["message"] == "登录凭证无效或已过期，请重新登录"
        code = fake(system).mp_login("wang")
        assert (await mp.http.post("/mp/v1/session", json={"code": code})).status_code == 200
        used = await mp.http.post("/mp/v1/session", json={"code": code})
        assert used.status_code == 401 and used.json()["error"]["code"] == "invalid_code"
        malformed = await mp.http.post("/mp/v1/session", json={"code": ""})
        assert malformed.status_code == 422
        assert malformed.json()["error"]["code"] == "validation_failed"
        assert malformed.json()["error"]["fields"][0]["field"] == "body.code"


async def test_missing_forged_and_expired_tokens_are_refused(tmp_path: Path) -> None:
    async with mp_system(tmp_path) as system, mini_program(system, "zhao") as mp:
        assert mp.token is not None
        openid = mp.user.openid
        missing = await mp.http.get("/mp/v1/requests")
        assert missing.status_code == 401
        assert missing.json() == {"error": {"code": "unauthorized", "message": "请先登录"}}
        assert missing.headers["www-authenticate"] == "Bearer"

        payload, signature = mp.token.split(".")
        forged_payload = base64.urlsafe_b64encode(
            f"mp1|{openid[:-1]}X|9999999999".encode()).rstrip(b"=").decode()
        secret = system.settings.miniprogram_session_secret.get_secret_value()
        past = system.container.clock() - timedelta(hours=3)
        expired, _ = SessionTokens(secret, app_id=MP_APP_ID, lifetime=timedelta(hours=2),
                                   clock=lambda: past).issue(openid)
        other_app, _ = SessionTokens(secret, app_id="wxanother", lifetime=timedelta(hours=2)
                                     ).issue(openid)
        other_secret, _ = SessionTokens("x" * 40, app_id=MP_APP_ID,
                                        lifetime=timedelta(hours=2)).issue(openid)
        for bad in (f"{forged_payload}.{signature}", f"{payload}.{signature[:-2]}AA",
                    expired, other_app, other_secret, "garbage", "a.b.c", "x" * 600):
            response = await mp.http.get(
                "/mp/v1/requests", headers={"Authorization": f"Bearer {bad}"})
            assert response.status_code == 401, bad
            assert response.json()["error"]["code"] == "session_expired"
        # Another scheme is no token at all.
        basic = await mp.http.get("/mp/v1/requests", headers={"Authorization": "Basic eDp5"})
        assert basic.status_code == 401 and basic.json()["error"]["code"] == "unauthorized"


def _encrypt(session_key: str, plain: dict[str, object]) -> tuple[str, str]:
    """WeChat's scheme, written out here independently of the app's code."""
    key = base64.b64decode(session_key)
    iv = os.urandom(16)
    data = json.dumps(plain).encode()
    pad = 16 - len(data) % 16
    data += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    cipher = encryptor.update(data) + encryptor.finalize()
    return base64.b64encode(cipher).decode(), base64.b64encode(iv).decode()


async def test_phone_number_is_decrypted_with_the_session_key_and_masked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with mp_system(tmp_path) as system, mini_program(system, "qian") as mp:
        session_key = mp.user.session_key
        plain = {"phoneNumber": "13812345678", "purePhoneNumber": "13812345678",
                 "countryCode": "86", "watermark": {"appid": MP_APP_ID, "timestamp": 1}}
        encrypted, iv = _encrypt(session_key, plain)
        answer = await mp.ok("POST", "/phone", json={"encrypted_data": encrypted, "iv": iv})
        assert answer == {"phone": "138****5678"}
        stored = await channel(system).store.user(mp.user.openid)
        assert stored is not None and stored.phone == "13812345678"
        assert stored.phone_consented_at is not None
        # Neither the number nor the openid is written to the logs as is.
        assert "13812345678" not in caplog.text and mp.user.openid not in caplog.text
        assert session_key not in caplog.text

        # Made for another mini-program: refused.
        foreign = {**plain, "watermark": {"appid": "wxsomebodyelse", "timestamp": 1}}
        encrypted, iv = _encrypt(session_key, foreign)
        refused = await mp.call("POST", "/phone", json={"encrypted_data": encrypted, "iv": iv})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "wrong_app"
        # Encrypted with another key (an old session): refused too.
        encrypted, iv = _encrypt(base64.b64encode(os.urandom(16)).decode(), plain)
        wrong_key = await mp.call("POST", "/phone", json={"encrypted_data": encrypted, "iv": iv})
        assert wrong_key.status_code == 400
        assert wrong_key.json()["error"]["code"] == "bad_encrypted_data"
        for body in ({"encrypted_data": "!!", "iv": iv}, {"encrypted_data": encrypted},
                     {"code": "c", "iv": iv}, {}):
            response = await mp.call("POST", "/phone", json=body)
            assert response.status_code in (400, 422), body

        # A new login gives a new session key: data of the old one no longer opens.
        old_key = mp.user.session_key
        await mp.login()
        assert mp.user.session_key != old_key
        encrypted, iv = _encrypt(old_key, plain)
        stale = await mp.call("POST", "/phone", json={"encrypted_data": encrypted, "iv": iv})
        assert stale.status_code == 400


async def test_phone_number_by_the_newer_code_flow(tmp_path: Path) -> None:
    async with mp_system(tmp_path) as system, mini_program(system, "sun") as mp:
        given = fake(system).mp_phone("sun", "13987654321")
        answer = await mp.ok("POST", "/phone", json={"code": given["code"]})
        assert answer == {"phone": "139****4321"}
        # The button's encrypted form of the same works as well.
        again = await mp.ok("POST", "/phone", json={"encrypted_data": given["encrypted_data"],
                                                    "iv": given["iv"]})
        assert again == {"phone": "139****4321"}
        used = await mp.call("POST", "/phone", json={"code": given["code"]})
        assert used.status_code == 400
        assert used.json()["error"]["code"] == "invalid_phone_code"
        # The next login says the phone is bound, still without the number.
        body = await mp.login()
        assert body["phone_bound"] is True and "13987654321" not in str(body)


async def test_with_no_mini_program_configured_the_simulator_plays_it(tmp_path: Path) -> None:
    """`make run`: the API mounts with the dev app id, and the simulator's fake
    WeChat answers jscode2session for it (MINHU_MINIPROGRAM_API_BASE empty)."""
    async with running_system(tmp_path, media_dir=str(tmp_path / "media")) as system:
        assert system.settings.miniprogram_app_id == "wx0000000000000001"
        assert system.settings.miniprogram_api_url() == system.settings.wechat_api_base
        got = await system.http.post("/simulator/api/miniprogram/login", json={"user": "dev"})
        login = await system.http.post("/mp/v1/session", json={"code": got.json()["code"]})
        assert login.status_code == 200, login.text
        token = login.json()["token"]
        phone = (await system.http.post("/simulator/api/miniprogram/phone",
                                        json={"user": "dev", "phone": "13700001111"})).json()
        answer = await system.http.post(
            "/mp/v1/phone", json={"code": phone["code"]},
            headers={"Authorization": f"Bearer {token}"})
        assert answer.json() == {"phone": "137****1111"}
        options = await system.http.get("/mp/v1/options")
        assert options.status_code == 200 and options.json()["status_template_id"] is None
        docs = await system.http.get("/mp/v1/openapi.json")
        assert docs.json()["info"]["title"] == "minhu 小程序接口"
