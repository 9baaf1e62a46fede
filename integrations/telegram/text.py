"""Splitting long text for Telegram, which takes at most 4096 characters a message.

Telegram counts UTF-16 code units (an emoji outside the BMP is two), so
parts are measured that way. A cut falls after the last sentence end that
fits, else after a comma-like mark, else after white space, else between
two characters (never inside a surrogate pair, which Python strings do not
have anyway, nor before a combining mark or a zero-width joiner).
"""

from __future__ import annotations

import unicodedata

__all__ = ["CAPTION_LIMIT", "TEXT_LIMIT", "split_text", "utf16_len"]

# domain.md §3: a text message is limited to 4096 characters.
TEXT_LIMIT = 4096
# A photo's caption is limited to 1024 characters.
CAPTION_LIMIT = 1024

_SENTENCE_ENDS = frozenset("。！？!?；;\n")
_CLAUSE_ENDS = frozenset("，,、：:")
_CLOSERS = frozenset("”’\"')）】」』》〉]")
_JOINERS = frozenset("\u200d\ufe0e\ufe0f")


def utf16_len(text: str) -> int:
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Parts of at most ``limit`` UTF-16 units; ``"".join(parts) == text``.

    An empty text gives no parts."""
    if limit < 2:
        raise ValueError("limit must allow at least one character (2 UTF-16 units)")
    parts: list[str] = []
    start, n = 0, len(text)
    while start < n:
        end, size = start, 0
        while end < n:
            width = 2 if ord(text[end]) > 0xFFFF else 1
            if size + width > limit:
                break
            size += width
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
    ch = text[index]
    if ch in _JOINERS or unicodedata.combining(ch) or 0x1F3FB <= ord(ch) <= 0x1F3FF:
        return True
    return index > 0 and text[index - 1] == "\u200d"
