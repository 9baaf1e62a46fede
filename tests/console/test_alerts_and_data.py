"""Staff alerts to a Telegram group (against the fake Bot API), the quick-reply file,
and the console roles in the staff commands."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.types import Channel, ConversationKey
from integrations.console.quick_replies import MAX_QUICK_REPLY_TEXT, load_quick_replies
from integrations.staff.accounts import ROLE_LABELS, StaffAccounts, StaffRole
from integrations.staff.admin import add_staff_command, parse_demo_accounts
from integrations.telegram import TelegramAPI
from integrations.telegram.alerts import TelegramStaffAlerts, alert_text
from integrations.telegram.fake_bot_api import FakeBotAPI, FakeBotAPIServer
from tests.telegram.support import TOKEN

GROUP = "-1001234567890"
KEY = ConversationKey(Channel.WECHAT, "gh_minhu", "oResidentOpenId000000000042")


class RecordingAlerts:
    def __init__(self, *, fail: bool = False) -> None:
        self.alerts: list[dict[str, object]] = []
        self.fail = fail

    async def alert(
        self, *, kind: str, key: ConversationKey, text: str, ticket_id: str | None = None
    ) -> None:
        self.alerts.append({"kind": kind, "key": key, "text": text, "ticket_id": ticket_id})
        if self.fail:
            raise RuntimeError("the log is broken")


@pytest.fixture
def fake_bot_api() -> Iterator[tuple[FakeBotAPI, str]]:
    fake = FakeBotAPI(token=TOKEN)
    with FakeBotAPIServer(fake) as base_url:
        yield fake, base_url


@pytest.fixture
async def api(fake_bot_api: tuple[FakeBotAPI, str]) -> AsyncIterator[TelegramAPI]:
    telegram = TelegramAPI(TOKEN, api_base=fake_bot_api[1])
    try:
        yield telegram
    finally:
        await telegram.close()


async def test_a_new_escalation_is_posted_to_the_staff_group(
    api: TelegramAPI, fake_bot_api: tuple[FakeBotAPI, str]
) -> None:
    fake, _ = fake_bot_api
    inner = RecordingAlerts()
    alerts = TelegramStaffAlerts(
        api, chat_id=GROUP, inner=inner, console_url="https://minhu.example.org/console"
    )
    await alerts.alert(
        kind="escalation", key=KEY, text="居民要求转人工：<b>电梯</b>困人，电话13812345678"
    )
    [call] = fake.sent(GROUP)
    assert call.text.splitlines()[0] == "【民呼】新的转人工会话"
    assert "<b>电梯</b>困人" in call.text  # plain text: no parse mode, nothing is markup
    assert "parse_mode" not in call.params
    assert "13812345678" not in call.text and "138****5678" in call.text
    assert KEY.user not in call.text and "微信公众号" in call.text
    assert "https://minhu.example.org/console" in call.text
    assert [a["kind"] for a in inner.alerts] == ["escalation"]  # the usual alert too


async def test_a_telegram_failure_never_reaches_the_caller(
    api: TelegramAPI, fake_bot_api: tuple[FakeBotAPI, str]
) -> None:
    fake, _ = fake_bot_api
    fake.fail("sendMessage", 403, "Forbidden: bot was kicked from the group chat")
    inner = RecordingAlerts(fail=True)
    alerts = TelegramStaffAlerts(api, chat_id=GROUP, inner=inner)
    await alerts.alert(kind="emergency", key=KEY, text="着火了", ticket_id="MH202603020001")
    assert inner.alerts and fake.sent(GROUP) == []
    await alerts.alert(kind="bad_rating", key=KEY, text="第二次差评", ticket_id="MH202603020001")
    [call] = fake.sent(GROUP)
    assert "群众差评" in call.text and "工单：MH202603020001" in call.text


async def test_kinds_limit_what_goes_to_the_group(
    api: TelegramAPI, fake_bot_api: tuple[FakeBotAPI, str]
) -> None:
    fake, _ = fake_bot_api
    alerts = TelegramStaffAlerts(api, chat_id=GROUP, inner=RecordingAlerts(),
                                 kinds={"escalation"})
    await alerts.alert(kind="rejected", key=KEY, text="提交被拒")
    await alerts.alert(kind="escalation", key=KEY, text="要人工")
    assert [c.text.splitlines()[0] for c in fake.sent(GROUP)] == ["【民呼】新的转人工会话"]


def test_alert_text_is_bounded_and_names_unknown_kinds() -> None:
    text = alert_text(kind="something", key=KEY, text="很长" * 1000, ticket_id=None,
                      console_url=None)
    assert text.startswith("【民呼】提醒（something）")
    assert len(text) < 800 and text.endswith("…")


def test_the_shipped_quick_replies() -> None:
    replies = load_quick_replies()
    assert len(replies) == 10
    assert all(r.title and r.text and len(r.text) <= MAX_QUICK_REPLY_TEXT for r in replies)
    assert len({r.title for r in replies}) == 10


def test_a_bad_quick_reply_file_is_refused_with_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "replies.yml"
    path.write_text("replies:\n  - title: 问候\n    text: 您好\n  - title: 空\n", "utf-8")
    with pytest.raises(ValueError, match="entry 2"):
        load_quick_replies(path)
    path.write_text("- just a list\n", "utf-8")
    with pytest.raises(ValueError, match="replies"):
        load_quick_replies(path)
    path.write_text("replies:\n  - title: 自定义\n    text: 您好，这里是社区。\n", "utf-8")
    assert [r.title for r in load_quick_replies(path)] == ["自定义"]


async def test_staff_add_accepts_the_console_roles(tmp_path: Path) -> None:
    from integrations.storage import build_storage
    from tests.staff.conftest import QUICK_HASHER

    storage = build_storage(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    await storage.migrate()
    try:
        assert storage.database is not None
        accounts = StaffAccounts(storage.database, hasher=QUICK_HASHER)
        said = await add_staff_command(
            accounts, username="agent9", password="password-9", display_name="坐席九号",
            role="agent",
        )
        assert said == "已创建账号 agent9（坐席九号，坐席）"
        said = await add_staff_command(
            accounts, username="lead9", password="password-9", display_name="值班长九号",
            role="supervisor",
        )
        assert "值班长" in said
        agent = await accounts.get_by_username("agent9")
        lead = await accounts.get_by_username("lead9")
        assert agent is not None and lead is not None
        assert agent.uses_console and not agent.supervises and not agent.sees_all
        assert lead.uses_console and lead.supervises
    finally:
        await storage.close()
    assert ROLE_LABELS[StaffRole.AGENT] == "坐席" and ROLE_LABELS[StaffRole.SUPERVISOR] == "值班长"
    demo = parse_demo_accounts(
        "agent1:minhu-demo-3:agent::坐席小王;lead1:minhu-demo-4:supervisor::值班长"
    )
    assert [(d.username, d.role, d.department_code, d.shown_name) for d in demo] == [
        ("agent1", StaffRole.AGENT, None, "坐席小王"),
        ("lead1", StaffRole.SUPERVISOR, None, "值班长"),
    ]


def test_the_cli_offers_the_console_roles() -> None:
    from bot.wiring.cli import build_parser

    args = build_parser().parse_args(
        ["staff", "add", "agent9", "--role", "agent", "--password-stdin"]
    )
    assert args.role == "agent"
    args = build_parser().parse_args(
        ["staff", "add", "lead9", "--role", "supervisor", "--password-stdin"]
    )
    assert args.role == "supervisor"
