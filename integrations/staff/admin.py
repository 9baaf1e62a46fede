"""What the ``minhu staff ...`` commands do, as functions the CLI calls.

Each command returns the text to print (in Chinese) and raises
``StaffInputError`` (a ``BadRequest``) with a message fit to print when the
input is refused::

    async with open_staff_accounts(settings.database_url) as accounts:
        print(await add_staff_command(accounts, username=..., password=read_password(sys.stdin),
                                      display_name=..., role=..., department_code=...))

Demo accounts for ``make run`` come from one setting, parsed by
:func:`parse_demo_accounts` and created (once) by :func:`seed_demo_accounts`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TextIO

from integrations.staff.accounts import (
    ROLE_LABELS,
    StaffAccount,
    StaffAccounts,
    StaffInputError,
    StaffRole,
)
from integrations.staff.templating import local_time
from integrations.storage import build_storage

__all__ = [
    "DemoAccount",
    "add_staff_command",
    "deactivate_staff_command",
    "list_staff_command",
    "open_staff_accounts",
    "parse_demo_accounts",
    "read_password",
    "seed_demo_accounts",
    "set_password_command",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DemoAccount:
    username: str
    password: str
    role: StaffRole
    department_code: str | None = None
    display_name: str | None = None

    @property
    def shown_name(self) -> str:
        return self.display_name or f"演示{ROLE_LABELS[self.role]} {self.username}"


def parse_demo_accounts(value: str) -> list[DemoAccount]:
    """Parse ``username:password:role[:department_code[:display name]]`` entries
    separated by ``;`` or new lines (passwords cannot contain ``:`` here).

    Raises ``ValueError`` naming the bad entry."""
    entries = [part.strip() for line in value.splitlines() for part in line.split(";")]
    accounts: list[DemoAccount] = []
    for entry in entries:
        if not entry:
            continue
        fields = [field.strip() for field in entry.split(":", 4)]
        if len(fields) < 3:
            raise ValueError(
                f"demo account {fields[0]!r}: expected username:password:role[:department[:name]]"
            )
        username, password, role = fields[:3]
        try:
            valid_role = StaffRole(role)
        except ValueError:
            raise ValueError(f"demo account {username!r}: unknown role {role!r}") from None
        department = fields[3] if len(fields) > 3 and fields[3] else None
        name = fields[4] if len(fields) > 4 and fields[4] else None
        accounts.append(DemoAccount(username, password, valid_role, department, name))
    return accounts


async def seed_demo_accounts(
    accounts: StaffAccounts, demo: Sequence[DemoAccount]
) -> list[StaffAccount]:
    """Create the demo accounts that do not exist yet; existing ones are left alone."""
    seeded: list[StaffAccount] = []
    for item in demo:
        account, created = await accounts.ensure(
            item.username, item.password, display_name=item.shown_name, role=item.role,
            department_code=item.department_code,
        )
        if created:
            log.info("demo staff account created", extra={"staff_id": account.id})
        seeded.append(account)
    return seeded


def read_password(stream: TextIO) -> str:
    """The password given on standard input: its first line, without the line break."""
    return stream.readline().rstrip("\r\n")


def _check_department(code: str | None, departments: Mapping[str, str] | None) -> None:
    if code and departments is not None and code not in departments:
        known = "、".join(f"{c}（{name}）" for c, name in sorted(departments.items()))
        raise StaffInputError(f"未知的部门编码 {code}。可用的部门：{known}")


def _describe(account: StaffAccount, departments: Mapping[str, str] | None) -> str:
    role = ROLE_LABELS[account.role]
    if account.department_code:
        name = (departments or {}).get(account.department_code)
        role += f"，{name or account.department_code}"
    return f"{account.username}（{account.display_name}，{role}）"


async def add_staff_command(
    accounts: StaffAccounts,
    *,
    username: str,
    password: str,
    display_name: str,
    role: str,
    department_code: str | None = None,
    departments: Mapping[str, str] | None = None,
) -> str:
    """``minhu staff add USERNAME --name N --role R [--department D] --password-stdin``.

    ``departments`` (code → name), when given, is the list a department
    code must come from."""
    _check_department(department_code, departments)
    account = await accounts.add(
        username, password, display_name=display_name, role=role,
        department_code=department_code,
    )
    return f"已创建账号 {_describe(account, departments)}"


async def set_password_command(accounts: StaffAccounts, *, username: str, password: str) -> str:
    """``minhu staff passwd USERNAME --password-stdin``: also ends the account's sessions."""
    account = await accounts.set_password(username, password)
    return f"已更新 {account.username} 的密码，其已登录的会话需要重新登录"


async def deactivate_staff_command(accounts: StaffAccounts, *, username: str) -> str:
    """``minhu staff deactivate USERNAME``."""
    account = await accounts.deactivate(username)
    return f"已停用账号 {account.username}"


async def list_staff_command(
    accounts: StaffAccounts, *, departments: Mapping[str, str] | None = None
) -> str:
    """``minhu staff list``: one line per account, aligned with tabs."""
    rows = await accounts.list()
    if not rows:
        return "还没有工作人员账号。用 minhu staff add 创建。"
    lines = ["用户名\t姓名\t角色\t部门\t状态\t最近登录"]
    for account in rows:
        department = ""
        if account.department_code:
            name = (departments or {}).get(account.department_code)
            department = f"{account.department_code} {name}" if name else account.department_code
        lines.append(
            "\t".join(
                (
                    account.username,
                    account.display_name,
                    ROLE_LABELS[account.role],
                    department or "-",
                    "启用" if account.active else "停用",
                    local_time(account.last_login_at) or "从未登录",
                )
            )
        )
    return "\n".join(lines)


@asynccontextmanager
async def open_staff_accounts(
    database_url: str, *, search_path: str | None = None
) -> AsyncIterator[StaffAccounts]:
    """The staff accounts in the database at ``database_url``, migrated to the
    latest schema first; closed on exit. For one-off commands."""
    storage = build_storage(database_url, search_path=search_path)
    try:
        if storage.database is None:
            raise StaffInputError("工作人员账号需要 SQL 数据库（SQLite 或 PostgreSQL）")
        await storage.migrate()
        yield StaffAccounts(storage.database)
    finally:
        await storage.close()
