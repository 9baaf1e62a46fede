"""Tencent's official vectors, reproduced exactly, and the cipher's refusals."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from bot.errors import MalformedPayload, SignatureError
from integrations.wechat.crypto import WeChatCrypto, signature, verify
from integrations.wechat.xml import parse_xml

from .conftest import SHARED_VECTORS_FILE, VECTORS_FILE


def test_vendored_vectors_match_the_shared_file() -> None:
    if not SHARED_VECTORS_FILE.exists():
        pytest.skip("shared data not mounted")
    assert json.loads(VECTORS_FILE.read_text("utf-8")) == json.loads(
        SHARED_VECTORS_FILE.read_text("utf-8")
    )


def test_mp_sample_encrypts_exactly(vectors: dict[str, Any]) -> None:
    v = vectors["mp_official_sample_A"]
    crypto = WeChatCrypto(v["token"], v["encoding_aes_key"], v["app_id"])
    encrypted = crypto.encrypt(v["plaintext"], random16=v["random_16"].encode())
    assert encrypted == v["expected_encrypt"]


def test_mp_sample_decrypts_exactly(vectors: dict[str, Any]) -> None:
    v = vectors["mp_official_sample_A"]
    crypto = WeChatCrypto(v["token"], v["encoding_aes_key"], v["app_id"])
    assert crypto.decrypt(v["expected_encrypt"]) == v["plaintext"]


def test_mp_sample_envelope_is_signed(vectors: dict[str, Any]) -> None:
    v = vectors["mp_official_sample_A"]
    crypto = WeChatCrypto(v["token"], v["encoding_aes_key"], v["app_id"])
    envelope = crypto.encrypt_reply(
        v["plaintext"],
        timestamp=v["timestamp"],
        nonce=v["nonce"],
        random16=v["random_16"].encode(),
    )
    assert envelope.encrypt == v["expected_encrypt"]
    expected_sig = signature(v["token"], v["timestamp"], v["nonce"], v["expected_encrypt"])
    assert envelope.msg_signature == expected_sig
    fields = parse_xml(envelope.to_xml())
    assert fields == {
        "Encrypt": v["expected_encrypt"],
        "MsgSignature": expected_sig,
        "TimeStamp": v["timestamp"],
        "Nonce": v["nonce"],
    }
    # and the envelope opens again as a request body would
    assert (
        crypto.decrypt_message(envelope.to_xml(), expected_sig, v["timestamp"], v["nonce"])
        == v["plaintext"]
    )


def test_wechatpy_vector_signature_and_decrypt(vectors: dict[str, Any]) -> None:
    v = vectors["work_wechatpy_vector"]
    assert signature(v["token"], v["timestamp"], v["nonce"], v["encrypt"]) == v["msg_signature"]
    assert verify(v["msg_signature"], v["token"], v["timestamp"], v["nonce"], v["encrypt"])
    crypto = WeChatCrypto(v["token"], v["encoding_aes_key"], v["receive_id"])
    body = f"<xml><Encrypt><![CDATA[{v['encrypt']}]]></Encrypt></xml>"
    inner = crypto.decrypt_message(body, v["msg_signature"], v["timestamp"], v["nonce"])
    fields = parse_xml(inner)
    for name, value in v["expected_plaintext_fields"].items():
        assert fields[name] == value


def test_wecom_echostr_verification(vectors: dict[str, Any]) -> None:
    v = vectors["wework_official_sample_verify_url"]
    crypto = WeChatCrypto(v["token"], v["encoding_aes_key"], v["corp_id"])
    plain = crypto.decrypt_echostr(v["msg_signature"], v["timestamp"], v["nonce"], v["echostr"])
    assert plain == v["expected_echo_plaintext"]
    with pytest.raises(SignatureError):
        crypto.decrypt_echostr("0" * 40, v["timestamp"], v["nonce"], v["echostr"])


def test_plain_signature_is_sha1_of_sorted_strings() -> None:
    # sorted("token", "1409304348", "xxxxxx") -> "1409304348tokenxxxxxx"
    import hashlib

    expected = hashlib.sha1(b"1409304348tokenxxxxxx").hexdigest()
    assert signature("token", "1409304348", "xxxxxx") == expected
    assert verify(expected, "token", "1409304348", "xxxxxx")
    assert verify(expected.upper(), "token", "1409304348", "xxxxxx")
    assert not verify(expected, "token", "1409304349", "xxxxxx")
    assert not verify(None, "token", "1409304348", "xxxxxx")
    assert not verify("", "token", "1409304348", "xxxxxx")
    assert not verify(expected, "token", None, "xxxxxx")
    assert not verify("签名", "token", "1409304348", "xxxxxx")


@pytest.mark.parametrize(
    "key",
    [
        "",
        "short",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF",  # 42
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH",  # 44
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDE!G",  # not base64
    ],
)
def test_bad_encoding_aes_key_is_refused_at_construction(key: str) -> None:
    with pytest.raises(ValueError, match="EncodingAESKey"):
        WeChatCrypto("token", key, "wxAPP")


@pytest.fixture
def crypto(vectors: dict[str, Any]) -> WeChatCrypto:
    v = vectors["mp_official_sample_A"]
    return WeChatCrypto(v["token"], v["encoding_aes_key"], v["app_id"])


def test_round_trip_of_long_unicode(crypto: WeChatCrypto) -> None:
    for text in ["", "a", "x" * 31, "x" * 32, "民呼😀" * 500, "]]></xml>"]:
        assert crypto.decrypt(crypto.encrypt(text)) == text


def test_other_app_id_is_a_signature_error(vectors: dict[str, Any]) -> None:
    v = vectors["mp_official_sample_A"]
    other = WeChatCrypto(v["token"], v["encoding_aes_key"], "wxOTHER")
    with pytest.raises(SignatureError):
        other.decrypt(v["expected_encrypt"])


@pytest.mark.parametrize(
    "value",
    [
        "not base64!!",
        "",
        base64.b64encode(b"short").decode(),
        base64.b64encode(b"\x00" * 32).decode(),  # decrypts to garbage padding
    ],
)
def test_garbage_is_malformed(crypto: WeChatCrypto, value: str) -> None:
    with pytest.raises(MalformedPayload):
        crypto.decrypt(value)


def test_tampered_ciphertext_is_refused(crypto: WeChatCrypto) -> None:
    raw = bytearray(base64.b64decode(crypto.encrypt("hello")))
    raw[-1] ^= 0x01  # breaks the padding of the last block
    with pytest.raises((MalformedPayload, SignatureError)):
        crypto.decrypt(base64.b64encode(bytes(raw)).decode())


def test_random_prefix_must_be_16_bytes(crypto: WeChatCrypto) -> None:
    with pytest.raises(ValueError):
        crypto.encrypt("x", random16=b"short")


def test_decrypt_message_checks_signature_and_encrypt(crypto: WeChatCrypto) -> None:
    enc = crypto.encrypt("<xml/>")
    body = f"<xml><Encrypt><![CDATA[{enc}]]></Encrypt></xml>"
    with pytest.raises(SignatureError):
        crypto.decrypt_message(body, "0" * 40, "1", "2")
    with pytest.raises(MalformedPayload):
        crypto.decrypt_message("<xml><Other>1</Other></xml>", "0" * 40, "1", "2")
