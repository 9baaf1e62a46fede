"""Storage throughput and latency of the webhook's units of work, in-process.

Two scenarios, each at several concurrencies, on SQLite (a temp file) and on
PostgreSQL when ``MINHU_TEST_POSTGRES_URL`` is set (a throwaway schema):

- ``accept``: ``journal.accept`` of a new message;
- ``turn``: accept → ``conversations.load`` → ``complete_turn`` with one push
  (what one webhook delivery costs the database).

Every loop is bounded (``--ops`` operations per cell, after a short warm-up).
Latency is per operation (a whole turn for ``turn``); ``cpu us/op`` is this
process's CPU time (all threads) per operation, which depends far less on
what else the machine is doing than ops/s does (for PostgreSQL it leaves out
the server's)::

    .venv/bin/python bench/storage_turns.py
    .venv/bin/python bench/storage_turns.py --backends sqlite --concurrency 16 64 --ops 6000
    # the ``integrations`` package of another tree (e.g. a copy of an older one):
    BENCH_INTEGRATIONS_FROM=/tmp/minhu_before .venv/bin/python bench/storage_turns.py \
        --label before
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


def _integrations_from(tree: str | None) -> None:
    """Import ``integrations`` from ``tree`` (the editable install would win over PYTHONPATH)."""
    if not tree:
        return
    import importlib.util

    init = Path(tree) / "integrations" / "__init__.py"
    spec = importlib.util.spec_from_file_location("integrations", init)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["integrations"] = module
    spec.loader.exec_module(module)


_integrations_from(os.environ.get("BENCH_INTEGRATIONS_FROM"))

from sqlalchemy import text  # noqa: E402

from bot.ports import TurnRecord  # noqa: E402
from bot.types import (  # noqa: E402
    Channel,
    ConversationKey,
    InboundKind,
    InboundMessage,
    OutboundMessage,
)
from integrations.storage import Storage, build_storage, create_engine  # noqa: E402

POSTGRES_ENV = "MINHU_TEST_POSTGRES_URL"
RESIDENTS_PER_WORKER = 16


@dataclass
class Result:
    backend: str
    scenario: str
    concurrency: int
    ops: int
    seconds: float
    cpu_seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.ops / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class Workload:
    """Fresh message ids for every operation; each worker has its own residents."""

    def __init__(self, storage: Storage, run: str) -> None:
        self.storage = storage
        self.run = run
        self.counter = 0

    def message(self, worker: int, n: int) -> InboundMessage:
        self.counter += 1
        key = ConversationKey(
            Channel.WECHAT, "gh_bench", f"{self.run}-w{worker}-r{n % RESIDENTS_PER_WORKER}"
        )
        return InboundMessage(
            key=key,
            message_id=f"{self.run}-{self.counter}",
            kind=InboundKind.TEXT,
            received_at=datetime.now(UTC),
            text="小区门口路灯坏了，晚上很黑",
            raw_type="text",
        )

    async def accept(self, worker: int, n: int) -> None:
        message = self.message(worker, n)
        got = await self.storage.journal.accept(message, owner="bench", lease_seconds=30)
        assert got.new

    async def turn(self, worker: int, n: int) -> None:
        message = self.message(worker, n)
        got = await self.storage.journal.accept(message, owner="bench", lease_seconds=30)
        assert got.new
        state = await self.storage.conversations.load(message.key)
        state.slots["description"] = message.text or ""
        state.last_active_at = message.received_at
        await self.storage.conversations.complete_turn(
            TurnRecord(
                message=message,
                state=state,
                intent=None,
                handler="report",
                passive_reply=OutboundMessage.of_text("已收到，正在为您登记"),
                pushes=(OutboundMessage.of_text("工单已受理，编号 A123"),),
            )
        )


async def measure(
    op: Callable[[int, int], Awaitable[None]], concurrency: int, ops: int
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    remaining = ops

    async def worker(w: int) -> None:
        nonlocal remaining
        n = 0
        while remaining > 0:
            remaining -= 1
            start = time.perf_counter()
            await op(w, n)
            latencies.append(time.perf_counter() - start)
            n += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return time.perf_counter() - start, latencies


@contextlib.asynccontextmanager
async def opened(backend: str, tmp: Path) -> AsyncIterator[Storage]:
    if backend == "sqlite":
        storage = build_storage(f"sqlite+aiosqlite:///{tmp / f'bench-{uuid.uuid4().hex}.db'}")
        try:
            await storage.migrate()
            yield storage
        finally:
            await storage.close()
        return
    url = os.environ[POSTGRES_ENV]
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        storage = build_storage(url, search_path=schema, pool_size=20)
        try:
            await storage.migrate()
            yield storage
        finally:
            await storage.close()
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


async def bench(args: argparse.Namespace) -> list[Result]:
    results: list[Result] = []
    backends = [b for b in args.backends if b != "postgres" or os.environ.get(POSTGRES_ENV)]
    with tempfile.TemporaryDirectory(prefix="minhu-bench-") as tmp:
        for backend in backends:
            for scenario in args.scenarios:
                for concurrency in args.concurrency:
                    async with opened(backend, Path(tmp)) as storage:
                        load = Workload(storage, uuid.uuid4().hex[:8])
                        op = load.accept if scenario == "accept" else load.turn
                        await measure(op, concurrency, max(concurrency * 4, args.ops // 20))
                        cpu = time.process_time()
                        seconds, latencies = await measure(op, concurrency, args.ops)
                        cpu = time.process_time() - cpu
                    result = Result(
                        backend, scenario, concurrency, args.ops, seconds, cpu, latencies
                    )
                    results.append(result)
                    print(_row(args.label, result), flush=True)
    return results


HEADER = (
    f"{'label':<8} {'backend':<9} {'scenario':<7} {'conc':>5} {'ops':>6} "
    f"{'ops/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'cpu us/op':>10}"
)


def _row(label: str, r: Result) -> str:
    return (
        f"{label:<8} {r.backend:<9} {r.scenario:<7} {r.concurrency:>5} {r.ops:>6} "
        f"{r.rate:>8.0f} {r.pct(0.50):>8.2f} {r.pct(0.99):>8.2f} "
        f"{statistics.fmean(r.latencies) * 1000:>8.2f} {r.cpu_seconds / r.ops * 1e6:>10.0f}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--backends", nargs="+", default=["sqlite", "postgres"],
                   choices=("sqlite", "postgres"))
    p.add_argument("--scenarios", nargs="+", default=["accept", "turn"],
                   choices=("accept", "turn"))
    p.add_argument("--concurrency", nargs="+", type=int, default=[16, 64])
    p.add_argument("--ops", type=int, default=4000, help="timed operations per cell")
    p.add_argument("--label", default="", help="a tag for the rows (e.g. before/after)")
    p.add_argument("--no-uvloop", action="store_true", help="use the default asyncio loop")
    args = p.parse_args(argv)
    import integrations.storage.repositories as code

    print(f"(storage code: {code.__file__})", file=sys.stderr)
    if "postgres" in args.backends and not os.environ.get(POSTGRES_ENV):
        print(f"(postgres skipped: {POSTGRES_ENV} is not set)", file=sys.stderr)
    print(HEADER, flush=True)
    runner: Callable[..., object] = asyncio.run
    if not args.no_uvloop:
        with contextlib.suppress(ImportError):
            import uvloop

            runner = uvloop.run
    runner(bench(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
