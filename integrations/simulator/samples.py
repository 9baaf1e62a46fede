"""Built-in residents, places, a sample photo and a sample voice note."""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib
from dataclasses import dataclass
from functools import cache

__all__ = [
    "DEFAULT_MENU",
    "PLACES",
    "RESIDENTS",
    "Place",
    "ResidentProfile",
    "make_openid",
    "sample_photo_png",
    "sample_voice_amr",
]


@dataclass(frozen=True, slots=True)
class ResidentProfile:
    key: str
    name: str
    note: str


@dataclass(frozen=True, slots=True)
class Place:
    key: str
    label: str
    latitude: float
    longitude: float
    scale: int = 16


RESIDENTS: tuple[ResidentProfile, ...] = (
    ResidentProfile("zhang", "张阿姨", "退休居民，住幸福里小区"),
    ResidentProfile("li", "李师傅", "出租车司机，常跑老城区"),
    ResidentProfile("wang", "小王", "大学生，刚搬来"),
    ResidentProfile("chen", "陈女士", "社区小超市店主"),
    ResidentProfile("zhao", "赵大爷", "独居老人，不太会打字"),
)

PLACES: tuple[Place, ...] = (
    Place("park", "人民公园东门（人民路88号）", 30.274085, 120.155070),
    Place("market", "东风农贸市场北门（东风路与建设街交叉口）", 30.281456, 120.162313),
    Place("school", "实验小学正门（学院路12号）", 30.268920, 120.148731),
    Place("estate", "幸福里小区3号楼（幸福路56号）", 30.262714, 120.170958),
    Place("bridge", "清河桥南侧人行道", 30.290332, 120.151877, 17),
)

# What the page shows as the bottom menu until the app installs one.
DEFAULT_MENU: dict[str, object] = {
    "button": [
        {"type": "click", "name": "我要反映", "key": "MENU_REPORT"},
        {"type": "click", "name": "我的诉求", "key": "MENU_MY_TICKETS"},
        {"type": "click", "name": "转人工", "key": "MENU_HUMAN"},
    ]
}


def make_openid(app_id: str, key: str) -> str:
    """A stable, realistic 28-character openid ("o" + 27 URL-safe base64 chars)."""
    digest = hashlib.sha256(f"minhu-sim:{app_id}:{key}".encode()).digest()
    return "o" + base64.urlsafe_b64encode(digest).decode("ascii")[:27]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


@cache
def sample_photo_png() -> bytes:
    """A small PNG of a road with a pothole, drawn without any image library."""
    width, height = 240, 160
    rows = []
    for y in range(height):
        row = bytearray([0])  # filter type: none
        for x in range(width):
            if y < 40:  # sky
                pixel = (170, 205, 235)
            elif y < 48:  # kerb
                pixel = (150, 150, 145)
            else:  # asphalt with a lane marking and a pothole
                shade = 90 + (x * 7 + y * 13) % 9
                pixel = (shade, shade, shade + 3)
                if 96 <= y <= 100 and (x // 20) % 2 == 0:
                    pixel = (235, 225, 120)
                dx, dy = (x - 140) / 48, (y - 118) / 22
                if dx * dx + dy * dy <= 1:
                    depth = int(40 * (dx * dx + dy * dy))
                    pixel = (40 + depth, 35 + depth, 30 + depth)
            row.extend(pixel)
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + _png_chunk(b"IEND", b"")
    )


def sample_voice_amr(seconds: float = 2.0) -> bytes:
    """A valid AMR-NB file of ``seconds`` of NO_DATA frames (silence, 20 ms each)."""
    frames = max(1, int(seconds * 50))
    return b"#!AMR\n" + b"\x7c" * frames
