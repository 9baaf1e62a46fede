"""Deterministic keyword understanding.

The bot answers through this when the Rasa server is slow or down, so it
must be predictable rather than clever: ordered rules for the intent,
weighted keywords for the category (seeded from the taxonomy's own
second- and third-level names), and regexes for the structured entities.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from bot.types import Entity, Intent

__all__ = ["CATEGORIES", "KeywordUnderstanding", "extract_entities", "taxonomy_path"]

OTHER = "其他"


def taxonomy_path() -> Path:
    return Path(__file__).with_name("taxonomy") / "government_message_taxonomy.csv"


@cache
def _taxonomy() -> dict[str, set[str]]:
    """First-level class → its second- and third-level names."""
    names: dict[str, set[str]] = defaultdict(set)
    with taxonomy_path().open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            for level in ("level2", "level3"):
                name = row[level].strip()
                if name and name != OTHER:
                    names[row["level1"]].add(name)
    return dict(names)


CATEGORIES: tuple[str, ...] = (*sorted(_taxonomy()), OTHER)

# Ordered: the first rule whose pattern matches wins. Emergencies come
# first because a message that mentions fire and a complaint is a fire.
_INTENT_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("emergency", (
        r"着火", r"起火", r"失火", r"火灾",
        r"冒烟.*(楼|屋|房)", r"煤气泄漏", r"燃气泄漏",
        r"漏气了", r"有人晕倒", r"晕倒了", r"昏迷",
        r"不省人事", r"救命", r"持刀", r"砍人", r"打人了",
        r"被人打", r"要跳楼", r"有人跳楼", r"落水", r"溺水",
        r"触电", r"快不行了", r"抢劫", r"打劫",
        r"塌了.*(人|压)", r"被困",
    )),
    ("human", (
        r"转人工", r"人工客服", r"人工服务", r"找人工",
        r"要人工", r"真人", r"跟人说", r"接线员",
    )),
    ("withdraw", (
        r"撤回", r"撤销", r"不想反映了", r"诉求.*不要了",
        r"工单.*取消",
    )),
    ("cancel", (
        r"^(取消|算了|不办了|不用了|先不弄了|退出|不说了)",
    )),
    ("supplement", (
        r"补充", r"追加", r"再加一", r"还有一点", r"忘了说",
    )),
    ("query_status", (
        r"进度", r"进展", r"办到哪", r"处理到哪",
        r"处理得怎么样", r"有结果了吗", r"有回复了吗", r"我的诉求",
        r"查询.*(诉求|工单)", r"[Mm][Hh]\d{12}",
    )),
    ("rate", (
        r"评价", r"打分", r"给个好评", r"给个差评",
        # A level of 好差评 said on its own (domain.md §1).
        r"^(非常|很|比较|基本|还算)?(不)?满意[。！!]*$",
    )),
    ("praise", (
        r"表扬", r"点赞", r"锦旗", r"赞一下", r"为.*点赞",
        r"感谢.*(师傅|社区|书记|网格员|民警|工作人员|医生|老师|街道)",
    )),
    ("report", (
        r"举报", r"偷排", r"偷倒", r"违建", r"私搭乱建",
        r"违章建筑", r"传销", r"赌博", r"诈骗", r"黑车",
        r"无证经营", r"非法",
    )),
    ("complain", (
        r"投诉", r"扰民", r"太吵", r"噪音", r"噪声",
        r"乱收费", r"不作为", r"态度(很|太|特别)?差", r"欠薪",
        r"拖欠", r"克扣", r"罚款不合理", r"乱罚",
    )),
    ("suggest", (
        r"建议", r"希望(能|可以|增加|多)",
        r"能不能(增加|多|加|设)", r"提个意见", r"提议",
        r"最好能",
    )),
    ("seek_help", (
        r"求助", r"帮帮", r"帮忙", r"坏了", r"漏水",
        r"停水", r"停电", r"没电了", r"堵了", r"堵塞",
        r"进不去", r"不让进", r"没人管", r"困难", r"怎么办啊",
    )),
    ("consult", (
        r"咨询", r"请问", r"问一下", r"问下", r"怎么办理",
        r"如何办理", r"怎么申请", r"在哪办", r"需要什么",
        r"什么材料", r"多少钱", r"能不能", r"可不可以",
        r"是否", r"什么时候", r"流程", r"政策",
    )),
    ("greet", (

        r"^(你好|您好|在吗|在不在|哈喽|嗨|hi|hello|早上好|晚上好)",
    )),
    ("thank", (
        r"谢谢", r"多谢", r"感谢", r"辛苦了",
    )),
    ("goodbye", (
        r"再见", r"拜拜", r"回头见",
    )),
    ("affirm", (
        r"^(是的|是|对|对的|好的|好|确认|没错|嗯|可以|行)$",
    )),
    ("deny", (
        r"^(不是|不对|错了|不|否|没有)$",
    )),
    ("out_of_scope", (
        r"天气", r"笑话", r"菜谱", r"怎么做.*(菜|饭)",
        r"唱首歌", r"股票", r"彩票", r"星座", r"电影推荐",
    )),
)
_COMPILED_RULES = tuple(
    (name, re.compile("|".join(words), re.IGNORECASE)) for name, words in _INTENT_RULES
)

# Words residents use that the taxonomy does not spell out, by class.
_EXTRA_CATEGORY_WORDS: dict[str, tuple[str, ...]] = {
    "城乡建设": ("路灯", "井盖", "下水道", "小区", "物业", "电梯", "停车", "充电", "换电", "供暖",
                "暖气", "燃气", "自来水", "停水", "停电", "垃圾", "保安", "门禁", "进门", "违建"),
    "环境保护": ("污染", "噪音", "噪声", "油烟", "臭味", "废气", "废水", "排污", "扬尘", "偷排"),
    "交通运输": ("公交", "地铁", "出租车", "网约车", "快递", "驿站", "道路", "红绿灯", "站台"),
    "劳动和社会保障": ("工资", "欠薪", "社保", "医保", "养老", "劳动合同", "骑手", "外卖", "罚款",
                    "跑单", "平台", "加班", "工伤", "失业"),
    "卫生计生": ("医院", "看病", "疫苗", "食品", "药店", "卫生", "医生", "诊所"),
    "教育文体": ("学校", "幼儿园", "入学", "老师", "学位", "健身", "图书馆", "补课"),
    "政法": ("派出所", "警察", "偷", "盗", "打架", "身份证", "户口", "居住证", "违章", "交警",
            "闯红灯", "诈骗", "赌博", "传销"),
    "民政": ("低保", "养老院", "残疾", "救助", "社区服务", "婚姻", "殡葬", "老人"),
    "商贸旅游": ("商家", "超市", "价格", "退款", "消费", "假货", "景区", "导游"),
    "经济管理": ("银行", "贷款", "发票", "税", "理财", "保险", "公司破产"),
    "科技与信息产业": ("网络", "宽带", "信号", "手机卡", "电信", "专利"),
    "农村农业": ("农村", "村里", "土地承包", "种子", "化肥", "养殖", "补贴", "村委"),
    "国土资源": ("征地", "宅基地", "土地", "地震", "采矿"),
    "党务政务": ("政务", "党员", "宗教", "办事大厅"),
    "纪检监察": ("贪污", "受贿", "腐败", "干部", "吃拿卡要", "作风"),
}

_DIGIT = re.compile(r"\d")  # every entity pattern needs one
_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)")
_TICKET_ID = re.compile(r"(?<![A-Za-z0-9])[Mm][Hh]\d{12}(?!\d)")


@dataclass(frozen=True, slots=True)
class _Match:
    name: str
    confidence: float


def _normalise(text: str) -> str:
    # NFKC, then runs of whitespace as one space and none at the ends:
    # str.split() and re's \s agree on what whitespace is (str.isspace).
    return " ".join(unicodedata.normalize("NFKC", text).split())


def _trie_pattern(words: list[str]) -> str:
    """One regex over ``words`` that, like an alternation of them longest first,
    matches the longest word at the leftmost position, without trying every
    word at every position: a trie, each word end an optional (greedy) tail."""
    trie: dict[str, dict] = {}  # type: ignore[type-arg]
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def render(node: dict) -> str:  # type: ignore[type-arg]
        branches = [re.escape(char) + render(child) for char, child in node.items() if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:  # a word ends here: the longer ones are tried first
            return "(?:" + body + ")?"
        return body

    return render(trie)


def extract_entities(text: str) -> tuple[Entity, ...]:
    """Phone numbers and ticket numbers, found by pattern in ``text``."""
    if _DIGIT.search(text) is None:
        return ()
    found: list[Entity] = []
    for match in _TICKET_ID.finditer(text):
        found.append(Entity("ticket_id", match.group(0).upper(), match.start(), match.end()))
    for pattern in (_MOBILE, _LANDLINE):
        for match in pattern.finditer(text):
            if not any(e.start is not None and e.start <= match.start() < (e.end or 0)
                       for e in found):
                found.append(Entity("phone", match.group(0), match.start(), match.end()))
    return tuple(sorted(found, key=lambda e: e.start or 0))


class KeywordUnderstanding:
    """Implements :class:`bot.ports.Understanding` with deterministic rules."""

    def __init__(self) -> None:
        owner: dict[str, str] = {}
        for category, names in sorted(_taxonomy().items()):
            for word in (*names, *_EXTRA_CATEGORY_WORDS.get(category, ())):
                owner.setdefault(word, category)
        # One pattern, the longest word at each position, scanned once per message.
        self._category_pattern = re.compile(_trie_pattern(sorted(owner)))
        self._category_of = owner

    async def parse(self, text: str) -> Intent:
        return self.parse_sync(text)

    def parse_sync(self, text: str) -> Intent:
        normalised = _normalise(text)
        intent = self._intent(normalised)
        if intent.name in _REQUEST_LIKE:
            category = self._category(normalised)
        else:
            category = _Match(OTHER, 1.0)
        return Intent(
            name=intent.name,
            confidence=intent.confidence,
            category=category.name,
            category_confidence=category.confidence,
            entities=extract_entities(normalised),
            source="keywords",
        )

    def _intent(self, text: str) -> _Match:
        for name, pattern in _COMPILED_RULES:
            if pattern.search(text):
                return _Match(name, 0.6)
        # A long message with no rule is most likely a resident describing
        # a problem; a short one is more likely chit-chat we cannot read.
        if len(text) >= 12:
            return _Match("seek_help", 0.3)
        return _Match("out_of_scope", 0.2)

    def _category(self, text: str) -> _Match:
        scores: dict[str, int] = {}
        category_of = self._category_of
        for word in self._category_pattern.findall(text):
            category = category_of[word]
            scores[category] = scores.get(category, 0) + len(word)
        if not scores:
            return _Match(OTHER, 0.3)
        best = max(scores, key=lambda name: scores[name])
        return _Match(best, scores[best] / sum(scores.values()))


_REQUEST_LIKE = frozenset(
    {"consult", "seek_help", "complain", "report", "suggest", "praise", "emergency"}
)
