"""``minhu telegram set-webhook`` and ``minhu telegram poll``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.wiring import cli
from integrations.telegram.fake_bot_api import FakeBotAPI
from tests.telegram.support import SECRET, TOKEN

Fake = tuple[FakeBotAPI, str]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake_bot_api: Fake) -> FakeBotAPI:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("MINHU_TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("MINHU_TELEGRAM_SECRET", SECRET)
    monkeypatch.setenv("MINHU_TELEGRAM_API_BASE", fake_bot_api[1])
    monkeypatch.setenv("MINHU_PUBLIC_BASE_URL", "https://minhu.example.org/")
    monkeypatch.setenv("MINHU_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    return fake_bot_api[0]


def test_set_webhook_points_telegram_at_our_route_with_the_secret(
    env: FakeBotAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["telegram", "set-webhook"]) == 0
    assert env.webhook["url"] == "https://minhu.example.org/telegram"
    assert env.webhook["secret_token"] == SECRET
    assert env.webhook["allowed_updates"] == ["message", "callback_query"]
    assert [c["command"] for c in env.commands] == ["start", "status", "help", "cancel", "rider"]
    out = capsys.readouterr()
    assert "@minhu_test_bot" in out.out and TOKEN not in out.out + out.err


def test_set_webhook_warns_about_urls_telegram_will_not_call(
    env: FakeBotAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["telegram", "set-webhook", "--url", "http://127.0.0.1:8000/telegram"]) == 0
    assert "https://" in capsys.readouterr().err


def test_set_webhook_needs_the_secret_and_reports_refusals(
    env: FakeBotAPI, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.fail("setWebhook", 400, "Bad Request: bad webhook: HTTPS url must be provided")
    assert cli.main(["telegram", "set-webhook"]) == 1
    assert "https url must be provided" in capsys.readouterr().err.lower()
    monkeypatch.setenv("MINHU_TELEGRAM_SECRET", "")
    assert cli.main(["telegram", "set-webhook"]) == 1
    assert "MINHU_TELEGRAM_SECRET" in capsys.readouterr().err


def test_poll_serves_the_app_with_polling_on(
    env: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    served: dict[str, Any] = {}

    def fake_run(app: Any, **kwargs: Any) -> None:
        served.update(app=app, **kwargs)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    monkeypatch.setattr("bot.wiring.app.configure_logging", lambda *args: None)
    assert cli.main(["telegram", "poll", "--port", "8123"]) == 0
    container = served["app"].state.container
    try:
        assert container.telegram_polling and container.telegram is not None
        assert served["port"] == 8123
    finally:
        asyncio.run(container.stop())


def test_poll_needs_a_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MINHU_TELEGRAM_TOKEN", raising=False)
    assert cli.main(["telegram", "poll"]) == 1
    assert "MINHU_TELEGRAM_TOKEN" in capsys.readouterr().err
