"""Sign-in throttling: too many failures for a username or an address pause sign-in.

After ``limit`` failed sign-ins within ``window`` for the same username, or
from the same client address, further attempts are refused (without even
checking the password) until the oldest of those failures is older than
the window. Failures are kept in the database so that every replica counts
the same ones; rows older than the window are deleted as new ones come in.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Connection, Table, delete, select

from integrations.staff.accounts import normalize_username
from integrations.staff.models import SignInFailureRow
from integrations.storage.codec import as_utc
from integrations.storage.repositories import Database

__all__ = ["SIGN_IN_LIMIT", "SIGN_IN_WINDOW", "SignInThrottle", "throttled_message"]

SIGN_IN_LIMIT = 5
SIGN_IN_WINDOW = timedelta(minutes=15)
_MAX_SUBJECT_PART = 120

_failures = cast(Table, SignInFailureRow.__table__)


def throttled_message(retry_after: timedelta) -> str:
    """What the sign-in page says while sign-in is paused."""
    minutes = max(1, math.ceil(retry_after.total_seconds() / 60))
    return f"登录失败次数过多，为保护账号安全，请 {minutes} 分钟后再试。"


def _subjects(username: str, address: str | None) -> list[str]:
    subjects = [f"user:{normalize_username(username)[:_MAX_SUBJECT_PART]}"]
    if address:
        subjects.append(f"addr:{address[:_MAX_SUBJECT_PART]}")
    return subjects


class SignInThrottle:
    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime] | None = None,
        limit: int = SIGN_IN_LIMIT,
        window: timedelta = SIGN_IN_WINDOW,
    ) -> None:
        if limit < 1 or window <= timedelta(0):
            raise ValueError("the throttle needs a positive limit and window")
        self._db = db
        self._clock = clock or db.now
        self.limit = limit
        self.window = window

    def _now(self) -> datetime:
        return as_utc(self._clock())

    async def retry_after(self, username: str, address: str | None) -> timedelta | None:
        """How long sign-in stays refused for this username or address; None if allowed."""
        now = self._now()
        since = now - self.window
        t = _failures
        subjects = _subjects(username, address)

        def unit(conn: Connection) -> datetime | None:
            until: datetime | None = None
            for subject in subjects:
                recent = conn.execute(
                    select(t.c.at)
                    .where(t.c.subject == subject, t.c.at > since)
                    .order_by(t.c.at.desc())
                    .limit(self.limit)
                ).scalars().all()
                if len(recent) >= self.limit:
                    # Allowed again once the limit-th latest failure leaves the window.
                    free_at = as_utc(recent[-1]) + self.window
                    until = free_at if until is None else max(until, free_at)
            return until

        until = await self._db.run("sign-in throttle check", unit, write=False)
        if until is None or until <= now:
            return None
        return until - now

    async def record_failure(self, username: str, address: str | None) -> None:
        now = self._now()
        t = _failures
        rows = [{"subject": subject, "at": now} for subject in _subjects(username, address)]

        def unit(conn: Connection) -> None:
            conn.execute(delete(t).where(t.c.at <= now - self.window))
            conn.execute(t.insert(), rows)

        await self._db.run("sign-in failure", unit)

    async def forget(self, username: str) -> None:
        """Clear the username's failures after it signed in successfully.

        The address's failures stay: signing in to one's own account must not
        reset the count of guesses made at others from the same place."""
        t = _failures
        subject = _subjects(username, None)[0]

        def unit(conn: Connection) -> None:
            conn.execute(delete(t).where(t.c.subject == subject))

        await self._db.run("sign-in success", unit)
