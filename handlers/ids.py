"""Idempotency keys for what a turn does to a ticket."""

from __future__ import annotations

import hashlib

from bot.handling import Turn

__all__ = ["action_id"]


def action_id(turn: Turn, action: str) -> str:
    """The same for every run of the same turn (a retried or recovered
    message), different for any other message: so a retry never files,
    supplements or rates twice."""
    message = turn.message
    seed = f"{action}|{message.key.as_str()}|{message.message_id}"
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()[:32]
