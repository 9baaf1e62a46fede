"""Photos from Telegram reach the ticket as signed links staff can open.

The bot fetches each photo in the turn (getFile, then the file URL, through
PTB against the fake Bot API), stores it content-addressed under
MINHU_MEDIA_DIR and puts ``/media/<sha256>?sig=…`` on the request. A
download that fails leaves the Telegram file id, and the message goes on.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

import pytest

from bot.types import Channel, ConversationKey
from integrations.telegram.fake_bot_api import FakeBotAPI
from tests.e2e.test_ticket_loop import TICKET_ID, the_order
from tests.miniprogram.support import jpeg, png
from tests.support import BASE_URL
from tests.telegram.support import BOT_ID, TelegramResident, telegram_system

Fake = tuple[FakeBotAPI, str]


def _sizes(file_id: str) -> list[dict[str, object]]:
    return [
        {"file_id": f"{file_id}-small", "file_unique_id": "s", "width": 90, "height": 60},
        {"file_id": file_id, "file_unique_id": "l", "width": 1280, "height": 960},
    ]


async def test_a_photo_is_stored_and_filed_as_a_link_staff_can_open(
    tmp_path: Path, fake_bot_api: Fake,
) -> None:
    fake, base = fake_bot_api
    data = png(7, size=8)
    sha = hashlib.sha256(data).hexdigest()
    fake.add_file("PHOTO-1", data)
    async with telegram_system(tmp_path, fake, base) as system:
        wu = TelegramResident(system, fake, 9101)
        await wu.send(wu.message(contact={"phone_number": "+8613812345678", "first_name": "吴",
                                          "user_id": 9101}))
        await wu.send(wu.message(location={"latitude": 39.9087, "longitude": 116.3975}))
        await wu.replies(2)
        await wu.send(wu.message(photo=_sizes("PHOTO-1"), caption="井盖松动了，车压过去哐哐响"))
        kept, when = await wu.replies(2)
        assert "照片已收到（共1张）" in kept and "什么时候" in when

        # Stored content-addressed, checked by its bytes.
        stored = tmp_path / "media" / sha[:2] / f"{sha}.png"
        assert stored.read_bytes() == data
        # The largest size was fetched: getFile, then the file URL.
        [get_file] = fake.calls("getFile")
        assert get_file.params["file_id"] == "PHOTO-1"
        [download] = fake.calls("download")
        assert download.status == 200 and download.token == fake.token

        [link] = (await system.storage.conversations.load(
            ConversationKey(Channel.TELEGRAM, BOT_ID, "9101"))).slots["photos"]
        assert link.startswith(f"{BASE_URL}/media/{sha}?sig=")
        assert fake.token is not None and fake.token not in link

        # Anyone with the link sees the photo; without the right signature, nobody.
        opened = await system.http.get(link.removeprefix(BASE_URL))
        assert opened.status_code == 200 and opened.content == data
        assert opened.headers["content-type"] == "image/png"
        assert opened.headers["x-content-type-options"] == "nosniff"
        for wrong in (f"/media/{sha}", f"/media/{sha}?sig={'0' * 32}",
                      f"/media/{'a' * 64}?sig={link.rsplit('=', 1)[1]}"):
            assert (await system.http.get(wrong)).status_code == 404

        # The ticket carries the link.
        [summary] = await wu.press("不清楚")
        assert "1张" in summary, summary
        [filed] = await wu.press("确认提交")
        match = TICKET_ID.search(filed)
        assert match, filed
        order = await the_order(system, match.group(0))
        assert order.media_urls == (link,)


async def test_an_image_sent_as_a_file_is_stored_too(tmp_path: Path, fake_bot_api: Fake) -> None:
    fake, base = fake_bot_api
    data = jpeg(3)
    sha = hashlib.sha256(data).hexdigest()
    fake.add_file("DOC-1", data)
    async with telegram_system(tmp_path, fake, base) as system:
        ma = TelegramResident(system, fake, 9102)
        document = {"file_id": "DOC-1", "file_unique_id": "d1", "file_name": "IMG_0001.JPG",
                    "mime_type": "image/jpeg", "file_size": len(data)}
        await ma.send(ma.message(document=document))
        [kept] = await ma.replies()
        assert "照片已收到" in kept
        assert (tmp_path / "media" / sha[:2] / f"{sha}.jpg").read_bytes() == data
        state = await system.storage.conversations.load(
            ConversationKey(Channel.TELEGRAM, BOT_ID, "9102"))
        assert [p["url"] for p in state.context["photos"]] == [
            f"{BASE_URL}/media/{sha}?sig={system.container.media_links.signature(sha)}"]


@pytest.mark.parametrize("failure", ["unknown", "getFile", "download", "not_image", "too_big",
                                     "too_big_unannounced"])
async def test_a_failed_download_keeps_the_file_id_and_the_message(
    tmp_path: Path, fake_bot_api: Fake, caplog: pytest.LogCaptureFixture, failure: str,
) -> None:
    caplog.set_level(logging.WARNING, logger="minhu.telegram.media")
    fake, base = fake_bot_api
    big = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # over the 200 bytes allowed below
    if failure == "getFile":
        fake.add_file("PHOTO-X", png(1))
        fake.fail("getFile", 500, "Internal Server Error")
    elif failure == "download":
        fake.add_file("PHOTO-X", png(1))
        fake.fail("download", 502, "Bad Gateway")
    elif failure == "not_image":
        fake.add_file("PHOTO-X", b"GIF89a" + b"\x00" * 64)
    elif failure == "too_big":
        fake.add_file("PHOTO-X", big)  # getFile tells its size
    elif failure == "too_big_unannounced":
        fake.add_file("PHOTO-X", big, file_size=None)
    async with telegram_system(tmp_path, fake, base, media_max_bytes=200) as system:
        qi = TelegramResident(system, fake, 9103)
        await qi.send(qi.message(photo=_sizes("PHOTO-X")))
        [kept] = await qi.replies()
        assert "照片已收到（共1张）" in kept
        state = await system.storage.conversations.load(
            ConversationKey(Channel.TELEGRAM, BOT_ID, "9103"))
        assert state.context["photos"] == [{"media_id": "PHOTO-X", "url": None}]
        [note] = [r for r in caplog.records if r.name == "minhu.telegram.media"]
        assert "keeps its Telegram file id" in note.getMessage()
        assert getattr(note, "message_id", None)
        assert fake.token is not None and fake.token not in caplog.text
        assert not (tmp_path / "media").exists() or not any((tmp_path / "media").rglob("*.*"))
        if failure == "too_big":
            assert fake.calls("download") == []  # refused before downloading
            assert "too big" in note.getMessage()


async def test_the_webhook_answers_before_the_photo_is_downloaded(
    tmp_path: Path, fake_bot_api: Fake,
) -> None:
    fake, base = fake_bot_api
    fake.add_file("PHOTO-SLOW", png(9))
    # Far apart, so a slow machine cannot blur "answered first" and "waited".
    fake.download_delay = 4.0
    async with telegram_system(tmp_path, fake, base) as system:
        lin = TelegramResident(system, fake, 9104)
        started = time.monotonic()
        response = await lin.post(lin.message(photo=_sizes("PHOTO-SLOW")))
        assert response.status_code == 200
        assert time.monotonic() - started < 2.0
        [kept] = await lin.replies()
        assert "照片已收到" in kept
        assert [c.status for c in fake.calls("download")] == [200]
