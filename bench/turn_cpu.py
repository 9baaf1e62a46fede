"""CPU per webhook message inside minhu's app, without HTTP or a load generator.

    .venv/bin/python -m bench.turn_cpu [--mode plaintext|safe] [--messages 4000]
                                       [--concurrency 32] [--rounds 3]

Builds the app as ``minhu serve`` does (SQLite in a temporary directory, keyword
NLU, the built-in work-order service), then calls its ASGI interface directly
with the same signed messages as ``bench.webhook``: ``concurrency`` requests in
flight, a bounded number of messages, a warm-up first. It reports the process's
CPU time (every thread) per message and the messages per CPU-second.

wrk's figures move with whatever else the machine is doing (and with how
uvicorn's workers happen to split wrk's connections); this one moves much
less, so it is the one to compare two versions of the code with. It leaves
out uvicorn's HTTP handling, which is the same for both.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import webhook as bw


async def _post(app: Any, path_and_query: str, body: bytes) -> tuple[int, bytes]:
    path, _, query = path_and_query.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": query.encode(), "client": ("127.0.0.1", 40000), "server": None,
        "headers": [(b"content-type", b"text/xml"),
                    (b"content-length", str(len(body)).encode())],
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    status = 0
    chunks: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def _measure(args: argparse.Namespace, workdir: Path) -> list[float]:
    from bot.settings import Settings
    from bot.wiring.app import create_app

    for key, value in bw.minhu_env(args.mode, workdir / "minhu.db").items():
        if key.startswith("MINHU_"):
            os.environ[key] = value
    warm = 500
    total = warm + args.messages * args.rounds
    requests_file = workdir / "requests.txt"
    bw.write_requests(requests_file, count=total, block=0, mode=args.mode,
                      users=bw.openids(args.users, seed=1), seed=1)
    requests = [line.rstrip("\n").split("\t", 1) for line in requests_file.open()]
    app = create_app(Settings(), long_running=True)
    container = app.state.container
    await container.start()
    gate = asyncio.Semaphore(args.concurrency)

    async def one(path: str, body: str) -> None:
        async with gate:
            status, answer = await _post(app, path, body.encode())
            if status != 200 or not answer.startswith(b"<xml>"):
                raise RuntimeError(f"unexpected answer {status}: {answer[:200]!r}")

    per_message: list[float] = []
    try:
        await asyncio.gather(*(one(p, b) for p, b in requests[:warm]))
        for r in range(args.rounds):
            batch = requests[warm + r * args.messages: warm + (r + 1) * args.messages]
            c0, w0 = time.process_time(), time.perf_counter()
            await asyncio.gather(*(one(p, b) for p, b in batch))
            cpu, wall = time.process_time() - c0, time.perf_counter() - w0
            per_message.append(cpu / len(batch))
            print(f"  round {r + 1}: {cpu / len(batch) * 1000:.3f} CPU ms/msg, "
                  f"{len(batch) / wall:,.0f} msgs/s in-process", file=sys.stderr)
    finally:
        await container.ingest.drain()
        await container.stop()
    return per_message


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.turn_cpu", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("plaintext", "safe"), default="plaintext")
    p.add_argument("--messages", type=int, default=4000, help="per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--users", type=int, default=2000)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="minhu-turn-cpu-") as tmp:
        per_message = asyncio.run(_measure(args, Path(tmp)))
    best, median = min(per_message), statistics.median(per_message)
    print(f"{args.mode}, concurrency {args.concurrency}: median {median * 1000:.3f} CPU ms/msg "
          f"(best {best * 1000:.3f}), {1 / median:,.0f} msgs per CPU-second")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
