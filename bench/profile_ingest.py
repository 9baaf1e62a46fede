"""Where one webhook message's time goes, in-process, without HTTP.

    .venv/bin/python -m bench.profile_ingest [--mode plaintext|safe] [--messages 2000]
                                             [--concurrency 1] [--cprofile OUT.prof]

Builds minhu's app exactly as ``minhu serve`` does (SQLite in a temporary
directory), starts its container, and drives the ASGI app directly with the
same signed messages as ``bench.webhook`` (a bounded loop, warm-up first).
Each step of the hot path is wrapped with a timer that records wall time and
the main thread's CPU time (``time.thread_time``); at concurrency 1 what the
steps do not cover is the framework (Starlette/FastAPI routing, middleware,
request/response objects) and the harness's client. SQL runs in the storage's
own thread(s); their CPU is shown on a separate line. Wall times include
waiting for that thread.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import webhook as bw

STEPS: dict[str, list[tuple[float, float]]] = defaultdict(list)
ORDER: list[str] = []


def _timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    ORDER.append(name)
    if asyncio.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def awrapper(*args: Any, **kwargs: Any) -> Any:
            w0, c0 = time.perf_counter(), time.thread_time()
            try:
                return await fn(*args, **kwargs)
            finally:
                STEPS[name].append((time.perf_counter() - w0, time.thread_time() - c0))

        return awrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        w0, c0 = time.perf_counter(), time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            STEPS[name].append((time.perf_counter() - w0, time.thread_time() - c0))

    return wrapper


def _patch() -> None:
    from bot.dispatcher import Dispatcher
    from integrations.storage.repositories import SqlConversationStore, SqlInboundJournal
    from integrations.wechat import crypto, webhook
    from nlu.keywords import KeywordUnderstanding

    webhook.verify = _timed("signature check (query)", webhook.verify)  # type: ignore[attr-defined]
    webhook.parse_xml = _timed("XML parse (expat)", webhook.parse_xml)  # type: ignore[attr-defined]
    crypto.WeChatCrypto.decrypt_message = _timed(  # type: ignore[method-assign]
        "safe: decrypt_message (outer XML + msg_signature + AES)",
        crypto.WeChatCrypto.decrypt_message,
    )
    webhook.to_inbound = _timed("to_inbound", webhook.to_inbound)  # type: ignore[attr-defined]
    SqlInboundJournal.accept = _timed(  # type: ignore[method-assign]
        "journal.accept (INSERT + COMMIT, awaited)", SqlInboundJournal.accept
    )
    SqlConversationStore.load = _timed(  # type: ignore[method-assign]
        "dispatcher: state load (SELECT, awaited)", SqlConversationStore.load
    )
    KeywordUnderstanding.parse = _timed(  # type: ignore[method-assign]
        "dispatcher: keyword NLU", KeywordUnderstanding.parse
    )
    Dispatcher.process = _timed(  # type: ignore[method-assign]
        "dispatcher.process total (load + NLU + handler)", Dispatcher.process
    )
    SqlConversationStore.complete_turn = _timed(  # type: ignore[method-assign]
        "complete_turn (its statements + COMMIT, awaited)", SqlConversationStore.complete_turn
    )
    webhook._reply_xml = _timed("reply XML build", webhook._reply_xml)
    crypto.WeChatCrypto.encrypt_reply = _timed(  # type: ignore[method-assign]
        "safe: encrypt_reply (AES + sign)", crypto.WeChatCrypto.encrypt_reply
    )


def _worker_threads_cpu() -> float:
    """CPU seconds of every thread but the main one (aiosqlite's workers)."""
    total = 0.0
    main = threading.main_thread().native_id
    ticks = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir("/proc/self/task"):
        if int(tid) == main:
            continue
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


async def _run(args: argparse.Namespace, workdir: Path) -> None:
    import httpx

    from bot.settings import Settings
    from bot.wiring.app import create_app

    for key, value in bw.minhu_env(args.mode, workdir / "minhu.db").items():
        if key.startswith("MINHU_"):
            os.environ[key] = value
    requests_file = workdir / "requests.txt"
    warm = 300
    bw.write_requests(requests_file, count=args.messages + warm, block=0, mode=args.mode,
                      users=bw.openids(args.users, seed=1), seed=1)
    requests = [line.rstrip("\n").split("\t", 1) for line in requests_file.open()]

    app = create_app(Settings())
    container = app.state.container
    await container.start()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
    gate = asyncio.Semaphore(args.concurrency)
    totals: list[tuple[float, float]] = []

    async def one(path: str, body: str) -> None:
        async with gate:
            w0, c0 = time.perf_counter(), time.thread_time()
            answer = await client.post(path, content=body.encode(),
                                       headers={"content-type": "text/xml"})
            totals.append((time.perf_counter() - w0, time.thread_time() - c0))
            if answer.status_code != 200 or not answer.text.startswith("<xml>"):
                raise RuntimeError(f"unexpected answer {answer.status_code}: {answer.text[:200]}")

    # The harness's own client cost, to subtract: the same client on /healthz.
    for _ in range(200):
        await client.get("/healthz")
    await asyncio.gather(*(one(p, b) for p, b in requests[:warm]))
    STEPS.clear()
    totals.clear()
    hz: list[tuple[float, float]] = []
    for _ in range(500):
        w0, c0 = time.perf_counter(), time.thread_time()
        await client.get("/healthz")
        hz.append((time.perf_counter() - w0, time.thread_time() - c0))

    profiler = None
    if args.cprofile:
        import cProfile

        profiler = cProfile.Profile(time.thread_time)
    threads_before = _worker_threads_cpu()
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    await asyncio.gather(*(one(p, b) for p, b in requests[warm:]))
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.cprofile)
    wall, cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
    threads_cpu = _worker_threads_cpu() - threads_before
    await client.aclose()
    await container.stop()

    n = len(totals)
    ms = 1000.0
    print(f"mode {args.mode}, {n} messages, concurrency {args.concurrency}: "
          f"{n / wall:,.0f} msgs/s in-process (no HTTP), "
          f"main-thread CPU {ms * cpu / n:.3f} ms/msg, "
          f"other threads (the storage's) {ms * threads_cpu / n:.3f} ms/msg")
    hz_cpu = statistics.mean(c for _, c in hz)
    print(f"harness+framework floor: GET /healthz through the same client "
          f"{ms * statistics.mean(w for w, _ in hz):.3f} ms wall, {ms * hz_cpu:.3f} ms CPU")
    print()
    print(f"{'step':58} {'calls/msg':>9} {'wall ms':>9} {'CPU ms':>8} {'CPU %':>6}")
    per_msg_cpu = statistics.mean(c for _, c in totals)
    print(f"{'whole request (client → ASGI app → answer)':58} {1:>9.2f} "
          f"{ms * statistics.mean(w for w, _ in totals):>9.3f} {ms * per_msg_cpu:>8.3f} "
          f"{100:>6.1f}")
    for name in ORDER:
        samples = STEPS.get(name)
        if not samples:
            continue
        calls = len(samples) / n
        wall_ms = ms * sum(w for w, _ in samples) / n
        cpu_ms = ms * sum(c for _, c in samples) / n
        print(f"{name:58} {calls:>9.2f} {wall_ms:>9.3f} {cpu_ms:>8.3f} "
              f"{100 * cpu_ms / (ms * per_msg_cpu):>6.1f}")
    print()
    print("Async steps' CPU is the main thread's CPU between entering and leaving the step;")
    print("at concurrency > 1 it includes other requests' work done meanwhile.")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile_ingest", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("plaintext", "safe"), default="plaintext")
    p.add_argument("--messages", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--cprofile", default=None, help="write a cProfile (thread CPU time) here")
    args = p.parse_args(argv)
    _patch()
    with tempfile.TemporaryDirectory(prefix="minhu-profile-") as tmp:
        asyncio.run(_run(args, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
