"""Staff accounts: who may sign in to the staff pages, and with which role.

Every operation is one unit of work on :class:`Database` (SQLite or
PostgreSQL). Passwords are hashed with argon2id off the event loop (older
scrypt hashes still verify and are replaced at the next sign-in); a sign-in
for an unknown or deactivated user costs the same hash as a real one, so
timing does not tell which usernames exist.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, select, update

from bot.errors import BadRequest
from integrations.staff.models import StaffAccountRow
from integrations.staff.passwords import DEFAULT_HASHER, PasswordHasher
from integrations.storage.codec import as_utc
from integrations.storage.repositories import Database

__all__ = [
    "CONSOLE_ROLES",
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "ROLE_LABELS",
    "SUPERVISING_ROLES",
    "StaffAccount",
    "StaffAccountNotFound",
    "StaffAccounts",
    "StaffInputError",
    "StaffRole",
    "UsernameTaken",
    "normalize_username",
]

MIN_PASSWORD_LENGTH = 8
# A bound on the work one sign-in can make the server do.
MAX_PASSWORD_LENGTH = 256
MAX_DISPLAY_NAME_LENGTH = 64
MAX_DEPARTMENT_CODE_LENGTH = 32
_USERNAME = re.compile(r"[A-Za-z0-9._-]{3,32}")

_accounts = cast(Table, StaffAccountRow.__table__)


class StaffRole(enum.StrEnum):
    DISPATCHER = "dispatcher"  # the 12345 centre / 社会工作部: sees and dispatches all
    DEPARTMENT = "department"  # a department handling tickets: sees its own
    ADMIN = "admin"
    AGENT = "agent"  # answers residents' escalated chats in the console
    SUPERVISOR = "supervisor"  # the console's supervisor queue, audit log, escalations


ROLE_LABELS: dict[StaffRole, str] = {
    StaffRole.DISPATCHER: "调度员",
    StaffRole.DEPARTMENT: "承办部门",
    StaffRole.ADMIN: "管理员",
    StaffRole.AGENT: "坐席",
    StaffRole.SUPERVISOR: "值班长",
}

# Who may work in the escalation console, and who sees its supervisor queue
# (a dispatcher acts as a supervisor there).
CONSOLE_ROLES = frozenset(
    {StaffRole.AGENT, StaffRole.SUPERVISOR, StaffRole.DISPATCHER, StaffRole.ADMIN}
)
SUPERVISING_ROLES = frozenset({StaffRole.SUPERVISOR, StaffRole.DISPATCHER, StaffRole.ADMIN})


class StaffInputError(BadRequest):
    """An account operation refused because of what was given (message in Chinese)."""


class UsernameTaken(StaffInputError):
    status_code = 409


class StaffAccountNotFound(StaffInputError):
    status_code = 404


@dataclass(frozen=True, slots=True)
class StaffAccount:
    id: int
    username: str
    display_name: str
    role: StaffRole
    department_code: str | None
    active: bool
    created_at: datetime
    last_login_at: datetime | None
    # Changes whenever the password does: sessions carry it, so changing a
    # password signs out every other session of the account.
    session_stamp: str

    @property
    def sees_all(self) -> bool:
        """Dispatchers and admins see every department's tickets (console
        agents and supervisors see them in the console, by resident)."""
        return self.role in (StaffRole.DISPATCHER, StaffRole.ADMIN)

    @property
    def uses_console(self) -> bool:
        """May sign in to the escalation console."""
        return self.role in CONSOLE_ROLES

    @property
    def supervises(self) -> bool:
        """Sees the console's supervisor queue and its audit log."""
        return self.role in SUPERVISING_ROLES

    @property
    def label(self) -> str:
        """How the account is named in records: display name and username."""
        return f"{self.display_name}（{self.username}）"

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.role]


def normalize_username(username: str) -> str:
    """The stored form of a username (usernames are case-insensitive)."""
    return username.strip().lower()


def _session_stamp(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:16]


