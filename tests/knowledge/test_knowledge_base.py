"""The file-backed knowledge base: matching, reloading, and refusing broken files."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from integrations.knowledge import FileKnowledgeBase, KnowledgeFileError, default_knowledge_dir

SHIPPED = FileKnowledgeBase(default_knowledge_dir())


@pytest.mark.parametrize(
    ("question", "entry"),
    [
        ("居住证过期没签注怎么办", "residence-permit-renew"),
        ("我想问一下居住证要怎么办理", "residence-permit-apply"),
        ("孩子出生了去哪上户口", "newborn-registration"),
        ("身份证丢了在外地能补吗", "id-card-replace"),
        ("社保卡丢了咋办", "social-security-card-replace"),
        ("低保申请条件是什么", "minimum-living-allowance"),
        ("旧床垫怎么处理", "bulky-waste"),
        ("电动自行车可以在家里充电吗", "ebike-charging"),
        ("公积金租房提取", "housing-fund-withdraw"),
        ("买房怎么用公积金贷款", "housing-fund-loan"),
        ("开个体户需要什么手续", "business-license-individual"),
        ("失业保险金怎么申请", "unemployment"),
        ("高龄补贴怎么领", "elderly-allowance"),
        ("开公司去哪里注册", "company-registration"),
        ("12345能反映什么问题", "about-12345"),
        ("垃圾分类电池算什么垃圾", "garbage-sorting"),
        ("没有工作单位怎么交社保", "flexible-employment-insurance"),
        ("外卖骑手有休息的驿站吗", "rider-stations"),
        ("退休了怎么领养老金", "pension-retirement"),
        ("户口怎么迁过来", "household-registration-move"),
    ],
)
async def test_paraphrased_questions_find_their_entry(question: str, entry: str) -> None:
    answer = await SHIPPED.search(question)
    assert answer is not None, question
    assert answer.entry_id == entry
    assert answer.answer and answer.score >= 0.5


@pytest.mark.parametrize(
    "question",
    [
        "今天天气怎么样",
        "楼下饭店油烟太大",
        "和平路路灯坏了",
        "小区门口的井盖丢了",
        "我要投诉物业乱收停车费",
        "附近哪里有好吃的",
        "驾照怎么换证",
        "护照怎么办",
        "燃气费怎么交",
        "出租车拒载",
        "怎么考公务员",
        "",
        "？？？",
    ],
)
async def test_unrelated_questions_get_no_answer(question: str) -> None:
    assert await SHIPPED.search(question) is None


def test_the_shipped_entries_are_many_and_invent_no_numbers_or_addresses() -> None:
    entries = SHIPPED.entries
    assert len(entries) >= 30
    assert len({e.entry_id for e in entries}) == len(entries)
    for entry in entries:
        digits = set(re.findall(r"\d{3,}", entry.answer))
        # Only the real public numbers: the hotline and the emergency services.
        assert digits <= {"12345", "110", "119", "120"}, entry.entry_id
        assert "http" not in entry.answer and not entry.links, entry.entry_id


def test_the_shipped_files_are_package_data() -> None:
    directory = default_knowledge_dir()
    assert directory.parent.name == "knowledge"
    assert len(list(directory.glob("*.yml"))) >= 5


# ---------------------------------------------------------------- editing files

ENTRY = """
- id: dog-licence
  question: 养狗怎么办理登记？
  alternatives: [狗证怎么办, 养犬登记在哪里办]
  keywords: [养犬, 狗证]
  answer: {answer}
"""


def write(path: Path, text: str, *, bump: int = 0) -> None:
    path.write_text(text, encoding="utf-8")
    if bump:
        # File systems with coarse timestamps: make the edit visibly newer.
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump * 1_000_000_000))


async def test_an_edited_file_is_picked_up_on_the_next_search(tmp_path: Path) -> None:
    faq = tmp_path / "pets.yml"
    write(faq, ENTRY.format(answer="到居住地派出所办理养犬登记。"))
    knowledge = FileKnowledgeBase(tmp_path)
    first = await knowledge.search("狗证在哪办")
    assert first is not None and first.answer == "到居住地派出所办理养犬登记。"
    write(faq, ENTRY.format(answer="可以在政务服务网上办理养犬登记。"), bump=5)
    second = await knowledge.search("狗证在哪办")
    assert second is not None and second.answer == "可以在政务服务网上办理养犬登记。"


async def test_a_new_file_is_picked_up(tmp_path: Path) -> None:
    write(tmp_path / "pets.yml", ENTRY.format(answer="到派出所办理。"))
    knowledge = FileKnowledgeBase(tmp_path)
    assert await knowledge.search("垃圾分类怎么分") is None
    write(tmp_path / "waste.yml", """
- id: waste
  question: 垃圾分类怎么分？
  answer: 按小区的分类指引投放。
""")
    found = await knowledge.search("垃圾分类怎么分")
    assert found is not None and found.entry_id == "waste"


async def test_a_broken_edit_keeps_the_last_good_answers(tmp_path: Path) -> None:
    faq = tmp_path / "pets.yml"
    write(faq, ENTRY.format(answer="到派出所办理。"))
    knowledge = FileKnowledgeBase(tmp_path)
    write(faq, "- id: dog-licence\n  question: [unclosed\n", bump=5)
    kept = await knowledge.search("狗证在哪办")
    assert kept is not None and kept.answer == "到派出所办理。"


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- id: a\n  question: 问题\n",
         r"pets\.yml: entry 1 \(a\): 'answer' must be a non-empty text"),
        ("- id: a\n  question: 问题\n  answer: 答\n  keyword: [x]\n",
         r"pets\.yml: entry 1 \(a\): unknown field\(s\) keyword"),
        ("- id: a\n  question: 问题\n  answer: 答\n  links: [ftp://x]\n",
         r"pets\.yml: entry 1 \(a\): link 'ftp://x' is not an http\(s\) address"),
        ("- id: a\n  question: 问题\n  answer: 答\n  keywords: 养犬\n",
         r"pets\.yml: entry 1 \(a\): 'keywords' must be a list of non-empty texts"),
        ("- id: a\n  question: 问\n  answer: 答\n- just text\n",
         r"pets\.yml: entry 2: expected a mapping"),
        ("id: a\nquestion: 问\n", r"pets\.yml: expected a list of entries"),
        ("- id: a\n  question: [unclosed\n", r"pets\.yml: not valid YAML"),
    ],
)
def test_broken_files_are_refused_with_the_file_and_entry_named(
    tmp_path: Path, content: str, message: str
) -> None:
    write(tmp_path / "pets.yml", content)
    with pytest.raises(KnowledgeFileError, match=message):
        FileKnowledgeBase(tmp_path)


def test_an_id_used_twice_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "a.yml", "- id: same\n  question: 问\n  answer: 答\n")
    write(tmp_path / "b.yml", "- id: same\n  question: 问二\n  answer: 答二\n")
    with pytest.raises(KnowledgeFileError, match=r"b\.yml: entry 'same': .*already used in a\.yml"):
        FileKnowledgeBase(tmp_path)


def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeFileError, match="no such knowledge directory"):
        FileKnowledgeBase(tmp_path / "nowhere")
