"""The reason a resident gives for withdrawing, as the ticket desk sends it."""

from __future__ import annotations

from bot.tickets import DEFAULT_WITHDRAW_REASON, WITHDRAW_REASON_LIMIT, withdraw_reason


def test_no_reason_is_the_standard_wording() -> None:
    assert withdraw_reason(None) == DEFAULT_WITHDRAW_REASON == "群众主动撤回"
    assert withdraw_reason(" \n\t ") == DEFAULT_WITHDRAW_REASON


def test_a_reason_is_kept_on_one_line() -> None:
    assert withdraw_reason("  问题已经解决了，\n谢谢  ") == "问题已经解决了， 谢谢"


def test_a_long_reason_is_cut() -> None:
    cut = withdraw_reason("太" * 500)
    assert len(cut) == WITHDRAW_REASON_LIMIT and cut.endswith("…")
    assert withdraw_reason("好" * WITHDRAW_REASON_LIMIT) == "好" * WITHDRAW_REASON_LIMIT
