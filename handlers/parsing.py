"""Recognisers for what residents type: phone numbers, places, times, yes/no.

The answer to a question the bot just asked skips NLU (the dispatcher), so
the flows read such answers with these small, predictable rules. They are
also used to pre-fill a request from the first message, where a wrong guess
costs little: the resident sees everything in the summary and can correct it.
"""

from __future__ import annotations

import re
import unicodedata

from bot.memo import remember_last

__all__ = [
    "find_address",
    "find_phone",
    "find_ticket_id",
    "find_time",
    "is_cancel_text",
    "looks_like_emergency",
    "normalise",
    "parse_phone",
    "parse_shared_phone",
    "tidy",
    "without_filler",
]

# Mainland mobile numbers and landlines with an area code (with or without a dash).
_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)")
_DIGITS_AND_DASHES = re.compile(r"[\d\-\s]+")
_TICKET_ID = re.compile(r"(?<![A-Za-z0-9])[Mm][Hh]\d{12}(?!\d)")

# Words that end a request while a question is pending (the intent is
# skipped then, so the words are matched here).
_CANCEL_WORDS = frozenset(
    {"取消", "算了", "不办了", "不用了", "不弄了", "退出", "不说了", "不反映了", "不要了",
     "取消吧", "算了吧", "取消反映", "不提交了", "先不办了"}
)
# Of those, the ones that are a plain "no" to an optional question.
_SOFT_CANCEL_WORDS = frozenset({"不用了", "不要了"})
_CANCEL_NOISE = re.compile(r"[\s，,。.！!～~]")

# Small and precise on purpose: these take over a pending question, so a
# false hit would interrupt a resident in the middle of a request.
_EMERGENCY = re.compile(
    r"着火|起火|失火|火灾|救命|有人晕倒|晕倒了|昏迷|煤气泄漏|燃气泄漏|有人落水|溺水|触电|"
    r"持刀|砍人|抢劫|有人跳楼|要跳楼|被困"
)

_CJK = "\u4e00-\u9fff"
_LONG_PLACE = (
    "小区|社区|花园|家园|公寓|大厦|广场|公园|地铁站|公交站|火车站|市场|商场|超市|医院|学校|"
    "幼儿园|中学|小学|大学|菜场|停车场|新村|街道|大街|大道|胡同|苑|府|城"
)
_SHORT_PLACE = "路|街|巷|弄|村|里"
# A one-character place word followed by these is another word (路灯, 村民, 里面).
_NOT_AFTER_SHORT = "灯|面|边|况|过|人|费|上|线|段|民|委|干|头|长|程|由|子|况"
_NUMBERED = (
    r"(?:[0-9一二三四五六七八九十百]+(?:号楼|号院|号|栋|幢|单元|楼|层|室|弄|巷|期|区))"
)
_POSITION = (
    "门口|路口|交叉口|十字路口|附近|旁边|对面|楼下|东侧|西侧|南侧|北侧|东门|西门|南门|北门|"
    "入口|出口|口"
)
_ADDRESS = re.compile(
    rf"[{_CJK}A-Za-z0-9]{{1,8}}?(?:{_LONG_PLACE}|(?:{_SHORT_PLACE})(?!{_NOT_AFTER_SHORT}))"
    rf"(?:[{_CJK}]{{0,6}}?(?:{_LONG_PLACE}))?"
    rf"{_NUMBERED}*"
    rf"(?:{_POSITION})?"
)
# Where a place name cannot start: what comes before it in a sentence.
_ADDRESS_BOUNDARY = set("在到于住是的了我你他她这那个从往去向把被给说要想让叫有没下，。、")
# Words that open a sentence before the place: "投诉和平路…", "昨天幸福里小区…".
_LEADING_WORDS = re.compile(
    r"^(?:投诉|举报|求助|建议|反映|咨询|表扬|感谢|请问|你好|您好|麻烦|就是|那个|这个|"
    r"现在|今天|昨天|前天|最近|刚才|早上|晚上|一直)+"
)
# Before 路/街 these make an ordinary word, not a street ("半边路", "走夜路").
_NOT_A_NAME = re.compile(
    r"(?:半边|一边|两边|这条|那条|一条|夜|马|公|铁|水|山|土|老|回家|上班|下班|过)$"
)
_PLACE_ENDING = re.compile(rf"(?:{_LONG_PLACE}|{_SHORT_PLACE})")

_DAY = (
    r"大前天|前天|昨天|今天|昨晚|今晚|今早|昨夜|刚才|刚刚|"
    r"(?:上|这|本|下)?(?:周|星期|礼拜)[一二三四五六日天]|上周|上个?星期|上个月|这个月|本月|"
    r"最近|这几天|近几天|前几天|前段时间|每天|天天|每晚|经常|"
    r"\d{1,2}月\d{1,2}[日号]"
)
_PART_OF_DAY = r"早上|早晨|上午|中午|下午|傍晚|晚上|夜里|夜间|半夜|凌晨"
_CLOCK = r"(?:\d{1,2}|[一二两三四五六七八九十]{1,3})(?:[点时:：](?:\d{1,2}分?|半)?)"
_TIME = re.compile(
    rf"(?:(?:{_DAY})(?:{_PART_OF_DAY})?(?:{_CLOCK})?|(?:{_PART_OF_DAY})(?:{_CLOCK})?|{_CLOCK})"
    r"(?:左右|多)?"
)
_DURATION = re.compile(
    r"(?:\d+|[一两二三四五六七八九十半几]+)个?多?(?:天|周|星期|礼拜|月|年)多?"
    r"(?:了|以来|(?=$|[，。,.!！?？\s]))"
)

