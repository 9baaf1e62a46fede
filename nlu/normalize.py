"""Input normalisation applied by the app before a message is sent to Rasa.

Steps, in order:

1. drop zero-width / control characters and WeChat sticker codes such as ``[捂脸]``;
2. replace emoji (and their variation selectors / joiners) with a space;
3. full-width -> half-width for letters, digits and ASCII symbols (Unicode NFKC), while the
   Chinese sentence punctuation ``，！？：；（）`` is kept as it is (NFKC would turn it into
   ASCII, which the training data does not use);
4. Traditional -> Simplified Chinese (OpenCC ``t2s``, pure Python, works offline);
5. collapse runs of whitespace to one space and strip the ends.

Pure Python, no I/O after the first call (the OpenCC dictionaries are loaded once and cached).
Runs on Python 3.10 (Rasa venv) and 3.11+ (app).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from bot.memo import remember_last

__all__ = ["normalize_text", "to_simplified"]

# Chinese sentence punctuation that NFKC would fold to ASCII; keep it.
_KEEP_FULLWIDTH = "，！？：；（）"
_KEEP_SPLIT = re.compile("([" + re.escape(_KEEP_FULLWIDTH) + "])")

# Zero-width characters, BOM, soft hyphen, bidi marks and C0/C1 controls (except \t \n \r).
_INVISIBLE = re.compile(
    "[\u00ad\u200b\u200c\u200e\u200f\u2060-\u2064\u202a-\u202e\ufeff"
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
)

# Emoji and pictographs. Deliberately leaves CJK, circled numbers (①, folded by NFKC) and
# general punctuation alone.
_EMOJI = re.compile(
    "(?:["
    "\U0001f000-\U0001faff"  # mahjong .. symbols & pictographs ext-A (incl. emoticons)
    "\U0001fc00-\U0001ffff"
    "\u2600-\u27bf"  # misc symbols, dingbats
    "\u2300-\u23ff"  # misc technical (⌚ ⏰ ⏳)
    "\u2b05-\u2b07\u2b1b\u2b1c\u2b50\u2b55"
    "\u2190-\u21ff"  # arrows
    "\u3030\u303d\u3297\u3299"
    "\u00a9\u00ae\u2122"
    "\U000e0020-\U000e007f"  # tag characters (flag sequences)
    "\ufe0e\ufe0f\u200d\u20e3"  # variation selectors, ZWJ, keycap
    "])+"
)

# WeChat sends its built-in stickers as text codes in square brackets.
_WECHAT_STICKERS = frozenset(
    """微笑 撇嘴 色 发呆 得意 流泪 害羞 闭嘴 睡 大哭 尴尬 发怒 调皮 呲牙 惊讶 难过 酷 冷汗 抓狂
    吐 偷笑 可爱 愉快 白眼 傲慢 饥饿 困 惊恐 流汗 憨笑 大兵 悠闲 奋斗 咒骂 疑问 嘘 晕 折磨 衰
    骷髅 敲打 再见 擦汗 抠鼻 鼓掌 糗大了 坏笑 左哼哼 右哼哼 哈欠 鄙视 委屈 快哭了 阴险 亲亲 吓
    可怜 笑脸 生病 脸红 破涕为笑 恐惧 失望 无语 嘿哈 捂脸 奸笑 机智 皱眉 耶 吃瓜 加油 汗 天啊
    Emm 社会社会 旺柴 好的 打脸 哇 翻白眼 666 让我看看 叹气 苦涩 裂开 嘴唇 爱心 心碎 拥抱 强 弱
    握手 胜利 抱拳 勾引 拳头 OK 合十 啤酒 咖啡 蛋糕 玫瑰 凋谢 菜刀 炸弹 便便 月亮 太阳 庆祝 礼物
    红包 發 福 烟花 爆竹 猪头 跳跳 发抖 转圈 Yeah! 好的呀 鞭炮 烟火""".split()  # noqa: SIM905
)
_BRACKETED = re.compile(r"\[([^\[\]\s]{1,5})\]")

_WHITESPACE = re.compile(r"\s+")
# A colon between digits is a clock time (10：30 -> 10:30), not sentence punctuation.
_DIGIT_COLON = re.compile(r"(?<=\d)[：∶](?=\d)")


@lru_cache(maxsize=1)
def _t2s() -> Callable[[str], str]:
    """Load OpenCC's Traditional->Simplified converter once (about 10 ms, then cached)."""
    from opencc import OpenCC  # opencc-python-reimplemented: pure Python, bundled dictionaries

    converter = OpenCC("t2s")

    def convert(text: str) -> str:
        return str(converter.convert(text))

    return convert


@lru_cache(maxsize=1)
def _traditional_marks() -> frozenset[str]:
    """Characters at least one of which is in every text OpenCC's t2s changes.

    Built from the same dictionaries the converter loads. Every key of the
    character table changes on its own, so all of them are marks. A phrase
    only matches text that holds all of its characters, so one character
    per changing phrase is enough: one that is already a mark if it has
    one (``么麼`` has ``麼``), else one of those it changes. Common
    Simplified characters that only change inside such a phrase (the
    ``么`` of ``什么``) are then no marks, and text with no mark is left as
    it is without running the (pure Python, slow) converter.
    """
    import opencc

    folder = Path(opencc.__file__).with_name("dictionary")

    def entries(name: str) -> list[tuple[str, str]]:
        pairs = []
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            key, _, values = line.partition("\t")
            value = values.split(" ")[0]
            if key and value != key:
                pairs.append((key, value))
        return pairs

    marks = {key for key, _ in entries("TSCharacters.txt") if len(key) == 1}
    for key, _ in entries("TSCharacters.txt"):
        if len(key) != 1:
            marks.update(key)
    for key, value in entries("TSPhrases.txt"):
        if not marks.isdisjoint(key):
            continue
        if len(value) == len(key):
            changed = [k for k, v in zip(key, value, strict=True) if k != v]
            marks.add(changed[0])
        else:
            marks.add(key[0])
    return frozenset(marks)


def to_simplified(text: str) -> str:
    """Traditional -> Simplified Chinese; Simplified text passes through unchanged."""
    if _traditional_marks().isdisjoint(text):
        return text
    return _t2s()(text)


def _strip_sticker(match: re.Match[str]) -> str:
    code = match.group(1)
    if code in _WECHAT_STICKERS or to_simplified(code) in _WECHAT_STICKERS:
        return " "
    return match.group(0)


def _fold_width(text: str) -> str:
    """NFKC everything except the Chinese sentence punctuation in ``_KEEP_FULLWIDTH``."""
    parts = _KEEP_SPLIT.split(text)
    # re.split with one capture group: even indexes are text, odd ones the kept separators.
    return "".join(
        part if i % 2 else unicodedata.normalize("NFKC", part) for i, part in enumerate(parts)
    )


# One turn normalises the same text several times (the NLU client, the
# escalation word lists).
@remember_last
def normalize_text(text: str) -> str:
    """Return the form of ``text`` that Rasa was trained on.

    >>> normalize_text("我們小區的電動車充電樁壞了！！😡 電話：１３８００１３８０００")
    '我们小区的电动车充电桩坏了！！ 电话：13800138000'
    """
    if not text:
        return ""
    text = _INVISIBLE.sub("", text)
    if "[" in text:
        text = _BRACKETED.sub(_strip_sticker, text)
    text = _EMOJI.sub(" ", text)
    text = _fold_width(_DIGIT_COLON.sub(":", text))
    if not text.isascii():
        text = to_simplified(text)
    return _WHITESPACE.sub(" ", text).strip()
