"""The real thing on loopback: `minhu serve` in a subprocess, driven over HTTP.

This is what `make run` starts; the test proves a newcomer can chat with
the bot through /simulator and that `minhu wechat menu` reaches the
(simulated) WeChat API.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import use_postgres

pytestmark = pytest.mark.skipif(use_postgres(), reason="runs once, on the embedded default")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "MINHU_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'live.db'}",
        "MINHU_SIMULATOR_ENABLED": "true",
        "MINHU_PUBLIC_BASE_URL": base,
        "MINHU_WECHAT_API_BASE": f"{base}/simulator/wechat-api",
        "MINHU_LOG_LEVEL": "WARNING",
    }
    minhu = Path(sys.executable).with_name("minhu")
    process = subprocess.Popen(
        [str(minhu), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                stderr = process.stderr.read().decode() if process.stderr else ""
                raise AssertionError(f"minhu serve did not become ready:\n{stderr[-2000:]}")
            time.sleep(0.2)
        yield base, env
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        if process.stderr is not None:
            process.stderr.close()


def test_a_newcomer_chats_through_the_simulator_on_a_real_server(
    live_server: tuple[str, dict[str, str]],
) -> None:
    base, env = live_server
    page = httpx.get(f"{base}/simulator", timeout=5)
    assert page.status_code == 200 and "模拟器" in page.text
    sent = httpx.post(
        f"{base}/simulator/api/text",
        json={"user": "zhang", "text": "小区门口的路灯坏了一个星期"},
        timeout=10,
    ).json()
    assert sent["ok"] and "求助" in sent["reply"]["text"]
    assert sent["http_status"] == 200 and sent["attempts"] == 1

    menu = subprocess.run(
        [str(Path(sys.executable).with_name("minhu")), "wechat", "menu"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert menu.returncode == 0, menu.stderr
    assert "我要反映 / 我的诉求 / 转人工" in menu.stdout
    state = httpx.get(f"{base}/simulator/api/state", timeout=5).json()
    assert "我要反映" in str(state.get("menu"))
