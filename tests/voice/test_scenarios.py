"""Done-when scenarios, through the whole system with the real speech engine.

- A WeChat voice message without Recognition: AMR audio (made with sox from a
  real AISHELL clip) → media download from the (simulated) WeChat API →
  faster-whisper → "您说的是：… 对吗？" → 对 → the intake → a filed ticket.
- A Telegram voice note (OGG/Opus made with ffmpeg) on the rider fast path:
  quick button → shared location → voice → one confirmation → a filed ticket.
- Over-long and corrupt audio get clear replies, and the system carries on.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
from pathlib import Path

from bot.types import Channel, ConversationKey
from integrations.speech import TranscriptionPool
from integrations.speech.evaluation import edit_distance, scoring_form
from integrations.telegram.fake_bot_api import FakeBotAPI
from tests.speech_support import AISHELL_CLIPS, voice_bytes
from tests.support import System, running_system
from tests.telegram.support import BOT_ID, TelegramResident, telegram_system

CLIP = AISHELL_CLIPS[0]
# The accuracy target (CER ≤ 15 %) is on the clean 16 kHz clips (tests/speech); over
# the channels' codecs (AMR-NB is 8 kHz narrowband) allow up to 3 of its 13 characters.
CHANNEL_CER = 0.25
SAID = "甚至出现交易几乎停滞的情况"
ACCOUNT = "gh_minhu_e2e"


def cer(heard: str, reference: str) -> float:
    ref = scoring_form(reference)
    return edit_distance(ref, scoring_form(heard)) / len(ref)


def quoted(text: str) -> str:
    return text.split("“", 1)[1].split("”", 1)[0]


async def bot_says(system: System, who: str, passive: str | None) -> str:
    """The passive reply, unless it was only "正在识别语音…": then the push that follows."""
    if passive is not None and passive != "正在识别语音…":
        return passive
    return (await system.residents.wait_for_push(who, timeout=30)).text


async def answer_until_filed(system: System, who: str, reply: str) -> str:
    """Go through the intake as a resident would, until the ticket is filed."""
    answers = (
        ("请核对", "确认提交"),
        ("请问您这次是想", "1"),
        ("什么地方", "和平路12号门口"),
        ("什么时候", "不清楚"),
        ("联系电话", "不留电话"),
        ("照片", "没有照片"),
    )
    for _ in range(10):
        if "工单编号" in reply:
            return reply
        answer = next((a for cue, a in answers if cue in reply), None)
        assert answer is not None, f"unexpected question: {reply}"
        passive = await system.residents.send_text(who, answer)
        reply = passive or (await system.residents.wait_for_push(who, timeout=10)).text
    raise AssertionError(f"not filed: {reply}")


async def test_a_wechat_amr_voice_note_without_recognition_becomes_a_ticket(
    tmp_path: Path, real_speech: TranscriptionPool
) -> None:
    amr = voice_bytes(CLIP, "amr")
    assert amr.startswith(b"#!AMR\n")
    async with running_system(tmp_path, speech=real_speech) as system:
        residents = system.residents
        opened = await residents.click("li", "MENU_REPORT")
        assert opened is not None and "请直接描述" in opened
        loop = asyncio.get_running_loop()
        started = loop.time()
        passive = await residents.send_voice("li", amr)   # no Recognition field
        assert loop.time() - started < 4.5  # within WeChat's 5 s, whatever the engine does
        echo = await bot_says(system, "li", passive)
        assert echo.startswith("您说的是：“") and "对吗？" in echo
        assert cer(quoted(echo), SAID) <= CHANNEL_CER, quoted(echo)
        # Nothing is filed before the resident says yes.
        key = ConversationKey(Channel.WECHAT, ACCOUNT, residents.openid("li"))
        assert await system.storage.tickets.for_conversation(key) == []
        confirmed = await residents.send_text("li", "对")
        assert confirmed is not None
        filed = await answer_until_filed(system, "li", confirmed)
        assert "工单编号" in filed
        [record] = await system.storage.tickets.for_conversation(key)
        assert cer(record.draft.description, SAID) <= CHANNEL_CER
        assert record.draft.address == "和平路12号门口"


async def test_a_telegram_voice_note_files_on_the_rider_fast_path(
    tmp_path: Path, fake_bot_api: tuple[FakeBotAPI, str], real_speech: TranscriptionPool
) -> None:
    fake, base = fake_bot_api
    ogg = voice_bytes(CLIP, "ogg")
    assert ogg.startswith(b"OggS")
    fake.add_file("VOICE-RIDER-1", ogg)
    async with telegram_system(tmp_path, fake, base, speech=real_speech) as system:
        rider = TelegramResident(system, fake, 9101, "骑手")
        [menu] = await rider.say("/rider")
        assert "骑手小哥您好" in menu
        [start] = await rider.press("进门难")
        assert "发送您的位置" in start
        [located] = await _send(rider, location={"latitude": 30.2741, "longitude": 120.1551})
        assert "位置已记下" in located
        await rider.send(rider.message(voice={"file_id": "VOICE-RIDER-1", "file_unique_id": "v",
                                              "duration": 4, "mime_type": "audio/ogg"}))
        replies = await rider.replies(within=30)
        if replies == ["正在识别语音…"]:
            replies += await rider.replies(within=30)
        confirmation = replies[-1]
        assert confirmation.startswith("您说的是：“") and "问题：进门难（城乡建设）" in confirmation
        assert cer(quoted(confirmation), SAID) <= CHANNEL_CER, quoted(confirmation)
        [filed] = await rider.press("对，提交")
        assert "工单编号" in filed
        key = ConversationKey(Channel.TELEGRAM, BOT_ID, "9101")
        [record] = await system.storage.tickets.for_conversation(key)
        draft = record.draft
        assert draft.category == "城乡建设" and draft.request_type == "seek_help"
        assert draft.description.startswith("【骑手快速反映·进门难】")
        assert draft.location is not None and abs(draft.location.latitude - 30.2741) < 1e-6
        assert any(c.method == "getFile" for c in fake.calls())


async def _send(rider: TelegramResident, **content: object) -> list[str]:
    await rider.send(rider.message(**content))
    return await rider.replies()


async def test_over_long_and_corrupt_audio_get_clear_replies(
    tmp_path: Path, real_speech: TranscriptionPool
) -> None:
    long_wav = tmp_path / "long.wav"
    # The clip, then a minute of silence: 65 s in all, over the 60 s limit.
    subprocess.run(["sox", str(CLIP), str(long_wav), "pad", "0", "61"], check=True)  # noqa: ASYNC221
    long_amr = voice_bytes(long_wav, "amr")
    # An AMR header, then bytes that are no AMR frames (fixed, so the test is stable).
    corrupt = b"#!AMR\n" + random.Random(6).randbytes(128)
    async with running_system(tmp_path, speech=real_speech) as system:
        residents = system.residents
        too_long = await bot_says(system, "wang", await residents.send_voice("wang", long_amr))
        assert "超过60秒" in too_long
        broken = await bot_says(system, "wang", await residents.send_voice("wang", corrupt))
        assert "打不开" in broken, broken
        speex_garbage = await bot_says(
            system, "wang",
            await residents.send_voice("wang", b"not audio at all", audio_format="speex"),
        )
        assert "打不开" in speex_garbage
        # And the system carries on: a typed request still works.
        reply = await residents.send_text("wang", "你好")
        assert reply is not None
