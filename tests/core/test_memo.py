from __future__ import annotations

from bot.memo import remember_last


def test_a_repeated_text_is_answered_from_memory_and_a_new_one_is_computed() -> None:
    calls: list[str] = []

    @remember_last
    def shout(text: str) -> str:
        calls.append(text)
        return text.upper()

    assert [shout("a"), shout("a"), shout("b"), shout("a")] == ["A", "A", "B", "A"]
    assert calls == ["a", "b", "a"]  # only the last text is kept
