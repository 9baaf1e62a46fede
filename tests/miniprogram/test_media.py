"""Photo uploads: checked by their bytes, limited in size, stored by content."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

from .support import jpeg, mini_program, mp_system, png


async def test_photos_are_stored_under_content_addressed_names(tmp_path: Path) -> None:
    async with mp_system(tmp_path) as system, mini_program(system, "he") as mp:
        data = png(3)
        response = await mp.upload(data, filename="../../../../etc/passwd.png",
                                   content_type="text/plain")
        assert response.status_code == 201, response.text
        media = response.json()
        digest = hashlib.sha256(data).hexdigest()
        assert media == {"media_id": digest, "content_type": "image/png", "size": len(data)}
        root = tmp_path / "media"
        stored = root / digest[:2] / f"{digest}.png"
        assert stored.read_bytes() == data
        # Nothing else was written, wherever the client's file name pointed.
        assert [p for p in root.rglob("*") if p.is_file()] == [stored]
        assert not (tmp_path / "etc").exists()
        # The same photo again is the same file.
        again = await mp.upload(data, filename="other.png")
        assert again.json()["media_id"] == digest
        assert [p for p in root.rglob("*") if p.is_file()] == [stored]
        # The owner sees it; nobody else does.
        shown = await mp.call("GET", f"/mp/v1/media/{digest}".removeprefix("/mp/v1"))
        assert shown.status_code == 200 and shown.content == data
        assert shown.headers["content-type"] == "image/png"
        assert shown.headers["x-content-type-options"] == "nosniff"
        async with mini_program(system, "lu") as other:
            hidden = await other.call("GET", f"/media/{digest}")
            assert hidden.status_code == 404
            assert hidden.json()["error"]["code"] == "media_not_found"
            forged = await other.call("GET", f"/media/{digest}?sig=00000000")
            assert forged.status_code == 404
        traversal = await mp.call("GET", "/media/..%2F..%2Fminhu.db")
        assert traversal.status_code in (404, 422)


async def test_a_file_that_is_not_a_photo_is_refused(tmp_path: Path) -> None:
    async with mp_system(tmp_path) as system, mini_program(system, "ma") as mp:
        response = await mp.upload(b"just some text, not a jpeg\n", filename="photo.jpg",
                                   content_type="image/jpeg")
        assert response.status_code == 415
        assert response.json()["error"] == {"code": "unsupported_media_type",
                                             "message": "只支持 JPEG、PNG、WebP 格式的照片"}
        svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
        assert (await mp.upload(svg, filename="x.svg")).status_code == 415
        assert not (tmp_path / "media").exists() or not any((tmp_path / "media").rglob("*.*"))
        missing = await mp.call("POST", "/media", files={"other": ("a.jpg", jpeg(), "image/jpeg")})
        assert missing.status_code == 422


async def test_a_photo_over_the_limit_is_cut_off(tmp_path: Path) -> None:
    async with mp_system(tmp_path, media_max_bytes=50_000) as system, \
            mini_program(system, "niu") as mp:
        small = jpeg(1) + b"\x00" * 40_000
        assert (await mp.upload(small)).status_code == 201
        big = jpeg(2) + b"\x00" * 50_001
        response = await mp.upload(big)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"
        huge = jpeg(3) + b"\x00" * 200_000
        response = await mp.upload(huge)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"
        # JSON bodies have a small limit of their own.
        response = await mp.call("POST", "/chat", content=b"{" + b" " * 100_000 + b"}",
                                 headers={"Content-Type": "application/json"})
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"

        # Without a Content-Length, the body is cut off once it runs over.
        sent = 0

        async def stream() -> AsyncIterator[bytes]:
            nonlocal sent
            yield (b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
                   b"Content-Type: image/jpeg\r\n\r\n" + jpeg(4))
            for _ in range(100):
                sent += 10_000
                yield b"\x00" * 10_000

        response = await mp.call("POST", "/media", content=stream(),
                                 headers={"Content-Type": "multipart/form-data; boundary=b"})
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"
        assert sent < 200_000  # the rest was never read


async def test_a_form_may_only_carry_the_users_own_photos(tmp_path: Path) -> None:
    async with mp_system(tmp_path) as system, mini_program(system, "tang") as mp, \
            mini_program(system, "xu") as other:
        mine = (await mp.upload(png(9))).json()["media_id"]
        refused = await other.call("POST", "/requests", json={
            "client_request_id": "f1", "type": "suggest", "description": "有人在河边倾倒垃圾",
            "photos": [mine],
        })
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "unknown_media"
        too_many = await mp.call("POST", "/requests", json={
            "client_request_id": "f2", "type": "suggest", "description": "有人在河边倾倒垃圾",
            "photos": [f"{i:064x}" for i in range(10)],
        })
        assert too_many.status_code == 422
        assert too_many.json()["error"]["code"] == "validation_failed"
