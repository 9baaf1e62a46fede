"""What the ``minhu staff`` commands do, and demo account seeding."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from integrations.staff.accounts import StaffAccounts, StaffInputError, StaffRole
from integrations.staff.admin import (
    DemoAccount,
    add_staff_command,
    deactivate_staff_command,
    list_staff_command,
    open_staff_accounts,
    parse_demo_accounts,
    read_password,
    seed_demo_accounts,
    set_password_command,
)

from .conftest import FakeClock, database

DEPARTMENTS = {"D-CG": "区城管委", "D-ZJ": "区住建委"}


async def test_add_then_list(accounts: StaffAccounts, clock: FakeClock) -> None:
    assert "还没有工作人员账号" in await list_staff_command(accounts)
    said = await add_staff_command(
        accounts, username="cg01", password="password1", display_name="李四",
        role="department", department_code="D-CG", departments=DEPARTMENTS,
    )
    assert said == "已创建账号 cg01（李四，承办部门，区城管委）"
    await add_staff_command(
        accounts, username="disp", password="password1", display_name="张三", role="dispatcher"
    )
    await accounts.authenticate("disp", "password1")  # at 09:30 Beijing time
    listing = (await list_staff_command(accounts, departments=DEPARTMENTS)).splitlines()
    assert listing[0].split("\t") == ["用户名", "姓名", "角色", "部门", "状态", "最近登录"]
    assert listing[1].split("\t") == [
        "cg01", "李四", "承办部门", "D-CG 区城管委", "启用", "从未登录"
    ]
    assert listing[2].split("\t") == ["disp", "张三", "调度员", "-", "启用", "2026-03-02 09:30"]


async def test_an_unknown_department_is_refused_with_the_known_ones(
    accounts: StaffAccounts,
) -> None:
    with pytest.raises(StaffInputError) as refused:
        await add_staff_command(
            accounts, username="x01", password="password1", display_name="某",
            role="department", department_code="D-XX", departments=DEPARTMENTS,
        )
    assert "D-XX" in str(refused.value) and "D-CG（区城管委）" in str(refused.value)
    assert await accounts.list() == []


async def test_password_change_and_deactivation(accounts: StaffAccounts) -> None:
    await accounts.add("ops", "password1", display_name="运维", role="admin")
    said = await set_password_command(accounts, username="ops", password="password2")
    assert "已更新 ops 的密码" in said
    assert await accounts.authenticate("ops", "password2") is not None
    assert await deactivate_staff_command(accounts, username="ops") == "已停用账号 ops"
    assert "停用" in await list_staff_command(accounts)


def test_the_password_comes_from_the_first_line_of_stdin() -> None:
    assert read_password(io.StringIO("s3cret pass\nignored\n")) == "s3cret pass"
    assert read_password(io.StringIO("crlf-pass\r\n")) == "crlf-pass"


def test_demo_accounts_parse() -> None:
    parsed = parse_demo_accounts(
        "disp:demo-pass-1:dispatcher; cg:demo-pass-2:department:D-CG:城管值班员\n"
        "root:demo-pass-3:admin"
    )
    assert parsed == [
        DemoAccount("disp", "demo-pass-1", StaffRole.DISPATCHER),
        DemoAccount("cg", "demo-pass-2", StaffRole.DEPARTMENT, "D-CG", "城管值班员"),
        DemoAccount("root", "demo-pass-3", StaffRole.ADMIN),
    ]
    assert parsed[0].shown_name == "演示调度员 disp"
    assert parse_demo_accounts("") == []
    with pytest.raises(ValueError, match="unknown role"):
        parse_demo_accounts("x:password1:boss")
    with pytest.raises(ValueError, match="expected"):
        parse_demo_accounts("x:password1")


async def test_seeding_twice_keeps_one_of_each(accounts: StaffAccounts) -> None:
    demo = parse_demo_accounts("disp:demo-pass-1:dispatcher;cg01:demo-pass-2:department:D-CG")
    first = await seed_demo_accounts(accounts, demo)
    await accounts.set_password("disp", "changed-by-hand")
    again = await seed_demo_accounts(accounts, demo)
    assert [a.id for a in again] == [a.id for a in first]
    assert len(await accounts.list()) == 2
    assert await accounts.authenticate("disp", "changed-by-hand") is not None


async def test_open_staff_accounts_migrates_and_closes(tmp_path: Path) -> None:
    async with database(tmp_path) as (url, search_path):
        async with open_staff_accounts(url, search_path=search_path) as accounts:
            await accounts.add("first", "password1", display_name="第一", role="admin")
        async with open_staff_accounts(url, search_path=search_path) as accounts:
            assert [a.username for a in await accounts.list()] == ["first"]


async def test_open_staff_accounts_needs_sql() -> None:
    with pytest.raises(StaffInputError, match="SQL"):
        async with open_staff_accounts("memory://"):
            pass
