"""Staff accounts: hashing, sign-in checks, validation, idempotent seeding."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest
from sqlalchemy import Connection, Table, select

from integrations.staff.accounts import (
    StaffAccountNotFound,
    StaffAccounts,
    StaffInputError,
    StaffRole,
    UsernameTaken,
)
from integrations.staff.models import StaffAccountRow
from integrations.staff.passwords import PasswordHasher, ScryptHasher
from integrations.storage.repositories import Database

from .conftest import QUICK_HASHER, FakeClock

_table = cast(Table, StaffAccountRow.__table__)


async def stored_hash(db: Database, username: str) -> str:
    def unit(conn: Connection) -> str:
        query = select(_table.c.password_hash).where(_table.c.username == username)
        return str(conn.execute(query).scalar_one())

    return await db.run("read hash", unit)


async def test_a_new_account_signs_in_with_its_password_only(
    accounts: StaffAccounts, clock: FakeClock
) -> None:
    added = await accounts.add(
        "Wang.Li", "correct horse", display_name="王丽", role="department",
        department_code="D-CG",
    )
    assert added.username == "wang.li"  # usernames are case-insensitive
    assert added.role is StaffRole.DEPARTMENT and added.department_code == "D-CG"
    assert added.active and added.last_login_at is None
    assert added.label == "王丽（wang.li）"
    assert not added.sees_all

    assert await accounts.authenticate("wang.li", "wrong horse") is None
    assert await accounts.authenticate("nobody", "correct horse") is None
    clock.advance(minutes=5)
    signed_in = await accounts.authenticate("WANG.LI", "correct horse")
    assert signed_in is not None and signed_in.id == added.id
    assert signed_in.last_login_at == clock.now
    assert (await accounts.get(added.id)) == signed_in
    assert (await accounts.get_by_username("Wang.Li")) == signed_in


async def test_passwords_are_stored_salted_with_their_parameters(
    accounts: StaffAccounts, db: Database
) -> None:
    await accounts.add("alice", "same password", display_name="甲", role="dispatcher")
    await accounts.add("bob", "same password", display_name="乙", role="dispatcher")
    alice, bob = await stored_hash(db, "alice"), await stored_hash(db, "bob")
    assert "same password" not in alice
    assert alice.startswith("$argon2id$v=19$m=256,t=1,p=1$")
    assert bob.startswith("$argon2id$v=19$m=256,t=1,p=1$")
    assert alice != bob  # a random salt each


async def test_an_older_hash_still_verifies_and_is_upgraded_at_sign_in(
    db: Database, clock: FakeClock
) -> None:
    old = StaffAccounts(db, clock=clock, hasher=QUICK_HASHER)
    await old.add("carol", "long enough", display_name="丙", role="admin")
    stronger = StaffAccounts(
        db, clock=clock, hasher=PasswordHasher(time_cost=2, memory_cost=512, parallelism=1)
    )
    assert await stronger.authenticate("carol", "long enough") is not None
    assert (await stored_hash(db, "carol")).startswith("$argon2id$v=19$m=512,t=2,p=1$")
    assert await stronger.authenticate("carol", "long enough") is not None
    assert await stronger.authenticate("carol", "not the one") is None


async def test_a_scrypt_hash_from_before_signs_in_and_becomes_argon2id(
    accounts: StaffAccounts, db: Database
) -> None:
    await accounts.add("cole", "placeholder", display_name="丙二", role="agent")
    legacy = ScryptHasher(n=2**8).hash("scrypt era password")
    await accounts._update("cole", "plant a scrypt hash", password_hash=legacy)
    assert (await stored_hash(db, "cole")).startswith("scrypt$256$8$1$")

    assert await accounts.authenticate("cole", "wrong password") is None
    assert await stored_hash(db, "cole") == legacy  # a failed sign-in changes nothing
    signed_in = await accounts.authenticate("cole", "scrypt era password")
    assert signed_in is not None and signed_in.role is StaffRole.AGENT
    rehashed = await stored_hash(db, "cole")
    assert rehashed.startswith("$argon2id$") and rehashed != legacy
    assert await accounts.authenticate("cole", "scrypt era password") is not None


async def test_an_inactive_account_cannot_sign_in(accounts: StaffAccounts) -> None:
    await accounts.add("dave", "password1", display_name="丁", role="dispatcher")
    deactivated = await accounts.deactivate("dave")
    assert not deactivated.active
    assert await accounts.authenticate("dave", "password1") is None
    with pytest.raises(StaffAccountNotFound) as missing:
        await accounts.deactivate("nobody")
    assert missing.value.status_code == 404


async def test_unknown_usernames_cost_a_hash_too(
    accounts: StaffAccounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    await accounts.add("erin", "password1", display_name="戊", role="dispatcher")
    verified: list[str] = []
    real_verify = PasswordHasher.verify

    def counting(self: PasswordHasher, password: str, stored: str) -> bool:
        verified.append(password)
        return real_verify(self, password, stored)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    assert await accounts.authenticate("erin", "password2") is None
    assert await accounts.authenticate("nobody-here", "password2") is None
    assert await accounts.authenticate("no such user!", "password2") is None
    assert len(verified) == 3


async def test_changing_the_password_changes_the_session_stamp(accounts: StaffAccounts) -> None:
    before = await accounts.add("frank", "first password", display_name="己", role="admin")
    after = await accounts.set_password("frank", "second password")
    assert after.session_stamp != before.session_stamp
    assert await accounts.authenticate("frank", "first password") is None
    assert await accounts.authenticate("frank", "second password") is not None
    with pytest.raises(StaffInputError):
        await accounts.set_password("frank", "short")


@pytest.mark.parametrize(
    ("username", "password", "role", "department", "message"),
    [
        ("ab", "password1", "dispatcher", None, "用户名"),
        ("x" * 33, "password1", "dispatcher", None, "用户名"),
        ("王丽", "password1", "dispatcher", None, "用户名"),
        ("with space", "password1", "dispatcher", None, "用户名"),
        ("good.name", "seven77", "dispatcher", None, "至少需要 8 个字符"),
        ("good.name", "p" * 257, "dispatcher", None, "不能超过"),
        ("good.name", "password1", "boss", None, "角色"),
        ("good.name", "password1", "department", None, "必须指定部门"),
        ("good.name", "password1", "dispatcher", "D-CG", "只有承办部门"),
    ],
)
async def test_bad_account_details_are_refused_with_a_reason(
    accounts: StaffAccounts,
    username: str,
    password: str,
    role: str,
    department: str | None,
    message: str,
) -> None:
    with pytest.raises(StaffInputError) as refused:
        await accounts.add(
            username, password, display_name="某人", role=role, department_code=department
        )
    assert message in str(refused.value)
    assert refused.value.status_code == 400
    assert await accounts.list() == []


async def test_a_blank_display_name_is_refused(accounts: StaffAccounts) -> None:
    with pytest.raises(StaffInputError, match="姓名"):
        await accounts.add("ghost", "password1", display_name="   ", role="admin")


async def test_usernames_are_unique(accounts: StaffAccounts) -> None:
    await accounts.add("henry", "password1", display_name="庚", role="dispatcher")
    with pytest.raises(UsernameTaken) as taken:
        await accounts.add("HENRY", "password2", display_name="另一个", role="admin")
    assert taken.value.status_code == 409
    assert [a.display_name for a in await accounts.list()] == ["庚"]


async def test_ensure_creates_once_and_leaves_an_existing_account_alone(
    accounts: StaffAccounts,
) -> None:
    first, created = await accounts.ensure(
        "demo", "demo-password", display_name="演示", role="dispatcher"
    )
    again, created_again = await accounts.ensure(
        "demo", "other-password", display_name="改名", role="admin"
    )
    assert created and not created_again
    assert again == first and again.display_name == "演示" and again.role is StaffRole.DISPATCHER
    assert await accounts.authenticate("demo", "demo-password") is not None
    assert await accounts.authenticate("demo", "other-password") is None


async def test_concurrent_ensures_make_one_account(accounts: StaffAccounts) -> None:
    results = await asyncio.gather(
        *(
            accounts.ensure("seeded", "password1", display_name="种子", role="dispatcher")
            for _ in range(4)
        )
    )
    assert sum(created for _, created in results) == 1
    assert len({account.id for account, _ in results}) == 1
    assert len(await accounts.list()) == 1


async def test_list_is_by_username(accounts: StaffAccounts) -> None:
    for name in ("zoe", "adam", "mia"):
        await accounts.add(name, "password1", display_name=name.upper(), role="admin")
    assert [a.username for a in await accounts.list()] == ["adam", "mia", "zoe"]


def test_a_malformed_or_foreign_hash_never_verifies() -> None:
    hasher = QUICK_HASHER
    good = hasher.hash("password1")
    assert hasher.verify("password1", good)
    assert not hasher.verify("password2", good)
    assert not hasher.verify("password1", "")
    assert not hasher.verify("password1", "bcrypt$x$y")
    assert not hasher.verify("password1", "$argon2id$v=19$m=abc")
    assert not hasher.verify("password1", good[:-4] + "AAAA")
    assert not hasher.needs_rehash(good)
    assert PasswordHasher(time_cost=2, memory_cost=256, parallelism=1).needs_rehash(good)
    assert hasher.needs_rehash("bcrypt$x$y")
    with pytest.raises(ValueError):
        PasswordHasher(memory_cost=4, parallelism=1)


def test_scrypt_hashes_from_before_still_verify() -> None:
    legacy = ScryptHasher(n=2**8)
    old = legacy.hash("password1")
    assert QUICK_HASHER.verify("password1", old)
    assert not QUICK_HASHER.verify("password2", old)
    assert not QUICK_HASHER.verify("password1", old.replace("scrypt$256", "scrypt$abc"))
    assert QUICK_HASHER.needs_rehash(old)  # replaced by argon2id at the next sign-in
    assert not legacy.needs_rehash(old)
    with pytest.raises(ValueError):
        ScryptHasher(n=1000)
