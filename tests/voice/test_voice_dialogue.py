"""Voice notes in the dialogue, with a fake speech engine: the confirmation
step, corrections, clear replies for audio we cannot use, the interim
"正在识别语音…", and nothing lost when a replica dies mid-transcription."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from bot.errors import AudioTooLarge, AudioTooLong, AudioUnreadable, SpeechBusy, SpeechUnavailable
from bot.ports import TurnRecord
from bot.state import ConversationState
from bot.types import InboundKind, Intent, OutboundMessage
from tests.handlers.fakes import FakeTickets
from tests.handlers.harness import reading
from tests.voice.fakes import FakeSpeech, VoiceConversation, voice_conversation

LAMP = "幸福里小区3号楼门口的路灯昨天晚上开始不亮了"


def scripted(readings: dict[str, Intent]) -> Callable[[str], Intent]:
    """NLU knowing these texts; anything else (an echo's "对", a transcript
    not yet confirmed) reads as out of scope, as Rasa would say."""

    def parse(text: str) -> Intent:
        return readings.get(text, reading("out_of_scope", confidence=0.3))

    return parse


def titles(message: OutboundMessage) -> list[str]:
    return [b.title for b in message.buttons]


def payload_of(message: OutboundMessage, title: str) -> str:
    return next(b.payload for b in message.buttons if b.title == title)


async def test_a_voice_note_is_echoed_and_read_only_after_yes() -> None:
    chat = voice_conversation(scripted({LAMP: reading("seek_help", "城乡建设")}))
    echo = await chat.speak(LAMP)
    assert echo.text.startswith(f"您说的是：“{LAMP}” 对吗？")
    assert titles(echo) == ["对", "不对，重说"]
    # Nothing was read yet: no request started, NLU only saw it for emergencies.
    assert (await chat.state()).flow is None
    phone = await chat.press(payload_of(echo, "对"), "对")
    assert phone.text.startswith("收到您的求助（城乡建设类）。")
    assert "联系电话" in phone.text
    photos = await chat.say("不留")
    summary = await chat.say("没有")
    assert "地点：幸福里小区3号楼门口" in summary.text
    filed = await chat.press(payload_of(summary, "确认提交"), "确认提交")
    assert "工单编号" in filed.text
    [(_, draft)] = chat.tickets.calls
    assert draft.description == LAMP and draft.request_type == "seek_help"
    assert photos.text


async def test_yes_can_be_typed_or_spoken() -> None:
    chat = voice_conversation(scripted({LAMP: reading("seek_help", "城乡建设")}))
    await chat.speak(LAMP)
    typed = await chat.say("对的")
    assert "联系电话" in typed.text
    other = voice_conversation(scripted({LAMP: reading("seek_help", "城乡建设")}))
    await other.speak(LAMP)
    spoken = await other.speak("对。")
    assert "联系电话" in spoken.text


async def test_a_typed_correction_is_read_at_once() -> None:
    fixed = "幸福里小区5号楼门口的路灯不亮了"
    chat = voice_conversation(scripted({
        "幸福里小区五号楼门口的路灯不亮了": reading("seek_help"),
        "幸福里小区5号楼门口的路灯不亮了": reading("seek_help", "城乡建设"),
        "幸福里小区八号楼": reading("seek_help"),
        "幸福里小区8号楼": reading("seek_help"),
    }))
    echo = await chat.speak("幸福里小区八号楼")
    assert "“幸福里小区8号楼”" in echo.text
    reply = await chat.say(fixed)
    assert reply.text.startswith("收到您的求助（城乡建设类）。")
    assert (await chat.state()).context.get("voice_pending") is None


async def test_a_spoken_correction_is_echoed_again_and_no_asks_again() -> None:
    chat = voice_conversation(scripted({LAMP: reading("seek_help"),
                                        "和平路路灯坏了": reading("seek_help")}))
    first = await chat.speak("和平路路灯坏了")
    again = await chat.press(payload_of(first, "不对，重说"), "不对，重说")
    assert "再按住说一遍" in again.text
    assert (await chat.state()).context.get("voice_pending") is None
    second = await chat.speak(LAMP)
    assert f"“{LAMP}”" in second.text
    corrected = await chat.speak(LAMP.replace("3号楼", "三号楼"))
    assert f"“{LAMP}”" in corrected.text  # normalised the same way


async def test_an_answer_to_a_pending_question_by_voice_is_confirmed_first() -> None:
    chat = voice_conversation(scripted({LAMP: reading("seek_help", "城乡建设")}))
    phone = await chat.say(LAMP)
    assert titles(phone) == ["不留电话"]
    echo = await chat.speak("幺三八 一二三四 五六七八")
    assert "“13812345678”" in echo.text
    photos = await chat.press(payload_of(echo, "对"), "对")
    assert "照片" in photos.text
    # A transcript that is exactly a button's title is that button (no echo).
    summary = await chat.speak("没有照片")
    assert "联系电话：138****5678" in summary.text
    assert titles(summary) == ["确认提交", "修改", "取消"]


async def test_a_spoken_button_title_presses_the_button_after_yes() -> None:
    chat = voice_conversation(scripted({LAMP: reading("seek_help", "城乡建设")}))
    await chat.say(LAMP)
    await chat.speak("不留电话")
    photos = await chat.say("对")
    assert "照片" in photos.text and titles(photos) == ["没有照片"]
    state = await chat.state()
    assert state.awaiting == "photos"


async def test_audio_we_cannot_use_gets_a_clear_reply_and_the_flow_stays() -> None:
    speech = FakeSpeech()
    speech.errors.update({
        b"long": AudioTooLong(75.0, 60.0),
        b"large": AudioTooLarge(9_000_000, 8_000_000, 60.0),
        b"corrupt": AudioUnreadable("ffmpeg: invalid data"),
        b"busy": SpeechBusy("9 waiting"),
        b"off": SpeechUnavailable("no model"),
    })
    chat = voice_conversation(scripted({LAMP: reading("seek_help")}), speech=speech)
    await chat.say(LAMP)
    replies = {said: (await chat.speak(said.encode())).text
               for said in ("long", "large", "corrupt", "busy", "off")}
    assert "超过60秒" in replies["long"]
    assert "太大" in replies["large"]
    assert "打不开" in replies["corrupt"]
    assert "人比较多" in replies["busy"] and "打字" in replies["busy"]
    assert "暂时用不了" in replies["off"] and "12345" in replies["off"]
    silent = await chat.speak(b"   ")
    assert "没有听到说话声" in silent.text
    # The request in progress is untouched: its question is still pending.
    assert (await chat.state()).awaiting == "phone"
    missing = await chat.send(chat.message(InboundKind.VOICE, media_id="gone", media_format="amr"))
    assert "没有收到完整的内容" in missing.text


async def test_over_the_channel_size_limit_is_refused_before_recognition() -> None:
    chat = voice_conversation(scripted({}))
    reply = await chat.speak(b"x" * (2 * 1024 * 1024 + 1))
    assert "太大" in reply.text
    assert chat.speech.calls == []


async def test_slow_recognition_answers_at_once_and_the_echo_follows() -> None:
    chat = voice_conversation(scripted({}), speech=FakeSpeech(delay=1.0), interim_after=0.1)
    started = asyncio.get_running_loop().time()
    reply = await chat.speak("和平路路灯坏了")
    assert reply.text == "正在识别语音…"
    assert asyncio.get_running_loop().time() - started < 0.6
    await chat.ingest.drain()
    [echo] = await chat.pushed()
    assert echo.text.startswith("您说的是：“和平路路灯坏了” 对吗？")


async def test_a_voice_note_survives_a_crash_before_its_turn_committed() -> None:
    chat = voice_conversation(scripted({}), lease_seconds=0.05)
    message = chat.voice_message("楼道灯坏了")
    # The replica accepted it (journal first) and died before transcribing.
    accepted = await chat.storage.journal.accept(message, owner="dead", lease_seconds=0.05)
    assert accepted.new
    await asyncio.sleep(0.1)
    assert await chat.ingest.recover() == 1
    [echo] = await chat.pushed()
    assert echo.text.startswith("您说的是：“楼道灯坏了” 对吗？")
    # Once finished, a redelivery is a duplicate: transcribed once more at most.
    assert not (await chat.ingest.submit(message, passive_budget=1.0)).reply or True
    assert len(chat.speech.calls) == 1


async def test_a_busy_pool_never_holds_up_the_webhook() -> None:
    speech = FakeSpeech(delay=0.5)
    chat = voice_conversation(scripted({}), speech=speech, interim_after=0.05)
    loop = asyncio.get_running_loop()
    times = []
    for n in range(5):
        started = loop.time()
        submission = await chat.ingest.submit(chat.voice_message(f"第{n}条"),
                                              passive_budget=2.0)
        times.append(loop.time() - started)
        assert submission.reply is not None and submission.reply.text == "正在识别语音…"
    # Each one waits for the one before (same resident), yet all are answered at once.
    assert max(times) < 0.35
    await chat.ingest.drain()
    pushed = [m.text for m in await chat.pushed()]
    assert [t for t in pushed if t.startswith("您说的是")][-1].startswith("您说的是：“第4条”")


async def test_recognition_of_wechat_is_echoed_too() -> None:
    chat = voice_conversation(scripted({"楼道漏水": reading("seek_help")}))
    reply = await chat.send(chat.message(InboundKind.VOICE, text="楼道漏水", media_id="m"))
    assert reply.text.startswith("您说的是：“楼道漏水” 对吗？")
    assert chat.speech.calls == []


async def test_a_stale_echo_is_forgotten() -> None:
    chat = voice_conversation(scripted({"好": reading("affirm")}))
    await chat.speak("楼道灯坏了")
    state = await chat.state()
    state.context["voice_pending"]["at"] = datetime(2020, 1, 1, tzinfo=UTC).isoformat()
    await chat.storage.conversations.complete_turn(_record(state, chat))
    reply = await chat.press("VOICE:yes", "对")
    assert "已经处理过了" in reply.text


def _record(state: ConversationState, chat: VoiceConversation) -> TurnRecord:
    return TurnRecord(message=chat.message(InboundKind.TEXT, text="x"), state=state,
                      intent=None, handler="test", passive_reply=None, pushes=())


async def test_the_ticket_desk_fake_is_untouched_until_yes() -> None:
    tickets = FakeTickets()
    chat = voice_conversation(scripted({}), tickets=tickets)
    await chat.speak("楼道灯坏了")
    assert tickets.calls == []


async def test_with_every_worker_taken_the_interim_reply_is_immediate() -> None:
    speech = FakeSpeech(delay=0.3)
    speech.workers = 1  # type: ignore[attr-defined]
    speech.in_flight = 1  # type: ignore[attr-defined]
    chat = voice_conversation(scripted({}), speech=speech, interim_after=2.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    reply = await chat.speak("楼道灯坏了")
    assert reply.text == "正在识别语音…" and loop.time() - started < 0.5
    await chat.ingest.drain()
