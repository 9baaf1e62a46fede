"""Splitting a long reply into parts a channel accepts, on sentence boundaries.

Channels measure length differently (WeChat in UTF-8 bytes, Telegram in
UTF-16 code units), so the measure of one character is a parameter. A cut
falls after the last sentence end that fits, else after a comma-like mark,
else after white space, else between two characters, but never just before
a combining mark, a variation selector, a skin-tone modifier or a
zero-width joiner, which belong to the character before them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

__all__ = ["split_measured"]

_SENTENCE_ENDS = frozenset("。！？!?；;\n")
_CLAUSE_ENDS = frozenset("，,、：:")
# Closing quotes and brackets stay with the sentence they close.
_CLOSERS = frozenset("”’\"')）】」』》〉]")
# Characters that must not begin a part (they attach to what precedes them).
_JOINERS = frozenset("\u200d\ufe0e\ufe0f")


def split_measured(text: str, limit: int, width: Callable[[str], int]) -> list[str]:
    """Parts of ``text`` whose widths (the sum of ``width(ch)``) are at most
    ``limit``; ``"".join(parts) == text``, and an empty text gives no parts.
    ``limit`` must be at least the widest character's width."""
    parts: list[str] = []
    start, n = 0, len(text)
    while start < n:
        # The longest prefix of text[start:] that fits.
        end, size = start, 0
        while end < n and size + (w := width(text[end])) <= limit:
            size += w
            end += 1
        if end == n:
            parts.append(text[start:])
            break
        cut = _cut(text, start, end)
        parts.append(text[start:cut])
        start = cut
    return parts


def _cut(text: str, start: int, end: int) -> int:
    """Where to end the part ``text[start:end]``, which must be shortened."""
    for marks in (_SENTENCE_ENDS, _CLAUSE_ENDS):
        for i in range(end - 1, start, -1):
            if text[i] in marks:
                cut = i + 1
                while cut < end and text[cut] in _CLOSERS:
                    cut += 1
                return cut
    for i in range(end - 1, start, -1):
        if text[i].isspace():
            return i + 1
    cut = end
    while cut - 1 > start and _attaches_to_previous(text, cut):
        cut -= 1
    return cut


def _attaches_to_previous(text: str, index: int) -> bool:
    """Whether a cut just before ``text[index]`` would split a grapheme."""
    ch = text[index]
    if ch in _JOINERS or unicodedata.combining(ch) or 0x1F3FB <= ord(ch) <= 0x1F3FF:
        return True
    return index > 0 and text[index - 1] == "\u200d"
