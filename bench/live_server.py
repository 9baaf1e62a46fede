"""A real ``minhu serve`` on loopback for benchmarks and screenshots.

It runs on a throwaway SQLite file with the WeChat simulator, demo staff
accounts and the keyword rules (no Rasa), so runs are repeatable.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

__all__ = ["DEMO_ACCOUNTS", "ROOT", "free_port", "live_minhu"]

ROOT = Path(__file__).resolve().parents[1]
DEMO_ACCOUNTS = (
    "dispatcher:minhu-demo-1:dispatcher::12345中心值班员;"
    "zhujian:minhu-demo-2:department:housing_construction:住建委值班员"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_minhu(database: Path, *, log: Path | None = None, **settings: str) -> Iterator[str]:
    """Start ``minhu serve``; yield its base URL; stop it afterwards.

    ``settings`` override ``MINHU_<NAME>`` variables (``{base}`` in a value is
    the server's own base URL, for endpoints the simulator plays); ``log``
    receives the server's stderr (otherwise it is discarded).
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "MINHU_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "MINHU_PUBLIC_BASE_URL": base,
        "MINHU_WECHAT_API_BASE": f"{base}/simulator/wechat-api",
        "MINHU_SIMULATOR_ENABLED": "true",
        "MINHU_STAFF_DEMO_ACCOUNTS": DEMO_ACCOUNTS,
        # Keyword rules make runs repeatable; nothing listens on this port.
        "MINHU_RASA_URL": f"http://127.0.0.1:{free_port()}",
        "MINHU_LOG_LEVEL": "ERROR",
        **{f"MINHU_{name.upper()}": value.replace("{base}", base)
           for name, value in settings.items()},
    }
    errors = log.open("ab") if log is not None else None
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "minhu"), "serve", "--host", "127.0.0.1",
         "--port", str(port)],
        env=env, cwd=ROOT, stderr=errors if errors is not None else subprocess.DEVNULL,
    )
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                raise RuntimeError(f"minhu serve exited with {server.returncode}")
            time.sleep(0.2)
        else:
            raise RuntimeError("minhu did not start within 30 s")
        yield base
    finally:
        server.terminate()
        server.wait(timeout=15)
        if errors is not None:
            errors.close()
