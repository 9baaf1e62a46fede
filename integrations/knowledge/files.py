"""``FileKnowledgeBase``: the ``KnowledgeBase`` port over a directory of YAML files.

Each ``*.yml`` file holds a list of entries::

    - id: residence-permit
      question: 居住证怎么办理？
      alternatives: [办居住证需要什么材料, 外地人怎么申请居住证]
      keywords: [居住证]
      answer: |
        ...
      links: [https://...]        # optional

Staff edit the files in place: a change is picked up on the next search
(by modification time). A broken edit is reported in the log and the last
good version stays in use; at start-up a broken file is an error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.ports import KnowledgeAnswer
from integrations.knowledge.matching import Matcher

__all__ = ["FileKnowledgeBase", "KnowledgeEntry", "KnowledgeFileError", "default_knowledge_dir"]

log = logging.getLogger("minhu.knowledge")

_REQUIRED = ("id", "question", "answer")
_LISTS = ("alternatives", "keywords", "links")
_ALLOWED = frozenset((*_REQUIRED, *_LISTS))


class KnowledgeFileError(ValueError):
    """A knowledge file that cannot be used; the message names the file and entry."""


@dataclass(frozen=True, slots=True)
class KnowledgeEntry:
    entry_id: str
    question: str
    answer: str
    alternatives: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    source: str = ""


def default_knowledge_dir() -> Path:
    """The entries shipped with minhu (package data)."""
    return Path(__file__).with_name("faq")


_Signature = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True, slots=True)
class _Loaded:
    signature: _Signature
    entries: tuple[KnowledgeEntry, ...]
    matcher: Matcher


class FileKnowledgeBase:
    """Implements :class:`bot.ports.KnowledgeBase`."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        if not directory.is_dir():
            raise KnowledgeFileError(f"{directory}: no such knowledge directory")
        self._loaded = self._load(self._signature())

    @property
    def entries(self) -> tuple[KnowledgeEntry, ...]:
        self._refresh()
        return self._loaded.entries

    async def search(self, text: str) -> KnowledgeAnswer | None:
        self._refresh()
        loaded = self._loaded
        match = loaded.matcher.best(text)
        if match is None:
            return None
        entry = loaded.entries[match.index]
        return KnowledgeAnswer(
            entry_id=entry.entry_id,
            question=entry.question,
            answer=entry.answer,
            score=round(match.score, 4),
            links=entry.links,
        )

    # ------------------------------------------------------------ loading

    def _files(self) -> list[Path]:
        return sorted(p for p in self._directory.glob("*.yml") if p.is_file())

    def _signature(self) -> _Signature:
        signature = []
        for path in self._files():
            stat = path.stat()
            signature.append((path.name, stat.st_mtime_ns, stat.st_size))
        return tuple(signature)

    def _refresh(self) -> None:
        try:
            signature = self._signature()
        except OSError as exc:
            log.error("cannot read the knowledge directory: %s", exc)
            return
        if signature == self._loaded.signature:
            return
        try:
            self._loaded = self._load(signature)
        except (KnowledgeFileError, OSError) as exc:
            # Keep answering from the last good version until the file is fixed.
            log.error("knowledge files not reloaded: %s", exc)
            self._loaded = _Loaded(signature, self._loaded.entries, self._loaded.matcher)
        else:
            log.info("knowledge base reloaded: %d entries", len(self._loaded.entries))

    def _load(self, signature: _Signature) -> _Loaded:
        entries: list[KnowledgeEntry] = []
        seen: dict[str, str] = {}
        for path in self._files():
            for entry in _read_file(path):
                if entry.entry_id in seen:
                    raise KnowledgeFileError(
                        f"{path.name}: entry {entry.entry_id!r}: the id is already used in "
                        f"{seen[entry.entry_id]}"
                    )
                seen[entry.entry_id] = path.name
                entries.append(entry)
        matcher = Matcher(
            [((e.question, *e.alternatives), e.keywords) for e in entries]
        )
        return _Loaded(signature, tuple(entries), matcher)


def _read_file(path: Path) -> list[KnowledgeEntry]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise KnowledgeFileError(f"{path.name}: not valid YAML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise KnowledgeFileError(f"{path.name}: not UTF-8 text") from exc
    if data is None:
        return []
    if not isinstance(data, list):
        raise KnowledgeFileError(f"{path.name}: expected a list of entries at the top level")
    return [_entry(path.name, index, item) for index, item in enumerate(data, start=1)]


def _entry(file: str, index: int, item: Any) -> KnowledgeEntry:
    where = f"{file}: entry {index}"
    if not isinstance(item, dict):
        raise KnowledgeFileError(f"{where}: expected a mapping with id, question and answer")
    if isinstance(item.get("id"), str) and item["id"].strip():
        where = f"{file}: entry {index} ({item['id'].strip()})"
    unknown = sorted(str(k) for k in item if k not in _ALLOWED)
    if unknown:
        raise KnowledgeFileError(f"{where}: unknown field(s) {', '.join(unknown)}")
    values: dict[str, str] = {}
    for name in _REQUIRED:
        value = item.get(name)
        if not isinstance(value, str) or not value.strip():
            raise KnowledgeFileError(f"{where}: '{name}' must be a non-empty text")
        values[name] = value.strip()
    lists = {name: _texts(where, name, item.get(name)) for name in _LISTS}
    for link in lists["links"]:
        if not link.startswith(("https://", "http://")):
            raise KnowledgeFileError(f"{where}: link {link!r} is not an http(s) address")
    return KnowledgeEntry(
        entry_id=values["id"],
        question=values["question"],
        answer=values["answer"],
        alternatives=lists["alternatives"],
        keywords=lists["keywords"],
        links=lists["links"],
        source=file,
    )


def _texts(where: str, name: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise KnowledgeFileError(f"{where}: '{name}' must be a list of non-empty texts")
    texts: Sequence[str] = value
    return tuple(v.strip() for v in texts)
