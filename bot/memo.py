"""Remembering the last result of a text function.

One turn reads the same text through several handlers and parsers, each of
which normalises it first; NFKC and Traditional-to-Simplified conversion of
Chinese text cost far more than comparing two strings. Remembering only the
last text makes every repeat within a turn free, and keeps nothing else.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

__all__ = ["remember_last"]


def remember_last(fn: Callable[[str], str]) -> Callable[[str], str]:
    """``fn``, answering a repeat of the previous argument from memory."""
    last: tuple[str, str] | None = None

    @functools.wraps(fn)
    def wrapper(text: str) -> str:
        nonlocal last
        remembered = last  # one read: another thread may replace it meanwhile
        if remembered is not None and remembered[0] == text:
            return remembered[1]
        result = fn(text)
        last = (text, result)
        return result

    return wrapper
