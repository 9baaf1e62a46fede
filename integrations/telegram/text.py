"""Splitting long text for Telegram, which takes at most 4096 characters a message.

Telegram counts UTF-16 code units (an emoji outside the BMP is two), so
parts are measured that way. A cut falls after the last sentence end that
fits, else after a comma-like mark, else after white space, else between
two characters (never inside a surrogate pair, which Python strings do not
have anyway, nor before a combining mark or a zero-width joiner).
"""

from __future__ import annotations

from bot.splitting import split_measured

__all__ = ["CAPTION_LIMIT", "TEXT_LIMIT", "split_text", "utf16_len"]

# domain.md §3: a text message is limited to 4096 characters.
TEXT_LIMIT = 4096
# A photo's caption is limited to 1024 characters.
CAPTION_LIMIT = 1024

def utf16_len(text: str) -> int:
    return sum(_utf16_width(ch) for ch in text)


def _utf16_width(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Parts of at most ``limit`` UTF-16 units; ``"".join(parts) == text``.

    An empty text gives no parts."""
    if limit < 2:
        raise ValueError("limit must allow at least one character (2 UTF-16 units)")
    return split_measured(text, limit, _utf16_width)