# Said around a request but not part of it ("我要投诉一下").
_FILLER = re.compile(
    r"我要|我想|想要|我来|我|想|要|请问|麻烦|你好|您好|一下|反映|个|问题|情况|事情|"
    r"咨询|求助|投诉|举报|建议|表扬|感谢|点赞|提|报|说|的|了|吗|呢|吧|啊"
)


def normalise(text: str) -> str:
    """Full-width to half-width (NFKC), no surrounding space or closing punctuation."""
    return nfkc(text).strip().rstrip("。.！!～~")


# Several handlers and parsers read the same text in one turn; NFKC of
# Chinese text with full-width punctuation is the costly part.
@remember_last
def nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``."""
    return unicodedata.normalize("NFKC", text)


def tidy(text: str) -> str:
    """The resident's own words, with runs of white space made one space."""
    return " ".join(text.split())


def parse_phone(text: str) -> str | None:
    """The number when ``text`` is just a phone number (full-width digits, spaces and
    dashes allowed), else None."""
    candidate = normalise(text)
    if not candidate or not _DIGITS_AND_DASHES.fullmatch(candidate):
        return None
    compact = re.sub(r"\s", "", candidate)
    if _MOBILE.fullmatch(compact.replace("-", "")):
        return compact.replace("-", "")
    if _LANDLINE.fullmatch(compact):
        return compact
    return None


def parse_shared_phone(text: str) -> str | None:
    """A number shared from the phone's contacts ("+86 138 1234 5678",
    "8613812345678"): the mainland number without the country code, else None."""
    candidate = re.sub(r"[\s\-()]", "", normalise(text))
    international = candidate.startswith(("+", "00"))
    candidate = candidate.removeprefix("+").removeprefix("00")
    if candidate.startswith("86") and len(candidate) > 11:
        national = candidate[2:]
        # International format drops the landline's trunk 0 (+86 10 … is 010 …).
        return parse_phone(national) or parse_phone(f"0{national}")
    if international:
        return None  # another country's number
    return parse_phone(text)


def find_phone(text: str) -> str | None:
    """The first phone number written anywhere in ``text``."""
    normalised = nfkc(text)
    for pattern in (_MOBILE, _LANDLINE):
        match = pattern.search(normalised)
        if match:
            return match.group(0)
    return None


def find_ticket_id(text: str) -> str | None:
    match = _TICKET_ID.search(nfkc(text))
    return match.group(0).upper() if match else None


def find_address(text: str) -> str | None:
    """A place named in ``text`` ("和平路12号门口", "幸福里小区3号楼"), or None."""
    normalised = unicodedata.normalize("NFKC", text)
    for match in _ADDRESS.finditer(normalised):
        phrase = _trim_left(match.group(0))
        if phrase is not None:
            return phrase
    return None


def _trim_left(phrase: str) -> str | None:
    """Cut what precedes the place name ("在和平路" → "和平路"); None when too
    little name is left to be a place."""
    ending = _PLACE_ENDING.search(phrase)
    if ending is None:
        return None
    name_end = ending.start()
    start = 0
    for index in range(name_end):
        if phrase[index] in _ADDRESS_BOUNDARY:
            start = index + 1
    leading = _LEADING_WORDS.match(phrase[start:name_end])
    if leading:
        start += leading.end()
    name = phrase[start:name_end]
    single = len(ending.group(0)) == 1
    if len(name) < (2 if single else 1):
        return None
    if single and _NOT_A_NAME.search(name):
        return None
    return phrase[start:]


def find_time(text: str) -> str | None:
    """When it happened, as the resident put it ("昨天晚上", "一个星期了")."""
    normalised = unicodedata.normalize("NFKC", text)
    found = []
    for pattern in (_TIME, _DURATION):
        match = pattern.search(normalised)
        if match and not match.group(0).isdigit():
            found.append(match.group(0))
    if not found:
        return None
    # A part of the day on its own ("晚上黑得看不见路") more often describes the
    # circumstances than dates the problem; a duration, when given, does.
    if len(found) == 2 and found[0] in _BARE_PARTS_OF_DAY:
        return found[1]
    return found[0]


_BARE_PARTS_OF_DAY = frozenset({"早上", "上午", "中午", "下午", "傍晚", "晚上", "夜里", "夜间",
                                "半夜", "凌晨", "白天"})


def without_filler(text: str) -> str:
    """What is left of a message without request words and particles: tells
    "我要投诉" (nothing described yet) from a real description."""
    stripped = re.sub(r"[\W_]", "", normalise(text))
    return _FILLER.sub("", stripped)


def is_cancel_text(text: str, *, optional_question: bool = False) -> bool:
    """Whether ``text`` ends the request. At an optional question "不用了"
    means "skip this one" rather than "drop everything"."""
    answer = _CANCEL_NOISE.sub("", normalise(text))
    if answer not in _CANCEL_WORDS:
        return False
    return not (optional_question and answer in _SOFT_CANCEL_WORDS)


def looks_like_emergency(text: str) -> bool:
    return _EMERGENCY.search(text) is not None
