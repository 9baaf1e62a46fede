from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.logs import JsonFormatter, PersonalDataFilter, mask
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_documented_in_env_example() -> None:
    documented = set(re.findall(r"^(MINHU_[A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    fields = {f"MINHU_{name.upper()}" for name in Settings.model_fields}
    assert fields == documented


def test_env_example_defaults_load_as_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.startswith("MINHU_"):
            name, _, value = line.partition("=")
            monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.wechat_aes_key is None


def test_bad_aes_key_is_refused_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINHU_WECHAT_AES_KEY", "too-short")
    with pytest.raises(ValidationError, match="43 characters"):
        Settings(_env_file=None)


@pytest.mark.parametrize(
    ("raw", "hidden", "kept"),
    [
        ("请联系13812345678处理", "13812345678", "138****5678"),
        ("座机010-62345678", "62345678", "010-****5678"),
        ("key wechat:gh_abc:oUpF8uMuAJO_M2pxb1Q9zNjWeS6o done", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
         "wechat:gh_abc:oU***6o"),
    ],
)
def test_personal_data_is_masked(raw: str, hidden: str, kept: str) -> None:
    masked = mask(raw)
    assert hidden not in masked
    assert kept in masked


def test_log_records_are_masked_in_message_args_and_extras() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "电话 %s", ("13912345678",), None)
    record.openid = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    record.conversation = "telegram:bot:123456789"
    PersonalDataFilter().filter(record)
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert "13912345678" not in line and "139****5678" in entry["msg"]
    assert entry["openid"] == "oU***6o"
    assert entry["conversation"] == "telegram:bot:12***89"
