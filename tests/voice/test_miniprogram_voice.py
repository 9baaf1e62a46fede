"""Mini-program recordings (mp3/aac) as chat turns: POST /mp/v1/chat/voice."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from integrations.speech import TranscriptionPool
from tests.miniprogram.support import MiniProgram, mini_program, mp_system
from tests.speech_support import AISHELL_CLIPS, voice_bytes
from tests.voice.test_scenarios import CHANNEL_CER, SAID, cer, quoted


async def send_voice(mp: MiniProgram, data: bytes, filename: str = "rec.mp3",
                     content_type: str = "audio/mpeg") -> Any:
    return await mp.call("POST", "/chat/voice",
                         data={"client_msg_id": uuid.uuid4().hex},
                         files={"file": (filename, data, content_type)})


async def test_a_recording_is_transcribed_and_echoed(
    tmp_path: Path, real_speech: TranscriptionPool
) -> None:
    mp3 = voice_bytes(AISHELL_CLIPS[0], "mp3")
    async with mp_system(tmp_path, speech=real_speech) as system, \
            mini_program(system, "qian") as mp:
        response = await send_voice(mp, mp3)
        assert response.status_code == 200, response.text
        messages = response.json()["messages"]
        texts = [m["text"] for m in messages]
        if not texts or texts == ["正在识别语音…"]:
            texts = [m["text"] for m in await mp.wait_inbox(1, timeout=30)]
        echo = texts[-1]
        assert echo.startswith("您说的是：“"), texts
        assert cer(quoted(echo), SAID) <= CHANNEL_CER, echo


async def test_what_is_not_a_recording_is_refused_clearly(tmp_path: Path) -> None:
    async with mp_system(tmp_path) as system, mini_program(system, "sun") as mp:
        wrong = await send_voice(mp, b"hello, not audio", "rec.mp3")
        assert wrong.status_code == 415
        assert "mp3、aac" in wrong.json()["error"]["message"]
        big = await send_voice(mp, b"ID3" + b"\0" * (2 * 1024 * 1024))
        assert big.status_code == 413
        assert "录音太大了" in big.json()["error"]["message"]


def test_recordings_are_told_by_their_bytes() -> None:
    from integrations.media.store import sniff_audio

    assert sniff_audio(b"ID3\x04\x00") == "audio/mpeg"
    assert sniff_audio(b"\xff\xfb\x90\x64") == "audio/mpeg"
    assert sniff_audio(b"\xff\xf1\x50\x80") == "audio/aac"
    assert sniff_audio(b"\x00\x00\x00\x20ftypM4A ") == "audio/mp4"
    assert sniff_audio(b"#!AMR\n") is None and sniff_audio(b"\x89PNG\r\n\x1a\n") is None
