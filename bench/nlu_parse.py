"""Latency of one understanding call through minhu's Rasa client, on loopback.

    .venv/bin/python -m bench.nlu_parse [--url http://127.0.0.1:5005] [--calls 400]

Starts a Rasa server with the current model when none answers at --url.
Sends the held-out texts (normalised, as the bot does) one after another
through ``nlu.client.RasaUnderstanding`` — a bounded loop — and reports
p50/p90/p99 and how many calls fell back to the keyword rules.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import httpx

from nlu.cli import HELDOUT, _rasa_at
from nlu.client import RasaUnderstanding


async def measure(url: str, texts: list[str], calls: int) -> dict[str, float]:
    async with httpx.AsyncClient() as http:
        client = RasaUnderstanding(http, base_url=url, timeout=5.0)
        for text in texts[:20]:  # warm-up
            await client.parse(text)
        latencies: list[float] = []
        fallbacks = 0
        for i in range(calls):
            started = time.perf_counter()
            intent = await client.parse(texts[i % len(texts)])
            latencies.append((time.perf_counter() - started) * 1000)
            fallbacks += intent.source != "rasa"
    latencies.sort()
    return {
        "calls": calls,
        "p50_ms": latencies[len(latencies) // 2],
        "p90_ms": latencies[int(len(latencies) * 0.9)],
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "mean_ms": statistics.fmean(latencies),
        "fallbacks": fallbacks,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:5005")
    parser.add_argument("--calls", type=int, default=400)
    args = parser.parse_args()
    texts = [
        json.loads(line)["text"]
        for line in HELDOUT.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    with _rasa_at(args.url) as url:
        result = asyncio.run(measure(url, texts, args.calls))
    print(json.dumps(result, indent=1))
    print(
        f"parse through the client: p50 {result['p50_ms']:.1f} ms, p90 {result['p90_ms']:.1f} ms,"
        f" p99 {result['p99_ms']:.1f} ms over {args.calls} calls ({result['fallbacks']} fallbacks)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
