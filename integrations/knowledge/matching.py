"""Finding the entry a question is about, without a word segmenter.

Chinese has no spaces and jieba is not available in the app, so texts are
compared by character bigrams weighted by TF-IDF (a bigram shared by many
entries, such as "办理", says little), plus a bonus for the entry's own
keywords. The threshold is set so that questions about something else
score well below it (see tests/knowledge).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["MATCH_THRESHOLD", "Match", "Matcher", "normalise"]

# Score (cosine plus keyword bonus) an answer needs to be offered.
MATCH_THRESHOLD = 0.5
# Below this similarity a keyword alone does not make a match: "停车" in a
# complaint about a parking fee is not the parking FAQ.
_MIN_SIMILARITY = 0.12
_KEYWORD_BONUS = 0.25
_SECOND_KEYWORD_BONUS = 0.1
# A keyword covering a third of the question earns the full bonus.
_KEYWORD_COVERAGE = 3

_NOT_WORD = re.compile(r"[\W_]+")
# Words that surround any question and say nothing about its subject.
_FILLER = re.compile(
    r"请问|你好|您好|我想|我要|想问|问一下|问下|咨询一下|咨询|一下|麻烦|谢谢|请教|"
    r"怎么|怎样|如何|咋|哪里|在哪|去哪|什么|需要|可以|能不能|有没有|是否|能|要|"
    r"吗|呢|吧|啊|呀|的|了|我|是"
)


def normalise(text: str) -> str:
    """NFKC, lower case, no punctuation, spaces or question filler."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _FILLER.sub("", _NOT_WORD.sub("", text))


def _bigrams(text: str) -> Counter[str]:
    if len(text) < 2:
        return Counter([text]) if text else Counter()
    return Counter(text[i : i + 2] for i in range(len(text) - 1))


@dataclass(frozen=True, slots=True)
class Match:
    index: int
    score: float


@dataclass(frozen=True, slots=True)
class _Document:
    phrasings: tuple[dict[str, float], ...]
    keywords: tuple[str, ...]


class Matcher:
    """An index over entries, each given as its phrasings and its keywords."""

    def __init__(self, entries: Sequence[tuple[Sequence[str], Sequence[str]]]) -> None:
        counted = [
            ([_bigrams(normalise(p)) for p in phrasings], [normalise(k) for k in keywords])
            for phrasings, keywords in entries
        ]
        frequency: Counter[str] = Counter()
        for phrasings, keywords in counted:
            seen: set[str] = set()
            for bigrams in phrasings:
                seen.update(bigrams)
            for keyword in keywords:
                seen.update(_bigrams(keyword))
            frequency.update(seen)
        total = len(counted)
        self._idf = {b: math.log((total + 1) / (n + 1)) + 1 for b, n in frequency.items()}
        # A bigram no entry has still counts against the match (it is part of
        # the question), at the weight of the rarest known one.
        self._unknown_idf = math.log(total + 1) + 1
        self._documents = [
            _Document(
                tuple(self._vector(b) for b in phrasings),
                tuple(k for k in keywords if k),
            )
            for phrasings, keywords in counted
        ]

    def _vector(self, bigrams: Counter[str]) -> dict[str, float]:
        weights = {b: n * self._idf.get(b, self._unknown_idf) for b, n in bigrams.items()}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        return {b: w / norm for b, w in weights.items()} if norm else {}

    def best(self, text: str) -> Match | None:
        """The best entry for ``text`` if it scores at least the threshold."""
        query_text = normalise(text)
        query = self._vector(_bigrams(query_text))
        if not query:
            return None
        best: Match | None = None
        for index, document in enumerate(self._documents):
            similarity = max(
                (sum(w * p.get(b, 0.0) for b, w in query.items()) for p in document.phrasings),
                default=0.0,
            )
            if similarity < _MIN_SIMILARITY:
                continue
            hits = [k for k in document.keywords if k in query_text]
            score = similarity
            if hits:
                # A keyword that is most of the question says more than one
                # word in a long sentence about something else.
                coverage = min(1.0, _KEYWORD_COVERAGE * max(map(len, hits)) / len(query_text))
                score += _KEYWORD_BONUS * coverage
                if len(hits) > 1:
                    score += _SECOND_KEYWORD_BONUS
            if best is None or score > best.score:
                best = Match(index, score)
        if best is None or best.score < MATCH_THRESHOLD:
            return None
        return best
