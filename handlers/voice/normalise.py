"""Tidying a voice transcript before the resident sees it and the flows read it.

Speech recognition writes numbers the way they were spoken: "三号楼二单元五零一",
"幺三八 一二三四 五六七八", "一百二十三号". The intake's recognisers
(:mod:`handlers.parsing`) expect digits, so a transcript is normalised here:

- digit-by-digit runs of three or more (零〇一二三四五六七八九, 幺 = 1, 两 = 2)
  become digits: "幺三八一二三四五六七八" → "13812345678", "五零一" → "501";
- a number in front of an address unit (号, 号楼, 栋, 幢, 单元, 室, 楼, 层, 弄,
  巷, 期, 区, 座; 路 is *not* one: "五一路" is a name) becomes digits, spoken
  as a value too: "十二号" → "12号", "一百零三室" → "103室", "二单元" → "2单元";
- digits split by spaces or dashes into a phone number are joined:
  "138 1234 5678" → "13812345678";
- full-width digits and letters become half-width (Chinese punctuation stays),
  runs of space one space.

Words that merely contain a numeral ("一直", "一下", "一二线城市", "三天")
are left alone: only runs of three digits or more, or numbers followed by an
address unit, are touched. The functions are pure and have no state.
"""

from __future__ import annotations

import re

__all__ = ["chinese_number", "normalise_transcript"]

# Full-width digits and Latin letters (and the ideographic space) to ASCII;
# Chinese punctuation stays as it is.
_HALF_WIDTH = {code: code - 0xFEE0 for code in range(0xFF10, 0xFF5B)
               if chr(code).isalnum()} | {0x3000: 0x20}

_DIGIT = {"零": 0, "〇": 0, "洞": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4,
          "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNIT = {"十": 10, "百": 100, "千": 1000}
_DIGIT_CHARS = "零〇一幺二两三四五六七八九"
_NUMBER_CHARS = _DIGIT_CHARS + "十百千"

# A spoken digit string: three or more digits in a row (a phone number, a room).
_DIGIT_RUN = re.compile(rf"[{_DIGIT_CHARS}0-9]*[{_DIGIT_CHARS}][{_DIGIT_CHARS}0-9]*")
# Units that follow a house, building or room number (longest first).
_ADDRESS_UNITS = "号楼|号院|号门|号线|单元|号|栋|幢|室|楼|层|弄|巷|期|区|座"
_VALUE_BEFORE_UNIT = re.compile(rf"([{_NUMBER_CHARS}]+)(?=(?:{_ADDRESS_UNITS}))")
# "138 1234 5678", "138-1234-5678", "0571 8765 4321".
_SPLIT_PHONE = re.compile(r"(?<![\d])(1\d{2}|0\d{2,3})[\s\-]+(\d{3,4})[\s\-]+(\d{4})(?![\d])")
_DATE = re.compile(rf"([{_NUMBER_CHARS}]{{1,3}})月([{_NUMBER_CHARS}0-9]{{1,3}})(?=[日号])")
_SPLIT_MOBILE_2 = re.compile(r"(?<![\d])(1\d{2})[\s\-]+(\d{8})(?![\d])")


def chinese_number(text: str) -> int | None:
    """The value of a spoken number ("十二" → 12, "一百零三" → 103, "两千五" → 2500,
    "五零一" → 501), or None when ``text`` is not one (up to 9999)."""
    if not text or any(ch not in _DIGIT and ch not in _UNIT and not ch.isdigit() for ch in text):
        return None
    if not any(ch in _UNIT for ch in text):
        # Digit by digit ("五零一", "幺三八"), or already digits.
        return int("".join(str(_DIGIT[ch]) if ch in _DIGIT else ch for ch in text))
    if any(ch.isdigit() for ch in text):
        return None
    total, current, last_unit, after_zero = 0, None, 10_000, False
    for ch in text:
        if ch in _UNIT:
            unit = _UNIT[ch]
            if unit >= last_unit or (current is None and unit != 10):
                return None  # units only get smaller; only 十 may stand bare ("十二")
            total += (1 if current is None else current) * unit
            current, last_unit, after_zero = None, unit, False
        elif _DIGIT[ch] == 0:
            if current is not None:
                return None
            after_zero = True
        else:
            if current is not None:
                return None
            current = _DIGIT[ch]
    if current is not None:
        # "两千五" is 2500 and "三百五" 350; "一百零五" and "三十五" end in ones.
        abbreviated = not after_zero and last_unit > 10 and text[-2] in _UNIT
        total += current * (last_unit // 10 if abbreviated else 1)
    return total


def _digit_run(match: re.Match[str]) -> str:
    run = match.group(0)
    spoken = sum(1 for ch in run if ch in _DIGIT)
    if len(run) < 3 or spoken == 0:
        return run
    return "".join(str(_DIGIT[ch]) if ch in _DIGIT else ch for ch in run)


def _value(match: re.Match[str]) -> str:
    value = chinese_number(match.group(1))
    return match.group(1) if value is None else str(value)


def _date(match: re.Match[str]) -> str:
    month, day = chinese_number(match.group(1)), chinese_number(match.group(2))
    if month is None or day is None or not (1 <= month <= 12 and 1 <= day <= 31):
        return match.group(0)
    return f"{month}月{day}"


def normalise_transcript(text: str) -> str:
    """The transcript with numbers, phone numbers and house numbers as digits."""
    cleaned = " ".join(text.translate(_HALF_WIDTH).split())
    cleaned = _DIGIT_RUN.sub(_digit_run, cleaned)
    cleaned = _DATE.sub(_date, cleaned)
    cleaned = _VALUE_BEFORE_UNIT.sub(_value, cleaned)
    cleaned = _SPLIT_PHONE.sub(lambda m: "".join(m.groups()), cleaned)
    cleaned = _SPLIT_MOBILE_2.sub(lambda m: "".join(m.groups()), cleaned)
    # Recognisers put a space between Chinese and digits ("和平路 12 号"): drop it.
    cleaned = re.sub(r"(?<=[\u4e00-\u9fff\d])\s+(?=[\u4e00-\u9fff\d])", "", cleaned)
    return cleaned.strip()
