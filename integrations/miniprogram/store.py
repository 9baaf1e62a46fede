"""SQL storage of the mini-program channel: users, consents, inbox, photos.

Every method is one short unit of work on :class:`integrations.storage.Database`
(SQLite and PostgreSQL alike); conflicts are settled with ``ON CONFLICT``
and conditional ``UPDATE``s, so replicas may share the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, case, func, select, update

from bot.types import ConversationKey, OutboundMessage
from integrations.miniprogram.models import MpConsentRow, MpInboxRow, MpMediaRow, MpUserRow
from integrations.storage.codec import as_utc, outbound_from_json, outbound_to_json
from integrations.storage.repositories import Database

__all__ = [
    "CONSENT_CHOICES",
    "MAX_REMAINING_CONSENTS",
    "Consent",
    "InboxEntry",
    "MediaRecord",
    "MiniProgramStore",
    "MpUser",
]

_users = cast(Table, MpUserRow.__table__)
_consents = cast(Table, MpConsentRow.__table__)
_inbox = cast(Table, MpInboxRow.__table__)
_media = cast(Table, MpMediaRow.__table__)

# The answers wx.requestSubscribeMessage gives per template ("filter" means the
# template was filtered out by WeChat and is ignored, like an absent one).
CONSENT_CHOICES = ("accept", "reject", "ban")
# One-time consents pile up with each "accept"; a cap keeps a looping client sane.
MAX_REMAINING_CONSENTS = 50
_ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class MpUser:
    app_id: str
    openid: str
    unionid: str | None
    session_key: str
    phone: str | None
    phone_consented_at: datetime | None
    created_at: datetime
    last_login_at: datetime


@dataclass(frozen=True, slots=True)
class Consent:
    template_id: str
    choice: str
    remaining: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class InboxEntry:
    cursor: int
    message: OutboundMessage
    ticket_id: str | None
    via: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MediaRecord:
    sha256: str
    content_type: str
    size: int
    created_at: datetime


def _user(row: Any) -> MpUser:
    return MpUser(
        app_id=row.app_id,
        openid=row.openid,
        unionid=row.unionid,
        session_key=row.session_key,
        phone=row.phone,
        phone_consented_at=as_utc(row.phone_consented_at) if row.phone_consented_at else None,
        created_at=as_utc(row.created_at),
        last_login_at=as_utc(row.last_login_at),
    )


def _entry(row: Any) -> InboxEntry:
    return InboxEntry(
        cursor=int(row.id),
        message=outbound_from_json(row.message),
        ticket_id=row.ticket_id,
        via=row.via,
        created_at=as_utc(row.created_at),
    )


class MiniProgramStore:
    """Everything the channel keeps, for one mini-program ``app_id``."""

    def __init__(self, db: Database, *, app_id: str) -> None:
        self._db = db
        self.app_id = app_id

    # -- users and their WeChat sessions -------------------------------------

    async def login(self, openid: str, *, session_key: str, unionid: str | None) -> MpUser:
        """Record a login: a new user, or a fresh session key for a known one."""
        now = self._db.now()
        t = _users
        insert = (
            self._db.insert(t)
            .values(
                app_id=self.app_id, openid=openid, unionid=unionid, session_key=session_key,
                created_at=now, last_login_at=now,
            )
            .on_conflict_do_nothing(index_elements=["app_id", "openid"])
        )
        values: dict[str, Any] = {"session_key": session_key, "last_login_at": now}
        if unionid:
            values["unionid"] = unionid
        where = and_(t.c.app_id == self.app_id, t.c.openid == openid)

        def unit(conn: Connection) -> MpUser:
            if conn.execute(insert).rowcount != 1:
                conn.execute(update(t).where(where).values(**values))
            return _user(conn.execute(select(t).where(where)).one())

        return await self._db.run("mini-program login", unit)

    async def user(self, openid: str) -> MpUser | None:
        t = _users
        statement = select(t).where(t.c.app_id == self.app_id, t.c.openid == openid)

        def unit(conn: Connection) -> MpUser | None:
            row = conn.execute(statement).one_or_none()
            return _user(row) if row is not None else None

        return await self._db.run("mini-program user", unit, write=False)

    async def set_phone(self, openid: str, phone: str) -> None:
        """The user consented to share ``phone`` (they pressed the button)."""
        now = self._db.now()
        t = _users
        statement = (
            update(t)
            .where(t.c.app_id == self.app_id, t.c.openid == openid)
            .values(phone=phone, phone_consented_at=now)
        )

        def unit(conn: Connection) -> None:
            conn.execute(statement)

        await self._db.run("mini-program phone", unit)

    # -- subscribe-message consents ---------------------------------------------

    async def record_consents(self, openid: str, choices: dict[str, str]) -> list[Consent]:
        """Apply the answers of one ``wx.requestSubscribeMessage`` call.

        ``accept`` adds one consent (one message); ``reject`` and ``ban`` drop
        those left, since the user's latest answer is the one to respect.
        """
        now = self._db.now()
        t = _consents
        items = sorted(choices.items())

        def unit(conn: Connection) -> list[Consent]:
            for template_id, choice in items:
                where = and_(
                    t.c.app_id == self.app_id, t.c.openid == openid,
                    t.c.template_id == template_id,
                )
                added = 1 if choice == "accept" else 0
                inserted = conn.execute(
                    self._db.insert(t)
                    .values(
                        app_id=self.app_id, openid=openid, template_id=template_id,
                        choice=choice, remaining=added, updated_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=["app_id", "openid", "template_id"])
                ).rowcount == 1
                if inserted:
                    continue
                remaining: Any = case(
                    (t.c.remaining >= MAX_REMAINING_CONSENTS, MAX_REMAINING_CONSENTS),
                    else_=t.c.remaining + 1,
                ) if added else 0
                conn.execute(
                    update(t).where(where).values(choice=choice, remaining=remaining,
                                                  updated_at=now)
                )
            return _consents_of(conn, self.app_id, openid)

        return await self._db.run("mini-program consents", unit)

    async def consents(self, openid: str) -> list[Consent]:
        def unit(conn: Connection) -> list[Consent]:
            return _consents_of(conn, self.app_id, openid)

        return await self._db.run("mini-program consents read", unit, write=False)

    async def take_consent(self, openid: str, template_id: str, *, keep: bool = False) -> bool:
        """Use one consent for one message, atomically; False when none is left.

        ``keep``: a long-term subscription, which a message does not use up."""
        now = self._db.now()
        t = _consents
        where = and_(
            t.c.app_id == self.app_id, t.c.openid == openid, t.c.template_id == template_id,
            t.c.choice == "accept", t.c.remaining > 0,
        )
        statement = (
            select(t.c.id).where(where)
            if keep
            else update(t).where(where).values(remaining=t.c.remaining - 1, updated_at=now)
        )

        def unit(conn: Connection) -> bool:
            result = conn.execute(statement)
            if keep:
                return result.first() is not None
            return bool(result.rowcount == 1)

        return await self._db.run("mini-program consent use", unit, write=not keep)

    async def give_back_consent(self, openid: str, template_id: str) -> None:
        """A message that used a consent was not delivered: the consent stands."""
        now = self._db.now()
        t = _consents
        statement = (
            update(t)
            .where(t.c.app_id == self.app_id, t.c.openid == openid,
                   t.c.template_id == template_id, t.c.choice == "accept",
                   t.c.remaining < MAX_REMAINING_CONSENTS)
            .values(remaining=t.c.remaining + 1, updated_at=now)
        )

        def unit(conn: Connection) -> None:
            conn.execute(statement)

        await self._db.run("mini-program consent return", unit)

    async def drop_consent(self, openid: str, template_id: str) -> None:
        """WeChat says the user refused this template (43101): nothing is left."""
        now = self._db.now()
        t = _consents
        statement = (
            update(t)
            .where(t.c.app_id == self.app_id, t.c.openid == openid,
                   t.c.template_id == template_id)
            .values(choice="reject", remaining=0, updated_at=now)
        )

        def unit(conn: Connection) -> None:
            conn.execute(statement)

        await self._db.run("mini-program consent drop", unit)

    # -- the inbox ------------------------------------------------------------

    async def put(
        self, key: ConversationKey, message: OutboundMessage, *, dedupe: str | None = None
    ) -> InboxEntry:
        """Store ``message`` for the user; with ``dedupe``, once however often it is put."""
        now = self._db.now()
        t = _inbox
        ticket_id = message.ticket_update.ticket_id if message.ticket_update else None
        values = {
            "conversation_key": key.as_str(), "message": outbound_to_json(message),
            "ticket_id": ticket_id, "dedupe": dedupe, "via": "inbox", "created_at": now,
        }

        def unit(conn: Connection) -> InboxEntry:
            if dedupe is None:
                new_id = conn.execute(t.insert().values(**values).returning(t.c.id)).scalar_one()
                return _entry(conn.execute(select(t).where(t.c.id == new_id)).one())
            conn.execute(
                self._db.insert(t).values(**values).on_conflict_do_nothing(
                    index_elements=["dedupe"]
                )
            )
            return _entry(conn.execute(select(t).where(t.c.dedupe == dedupe)).one())

        return await self._db.run("mini-program inbox put", unit)

    async def mark(self, cursor: int, *, via: str, error: str | None = None) -> None:
        t = _inbox
        statement = update(t).where(t.c.id == cursor).values(
            via=via, error=error[:_ERROR_CHARS] if error else None
        )

        def unit(conn: Connection) -> None:
            conn.execute(statement)

        await self._db.run("mini-program inbox mark", unit)

    async def inbox(
        self, key: ConversationKey, *, after: int = 0, limit: int = 50
    ) -> list[InboxEntry]:
        """The user's messages after the cursor ``after``, oldest first."""
        t = _inbox
        statement = (
            select(t)
            .where(t.c.conversation_key == key.as_str(), t.c.id > after)
            .order_by(t.c.id)
            .limit(limit)
        )

        def unit(conn: Connection) -> list[InboxEntry]:
            return [_entry(row) for row in conn.execute(statement)]

        return await self._db.run("mini-program inbox", unit, write=False)

    async def latest_cursor(self, key: ConversationKey) -> int:
        t = _inbox
        statement = select(func.max(t.c.id)).where(t.c.conversation_key == key.as_str())

        def unit(conn: Connection) -> int:
            return int(conn.execute(statement).scalar() or 0)

        return await self._db.run("mini-program inbox cursor", unit, write=False)

    async def ticket_updates(self, key: ConversationKey, ticket_id: str) -> list[InboxEntry]:
        """The progress pushes about one ticket, oldest first."""
        t = _inbox
        statement = (
            select(t)
            .where(t.c.conversation_key == key.as_str(), t.c.ticket_id == ticket_id)
            .order_by(t.c.id)
        )

        def unit(conn: Connection) -> list[InboxEntry]:
            return [_entry(row) for row in conn.execute(statement)]

        return await self._db.run("mini-program ticket updates", unit, write=False)

    # -- photos ---------------------------------------------------------------

    async def add_media(
        self, openid: str, sha256: str, *, content_type: str, size: int
    ) -> MediaRecord:
        now = self._db.now()
        t = _media
        insert = (
            self._db.insert(t)
            .values(sha256=sha256, app_id=self.app_id, openid=openid,
                    content_type=content_type, size=size, created_at=now)
            .on_conflict_do_nothing(index_elements=["sha256", "app_id", "openid"])
        )
        where = and_(t.c.sha256 == sha256, t.c.app_id == self.app_id, t.c.openid == openid)

        def unit(conn: Connection) -> MediaRecord:
            conn.execute(insert)
            row = conn.execute(select(t).where(where)).one()
            return MediaRecord(row.sha256, row.content_type, row.size, as_utc(row.created_at))

        return await self._db.run("mini-program media", unit)

    async def owned_media(self, openid: str, ids: Sequence[str]) -> dict[str, MediaRecord]:
        """Those of ``ids`` the user uploaded, by id."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        t = _media
        statement = select(t).where(
            t.c.app_id == self.app_id, t.c.openid == openid, t.c.sha256.in_(wanted)
        )

        def unit(conn: Connection) -> dict[str, MediaRecord]:
            return {
                row.sha256: MediaRecord(row.sha256, row.content_type, row.size,
                                        as_utc(row.created_at))
                for row in conn.execute(statement)
            }

        return await self._db.run("mini-program media lookup", unit, write=False)

    async def media_type(self, sha256: str) -> str | None:
        """The content type of a stored photo, whoever uploaded it."""
        t = _media
        statement = select(t.c.content_type).where(t.c.sha256 == sha256).limit(1)

        def unit(conn: Connection) -> str | None:
            value = conn.execute(statement).scalar()
            return str(value) if value is not None else None

        return await self._db.run("mini-program media type", unit, write=False)


def _consents_of(conn: Connection, app_id: str, openid: str) -> list[Consent]:
    t = _consents
    rows = conn.execute(
        select(t).where(t.c.app_id == app_id, t.c.openid == openid).order_by(t.c.template_id)
    )
    return [Consent(r.template_id, r.choice, r.remaining, as_utc(r.updated_at)) for r in rows]
