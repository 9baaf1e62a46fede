"""Map character offsets in normalised text back to the text as written.

Normalisation drops emoji and invisible characters, folds full-width forms,
converts Traditional to Simplified and collapses spaces. Converted
characters line up one to one, so aligning the two strings and mapping
positions through matching and equal-length replaced runs recovers where
an entity stood in what the resident wrote.
"""

from __future__ import annotations

from bisect import bisect_right
from difflib import SequenceMatcher

__all__ = ["OffsetMap"]


class OffsetMap:
    def __init__(self, original: str, normalised: str) -> None:
        starts: list[int] = []
        targets: list[tuple[int, int, int, int]] = []
        matcher = SequenceMatcher(None, normalised, original, autojunk=False)
        for _, n1, n2, o1, o2 in matcher.get_opcodes():
            starts.append(n1)
            targets.append((n1, n2, o1, o2))
        self._starts = starts
        self._targets = targets

    def position(self, index: int) -> int:
        """Where normalised position ``index`` stands in the original."""
        if not self._starts:
            return 0
        block = self._targets[max(bisect_right(self._starts, index) - 1, 0)]
        n1, n2, o1, o2 = block
        if n2 - n1 == o2 - o1:
            return o1 + (index - n1)
        return o1 if index == n1 else o2 if index >= n2 else min(o1 + (index - n1), o2)

    def span(self, start: int, end: int) -> tuple[int, int]:
        return self.position(start), self.position(end)
