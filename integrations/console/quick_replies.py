"""Quick-reply templates of the console, from a YAML file staff can edit.

The file (``quick_replies.yml`` in this package, or ``MINHU_CONSOLE_QUICK_REPLIES``)
is a mapping with a ``replies`` list of ``{title, text}``; see the shipped one.
A bad file is refused at start with a message naming the entry, rather than
showing staff half a list.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

__all__ = [
    "MAX_QUICK_REPLIES",
    "MAX_QUICK_REPLY_TEXT",
    "MAX_QUICK_REPLY_TITLE",
    "QuickReply",
    "load_quick_replies",
]

MAX_QUICK_REPLIES = 50
MAX_QUICK_REPLY_TITLE = 20
MAX_QUICK_REPLY_TEXT = 600


@dataclass(frozen=True, slots=True)
class QuickReply:
    title: str
    text: str


def _shipped() -> str:
    return (resources.files("integrations.console") / "quick_replies.yml").read_text("utf-8")


def load_quick_replies(path: Path | None = None) -> tuple[QuickReply, ...]:
    """The templates in ``path`` (None: the shipped file). Raises ``ValueError``."""
    source = path.read_text("utf-8") if path is not None else _shipped()
    where = str(path) if path is not None else "quick_replies.yml"
    data = yaml.safe_load(source)
    entries = data.get("replies") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{where}: expected a mapping with a 'replies' list")
    if len(entries) > MAX_QUICK_REPLIES:
        raise ValueError(f"{where}: at most {MAX_QUICK_REPLIES} quick replies")
    replies: list[QuickReply] = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: entry {number} is not a mapping with title and text")
        title, text = entry.get("title"), entry.get("text")
        if not isinstance(title, str) or not title.strip():
            raise ValueError(f"{where}: entry {number} has no title")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{where}: entry {number} ({title}) has no text")
        if len(title.strip()) > MAX_QUICK_REPLY_TITLE:
            raise ValueError(f"{where}: the title of entry {number} is over "
                             f"{MAX_QUICK_REPLY_TITLE} characters")
        if len(text.strip()) > MAX_QUICK_REPLY_TEXT:
            raise ValueError(f"{where}: the text of entry {number} ({title}) is over "
                             f"{MAX_QUICK_REPLY_TEXT} characters")
        replies.append(QuickReply(title.strip(), text.strip()))
    return tuple(replies)