def _account(row: Any) -> StaffAccount:
    return StaffAccount(
        id=int(row.id),
        username=row.username,
        display_name=row.display_name,
        role=StaffRole(row.role),
        department_code=row.department_code,
        active=bool(row.active),
        created_at=as_utc(row.created_at),
        last_login_at=as_utc(row.last_login_at) if row.last_login_at else None,
        session_stamp=_session_stamp(row.password_hash),
    )


def _valid_username(username: str) -> str:
    value = normalize_username(username)
    if not _USERNAME.fullmatch(value):
        raise StaffInputError("用户名须为 3–32 位英文字母、数字或 . _ -")
    return value


def _valid_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffInputError(f"密码至少需要 {MIN_PASSWORD_LENGTH} 个字符")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise StaffInputError(f"密码不能超过 {MAX_PASSWORD_LENGTH} 个字符")
    return password


def _valid_display_name(display_name: str) -> str:
    value = " ".join(display_name.split())
    if not value:
        raise StaffInputError("请填写姓名（显示名）")
    if len(value) > MAX_DISPLAY_NAME_LENGTH:
        raise StaffInputError(f"姓名（显示名）不能超过 {MAX_DISPLAY_NAME_LENGTH} 个字符")
    return value


def _valid_role(role: str, department_code: str | None) -> tuple[StaffRole, str | None]:
    try:
        valid_role = StaffRole(role)
    except ValueError:
        choices = "、".join(r.value for r in StaffRole)
        raise StaffInputError(f"角色须为 {choices} 之一") from None
    code = department_code.strip() if department_code else None
    if valid_role is StaffRole.DEPARTMENT:
        if not code:
            raise StaffInputError("承办部门账号必须指定部门编码")
        if len(code) > MAX_DEPARTMENT_CODE_LENGTH:
            raise StaffInputError(f"部门编码不能超过 {MAX_DEPARTMENT_CODE_LENGTH} 个字符")
        return valid_role, code
    if code:
        raise StaffInputError("只有承办部门账号可以指定部门")
    return valid_role, None


class StaffAccounts:
    """The staff account store (``staff_accounts``)."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime] | None = None,
        hasher: PasswordHasher = DEFAULT_HASHER,
    ) -> None:
        self._db = db
        self._clock = clock or db.now
        self._hasher = hasher
        # Verified against when the username is unknown, to spend the same time.
        self._decoy_hash: str | None = None

    def _now(self) -> datetime:
        return as_utc(self._clock())

    async def _hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def _verify(self, password: str, stored: str) -> bool:
        return await asyncio.to_thread(self._hasher.verify, password, stored)

    async def add(
        self,
        username: str,
        password: str,
        *,
        display_name: str,
        role: StaffRole | str,
        department_code: str | None = None,
    ) -> StaffAccount:
        """Create an account; ``UsernameTaken`` when the username is in use."""
        account, created = await self._insert(
            username, password, display_name=display_name, role=role,
            department_code=department_code,
        )
        if not created:
            raise UsernameTaken(f"用户名 {account.username} 已被使用")
        return account

    async def ensure(
        self,
        username: str,
        password: str,
        *,
        display_name: str,
        role: StaffRole | str,
        department_code: str | None = None,
    ) -> tuple[StaffAccount, bool]:
        """The account, created as given if it does not exist yet: (account, created).

        An existing account is left exactly as it is (its password too), so
        seeding demo accounts at every start is harmless, on any number of
        replicas at once."""
        return await self._insert(
            username, password, display_name=display_name, role=role,
            department_code=department_code,
        )

    async def _insert(
        self,
        username: str,
        password: str,
        *,
        display_name: str,
        role: StaffRole | str,
        department_code: str | None,
    ) -> tuple[StaffAccount, bool]:
        name = _valid_username(username)
        valid_password = _valid_password(password)
        shown = _valid_display_name(display_name)
        valid_role, code = _valid_role(role, department_code)
        password_hash = await self._hash(valid_password)
        t = _accounts
        insert = (
            self._db.insert(t)
            .values(
                username=name,
                display_name=shown,
                password_hash=password_hash,
                role=valid_role.value,
                department_code=code,
                active=True,
                created_at=self._now(),
            )
            .on_conflict_do_nothing(index_elements=[t.c.username])
        )

        def unit(conn: Connection) -> tuple[StaffAccount, bool]:
            created = conn.execute(insert).rowcount == 1
            row = conn.execute(select(t).where(t.c.username == name)).one()
            return _account(row), created

        return await self._db.run("staff add", unit)

    async def authenticate(self, username: str, password: str) -> StaffAccount | None:
        """The account when the password is right and the account active, else None.

        Records the sign-in time, and stores a fresh hash when the stored
        one was made with older parameters."""
        name = normalize_username(username)
        row = None
        if _USERNAME.fullmatch(name) and len(password) <= MAX_PASSWORD_LENGTH:
            row = await self._row_by_username(name)
        if row is None:
            await self._verify(password[:MAX_PASSWORD_LENGTH], await self._decoy())
            return None
        if not await self._verify(password, row.password_hash) or not row.active:
            return None
        rehashed = None
        if self._hasher.needs_rehash(row.password_hash):
            rehashed = await self._hash(password)
        return await self._signed_in(int(row.id), rehashed)

    async def _decoy(self) -> str:
        if self._decoy_hash is None:
            self._decoy_hash = await self._hash("minhu decoy password")
        return self._decoy_hash

    async def _signed_in(self, account_id: int, rehashed: str | None) -> StaffAccount:
        t = _accounts
        values: dict[str, Any] = {"last_login_at": self._now()}
        if rehashed is not None:
            values["password_hash"] = rehashed

        def unit(conn: Connection) -> StaffAccount:
            conn.execute(update(t).where(t.c.id == account_id).values(**values))
            return _account(conn.execute(select(t).where(t.c.id == account_id)).one())

        return await self._db.run("staff sign-in", unit)

    async def _row_by_username(self, name: str) -> Any:
        t = _accounts

        def unit(conn: Connection) -> Any:
            return conn.execute(select(t).where(t.c.username == name)).one_or_none()

        return await self._db.run("staff lookup", unit, write=False)

    async def get(self, account_id: int) -> StaffAccount | None:
        t = _accounts

        def unit(conn: Connection) -> StaffAccount | None:
            row = conn.execute(select(t).where(t.c.id == account_id)).one_or_none()
            return _account(row) if row is not None else None

        return await self._db.run("staff get", unit, write=False)

    async def get_by_username(self, username: str) -> StaffAccount | None:
        row = await self._row_by_username(normalize_username(username))
        return _account(row) if row is not None else None

    async def list(self) -> list[StaffAccount]:
        """Every account, active or not, by username."""
        t = _accounts

        def unit(conn: Connection) -> list[StaffAccount]:
            rows = conn.execute(select(t).order_by(t.c.username)).all()
            return [_account(row) for row in rows]

        return await self._db.run("staff list", unit, write=False)

    async def set_password(self, username: str, password: str) -> StaffAccount:
        """Replace the password; every session of the account signed in before ends."""
        password_hash = await self._hash(_valid_password(password))
        return await self._update(username, "staff set password", password_hash=password_hash)

    async def deactivate(self, username: str) -> StaffAccount:
        """The account can no longer sign in; its open sessions stop working."""
        return await self._update(username, "staff deactivate", active=False)

    async def _update(self, username: str, what: str, **values: Any) -> StaffAccount:
        name = normalize_username(username)
        t = _accounts

        def unit(conn: Connection) -> StaffAccount | None:
            conn.execute(update(t).where(t.c.username == name).values(**values))
            row = conn.execute(select(t).where(t.c.username == name)).one_or_none()
            return _account(row) if row is not None else None

        account = await self._db.run(what, unit)
        if account is None:
            raise StaffAccountNotFound(f"没有用户名为 {name} 的账号")
        return account
